/*
 * A fixed set of connection slots shared by the worker threads. A slot is
 * used by one thread at a time; its connections are opened lazily by the
 * provider and closed by it when they fail, so a slot taken from here may
 * hold live, dead-but-unnoticed, or no connections.
 */
#include "ldap_int.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"

struct prov_ldap_pool {
	pthread_mutex_t lock;
	pthread_cond_t freed;         /* on CLOCK_MONOTONIC */
	struct prov_ldap_slot *slots;
	struct prov_ldap_slot **idle; /* stack of free slots, under lock */
	unsigned size, idle_count;
};

int prov_ldap_pool_create(unsigned size, struct prov_ldap_pool **pool_r)
{
	struct prov_ldap_pool *pool = calloc(1, sizeof *pool);
	pthread_condattr_t attr;

	*pool_r = NULL;
	if (pool == NULL)
		return -1;
	pool->slots = calloc(size, sizeof *pool->slots);
	pool->idle = calloc(size, sizeof *pool->idle);
	if (pool->slots == NULL || pool->idle == NULL) {
		free(pool->slots);
		free(pool->idle);
		free(pool);
		return -1;
	}
	pool->size = size;
	/* Reverse order so that slot 0 is handed out first and busy slots
	 * are the ones that stay connected under light load. */
	for (unsigned i = 0; i < size; i++)
		pool->idle[i] = &pool->slots[size - 1 - i];
	pool->idle_count = size;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&pool->freed, &attr);
	pthread_condattr_destroy(&attr);
	*pool_r = pool;
	return 0;
}

int prov_ldap_pool_get(struct prov_ldap_pool *pool, int64_t deadline_ms,
		       struct prov_ldap_slot **slot_r)
{
	struct timespec until = {
		.tv_sec = deadline_ms / 1000,
		.tv_nsec = (deadline_ms % 1000) * 1000000,
	};
	int rc = 0;

	*slot_r = NULL;
	pthread_mutex_lock(&pool->lock);
	while (pool->idle_count == 0 && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&pool->freed, &pool->lock, &until);
	if (pool->idle_count > 0)
		*slot_r = pool->idle[--pool->idle_count];
	pthread_mutex_unlock(&pool->lock);
	return *slot_r != NULL ? 0 : -1;
}

void prov_ldap_pool_put(struct prov_ldap_pool *pool, struct prov_ldap_slot *slot)
{
	pthread_mutex_lock(&pool->lock);
	pool->idle[pool->idle_count++] = slot;
	pthread_cond_signal(&pool->freed);
	pthread_mutex_unlock(&pool->lock);
}

void prov_ldap_pool_free(struct prov_ldap_pool **poolp)
{
	struct prov_ldap_pool *pool = *poolp;

	if (pool == NULL)
		return;
	for (unsigned i = 0; i < pool->size; i++) {
		prov_ldap_close(&pool->slots[i].svc);
		prov_ldap_close(&pool->slots[i].user);
	}
	pthread_cond_destroy(&pool->freed);
	pthread_mutex_destroy(&pool->lock);
	free(pool->slots);
	free(pool->idle);
	free(pool);
	*poolp = NULL;
}

void prov_ldap_pool_usage(struct prov_ldap_pool *pool, unsigned *in_use_r, unsigned *size_r)
{
	pthread_mutex_lock(&pool->lock);
	*in_use_r = pool->size - pool->idle_count;
	*size_r = pool->size;
	pthread_mutex_unlock(&pool->lock);
}
