/*
 * Throttling that protects the directory (DESIGN.md [throttle], issue 6).
 *
 * Every failed login through dagate is a failed bind on a directory, and
 * Active Directory locks an account after a few of them. dagate therefore
 * answers false *without asking any provider* when
 *   - the mapped user has spent its failure budget (user_failures, default
 *     4/15m: below AD's usual lockout threshold of 5),
 *   - the sourceIp has spent its budget (source_failures, default 30/15m),
 *   - or this very user+password already failed within repeat_window
 *     (default 5m): a client retrying a stale password costs one bind, not
 *     one per retry, and the repeat is not counted again.
 * It never sleeps: a throttled answer leaves at once.
 *
 * Familiar networks. A success from a sourceIp makes its network (an IPv4
 * /24, an IPv6 /64) familiar to that user for `familiar_for` (default
 * 30d). For a user who has a familiar network, failures from any other
 * network also count against a smaller budget, `unfamiliar_failures`
 * (default half the user budget, at least 1); when it is spent those
 * networks are refused (THROTTLE_UNFAMILIAR) while the user's familiar
 * networks still have the rest of the user budget: a stranger who knows a
 * username can no longer keep its owner out. The user budget still counts
 * every failure, wherever from, so the directory never sees more than it.
 * A user with no familiar network yet has the user budget alone.
 *
 * Blocks. When a budget trips (the user's, or its unfamiliar one) the
 * user is refused for that kind of source for the next step of
 * `block_steps` (default 1m,5m,15m,1h; the last repeats), never shorter
 * than the window: a block that ended while the directory still counted
 * the failures would hand out a budget it cannot afford. Trips are
 * forgotten after a success (which also resets every count: the
 * directory's count is 0 again) or THR_TRIPS_FORGET_MS after the last
 * block.
 *
 * Windows. A budget N/W is "N counted failures, the window restarting at
 * each one": the (N+1)th attempt is refused until W has passed without a
 * counted failure. That is how AD counts (badPwdCount restarts after the
 * "reset account lockout counter after" period of quiet), so with W at
 * least AD's observation window dagate can never feed AD its Nth+1 bad
 * bind. A fixed window lets 2N through across a boundary; a sliding log or
 * GCRA lets failures trickle in at N per W forever, which AD keeps adding
 * up as long as they come closer than its observation window: both can
 * lock the account. Refused attempts are not counted and do not extend the
 * window (an attacker hammering a throttled user does not keep them out).
 * One counter and one timestamp per key: O(1).
 *
 * Concurrency. A user's check that answers THROTTLE_ASK reserves one of
 * the user's remaining failures until its throttle_record() (or for at
 * most THROTTLE_RESERVE_MS): N+1 concurrent wrong passwords cannot all
 * reach the directory. When every remaining failure is reserved, the
 * check answers THROTTLE_WAIT, not false: the caller waits for one of the
 * logins in flight to end and checks again, so a right password is never
 * refused because of the others (at worst it waits, and at the deadline
 * it is a fault). Sources have no reservations (a busy NAT address must
 * not be refused for its successful logins in flight).
 *
 * Keys. The user is the mapped username in ASCII lowercase (directories
 * match names without regard to case, whatever [map] says; names with
 * spaces never get here: usermap_check); the source is the sourceIp as
 * Salesforce reports it, an IPv6 address reduced to its /64 (one host gets
 * a whole /64); an empty sourceIp (which the endpoint refuses as no
 * address) counts under no source key. In memory
 * both are kept only as HMAC-SHA256(process key, kind || value) truncated
 * to 128 bits, and the repeat memory as HMAC(key, "p" || user || 0 ||
 * password): no password, and no user name, stays in memory.
 *
 * Memory. `max_tracked` (default 100000) users and as many sources, in
 * fixed tables allocated at start-up; when full, the least recently used
 * entry goes first, so spraying user names cannot grow memory. Evicting an
 * entry whose counts still count is logged (rate-limited); one that holds
 * only familiar networks goes quietly (that user then has the user budget
 * alone). Familiar networks are kept as HMAC(key, "f" || user || 0 ||
 * network), up to THR_FAMILIAR_SLOTS per user.
 *
 * Shared state. `store = redis://...` (or `tokens`: the [tokens] store when
 * it is Redis) shares counts, blocks, familiar networks, reservations and
 * repeats between instances (keys in throttle_redis.c), each check and
 * each record one Lua script call; each ID is the keyed hash (hex) the
 * memory tables use, so Redis holds no username, network or address
 * either. Hashes must match across instances, so the key is
 * shared: with store = tokens it is derived from the [tokens] key_file
 * (HMAC(token key, "dagate throttle v1")), with a redis URL it is
 * [throttle] key_file (64 hex digits, created 0600 if absent: copy it to
 * every instance). The in-memory tables are kept as well and are the
 * answer whenever Redis cannot answer within `timeout` and the request's
 * deadline: a Redis outage degrades to per-instance throttling (logged
 * once per outage), never to "everyone refused" and never to true. After
 * a failure Redis is left alone for THROTTLE_REDIS_BACKOFF_MS.
 *
 * Threads: check/record/stats from any thread; tables are sharded, one
 * mutex per shard. create/free single-threaded.
 */
#ifndef DAGATE_THROTTLE_H
#define DAGATE_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "provider.h"

/* A reservation outlives any request (deadline <= 9s). */
#define THROTTLE_RESERVE_MS 10000
/* After Redis failed, use the memory tables alone for this long. */
#define THROTTLE_REDIS_BACKOFF_MS 2000

struct throttle;

/* [throttle]: user_failures = N/DURATION | off (default 4/15m),
 * source_failures = N/DURATION | off (default 30/15m), repeat_window =
 * DURATION (default 5m, 0 = off), store = memory | tokens | redis[s]://...
 * (default memory), key_file, password_file, ca_file, timeout (redis URL
 * only), max_tracked. Throttling is on with the defaults when [throttle]
 * is absent. Errors as FILE:LINE via conf_error_at. Returns the number of
 * errors added. */
int throttle_config_validate(const struct dagate_config *cfg, struct conf_errors *errors);
/* [throttle] for config_load (throttle_config_validate). */
extern const struct conf_section_kind throttle_section_kind;

/* What a configuration's [throttle] amounts to, without building it (for
 * test-user): `off` when every budget and repeats are off, `shared` when
 * its state lives in Redis. Assumes a valid configuration. */
struct throttle_summary {
	bool off, shared;
};
void throttle_summarize(const struct dagate_config *cfg, struct throttle_summary *out);

/* Validate, allocate the tables, load or derive the key, set up Redis
 * (without connecting). -1 when anything was reported. */
int throttle_create(const struct dagate_config *cfg, struct conf_errors *errors,
		    struct throttle **t_r);
void throttle_free(struct throttle **t);

enum throttle_verdict {
	THROTTLE_ASK = 0,       /* ask the providers */
	THROTTLE_USER_BUDGET,   /* the user's failure budget is spent: false, no backend */
	THROTTLE_SOURCE_BUDGET, /* the sourceIp's budget is spent: false, no backend */
	THROTTLE_REPEAT,        /* this exact user+password failed within repeat_window:
				   false, no backend, not counted again */
	THROTTLE_WAIT,          /* the user's remaining failures are all reserved by
				   logins in flight: wait for one to end and check again
				   (bounded by the deadline); never a reason for false,
				   since this login's password may be right */
	THROTTLE_UNFAMILIAR,    /* the user's budget for networks unfamiliar to it is
				   spent (or blocked): false, no backend */
};

/* Before any provider (after [map], never for token-form passwords).
 * Never sleeps; bounded by deadline_ms (monotonic, clock.h) when shared
 * through Redis. THROTTLE_ASK reserves a failure of the user: follow it
 * with exactly one throttle_record() for the same user, whatever happens
 * (AUTH_UNAVAILABLE when no provider answered). */
enum throttle_verdict throttle_check(struct throttle *t, const char *mapped_user,
				     const char *source_ip, const char *password,
				     size_t password_len, int64_t deadline_ms);

/* After the providers answered (only after a THROTTLE_ASK): REJECT /
 * UNKNOWN_USER / LOCKED count one failure for the user and the sourceIp
 * and remember the user+password for repeat_window; OK resets the user's
 * count and forgets its repeats; UNAVAILABLE / ERROR count nothing --
 * unless `unanswered`: the password was sent and never answered, so the
 * directory may have counted it; then it counts one failure too (not a
 * repeat: the password may well be right). Each releases the
 * reservation of the check. */
void throttle_record(struct throttle *t, const char *mapped_user, const char *source_ip,
		     const char *password, size_t password_len, enum auth_result result,
		     bool unanswered, int64_t deadline_ms);

/* True when check/record may wait on Redis (then a decision that would
 * otherwise be taken on an event thread must go to a worker). */
bool throttle_may_block(const struct throttle *t);

/* Audit outcome: "throttled_user", "throttled_source", "repeat_failure",
 * "throttled_unfamiliar" ("ask" for THROTTLE_ASK, "wait" for
 * THROTTLE_WAIT). Static strings. */
/* How long a caller sleeps between checks after THROTTLE_WAIT. */
#define THROTTLE_WAIT_STEP_MS 10
const char *throttle_verdict_name(enum throttle_verdict v);

/* For operators (admin API, `dagate throttle`): a user's (`kind` 'u', the
 * mapped name) or a source's ('s', a sourceIp) counted failures, logins in
 * flight, budget, whether it is refused now and when its count lapses;
 * from the shared store when it answers, else this instance's memory
 * (`shared` says which). `lift` forgets the count first (and a user's
 * blocks and repeats, never its familiar networks): the block is lifted.
 * With a user and `source_ip` (else NULL), also whether that source's
 * network is familiar to the user. -1 when the name cannot be keyed. */
struct throttle_state {
	unsigned failures, in_flight, budget;   /* budget 0: that budget is off */
	bool blocked, shared;
	int64_t lapses_in_ms;                   /* 0: nothing counted */
	int64_t block_ms;                       /* the block's time left; 0: none */
	unsigned blocks;                        /* trips not yet forgotten */
	/* Users only: networks unfamiliar to the user (the unfamiliar budget
	 * applies only while familiar_networks > 0). */
	unsigned unfamiliar_failures, unfamiliar_budget, familiar_networks;
	bool unfamiliar_blocked;
	int64_t unfamiliar_block_ms;
	bool source_familiar;                   /* with `source_ip` */
};
int throttle_state(struct throttle *t, char kind, const char *name, const char *source_ip,
		   bool lift, int64_t deadline_ms, struct throttle_state *out);

struct throttle_stats {
	uint64_t throttled_user, throttled_source, repeats;
	uint64_t waits;            /* checks answered THROTTLE_WAIT */
	uint64_t evictions;        /* live entries dropped because a table was full */
	uint64_t redis_failures;   /* Redis calls that fell back to memory */
	uint64_t throttled_unfamiliar;
	uint64_t blocks_user, blocks_unfamiliar; /* budgets tripped (blocks started) */
	uint64_t familiar_hits;    /* logins asked from a network familiar to the user */
};
void throttle_stats(struct throttle *t, struct throttle_stats *out);

/* For tests. */

/* Replace the monotonic clock (ms) used for windows. */
typedef int64_t throttle_clock_fn(void *ctx);
void throttle_set_clock(struct throttle *t, throttle_clock_fn *fn, void *ctx);
/* Pure: "4/15m" -> 4, 900000; "off" -> 0, 0. -1 when malformed. */
int throttle_parse_budget(const char *text, unsigned *count_r, int64_t *window_ms_r);
/* Pure: "1m,5m,15m,1h" -> up to THR_STEPS_MAX (8) durations in ms, each
 * 1s..24h and at least the one before; -1 when malformed. */
int throttle_parse_steps(const char *text, int64_t *steps, unsigned *n_r);
/* Pure: the source key text: an IPv6 address as its /64 ("2001:db8:1:2::/64"),
 * anything else as given. */
void throttle_source_key(const char *source_ip, char *out, size_t size);
/* Pure: the network a sourceIp makes familiar: "203.0.113.0/24",
 * "2001:db8:1:2::/64"; anything else as given. */
void throttle_network_key(const char *source_ip, char *out, size_t size);

#endif
