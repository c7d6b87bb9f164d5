#include "workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct job {
	worker_fn *fn;
	void *arg;
};

struct worker_pool {
	pthread_mutex_t lock;
	pthread_cond_t nonempty;
	struct job *ring;       /* capacity `cap`, `count` jobs from `head` */
	unsigned cap, head, count;
	bool stopping;
	pthread_t *threads;
	unsigned nthreads;
};

static void *worker_main(void *arg)
{
	struct worker_pool *pool = arg;

	for (;;) {
		struct job job;

		pthread_mutex_lock(&pool->lock);
		while (pool->count == 0 && !pool->stopping)
			pthread_cond_wait(&pool->nonempty, &pool->lock);
		if (pool->count == 0) {
			pthread_mutex_unlock(&pool->lock);
			return NULL;
		}
		job = pool->ring[pool->head];
		pool->head = (pool->head + 1) % pool->cap;
		pool->count--;
		pthread_mutex_unlock(&pool->lock);
		job.fn(job.arg);
	}
}

int workers_create(unsigned threads, unsigned queue, struct worker_pool **pool_r)
{
	struct worker_pool *pool = calloc(1, sizeof *pool);

	*pool_r = NULL;
	if (pool == NULL)
		return -1;
	pool->cap = queue;
	pool->ring = calloc(queue, sizeof *pool->ring);
	pool->threads = calloc(threads, sizeof *pool->threads);
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->nonempty, NULL);
	if (pool->ring == NULL || pool->threads == NULL)
		goto fail;
	for (; pool->nthreads < threads; pool->nthreads++)
		if (pthread_create(&pool->threads[pool->nthreads], NULL, worker_main, pool) != 0)
			goto fail;
	*pool_r = pool;
	return 0;
fail:
	workers_destroy(&pool);
	return -1;
}

int workers_submit(struct worker_pool *pool, worker_fn *fn, void *job)
{
	int ret = -1;

	pthread_mutex_lock(&pool->lock);
	if (!pool->stopping && pool->count < pool->cap) {
		pool->ring[(pool->head + pool->count) % pool->cap] = (struct job){ fn, job };
		pool->count++;
		pthread_cond_signal(&pool->nonempty);
		ret = 0;
	}
	pthread_mutex_unlock(&pool->lock);
	return ret;
}

unsigned workers_queued(struct worker_pool *pool)
{
	unsigned n;

	pthread_mutex_lock(&pool->lock);
	n = pool->count;
	pthread_mutex_unlock(&pool->lock);
	return n;
}

void workers_destroy(struct worker_pool **poolp)
{
	struct worker_pool *pool = *poolp;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->nonempty);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->nonempty);
	free(pool->ring);
	free(pool->threads);
	free(pool);
	*poolp = NULL;
}
