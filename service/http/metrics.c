#include "metrics.h"
#include "metrics_int.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "provider.h"
#include "redis_conn.h"
#include "throttle_api.h"
#include "throttle.h"
#include "tokens.h"
#include "workers.h"

/* Distinct (provider, outcome, answer) series; far more than any config
 * produces, and a hard stop against label explosion. */
#define METRICS_SERIES_MAX 512
#define METRICS_NAME_MAX 64

/* Latency buckets in milliseconds: Salesforce's deadline is 10 s. */
static const int64_t bucket_ms[] = { 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000 };
#define BUCKETS (sizeof bucket_ms / sizeof bucket_ms[0])

struct series {
	char provider[METRICS_NAME_MAX], outcome[METRICS_NAME_MAX], answer[8];
	atomic_uint_fast64_t count;
};

static struct series series[METRICS_SERIES_MAX];
static atomic_size_t series_count;
static pthread_mutex_t series_lock = PTHREAD_MUTEX_INITIALIZER;

/* Latency by answer: true, false, fault. */
static atomic_uint_fast64_t latency_bucket[3][BUCKETS + 1];
static atomic_uint_fast64_t latency_sum_ms[3];
static atomic_uint_fast64_t latency_count[3];
/* Decisions whose answer never left, by answer. */
static atomic_uint_fast64_t unsent[3];
static atomic_uint_fast64_t series_dropped;

/* Refusals by listener: each listener ever started (they are few: a
 * reload that moves one adds a row), and one row for any past the cap. */
#define METRICS_LISTENERS_MAX 32
struct listener_refusals {
	char listener[80];
	atomic_uint_fast64_t count[HTTP_REFUSAL_COUNT];
};
static struct listener_refusals refusals[METRICS_LISTENERS_MAX + 1];
static atomic_size_t listener_count;
static pthread_mutex_t listener_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const refusal_names[HTTP_REFUSAL_COUNT] = {
	[HTTP_REFUSED_PEER] = "peer_not_allowed",
	[HTTP_REFUSED_NETWORK_LIMIT] = "network_limit",
	[HTTP_REFUSED_CLIENT] = "client_not_allowed",
	[HTTP_REFUSED_FORWARDED] = "bad_forwarded_for",
	[HTTP_REFUSED_HEADER_BYTES] = "bad_header",
	[HTTP_REFUSED_FRAMING] = "ambiguous_framing",
	[HTTP_REFUSED_MALFORMED] = "malformed",
	[HTTP_CUT_SILENT] = "silent",
	[HTTP_CUT_SLOW] = "slow",
	[HTTP_CUT_IDLE] = "idle",
};

static int answer_index(const char *answer)
{
	return strcmp(answer, "true") == 0 ? 0 : strcmp(answer, "false") == 0 ? 1 : 2;
}

static struct series *series_find(const char *provider, const char *outcome,
				  const char *answer, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(series[i].outcome, outcome) == 0 &&
		    strcmp(series[i].provider, provider) == 0 &&
		    strcmp(series[i].answer, answer) == 0)
			return &series[i];
	return NULL;
}

void metrics_record_decision(const char *provider, const char *outcome,
			     const char *answer, int64_t elapsed_ms)
{
	size_t n = atomic_load(&series_count);
	struct series *s = series_find(provider, outcome, answer, n);
	int a = answer_index(answer);
	size_t b = 0;

	if (s == NULL) {
		pthread_mutex_lock(&series_lock);
		n = atomic_load(&series_count);
		s = series_find(provider, outcome, answer, n);
		if (s == NULL && n < METRICS_SERIES_MAX) {
			s = &series[n];
			snprintf(s->provider, sizeof s->provider, "%s", provider);
			snprintf(s->outcome, sizeof s->outcome, "%s", outcome);
			snprintf(s->answer, sizeof s->answer, "%s", answer);
			atomic_store(&series_count, n + 1);  /* publish after filling */
		}
		pthread_mutex_unlock(&series_lock);
	}
	if (s != NULL)
		atomic_fetch_add(&s->count, 1);
	else
		atomic_fetch_add(&series_dropped, 1);
	metrics_record_provider_latency(provider, elapsed_ms);
	while (b < BUCKETS && elapsed_ms > bucket_ms[b])
		b++;
	atomic_fetch_add(&latency_bucket[a][b], 1);
	atomic_fetch_add(&latency_sum_ms[a], (uint_fast64_t)(elapsed_ms > 0 ? elapsed_ms : 0));
	atomic_fetch_add(&latency_count[a], 1);
}

void metrics_record_unsent(const char *answer)
{
	atomic_fetch_add(&unsent[answer_index(answer)], 1);
}

static struct listener_refusals *listener_find(const char *listener, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(refusals[i].listener, listener) == 0)
			return &refusals[i];
	return NULL;
}

static struct listener_refusals *listener_row(const char *listener)
{
	struct listener_refusals *r = listener_find(listener, atomic_load(&listener_count));
	size_t n;

	if (r != NULL)
		return r;
	pthread_mutex_lock(&listener_lock);
	n = atomic_load(&listener_count);
	r = listener_find(listener, n);
	if (r == NULL && n < METRICS_LISTENERS_MAX) {
		r = &refusals[n];
		snprintf(r->listener, sizeof r->listener, "%s", listener);
		atomic_store(&listener_count, n + 1);  /* publish after filling */
	}
	pthread_mutex_unlock(&listener_lock);
	return r != NULL ? r : &refusals[METRICS_LISTENERS_MAX];
}

void metrics_add_listener(const char *listener)
{
	(void)listener_row(listener);
}

void metrics_record_refusal(enum http_refusal why, const char *listener)
{
	if (why < HTTP_REFUSAL_COUNT)
		atomic_fetch_add(&listener_row(listener)->count[why], 1);
}

void metrics_put(struct metrics_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		{
			char *nb = realloc(o->buf, o->cap * 2 + (size_t)n);

			if (nb == NULL) {
				o->failed = true;
				return;
			}
			o->buf = nb;
			o->cap = o->cap * 2 + (size_t)n;
		}
	}
}

void metrics_head(struct metrics_out *o, const char *name, const char *type, const char *help)
{
	metrics_put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_requests(struct metrics_out *o)
{
	static const char *const answers[] = { "true", "false", "fault" };
	size_t n = atomic_load(&series_count);

	metrics_head(o, "dagate_requests_total", "counter",
		     "Authenticate decisions by provider, detailed outcome and answer.");
	for (size_t i = 0; i < n; i++)
		metrics_put(o, "dagate_requests_total{provider=\"%s\",outcome=\"%s\",answer=\"%s\"} %llu\n",
			    series[i].provider, series[i].outcome, series[i].answer,
			    (unsigned long long)atomic_load(&series[i].count));
	metrics_head(o, "dagate_metrics_series_dropped_total", "counter",
		     "Decisions not counted by series because the series limit was reached.");
	metrics_put(o, "dagate_metrics_series_dropped_total %llu\n",
		    (unsigned long long)atomic_load(&series_dropped));
	metrics_head(o, "dagate_request_duration_seconds", "histogram",
		     "Time from a request's first byte to its decision, by answer.");
	for (int a = 0; a < 3; a++) {
		uint64_t cumulative = 0;

		for (size_t b = 0; b <= BUCKETS; b++) {
			cumulative += atomic_load(&latency_bucket[a][b]);
			if (b < BUCKETS)
				metrics_put(o, "dagate_request_duration_seconds_bucket{answer=\"%s\",le=\"%g\"} %llu\n",
					    answers[a], (double)bucket_ms[b] / 1000.0,
					    (unsigned long long)cumulative);
			else
				metrics_put(o, "dagate_request_duration_seconds_bucket{answer=\"%s\",le=\"+Inf\"} %llu\n",
					    answers[a], (unsigned long long)cumulative);
		}
		metrics_put(o, "dagate_request_duration_seconds_sum{answer=\"%s\"} %.3f\n", answers[a],
			    (double)atomic_load(&latency_sum_ms[a]) / 1000.0);
		metrics_put(o, "dagate_request_duration_seconds_count{answer=\"%s\"} %llu\n", answers[a],
			    (unsigned long long)atomic_load(&latency_count[a]));
	}
	metrics_head(o, "dagate_answers_unsent_total", "counter",
		     "Decisions whose answer could not be sent (audit line sent=no), by answer.");
	for (int a = 0; a < 3; a++)
		metrics_put(o, "dagate_answers_unsent_total{answer=\"%s\"} %llu\n", answers[a],
			    (unsigned long long)atomic_load(&unsent[a]));
}

static void render_refusal_rows(struct metrics_out *o, const char *name, int from, int to)
{
	size_t n = atomic_load(&listener_count);

	for (size_t l = 0; l <= n; l++) {
		const struct listener_refusals *r = &refusals[l < n ? l : METRICS_LISTENERS_MAX];
		bool any = false;

		if (l == n) {     /* the overflow row, only once it counted */
			for (int i = from; i < to; i++)
				any = any || atomic_load(&r->count[i]) > 0;
			if (!any)
				return;
		}
		for (int i = from; i < to; i++)
			metrics_put(o, "%s{listener=\"%s\",reason=\"%s\"} %llu\n", name,
					    l < n ? r->listener : "other", refusal_names[i],
					    (unsigned long long)atomic_load(&r->count[i]));
	}
}

static void render_refusals(struct metrics_out *o)
{
	metrics_head(o, "dagate_http_refused_total", "counter",
		     "Connections closed at accept and requests refused before any decision, "
		     "by listener and reason.");
	render_refusal_rows(o, "dagate_http_refused_total", 0, HTTP_CUT_SILENT);
	metrics_head(o, "dagate_http_connections_cut_total", "counter",
		     "Connections closed by dagate for sending too little, too slowly, "
		     "by listener and reason.");
	render_refusal_rows(o, "dagate_http_connections_cut_total", HTTP_CUT_SILENT,
			    HTTP_REFUSAL_COUNT);
}

struct server_emit {
	struct metrics_out *o;
	const char *provider;
};

static void emit_server(void *ctx, const char *server, bool up)
{
	struct server_emit *e = ctx;
	char label[256];
	size_t k = 0;

	/* Label values escape backslash, quote and newline. */
	for (const char *c = server; *c != '\0' && k + 3 < sizeof label; c++) {
		if (*c == '\\' || *c == '"')
			label[k++] = '\\';
		label[k++] = *c == '\n' ? 'n' : *c;
	}
	label[k] = '\0';
	metrics_put(e->o, "dagate_backend_server_up{provider=\"%s\",server=\"%s\"} %d\n",
		    e->provider, label, up ? 1 : 0);
}

/* Providers that know their servers (ldap: each URI) and pools. */
static void render_servers(struct metrics_out *o, struct provider_set *set, size_t n)
{
	unsigned in_use[64] = { 0 }, size[64] = { 0 };

	metrics_head(o, "dagate_backend_server_up", "gauge",
		     "1 while a backend server is used, 0 while it is skipped after a failure.");
	for (size_t i = 0; i < n && i < 64; i++) {
		struct provider *p = provider_set_at(set, i);
		struct server_emit e = { o, p->name };

		if (p->type->servers != NULL)
			p->type->servers(p, emit_server, &e, &in_use[i], &size[i]);
	}
	metrics_head(o, "dagate_backend_pool_connections", "gauge",
		     "Pooled backend connections by state (ldap: service-account slots).");
	for (size_t i = 0; i < n && i < 64; i++) {
		struct provider *p = provider_set_at(set, i);

		if (size[i] == 0)
			continue;
		metrics_put(o, "dagate_backend_pool_connections{provider=\"%s\",state=\"in_use\"} %u\n",
			    p->name, in_use[i]);
		metrics_put(o, "dagate_backend_pool_connections{provider=\"%s\",state=\"idle\"} %u\n",
			    p->name, size[i] - in_use[i]);
	}
}

static void render_providers(struct metrics_out *o, const struct http_generation *gen)
{
	struct provider_set *set = router_providers(gen->router);
	size_t n = provider_set_count(set);

	metrics_head(o, "dagate_provider_inflight", "gauge", "Logins a provider is answering now.");
	for (size_t i = 0; i < n; i++) {
		struct provider *p = provider_set_at(set, i);

		metrics_put(o, "dagate_provider_inflight{provider=\"%s\",type=\"%s\"} %u\n", p->name,
			    p->type->name, atomic_load(&p->inflight));
	}
	metrics_head(o, "dagate_provider_concurrency_limit", "gauge",
		     "Logins a provider may answer at once (`concurrency`).");
	for (size_t i = 0; i < n; i++) {
		struct provider *p = provider_set_at(set, i);

		metrics_put(o, "dagate_provider_concurrency_limit{provider=\"%s\"} %u\n", p->name,
			    p->max_inflight);
	}
	metrics_head(o, "dagate_backend_up", "gauge",
		     "1 when the provider's last answer or probe reached its backend, "
		     "0 after \"unavailable\" or a failed probe.");
	for (size_t i = 0; i < n; i++) {
		struct provider *p = provider_set_at(set, i);

		metrics_put(o, "dagate_backend_up{provider=\"%s\"} %d\n", p->name,
			    atomic_load(&p->last_unavailable) ? 0 : 1);
	}
	render_servers(o, set, n);
}

static void render_service(struct metrics_out *o, const struct http_generation *gen)
{
	metrics_head(o, "dagate_queue_depth", "gauge", "Requests waiting for a worker thread.");
	metrics_put(o, "dagate_queue_depth %u\n", workers_queued(gen->workers));
	metrics_head(o, "dagate_queue_capacity", "gauge", "Requests that may wait (`queue`).");
	metrics_put(o, "dagate_queue_capacity %u\n", gen->cfg->server.queue);
	metrics_head(o, "dagate_workers", "gauge", "Worker threads (`workers`).");
	metrics_put(o, "dagate_workers %u\n", gen->cfg->server.workers);
	if (gen->tls != NULL && gen->tls->cert_pem != NULL) {
		metrics_head(o, "dagate_tls_cert_expiry_seconds", "gauge",
			     "Seconds until the [server] TLS certificate expires (negative: expired).");
		metrics_put(o, "dagate_tls_cert_expiry_seconds %lld\n",
			    (long long)(gen->tls->not_after - (int64_t)time(NULL)));
	}
	if (gen->throttle != NULL) {
		struct throttle_stats th;

		throttle_stats(gen->throttle, &th);
		metrics_head(o, "dagate_throttled_total", "counter",
			     "Logins answered false by the throttle without asking a backend.");
		metrics_put(o, "dagate_throttled_total{reason=\"user_budget\"} %llu\n",
			    (unsigned long long)th.throttled_user);
		metrics_put(o, "dagate_throttled_total{reason=\"source_budget\"} %llu\n",
			    (unsigned long long)th.throttled_source);
		metrics_put(o, "dagate_throttled_total{reason=\"repeat\"} %llu\n",
			    (unsigned long long)th.repeats);
		metrics_put(o, "dagate_throttled_total{reason=\"unfamiliar_budget\"} %llu\n",
			    (unsigned long long)th.throttled_unfamiliar);
		metrics_head(o, "dagate_throttle_blocks_total", "counter",
			     "Budgets tripped: blocks started for a user (all sources, or the "
			     "networks unfamiliar to it).");
		metrics_put(o, "dagate_throttle_blocks_total{kind=\"user\"} %llu\n",
			    (unsigned long long)th.blocks_user);
		metrics_put(o, "dagate_throttle_blocks_total{kind=\"unfamiliar\"} %llu\n",
			    (unsigned long long)th.blocks_unfamiliar);
		metrics_head(o, "dagate_throttle_familiar_hits_total", "counter",
			     "Logins asked from a network familiar to the user.");
		metrics_put(o, "dagate_throttle_familiar_hits_total %llu\n",
			    (unsigned long long)th.familiar_hits);
		metrics_head(o, "dagate_throttle_lifts_total", "counter",
			     "Blocks lifted by an operator (admin API, dagate throttle unblock).");
		metrics_put(o, "dagate_throttle_lifts_total %llu\n", throttle_api_lifts());
		metrics_head(o, "dagate_throttle_waits_total", "counter",
			     "Checks that waited because logins in flight held the user's remaining "
			     "budget (never answered false for it).");
		metrics_put(o, "dagate_throttle_waits_total %llu\n", (unsigned long long)th.waits);
		metrics_head(o, "dagate_throttle_evictions_total", "counter",
			     "Tracked users or sources dropped because the table was full.");
		metrics_put(o, "dagate_throttle_evictions_total %llu\n", (unsigned long long)th.evictions);
		metrics_head(o, "dagate_throttle_redis_failures_total", "counter",
			     "Shared-state calls that fell back to this instance's memory.");
		metrics_put(o, "dagate_throttle_redis_failures_total %llu\n",
			    (unsigned long long)th.redis_failures);
	}
	if (gen->tokens != NULL) {
		struct token_stats ts;

		token_issuer_stats(gen->tokens, &ts);
		metrics_head(o, "dagate_tokens_issued_total", "counter", "Tokens issued.");
		metrics_put(o, "dagate_tokens_issued_total %llu\n", (unsigned long long)ts.issued);
		metrics_head(o, "dagate_tokens_issue_refused_total", "counter",
			     "Token requests refused (denied user, rate, outstanding, store down).");
		metrics_put(o, "dagate_tokens_issue_refused_total %llu\n",
			    (unsigned long long)ts.issue_refused);
		metrics_head(o, "dagate_token_api_login_failures_total", "counter",
			     "Token API calls with wrong credentials, and those refused (429) after too many.");
		metrics_put(o, "dagate_token_api_login_failures_total{outcome=\"bad_credentials\"} %llu\n",
			    (unsigned long long)ts.api_bad_credentials);
		metrics_put(o, "dagate_token_api_login_failures_total{outcome=\"limited\"} %llu\n",
			    (unsigned long long)ts.api_login_limited);
		metrics_head(o, "dagate_token_redemptions_total", "counter",
			     "Token redemptions by outcome.");
		metrics_put(o, "dagate_token_redemptions_total{outcome=\"ok\"} %llu\n",
			    (unsigned long long)ts.redeemed);
		metrics_put(o, "dagate_token_redemptions_total{outcome=\"rejected\"} %llu\n",
			    (unsigned long long)ts.rejected);
		metrics_put(o, "dagate_token_redemptions_total{outcome=\"unavailable\"} %llu\n",
			    (unsigned long long)ts.unavailable);
		metrics_head(o, "dagate_token_redemptions_not_replicated_total", "counter",
			     "Rejected redemptions (sentinel store) that no replica acknowledged in time.");
		metrics_put(o, "dagate_token_redemptions_not_replicated_total %llu\n",
			    (unsigned long long)ts.not_replicated);
	}
	metrics_head(o, "dagate_redis_master_changes_total", "counter",
		     "Master address changes that a redis-sentinel:// store followed.");
	metrics_put(o, "dagate_redis_master_changes_total{store=\"tokens\"} %llu\n",
		    (unsigned long long)redis_master_changes("tokens"));
	metrics_put(o, "dagate_redis_master_changes_total{store=\"throttle\"} %llu\n",
		    (unsigned long long)redis_master_changes("throttle"));
}

char *metrics_render(const struct http_generation *gen, size_t *len_r)
{
	struct metrics_out o = { .cap = 8192 };

	o.buf = malloc(o.cap);
	if (o.buf == NULL)
		return NULL;
	o.buf[0] = '\0';
	render_requests(&o);
	metrics_render_latency(&o);
	render_refusals(&o);
	render_providers(&o, gen);
	render_service(&o, gen);
	metrics_render_process(&o);
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	*len_r = o.len;
	return o.buf;
}
