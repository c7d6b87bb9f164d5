/*
 * Private to service/decide/throttle*.c: the in-memory tables (sharded, bounded,
 * least-recently-failed first out) and the state they belong to.
 */
#ifndef DAGATE_THROTTLE_INT_H
#define DAGATE_THROTTLE_INT_H

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "throttle.h"
#include "throttle_redis.h"

#define THR_SHARDS 16              /* one mutex each: little contention on 2..64 cores */
#define THR_ID_LEN 16              /* truncated HMAC-SHA256: 128 bits, collisions moot */
#define THR_REPEAT_SLOTS 4         /* remembered failing passwords per user (oldest goes) */
#define THR_NIL UINT32_MAX
#define THR_SOURCE_KEY_MAX 64      /* an address, or its /64, as text */
#define THR_EVICT_LOG_MS 60000     /* at most one "table full" warning a minute */
#define THR_BUDGET_COUNT_MAX 100000
#define THR_WINDOW_MAX_MS (24LL * 3600 * 1000)
#define THR_FAMILIAR_SLOTS 8       /* remembered networks per user (least recent goes) */
#define THR_FAMILIAR_MAX_MS (366LL * 24 * 3600 * 1000)
#define THR_STEPS_MAX 8            /* block_steps */
/* A user's trips (how far up block_steps it is) are forgotten this long
 * after its last block ends without another, or at a success. */
#define THR_TRIPS_FORGET_MS (24LL * 3600 * 1000)

/* One user or one source. Sources use failures and window_end only. */
struct thr_entry {
	uint8_t id[THR_ID_LEN];
	uint32_t hnext;              /* hash chain, or free list */
	uint32_t prev, next;         /* recency: head = most recent */
	uint32_t failures, pending;  /* counted failures; reservations in flight */
	uint32_t unfamiliar, upending; /* of those: from networks unfamiliar to the user */
	uint32_t trips, utrips;      /* blocks so far (all sources; unfamiliar ones) */
	int64_t window_end;          /* failures count until then */
	int64_t pending_end;         /* reservations lapse then */
	int64_t block_end, ublock_end; /* refused until then (all; unfamiliar sources) */
	int64_t trips_end;           /* trips are forgotten then */
};

/* A user's familiar networks: keyed hashes of (user, network), each until `end`. */
struct thr_familiar {
	uint8_t id[THR_FAMILIAR_SLOTS][THR_ID_LEN];
	int64_t end[THR_FAMILIAR_SLOTS];
};

struct thr_repeats {
	uint8_t id[THR_REPEAT_SLOTS][THR_ID_LEN];
	int64_t end[THR_REPEAT_SLOTS];
};

struct thr_shard {
	pthread_mutex_t lock;
	struct thr_entry *e;
	struct thr_repeats *rep;     /* parallel to e; NULL in the source table */
	struct thr_familiar *fam;    /* parallel to e; NULL in the source table */
	uint32_t *bucket;
	uint32_t mask, cap, fresh;   /* entries [fresh, cap) never used yet */
	uint32_t free_head, head, tail;
};

struct thr_table {
	struct thr_shard shard[THR_SHARDS];
};

/* The user rules' numbers (throttle_rules.c). */
struct thr_limits {
	unsigned user_max;          /* 0: no user budget */
	unsigned unfamiliar_max;    /* 0: no familiar sources */
	int64_t window_ms;
	const int64_t *steps;       /* block_steps */
	unsigned nsteps;
};

struct throttle {
	unsigned user_max, source_max;          /* 0 = off */
	unsigned unfamiliar_max;                /* 0: familiar sources off */
	/* What this instance allows on its own while the shared store cannot
	 * answer: its share (the budget / `instances`, at least 1). */
	unsigned user_max_alone, source_max_alone, unfamiliar_max_alone;
	int64_t familiar_ms;                    /* 0: familiar sources off */
	int64_t steps[THR_STEPS_MAX];
	unsigned nsteps;
	/* Sources that host many users (offices, proxies): no source budget. */
	struct cidr_list trusted;
	int64_t user_window_ms, source_window_ms, repeat_ms;
	struct thr_table users, sources;
	EVP_MAC_CTX *mac;                       /* keyed template, duplicated per use */
	struct throttle_redis *redis;           /* NULL: memory only */
	throttle_clock_fn *clock;
	void *clock_ctx;
	atomic_bool redis_down;
	atomic_llong redis_retry_at;
	atomic_llong evict_logged_at;
	atomic_ullong throttled_user, throttled_source, repeats, evictions, redis_failures, waits;
	atomic_ullong throttled_unfamiliar, blocks_user, blocks_unfamiliar, familiar_hits;
};

/* The rules (throttle_rules.c), pure. */
#define THR_TRIPPED_USER 1u
#define THR_TRIPPED_UNFAMILIAR 2u
/* How long the block after `trips_before` earlier ones lasts: the step,
 * never shorter than the window. */
int64_t thr_block_ms(const struct thr_limits *l, uint32_t trips_before);
void thr_user_expire(struct thr_entry *e, int64_t now);
/* ASK, USER_BUDGET, UNFAMILIAR or WAIT (repeats are the caller's). */
enum throttle_verdict thr_user_verdict(const struct thr_limits *l, const struct thr_entry *e,
				       int64_t now, bool unfamiliar);
void thr_user_reserve(struct thr_entry *e, int64_t now, bool unfamiliar);
void thr_user_release(struct thr_entry *e, bool unfamiliar);
/* A counted failure: THR_TRIPPED_* for the blocks it started. */
unsigned thr_user_failed(const struct thr_limits *l, struct thr_entry *e, int64_t now,
			 bool unfamiliar);
void thr_user_succeeded(struct thr_entry *e);
/* Where a network (NULL: none) stands for a user's familiar networks
 * (NULL: none): `known` when it has a live one, `hit` when it is this. */
struct thr_familiarity {
	bool known, hit;
};
struct thr_familiarity thr_familiarity(const struct thr_familiar *fam, const uint8_t *net,
				      int64_t now);
/* From elsewhere than a familiar network of a user who has one. */
bool thr_unfamiliar(const struct thr_familiarity *f);
/* Remember `net` until `until`, in its own slot or the one lapsing first. */
void thr_familiar_add(struct thr_familiar *fam, const uint8_t *net, int64_t until, int64_t now);

/* The table id of a user ('u': the mapped name, folded as the budgets
 * count it) or a source ('s': a sourceIp, keyed like the budgets: an IPv6
 * address as its /64); the shared store keys it by its hex. -1 when HMAC
 * fails. */
int thr_name_id(struct throttle *t, char kind, const char *name, uint8_t id[THR_ID_LEN]);
/* The id of a sourceIp's network as familiar to a (mapped) user. */
int thr_network_id(struct throttle *t, const char *user, const char *source_ip,
		   uint8_t id[THR_ID_LEN]);
/* Whether the shared store can be asked now (else the memory answers). */
bool thr_redis_usable(struct throttle *t, int64_t deadline_ms);
void thr_redis_answered(struct throttle *t, int ok, int64_t deadline_ms);

/* `users`: with the repeat and familiar-network arrays. */
int thr_table_init(struct thr_table *t, uint32_t cap_total, bool users);
void thr_table_fini(struct thr_table *t);
struct thr_shard *thr_shard_of(struct thr_table *t, const uint8_t *id);
uint32_t thr_entry_find(struct thr_shard *sh, const uint8_t *id);
void thr_recency_touch(struct thr_shard *sh, uint32_t i);
bool thr_entry_live(const struct thr_shard *sh, uint32_t i, int64_t now);
void thr_entry_expire(struct thr_entry *e, int64_t now);   /* a source's */
void thr_entry_release(struct thr_shard *sh, uint32_t i);
uint32_t thr_entry_new(struct throttle *t, struct thr_shard *sh, const uint8_t *id,
			  int64_t now);

#endif
