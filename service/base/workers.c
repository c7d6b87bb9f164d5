#include "workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct job {
	worker_fn *fn;
	void *arg;
};

/* One lane: a ring of waiting jobs and how many of its jobs run. */
struct lane {
	struct job *ring;       /* capacity pool->lane_queue */
	unsigned head, count, running;
};

struct worker_pool {
	pthread_mutex_t lock;
	pthread_cond_t ready;   /* a job may have become runnable */
	struct lane *lanes;
	unsigned nlanes;
	unsigned queued;        /* waiting jobs, all lanes */
	unsigned queue;         /* most waiting jobs, all lanes */
	unsigned lane_queue;    /* most waiting jobs of one lane */
	unsigned lane_running;  /* most running jobs of one lane */
	unsigned next;          /* where the fairness scan starts (ties) */
	bool stopping;
	pthread_t *threads;
	unsigned nthreads;
};

/* Under lock: the lane whose oldest job runs next, or NULL. The waiting
 * lane that runs the fewest jobs (below its limit); ties go round-robin
 * so that equal lanes take turns. */
static struct lane *pick_lane(struct worker_pool *pool)
{
	struct lane *best = NULL;

	for (unsigned k = 0; k < pool->nlanes; k++) {
		struct lane *l = &pool->lanes[(pool->next + k) % pool->nlanes];

		if (l->count == 0 || l->running >= pool->lane_running)
			continue;
		if (best == NULL || l->running < best->running)
			best = l;
	}
	if (best != NULL)
		pool->next = (unsigned)(best - pool->lanes + 1) % pool->nlanes;
	return best;
}

static void *worker_main(void *arg)
{
	struct worker_pool *pool = arg;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct lane *lane = pick_lane(pool);
		struct job job;

		if (lane == NULL) {
			/* Stopping ends a thread once nothing waits; jobs
			 * held back by their lane's limit still run. */
			if (pool->stopping && pool->queued == 0)
				break;
			pthread_cond_wait(&pool->ready, &pool->lock);
			continue;
		}
		job = lane->ring[lane->head];
		lane->head = (lane->head + 1) % pool->lane_queue;
		lane->count--;
		lane->running++;
		pool->queued--;
		pthread_mutex_unlock(&pool->lock);
		job.fn(job.arg);
		pthread_mutex_lock(&pool->lock);
		lane->running--;
		/* This thread picks the next job itself (its lane may have
		 * waited for this slot); only threads waiting to stop need
		 * a wake-up. */
		if (pool->stopping)
			pthread_cond_broadcast(&pool->ready);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

static unsigned at_least_one(unsigned n)
{
	return n > 0 ? n : 1;
}

/* A quarter of `n` (at least one) kept for the other lanes. */
static unsigned lane_share(unsigned n)
{
	return n > 1 ? n - at_least_one(n / 4) : 1;
}

int workers_create(unsigned threads, unsigned queue, unsigned lanes,
		   struct worker_pool **pool_r)
{
	struct worker_pool *pool = calloc(1, sizeof *pool);

	*pool_r = NULL;
	if (pool == NULL)
		return -1;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->ready, NULL);
	pool->nlanes = at_least_one(lanes);
	pool->queue = queue;
	pool->lane_queue = lane_share(queue);
	pool->lane_running = lane_share(threads);
	pool->lanes = calloc(pool->nlanes, sizeof *pool->lanes);
	pool->threads = calloc(at_least_one(threads), sizeof *pool->threads);
	if (pool->lanes == NULL || pool->threads == NULL)
		goto fail;
	for (unsigned i = 0; i < pool->nlanes; i++) {
		pool->lanes[i].ring = calloc(pool->lane_queue, sizeof(struct job));
		if (pool->lanes[i].ring == NULL)
			goto fail;
	}
	for (; pool->nthreads < threads; pool->nthreads++)
		if (pthread_create(&pool->threads[pool->nthreads], NULL, worker_main, pool) != 0)
			goto fail;
	*pool_r = pool;
	return 0;
fail:
	workers_destroy(&pool);
	return -1;
}

int workers_submit(struct worker_pool *pool, unsigned lane_no, worker_fn *fn, void *job)
{
	struct lane *lane = &pool->lanes[lane_no < pool->nlanes ? lane_no : pool->nlanes - 1];
	int ret = -1;

	pthread_mutex_lock(&pool->lock);
	if (!pool->stopping && pool->queued < pool->queue && lane->count < pool->lane_queue) {
		lane->ring[(lane->head + lane->count) % pool->lane_queue] = (struct job){ fn, job };
		lane->count++;
		pool->queued++;
		/* Any idle thread can take it, unless its lane is at its
		 * limit: then none can, and a finishing one of that lane
		 * will. */
		pthread_cond_signal(&pool->ready);
		ret = 0;
	}
	pthread_mutex_unlock(&pool->lock);
	return ret;
}

unsigned workers_queued(struct worker_pool *pool)
{
	unsigned n;

	pthread_mutex_lock(&pool->lock);
	n = pool->queued;
	pthread_mutex_unlock(&pool->lock);
	return n;
}

unsigned workers_lane_limit(const struct worker_pool *pool)
{
	return pool->lane_running;
}

void workers_destroy(struct worker_pool **poolp)
{
	struct worker_pool *pool = *poolp;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->ready);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->ready);
	if (pool->lanes != NULL)
		for (unsigned i = 0; i < pool->nlanes; i++)
			free(pool->lanes[i].ring);
	free(pool->lanes);
	free(pool->threads);
	free(pool);
	*poolp = NULL;
}
