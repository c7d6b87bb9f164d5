/* dagate_decision_seconds: decision latency by the provider that decided
 * (metrics.h). */
#include "metrics.h"
#include "metrics_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* More than any config names; past it, providers share one "other" row. */
#define LATENCY_PROVIDERS_MAX 64

/* Seconds: a file lookup takes a millisecond, Salesforce waits 10 s. */
static const int64_t latency_bucket_ms[] = {
	1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
};
#define LATENCY_BUCKETS (sizeof latency_bucket_ms / sizeof latency_bucket_ms[0])

struct provider_latency {
	char provider[64];
	atomic_uint_fast64_t bucket[LATENCY_BUCKETS + 1];   /* last: over 10 s */
	atomic_uint_fast64_t sum_ms, count;
};

static struct provider_latency rows[LATENCY_PROVIDERS_MAX + 1];
static atomic_size_t row_count;
static pthread_mutex_t rows_lock = PTHREAD_MUTEX_INITIALIZER;

static struct provider_latency *row_find(const char *provider, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].provider, provider) == 0)
			return &rows[i];
	return NULL;
}

static struct provider_latency *row_of(const char *provider)
{
	struct provider_latency *r = row_find(provider, atomic_load(&row_count));
	size_t n;

	if (r != NULL)
		return r;
	pthread_mutex_lock(&rows_lock);
	n = atomic_load(&row_count);
	r = row_find(provider, n);
	if (r == NULL && n < LATENCY_PROVIDERS_MAX) {
		r = &rows[n];
		snprintf(r->provider, sizeof r->provider, "%s", provider);
		atomic_store(&row_count, n + 1);   /* publish after filling */
	}
	pthread_mutex_unlock(&rows_lock);
	return r != NULL ? r : &rows[LATENCY_PROVIDERS_MAX];
}

void metrics_record_provider_latency(const char *provider, int64_t elapsed_ms)
{
	struct provider_latency *r;
	size_t b = 0;

	if (strcmp(provider, "-") == 0)
		return;     /* decided before any provider was asked */
	r = row_of(provider);
	while (b < LATENCY_BUCKETS && elapsed_ms > latency_bucket_ms[b])
		b++;
	atomic_fetch_add(&r->bucket[b], 1);
	atomic_fetch_add(&r->sum_ms, (uint_fast64_t)(elapsed_ms > 0 ? elapsed_ms : 0));
	atomic_fetch_add(&r->count, 1);
}

static void render_row(struct metrics_out *o, const struct provider_latency *r, const char *name)
{
	uint64_t cumulative = 0;

	for (size_t b = 0; b < LATENCY_BUCKETS; b++) {
		cumulative += atomic_load(&r->bucket[b]);
		metrics_put(o, "dagate_decision_seconds_bucket{provider=\"%s\",le=\"%g\"} %llu\n",
			    name, (double)latency_bucket_ms[b] / 1000.0,
			    (unsigned long long)cumulative);
	}
	cumulative += atomic_load(&r->bucket[LATENCY_BUCKETS]);
	metrics_put(o, "dagate_decision_seconds_bucket{provider=\"%s\",le=\"+Inf\"} %llu\n", name,
		    (unsigned long long)cumulative);
	metrics_put(o, "dagate_decision_seconds_sum{provider=\"%s\"} %.3f\n", name,
		    (double)atomic_load(&r->sum_ms) / 1000.0);
	metrics_put(o, "dagate_decision_seconds_count{provider=\"%s\"} %llu\n", name,
		    (unsigned long long)atomic_load(&r->count));
}

void metrics_render_latency(struct metrics_out *o)
{
	size_t n = atomic_load(&row_count);

	metrics_head(o, "dagate_decision_seconds", "histogram",
		     "Time from a request's first byte to its decision, by the provider that "
		     "decided (millisecond resolution).");
	for (size_t i = 0; i < n; i++)
		render_row(o, &rows[i], rows[i].provider);
	if (atomic_load(&rows[LATENCY_PROVIDERS_MAX].count) > 0)
		render_row(o, &rows[LATENCY_PROVIDERS_MAX], "other");
}
