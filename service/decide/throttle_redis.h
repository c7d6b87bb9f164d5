/*
 * The Redis side of the throttle (throttle.h "Shared state"): one Lua
 * script call per check and per record, over the token store's transport
 * (base/redis_conn.h). Internal to throttle.c.
 */
#ifndef DAGATE_THROTTLE_REDIS_H
#define DAGATE_THROTTLE_REDIS_H

#include <stdbool.h>
#include <stdint.h>

#include "throttle.h"

struct throttle_redis;

/* Does not connect. -1 with *error_r on a bad URL or TLS setup. */
int throttle_redis_create(const char *url, const char *password, const char *ca_file,
			  int64_t timeout_ms, struct throttle_redis **r_r, const char **error_r);
void throttle_redis_free(struct throttle_redis **r);

/* What the budgets and windows are (0 = that budget is off). */
struct throttle_redis_limits {
	unsigned user_max, source_max, unfamiliar_max;
	int64_t user_window_ms, source_window_ms, repeat_ms, familiar_ms;
	const int64_t *steps;       /* block_steps */
	unsigned nsteps;
};

/* `source` is "" for none; `net` the hex of the user's view of the
 * source's network ("" for none); `repeat_hex` the user+password HMAC in
 * hex, or "" when repeats are off. 0 with *verdict_r (and *familiar_r:
 * the network is familiar to the user), or -1 when Redis did not answer by
 * deadline_ms. THROTTLE_ASK reserves one of the user's failures (PX
 * THROTTLE_RESERVE_MS). */
int throttle_redis_check(struct throttle_redis *r, const struct throttle_redis_limits *lim,
			 const char *user, const char *source, const char *net,
			 const char *repeat_hex, int64_t deadline_ms,
			 enum throttle_verdict *verdict_r, bool *familiar_r);
/* outcome: 'f' counted failure, 'o' success (resets the user, makes `net`
 * familiar), 'n' nothing (releases the reservation only). 0 with
 * *tripped_r (THR_TRIPPED_*: blocks this failure started), or -1 when
 * Redis did not answer. */
int throttle_redis_record(struct throttle_redis *r, const struct throttle_redis_limits *lim,
			  const char *user, const char *source, const char *net,
			  const char *repeat_hex, char outcome, int64_t deadline_ms,
			  unsigned *tripped_r);
/* For operators: a user's (kind 'u') or a source's ('s') counts, blocks
 * and familiar networks into *out (budgets, `blocked` and `shared` are
 * the caller's; `net`, "" or a network's hex: source_familiar); with
 * `lift`, forget counts, blocks and repeats first.
 * -1 when Redis did not answer. */
int throttle_redis_state(struct throttle_redis *r, char kind, const char *name,
			 const char *net, bool lift, int64_t deadline_ms, struct throttle_state *out);

#endif
