/*
 * redis://[USER@]HOST[:PORT][/DB], rediss://... (TLS) and
 * redis-sentinel://HOST:PORT[,...]/MASTER[/DB] — the store shared by
 * several instances.
 *
 * The transport (connections, TLS, deadlines, pool) is redis_conn.c.
 *
 * Keys: "dagate:t:<hex HMAC>" holds the encoded record with PX = ttl (so
 * expiry runs on Redis's clock and is never extended: nothing here
 * touches a key's TTL after SET); "dagate:r:<requester>" is a sorted set
 * of that requester's outstanding hashes scored by expiry, for
 * max_outstanding. Consume is one GETDEL.
 *
 * Replication is asynchronous: after a failover a consumed token can come
 * back until it expires. Keep token lifetimes short. With
 * redis-sentinel:// a redemption waits (WAIT 1, within its deadline) for
 * one replica to acknowledge the GETDEL, and is refused
 * (TS_NOT_REPLICATED) when none did: a redeemed token comes back only if
 * the master and that replica are both lost.
 *
 * Persistence decides whether a crash of Redis can do the same: a consumed
 * token stays consumed only if Redis writes the GETDEL durably before it
 * answers (appendonly yes, appendfsync always) or keeps nothing at all
 * (appendonly no, save ""; a restarted Redis is empty and every token is
 * lost, which fails closed). RDB snapshots bring back every token redeemed
 * since the last one; appendfsync everysec loses about the last second
 * (two when the disk is slow) on a machine crash, and appendfsync no what
 * the system had not written yet. redis_check_durability reads the
 * settings with CONFIG GET; a Redis that refuses CONFIG (renamed or not
 * permitted, as managed services do) cannot be judged and is refused too.
 * Either way `accept_replay_after_crash` turns the refusal into a warning.
 */
#include "store.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "log.h"
#include "redis_conn.h"

#define REDIS_SCAN_COUNT "500"     /* keys per SCAN step (revoke, list) */

static const char redis_put_script[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local ttl = tonumber(ARGV[2])\n"
	"redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)\n"
	"local max = tonumber(ARGV[3])\n"
	"if max > 0 and redis.call('ZCARD', KEYS[2]) >= max then return 0 end\n"
	"if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ttl) then return -1 end\n"
	"redis.call('ZADD', KEYS[2], now + ttl, ARGV[4])\n"
	"if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end\n"
	"return 1\n";

struct redis_store {
	struct token_store base;
	struct redis_pool pool;
	bool accept_replay;
	atomic_int durability;     /* enum token_store_durability; TD_NO_ANSWER until known */
	atomic_bool verdict_logged;
	atomic_uint checked_generation;   /* the pool's generation when last checked */
};

#define REDIS_DURABILITY_RDB \
	"Redis persists by RDB snapshots (appendonly no, save set): after a crash it " \
	"loads the last snapshot, and the tokens redeemed since are valid again"
#define REDIS_DURABILITY_EVERYSEC \
	"Redis fsyncs its append-only file once a second (appendfsync everysec): a crash " \
	"loses the last second or two of writes, and the tokens redeemed in them are valid again"
#define REDIS_DURABILITY_NO_FSYNC \
	"Redis leaves the append-only file to the system (appendfsync no): a machine crash " \
	"loses what it had not written, and the tokens redeemed then are valid again"
#define REDIS_DURABILITY_UNKNOWN \
	"Redis refused CONFIG GET (renamed or not permitted, as on managed services): " \
	"whether a crash can bring used tokens back cannot be checked"
#define REDIS_DURABILITY_ODD \
	"Redis answered CONFIG GET appendonly/appendfsync/save with values not understood"

/* CONFIG GET NAME into `value` (size bytes). 0; -1 when Redis refused it;
 * -2 when Redis did not answer (a PING tells the two apart: the pool
 * reports an error reply and silence alike). */
static int redis_config_get(struct redis_store *st, const char *name, char *value,
			    size_t size, int64_t deadline_ms)
{
	redisReply *r = redis_pool_call(&st->pool, 3, (const char *[]){ "CONFIG", "GET", name },
					(size_t[]){ 6, 3, strlen(name) }, deadline_ms);
	int ret = -1;

	if (r == NULL) {
		r = redis_pool_call(&st->pool, 1, (const char *[]){ "PING" }, (size_t[]){ 4 },
				    deadline_ms);
		ret = r != NULL ? -1 : -2;
	} else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		   r->element[1]->type == REDIS_REPLY_STRING && r->element[1]->len < size) {
		memcpy(value, r->element[1]->str, r->element[1]->len + 1);
		ret = 0;
	}
	freeReplyObject(r);
	return ret;
}

/* What Redis's persistence settings mean for a consumed token. */
static enum token_store_durability redis_durability_read(struct redis_store *st,
							 int64_t deadline_ms,
							 const char **reason_r)
{
	char aof[16] = "", fsync[16] = "", save[256] = "";
	int ret;

	*reason_r = REDIS_DURABILITY_ODD;
	if ((ret = redis_config_get(st, "appendonly", aof, sizeof aof, deadline_ms)) == 0 &&
	    (ret = redis_config_get(st, "appendfsync", fsync, sizeof fsync, deadline_ms)) == 0)
		ret = redis_config_get(st, "save", save, sizeof save, deadline_ms);
	if (ret == -2)
		return TD_NO_ANSWER;
	if (ret < 0) {
		*reason_r = REDIS_DURABILITY_UNKNOWN;
		return TD_NOT_DURABLE;
	}
	if (strcmp(aof, "yes") == 0) {
		if (strcmp(fsync, "always") == 0)
			return TD_DURABLE;
		*reason_r = strcmp(fsync, "everysec") == 0 ? REDIS_DURABILITY_EVERYSEC
			    : strcmp(fsync, "no") == 0 ? REDIS_DURABILITY_NO_FSYNC
			    : REDIS_DURABILITY_ODD;
		return TD_NOT_DURABLE;
	}
	if (strcmp(aof, "no") == 0) {
		if (save[0] == '\0')
			return TD_DURABLE;
		*reason_r = REDIS_DURABILITY_RDB;
	}
	return TD_NOT_DURABLE;
}

static enum token_store_durability redis_check_durability(struct token_store *base,
							  int64_t deadline_ms,
							  const char **reason_r)
{
	struct redis_store *st = (struct redis_store *)base;
	enum token_store_durability d = redis_durability_read(st, deadline_ms, reason_r);

	if (d == TD_NOT_DURABLE && st->accept_replay)
		d = TD_ACCEPTED;
	if (d != TD_NO_ANSWER)
		atomic_store(&st->durability, (int)d);
	return d;
}

/* Before a put or consume: a Redis that did not answer the start-up check
 * answers it now, and so does a new master after a failover (sentinel
 * stores: persistence is per node). Logs a bad verdict once per master. */
static bool redis_durable_enough(struct redis_store *st, int64_t deadline_ms)
{
	int d = atomic_load(&st->durability);
	unsigned gen;
	bool new_master;
	const char *reason = NULL;

	if (d == TD_NOT_DURABLE)        /* has another master taken over? */
		redis_pool_refresh(&st->pool, deadline_ms);
	gen = redis_pool_generation(&st->pool);
	new_master = gen != atomic_load(&st->checked_generation);

	if (d == TD_NO_ANSWER || new_master) {
		d = (int)redis_check_durability(&st->base, deadline_ms, &reason);
		if (d == TD_NO_ANSWER)
			return false;
		atomic_store(&st->checked_generation, gen);
		if (d != TD_DURABLE && (new_master || !atomic_exchange(&st->verdict_logged, true))) {
			if (d == TD_ACCEPTED)
				log_warnx("token store (redis): %s (accept_replay_after_crash = yes)",
					  reason);
			else if (new_master)
				log_errorx("token store (redis): the new master: %s; no token is issued "
					   "or redeemed until the master is set up for it (checked at "
					   "the next master change) or dagate restarted", reason);
			else
				log_errorx("token store (redis): %s; no token is issued or redeemed "
					   "until Redis is set up for it and dagate restarted", reason);
		}
	}
	return d == TD_DURABLE || d == TD_ACCEPTED;
}

static enum token_store_status redis_put(struct token_store *base, const uint8_t *hash,
					 const struct token_record *rec, unsigned max_outstanding,
					 int64_t now_ms, int64_t deadline_ms)
{
	struct redis_store *st = (struct redis_store *)base;
	uint8_t buf[TOKEN_RECORD_MAX];
	char key[80], zkey[80], member[2 * TOKEN_HASH_LEN + 1], ttl[24], max[16];
	int len = token_record_encode(rec, buf, sizeof buf);
	redisReply *r;
	enum token_store_status ret;

	if (len < 0 || rec->expires_ms <= now_ms || !redis_durable_enough(st, deadline_ms))
		return TS_UNAVAILABLE;
	hex_encode(hash, TOKEN_HASH_LEN, member);
	snprintf(key, sizeof key, "dagate:t:%s", member);
	snprintf(zkey, sizeof zkey, "dagate:r:%s", rec->requester);
	snprintf(ttl, sizeof ttl, "%lld", (long long)(rec->expires_ms - now_ms));
	snprintf(max, sizeof max, "%u", max_outstanding);
	const char *argv[] = { "EVAL", redis_put_script, "2", key, zkey, (const char *)buf,
			       ttl, max, member };
	const size_t lens[] = { 4, strlen(redis_put_script), 1, strlen(key), strlen(zkey),
				(size_t)len, strlen(ttl), strlen(max), strlen(member) };

	r = redis_pool_call(&st->pool, 9, argv, lens, deadline_ms);
	if (r == NULL || r->type != REDIS_REPLY_INTEGER)
		ret = TS_UNAVAILABLE;
	else
		ret = r->integer == 1 ? TS_OK : r->integer == 0 ? TS_FULL : TS_UNAVAILABLE;
	freeReplyObject(r);
	/* stored on a new master that is not durable: never handed out */
	if (ret == TS_OK && !redis_durable_enough(st, deadline_ms))
		ret = TS_UNAVAILABLE;
	return ret;
}

static enum token_store_status redis_consume(struct token_store *base, const uint8_t *hash,
					     int64_t now_ms, int64_t deadline_ms,
					     struct token_record *rec_r)
{
	struct redis_store *st = (struct redis_store *)base;
	char key[80], zkey[80], member[2 * TOKEN_HASH_LEN + 1];
	redisReply *r;
	long long acked = 0;
	enum token_store_status ret = TS_OK;
	int bad;

	if (!redis_durable_enough(st, deadline_ms))
		return TS_UNAVAILABLE;
	hex_encode(hash, TOKEN_HASH_LEN, member);
	snprintf(key, sizeof key, "dagate:t:%s", member);
	if (st->pool.sentinel)
		r = redis_pool_call_replicated(&st->pool, 2, (const char *[]){ "GETDEL", key },
					       (size_t[]){ 6, strlen(key) }, deadline_ms, &acked);
	else
		r = redis_pool_call(&st->pool, 2, (const char *[]){ "GETDEL", key },
				    (size_t[]){ 6, strlen(key) }, deadline_ms);
	if (r == NULL)
		return TS_UNAVAILABLE;
	if (r->type == REDIS_REPLY_NIL) {
		freeReplyObject(r);
		return TS_NOT_FOUND;
	}
	bad = r->type != REDIS_REPLY_STRING ? -1
		: token_record_decode((const uint8_t *)r->str, r->len, rec_r);
	freeReplyObject(r);
	if (bad < 0) {
		log_errorx("token store (redis): undecodable record removed");
		return TS_NOT_FOUND;
	}
	/* A failover may promote a replica that never saw the GETDEL: the
	 * token would be valid there. Burnt here, refused now. */
	if (st->pool.sentinel && acked < 1) {
		log_errorx("token store (redis): no replica acknowledged a redemption in time; "
			   "answered false");
		ret = TS_NOT_REPLICATED;
	} else if (!redis_durable_enough(st, deadline_ms)) {
		ret = TS_UNAVAILABLE;   /* consumed on a new master that is not durable */
	}
	/* Best effort: the set entry would otherwise count until expiry. */
	snprintf(zkey, sizeof zkey, "dagate:r:%s", rec_r->requester);
	freeReplyObject(redis_pool_call(&st->pool, 3, (const char *[]){ "ZREM", zkey, member },
				   (size_t[]){ 4, strlen(zkey), strlen(member) }, deadline_ms));
	return ret;
}

/* SCAN over token keys; `fn` gets each decodable record; returns 0 / -1. */
static int redis_scan(struct redis_store *st, int64_t deadline_ms,
		      void (*fn)(struct redis_store *st, const char *key, size_t key_len,
				 const struct token_record *rec, void *ctx, int64_t deadline_ms),
		      void *ctx)
{
	char cursor[32] = "0";
	struct token_record *rec = malloc(sizeof *rec);

	if (rec == NULL)
		return -1;
	do {
		redisReply *r = redis_pool_call(&st->pool, 6, (const char *[]){ "SCAN", cursor, "MATCH",
								    "dagate:t:*", "COUNT", REDIS_SCAN_COUNT },
					   (size_t[]){ 4, strlen(cursor), 5, 10, 5,
						       strlen(REDIS_SCAN_COUNT) }, deadline_ms);

		if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[0]->len >= sizeof cursor) {
			freeReplyObject(r);
			free(rec);
			return -1;
		}
		memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			redisReply *k = r->element[1]->element[i];
			redisReply *v = redis_pool_call(&st->pool, 2, (const char *[]){ "GET", k->str },
						   (size_t[]){ 3, k->len }, deadline_ms);

			if (v == NULL) {
				freeReplyObject(r);
				free(rec);
				return -1;
			}
			if (v->type == REDIS_REPLY_STRING &&
			    token_record_decode((const uint8_t *)v->str, v->len, rec) == 0)
				fn(st, k->str, k->len, rec, ctx, deadline_ms);
			freeReplyObject(v);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	free(rec);
	return 0;
}

struct revoke_ctx {
	const char *user, *requester;
	size_t count;
	bool failed;
};

static void revoke_one(struct redis_store *st, const char *key, size_t key_len,
		       const struct token_record *rec, void *vctx, int64_t deadline_ms)
{
	struct revoke_ctx *ctx = vctx;
	char zkey[80];
	redisReply *r;

	if ((ctx->user != NULL && strcmp(rec->user, ctx->user) != 0) ||
	    (ctx->requester != NULL && strcmp(rec->requester, ctx->requester) != 0))
		return;
	r = redis_pool_call(&st->pool, 2, (const char *[]){ "DEL", key }, (size_t[]){ 3, key_len },
		       deadline_ms);
	if (r == NULL)
		ctx->failed = true;
	else if (r->type == REDIS_REPLY_INTEGER && r->integer == 1)
		ctx->count++;
	freeReplyObject(r);
	snprintf(zkey, sizeof zkey, "dagate:r:%s", rec->requester);
	freeReplyObject(redis_pool_call(&st->pool, 3, (const char *[]){ "ZREM", zkey, key + 9 },
				   (size_t[]){ 4, strlen(zkey), key_len - 9 }, deadline_ms));
}

static enum token_store_status redis_revoke(struct token_store *base, const char *user,
					    const char *requester, int64_t now_ms,
					    int64_t deadline_ms, size_t *count_r)
{
	struct revoke_ctx ctx = { user, requester, 0, false };

	if (redis_scan((struct redis_store *)base, deadline_ms, revoke_one, &ctx) < 0)
		ctx.failed = true;
	*count_r = ctx.count;
	return ctx.failed ? TS_UNAVAILABLE : TS_OK;
}

struct list_ctx {
	void (*fn)(void *ctx, const uint8_t *hash, const struct token_record *rec);
	void *ctx;
};

static void list_one(struct redis_store *st, const char *key, size_t key_len,
		     const struct token_record *rec, void *vctx, int64_t deadline_ms)
{
	struct list_ctx *ctx = vctx;
	uint8_t hash[TOKEN_HASH_LEN];

	if (key_len != 9 + 2 * TOKEN_HASH_LEN)
		return;
	for (size_t i = 0; i < TOKEN_HASH_LEN; i++) {
		unsigned b;

		if (sscanf(key + 9 + 2 * i, "%2x", &b) != 1)
			return;
		hash[i] = (uint8_t)b;
	}
	ctx->fn(ctx->ctx, hash, rec);
}

static enum token_store_status redis_list(struct token_store *base, int64_t now_ms,
					  int64_t deadline_ms,
					  void (*fn)(void *ctx, const uint8_t *hash,
						     const struct token_record *rec),
					  void *vctx)
{
	struct list_ctx ctx = { fn, vctx };

	return redis_scan((struct redis_store *)base, deadline_ms, list_one, &ctx) < 0
		? TS_UNAVAILABLE : TS_OK;
}

static void redis_close(struct token_store *base)
{
	struct redis_store *st = (struct redis_store *)base;

	redis_pool_fini(&st->pool);
	free(st);
}

static int redis_open(const char *spec, const struct token_store_options *opt,
		      struct token_store **store_r, const char **error_r)
{
	struct redis_store *st = calloc(1, sizeof *st);

	if (st == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	st->base.ops = &token_store_redis_ops;
	st->accept_replay = opt->accept_replay_after_crash;
	atomic_init(&st->durability, (int)TD_NO_ANSWER);
	atomic_init(&st->verdict_logged, false);
	atomic_init(&st->checked_generation, 0);
	if (redis_pool_init(&st->pool, "tokens", spec, opt->password, opt->ca_file, opt->timeout_ms,
			    error_r) < 0) {
		redis_close(&st->base);
		return -1;
	}
	*store_r = &st->base;
	return 0;
}

const struct token_store_ops token_store_redis_ops = {
	.scheme = "redis",
	.open = redis_open,
	.put = redis_put,
	.consume = redis_consume,
	.revoke = redis_revoke,
	.list = redis_list,
	.close = redis_close,
	.check_durability = redis_check_durability,
};
