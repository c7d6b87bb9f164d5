/*
 * A bounded pool of threads for blocking work (providers), so that the
 * HTTP event threads never block. When every thread is busy and `queue`
 * jobs already wait, workers_submit() refuses at once: the caller answers
 * with a fault instead of queueing past the deadline.
 *
 * Fair across lanes. Each job names a lane (the caller's unit of
 * slowness: one backend). A lane may run at most `threads` less a
 * quarter (at least one thread stays for the others) and hold at most
 * `queue` less a quarter waiting jobs, and a free thread takes the
 * oldest job of the waiting lane that runs the fewest jobs. So a backend
 * that answers in seconds slows its own logins, not everyone's: the
 * others still find a free thread and room in the queue.
 */
#ifndef DAGATE_WORKERS_H
#define DAGATE_WORKERS_H

struct worker_pool;
typedef void worker_fn(void *job);

/* `lanes` >= 1; lanes are numbered 0 .. lanes-1. */
int workers_create(unsigned threads, unsigned queue, unsigned lanes,
		   struct worker_pool **pool_r);
/* 0: accepted (fn(job) will run on a worker); -1: the queue, or this
 * lane's share of it, is full. A lane out of range counts as the last. */
int workers_submit(struct worker_pool *pool, unsigned lane, worker_fn *fn, void *job);
/* Jobs waiting (not running), for metrics and logs. */
unsigned workers_queued(struct worker_pool *pool);
/* The most jobs one lane may run at once (for logs and tests). */
unsigned workers_lane_limit(const struct worker_pool *pool);
/* Runs every queued job, then joins the threads. */
void workers_destroy(struct worker_pool **pool);

#endif
