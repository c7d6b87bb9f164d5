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

struct thr_entry {
	uint8_t id[THR_ID_LEN];
	uint32_t hnext;              /* hash chain, or free list */
	uint32_t prev, next;         /* recency: head = most recent */
	uint32_t failures, pending;  /* counted failures; reservations in flight */
	int64_t window_end;          /* failures count until then */
	int64_t pending_end;         /* reservations lapse then */
};

struct thr_repeats {
	uint8_t id[THR_REPEAT_SLOTS][THR_ID_LEN];
	int64_t end[THR_REPEAT_SLOTS];
};

struct thr_shard {
	pthread_mutex_t lock;
	struct thr_entry *e;
	struct thr_repeats *rep;     /* parallel to e; NULL in the source table */
	uint32_t *bucket;
	uint32_t mask, cap, fresh;   /* entries [fresh, cap) never used yet */
	uint32_t free_head, head, tail;
};

struct thr_table {
	struct thr_shard shard[THR_SHARDS];
};

struct throttle {
	unsigned user_max, source_max;          /* 0 = off */
	/* What this instance allows on its own while the shared store cannot
	 * answer: its share (the budget / `instances`, at least 1). */
	unsigned user_max_alone, source_max_alone;
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
};

/* The table id of a user ('u': the mapped name, folded as the budgets
 * count it) or a source ('s': a sourceIp, keyed like the budgets: an IPv6
 * address as its /64); the shared store keys it by its hex. -1 when HMAC
 * fails. */
int thr_name_id(struct throttle *t, char kind, const char *name, uint8_t id[THR_ID_LEN]);
/* Whether the shared store can be asked now (else the memory answers). */
bool thr_redis_usable(struct throttle *t, int64_t deadline_ms);
void thr_redis_answered(struct throttle *t, int ok, int64_t deadline_ms);

int thr_table_init(struct thr_table *t, uint32_t cap_total, bool repeats);
void thr_table_fini(struct thr_table *t);
struct thr_shard *thr_shard_of(struct thr_table *t, const uint8_t *id);
uint32_t thr_entry_find(struct thr_shard *sh, const uint8_t *id);
void thr_recency_touch(struct thr_shard *sh, uint32_t i);
bool thr_entry_live(const struct thr_shard *sh, uint32_t i, int64_t now);
void thr_entry_expire(struct thr_entry *e, int64_t now);
void thr_entry_release(struct thr_shard *sh, uint32_t i);
uint32_t thr_entry_new(struct throttle *t, struct thr_shard *sh, const uint8_t *id,
			  int64_t now);

#endif
