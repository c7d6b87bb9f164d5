/*
 * The throttle as operators see it (throttle.h throttle_state): one
 * user's or one source's count, read from the shared store when it
 * answers, else from this instance's memory, and lifted on request.
 */
#include "throttle.h"
#include "throttle_int.h"

#include <string.h>

#include "hex.h"
#include "throttle_redis.h"

/* The entry's numbers from memory, under its shard's lock (and forgotten, with `lift`). */
static void memory_state(struct throttle *t, char kind, const uint8_t *id,
			 const uint8_t *net, bool lift, struct throttle_state *out)
{
	struct thr_table *table = kind == 'u' ? &t->users : &t->sources;
	struct thr_shard *sh = thr_shard_of(table, id);
	int64_t now = t->clock(t->clock_ctx);
	uint32_t i;

	pthread_mutex_lock(&sh->lock);
	i = thr_entry_find(sh, id);
	if (i != THR_NIL) {
		struct thr_entry *e = &sh->e[i];

		if (kind == 'u')
			thr_user_expire(e, now);
		else
			thr_entry_expire(e, now);
		if (lift) {
			e->failures = 0;
			if (kind == 'u') {
				thr_user_succeeded(e);     /* counts, blocks, trips */
				explicit_bzero(&sh->rep[i], sizeof sh->rep[i]);
			}
		}
		out->failures = e->failures;
		out->in_flight = e->pending;
		out->lapses_in_ms = e->failures > 0 ? e->window_end - now : 0;
		out->blocks = e->trips + e->utrips;
		out->block_ms = e->block_end > now ? e->block_end - now : 0;
		out->unfamiliar_failures = e->unfamiliar;
		out->unfamiliar_block_ms = e->ublock_end > now ? e->ublock_end - now : 0;
		for (int k = 0; kind == 'u' && k < THR_FAMILIAR_SLOTS; k++) {
			out->familiar_networks += sh->fam[i].end[k] > now;
			if (net != NULL && sh->fam[i].end[k] > now &&
			    memcmp(sh->fam[i].id[k], net, THR_ID_LEN) == 0)
				out->source_familiar = true;
		}
	}
	pthread_mutex_unlock(&sh->lock);
}

int throttle_state(struct throttle *t, char kind, const char *name, const char *source_ip,
		   bool lift, int64_t deadline_ms, struct throttle_state *out)
{
	uint8_t id[THR_ID_LEN], net[THR_ID_LEN];
	bool with_net = kind == 'u' && source_ip != NULL && t->unfamiliar_max > 0;

	memset(out, 0, sizeof *out);
	out->budget = kind == 'u' ? t->user_max : t->source_max;
	out->unfamiliar_budget = kind == 'u' ? t->unfamiliar_max : 0;
	if (thr_name_id(t, kind, name, id) < 0 ||
	    (with_net && thr_network_id(t, name, source_ip, net) < 0))
		return -1;
	/* Memory first: lifted there too, so that a Redis outage right after
	 * does not bring the block back on this instance. */
	memory_state(t, kind, id, with_net ? net : NULL, lift, out);
	if (thr_redis_usable(t, deadline_ms)) {
		struct throttle_state shared = *out;
		char hex[2 * THR_ID_LEN + 1], net_hex[2 * THR_ID_LEN + 1] = "";
		int ret;

		hex_encode(id, THR_ID_LEN, hex);   /* the store's name for it */
		if (with_net)
			hex_encode(net, THR_ID_LEN, net_hex);
		shared.source_familiar = false;
		ret = throttle_redis_state(t->redis, kind, hex, net_hex, lift, deadline_ms, &shared);
		thr_redis_answered(t, ret, deadline_ms);
		if (ret == 0) {
			*out = shared;
			out->shared = true;
		}
	}
	out->blocked = out->block_ms > 0 || (out->budget > 0 && out->failures >= out->budget);
	out->unfamiliar_blocked = out->familiar_networks > 0 &&
				  (out->unfamiliar_block_ms > 0 ||
				   (out->unfamiliar_budget > 0 &&
				    out->unfamiliar_failures >= out->unfamiliar_budget));
	explicit_bzero(id, sizeof id);
	return 0;
}
