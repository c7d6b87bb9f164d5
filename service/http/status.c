#include "status.h"

#include <json-c/json.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "router.h"
#include "sso.h"
#include "throttle.h"
#include "tls_material.h"
#include "tokens.h"
#include "workers.h"

#define ADD(o, key, value) json_object_object_add((o), (key), (value))

static void add_listeners(json_object *list, const struct listen_addr *addrs, size_t count,
			  const char *kind, bool tls)
{
	for (size_t i = 0; i < count; i++) {
		json_object *l = json_object_new_object();

		ADD(l, "address", json_object_new_string(addrs[i].text));
		ADD(l, "kind", json_object_new_string(kind));
		ADD(l, "tls", json_object_new_boolean(tls));
		json_object_array_add(list, l);
	}
}

static json_object *listeners_json(const struct http_generation *gen, bool tls)
{
	const struct dagate_config *cfg = gen->cfg;
	json_object *list = json_object_new_array();

	add_listeners(list, cfg->server.listen, cfg->server.listen_count, "server", tls);
	add_listeners(list, cfg->admin.listen, cfg->admin.listen_count, "admin", false);
	if (gen->sso != NULL)
		add_listeners(list, gen->sso->conf->listen, gen->sso->conf->listen_count, "sso",
			      gen->sso->tls->cert_pem != NULL);
	return list;
}

static void add_server(void *ctx, const char *server, bool up)
{
	json_object *s = json_object_new_object();

	ADD(s, "server", json_object_new_string(server));
	ADD(s, "up", json_object_new_boolean(up));
	json_object_array_add(ctx, s);
}

static json_object *providers_json(struct provider_set *set)
{
	json_object *list = json_object_new_array();

	for (size_t i = 0; i < provider_set_count(set); i++) {
		struct provider *p = provider_set_at(set, i);
		json_object *o = json_object_new_object(), *servers = json_object_new_array();
		unsigned in_use = 0, size = 0;

		ADD(o, "name", json_object_new_string(p->name));
		ADD(o, "type", json_object_new_string(p->type->name));
		ADD(o, "backend_up", json_object_new_boolean(!atomic_load(&p->last_unavailable)));
		ADD(o, "inflight", json_object_new_int64(atomic_load(&p->inflight)));
		ADD(o, "concurrency", json_object_new_int64(p->max_inflight));
		if (p->type->servers != NULL)
			p->type->servers(p, add_server, servers, &in_use, &size);
		ADD(o, "servers", servers);
		if (size > 0) {
			ADD(o, "pool_in_use", json_object_new_int64(in_use));
			ADD(o, "pool_size", json_object_new_int64(size));
		}
		json_object_array_add(list, o);
	}
	return list;
}

static json_object *throttle_json(struct throttle *t)
{
	json_object *o = json_object_new_object();
	struct throttle_stats th;

	throttle_stats(t, &th);
	ADD(o, "throttled_user", json_object_new_int64((int64_t)th.throttled_user));
	ADD(o, "throttled_source", json_object_new_int64((int64_t)th.throttled_source));
	ADD(o, "throttled_unfamiliar", json_object_new_int64((int64_t)th.throttled_unfamiliar));
	ADD(o, "blocks_user", json_object_new_int64((int64_t)th.blocks_user));
	ADD(o, "blocks_unfamiliar", json_object_new_int64((int64_t)th.blocks_unfamiliar));
	ADD(o, "familiar_hits", json_object_new_int64((int64_t)th.familiar_hits));
	ADD(o, "repeats", json_object_new_int64((int64_t)th.repeats));
	ADD(o, "evictions", json_object_new_int64((int64_t)th.evictions));
	ADD(o, "redis_failures", json_object_new_int64((int64_t)th.redis_failures));
	return o;
}

static json_object *tokens_json(struct token_issuer *ti)
{
	json_object *o = json_object_new_object();
	struct token_stats ts;

	token_issuer_stats(ti, &ts);
	ADD(o, "issued", json_object_new_int64((int64_t)ts.issued));
	ADD(o, "redeemed", json_object_new_int64((int64_t)ts.redeemed));
	ADD(o, "rejected", json_object_new_int64((int64_t)ts.rejected));
	ADD(o, "unavailable", json_object_new_int64((int64_t)ts.unavailable));
	return o;
}

char *status_json(const struct http_generation *gen, unsigned inflight)
{
	json_object *top = json_object_new_object(), *queue = json_object_new_object();
	double started = metrics_start_time();
	char when[32], *text;
	time_t start_s = (time_t)started;
	struct tm tm;

	gmtime_r(&start_s, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	ADD(top, "version", json_object_new_string(DAGATE_VERSION));
	ADD(top, "started", json_object_new_string(when));
	ADD(top, "uptime_seconds", json_object_new_int64((int64_t)(time(NULL) - start_s)));
	/* The configuration in force: the first, plus each reload applied. */
	ADD(top, "generation", json_object_new_int64(1 + (int64_t)metrics_reloads(METRICS_RELOAD_OK) +
						      (int64_t)metrics_reloads(METRICS_RELOAD_PARTIAL)));
	ADD(top, "reloads_refused", json_object_new_int64((int64_t)metrics_reloads(METRICS_RELOAD_REFUSED)));
	ADD(top, "config", json_object_new_string(gen->cfg->path));
	ADD(top, "listeners", listeners_json(gen, gen->tls != NULL && gen->tls->cert_pem != NULL));
	ADD(top, "providers", providers_json(router_providers(gen->router)));
	ADD(queue, "inflight", json_object_new_int64(inflight));
	ADD(queue, "waiting", json_object_new_int64(workers_queued(gen->workers)));
	ADD(queue, "capacity", json_object_new_int64(gen->cfg->server.queue));
	ADD(queue, "workers", json_object_new_int64(gen->cfg->server.workers));
	ADD(queue, "lane_limit", json_object_new_int64(workers_lane_limit(gen->workers)));
	ADD(top, "queue", queue);
	if (gen->throttle != NULL)
		ADD(top, "throttle", throttle_json(gen->throttle));
	if (gen->tokens != NULL)
		ADD(top, "tokens", tokens_json(gen->tokens));
	text = strdup(json_object_to_json_string_ext(top, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(top);
	return text;
}
