#include "backend_prober.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "log.h"

enum backend_state { BACKEND_UNKNOWN, BACKEND_UP, BACKEND_DOWN };

struct backend_prober {
	struct provider_set *set;
	int64_t interval_ms;
	const char *when;
	enum backend_state *state;     /* by provider index; prober thread only */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;           /* CLOCK_MONOTONIC */
	bool stopping;                 /* under lock */
};

static bool stopping(struct backend_prober *bp)
{
	bool stop;

	pthread_mutex_lock(&bp->lock);
	stop = bp->stopping;
	pthread_mutex_unlock(&bp->lock);
	return stop;
}

static void probe_one(struct backend_prober *bp, size_t i)
{
	struct provider *p = provider_set_at(bp->set, i);
	enum backend_state was = bp->state[i];
	const char *detail = NULL;
	int64_t started = clock_now_ms();
	int rc = p->type->probe(p, started + p->timeout_ms, &detail);

	if (detail == NULL)
		detail = "";
	log_debug("provider %s: probe %s in %lld ms: %s", p->name, rc == 0 ? "ok" : "failed",
		  (long long)(clock_now_ms() - started), detail);
	atomic_store(&p->last_unavailable, rc != 0);
	bp->state[i] = rc == 0 ? BACKEND_UP : BACKEND_DOWN;
	if (rc != 0 && was == BACKEND_UNKNOWN)
		log_warnx("provider %s: backend unreachable %s: %s", p->name, bp->when, detail);
	else if (rc != 0 && was == BACKEND_UP)
		log_warnx("provider %s: backend probe failed: %s", p->name, detail);
	else if (rc == 0 && was == BACKEND_DOWN)
		log_info("provider %s: backend reachable again: %s", p->name, detail);
}

/* Wait `ms` or until stopped; true when stopped. */
static bool wait_or_stop(struct backend_prober *bp, int64_t ms)
{
	struct timespec until;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(ms / 1000);
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&bp->lock);
	while (!bp->stopping &&
	       pthread_cond_timedwait(&bp->wake, &bp->lock, &until) != ETIMEDOUT)
		;
	stop = bp->stopping;
	pthread_mutex_unlock(&bp->lock);
	return stop;
}

static void *prober_main(void *arg)
{
	struct backend_prober *bp = arg;
	size_t n = provider_set_count(bp->set);

	do {
		for (size_t i = 0; i < n && !stopping(bp); i++)
			if (provider_set_at(bp->set, i)->type->probe != NULL)
				probe_one(bp, i);
	} while (!wait_or_stop(bp, bp->interval_ms));
	return NULL;
}

int backend_prober_start(struct provider_set *set, int64_t interval_ms, const char *when,
			 struct backend_prober **prober_r)
{
	struct backend_prober *bp = calloc(1, sizeof *bp);
	pthread_condattr_t attr;
	int err;

	*prober_r = NULL;
	if (bp == NULL || (bp->state = calloc(provider_set_count(set) + 1,
					      sizeof *bp->state)) == NULL) {
		free(bp);
		log_errorx("cannot start the backend prober: out of memory");
		return -1;
	}
	bp->set = set;
	bp->interval_ms = interval_ms;
	bp->when = when;
	pthread_mutex_init(&bp->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&bp->wake, &attr);
	pthread_condattr_destroy(&attr);
	err = pthread_create(&bp->thread, NULL, prober_main, bp);
	if (err != 0) {
		errno = err;
		log_error("cannot start the backend prober");
		pthread_cond_destroy(&bp->wake);
		pthread_mutex_destroy(&bp->lock);
		free(bp->state);
		free(bp);
		return -1;
	}
	*prober_r = bp;
	return 0;
}

void backend_prober_stop(struct backend_prober **prober)
{
	struct backend_prober *bp = *prober;

	if (bp == NULL)
		return;
	pthread_mutex_lock(&bp->lock);
	bp->stopping = true;
	pthread_cond_signal(&bp->wake);
	pthread_mutex_unlock(&bp->lock);
	pthread_join(bp->thread, NULL);
	pthread_cond_destroy(&bp->wake);
	pthread_mutex_destroy(&bp->lock);
	free(bp->state);
	free(bp);
	*prober = NULL;
}
