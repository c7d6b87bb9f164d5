/*
 * A bounded pool of threads for blocking work (providers), so that the
 * HTTP event threads never block. When every thread is busy and `queue`
 * jobs already wait, workers_submit() refuses at once: the caller answers
 * with a fault instead of queueing past the deadline.
 */
#ifndef DAGATE_WORKERS_H
#define DAGATE_WORKERS_H

struct worker_pool;
typedef void worker_fn(void *job);

int workers_create(unsigned threads, unsigned queue, struct worker_pool **pool_r);
/* 0: accepted (fn(job) will run on a worker); -1: queue full. */
int workers_submit(struct worker_pool *pool, worker_fn *fn, void *job);
/* Jobs waiting (not running), for metrics and logs. */
unsigned workers_queued(struct worker_pool *pool);
/* Runs every queued job, then joins the threads. */
void workers_destroy(struct worker_pool **pool);

#endif
