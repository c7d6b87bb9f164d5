/*
 * Throttle state shared through Redis (throttle_redis.h). Keys:
 *   dagate:thr:u:ID      counted failures; PX = user window, restarted by each
 *   dagate:thr:q:ID      reservations of checks in flight; PX THROTTLE_RESERVE_MS
 *   dagate:thr:s:ID      counted failures of a sourceIp (or its /64)
 *   dagate:thr:r:ID      hash: HMAC(user+password) hex -> expiry (Redis ms)
 * ID is the user's or the source's keyed hash in hex (throttle.c): Redis
 * holds no username and no address.
 * Each call is one EVAL, atomic in Redis, so concurrent instances see one
 * consistent count; times come from Redis's own clock (TIME).
 */
#include "throttle_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_conn.h"
#include "router.h"

#define THR_REPEAT_FIELDS_MAX 16   /* past this, expired repeat fields are purged */
#define THR_KEY_MAX (MAPPED_USER_MAX + 32) /* "dagate:thr:u:" + a mapped user */

/* KEYS u q s r; ARGV user_max source_max repeat_hex reserve_ms has_source
 * -> 0 ask, 1 user budget, 2 source budget, 3 repeat, 4 wait (throttle.h
 * order). */
static const char check_script[] =
	"if ARGV[3] ~= '' then\n"
	"  local e = redis.call('HGET', KEYS[4], ARGV[3])\n"
	"  if e then\n"
	"    local t = redis.call('TIME')\n"
	"    if tonumber(e) > tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) then return 3 end\n"
	"  end\n"
	"end\n"
	"local nu = tonumber(ARGV[1])\n"
	"if nu > 0 then\n"
	"  local f = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
	"  local q = tonumber(redis.call('GET', KEYS[2]) or '0')\n"
	"  if f >= nu then return 1 end\n"
	"  if f + q >= nu then return 4 end\n"
	"end\n"
	"local ns = tonumber(ARGV[2])\n"
	"if ns > 0 and ARGV[5] == '1' then\n"
	"  if tonumber(redis.call('GET', KEYS[3]) or '0') >= ns then return 2 end\n"
	"end\n"
	"if nu > 0 then\n"
	"  redis.call('INCR', KEYS[2])\n"
	"  redis.call('PEXPIRE', KEYS[2], ARGV[4])\n"
	"end\n"
	"return 0\n";

/* KEYS u q s r; ARGV outcome user_window source_window repeat_hex repeat_ms
 * has_source user_max fields_max */
static const char record_script[] =
	"if tonumber(ARGV[7]) > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then\n"
	"  redis.call('DECR', KEYS[2])\n"
	"end\n"
	"if ARGV[1] == 'o' then\n"
	"  redis.call('DEL', KEYS[1], KEYS[4])\n"
	"  if ARGV[6] == '1' and tonumber(redis.call('GET', KEYS[3]) or '0') > 0 then\n"
	"    redis.call('DECR', KEYS[3])\n"
	"  end\n"
	"  return 1\n"
	"end\n"
	"if ARGV[1] ~= 'f' then return 1 end\n"
	"if tonumber(ARGV[7]) > 0 then\n"
	"  redis.call('INCR', KEYS[1])\n"
	"  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
	"end\n"
	"if ARGV[6] == '1' and tonumber(ARGV[3]) > 0 then\n"
	"  redis.call('INCR', KEYS[3])\n"
	"  redis.call('PEXPIRE', KEYS[3], ARGV[3])\n"
	"end\n"
	"local rms = tonumber(ARGV[5])\n"
	"if ARGV[4] ~= '' and rms > 0 then\n"
	"  local t = redis.call('TIME')\n"
	"  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"  if redis.call('HLEN', KEYS[4]) >= tonumber(ARGV[8]) then\n"
	"    local all = redis.call('HGETALL', KEYS[4])\n"
	"    for i = 1, #all, 2 do\n"
	"      if tonumber(all[i + 1]) <= now then redis.call('HDEL', KEYS[4], all[i]) end\n"
	"    end\n"
	"  end\n"
	"  redis.call('HSET', KEYS[4], ARGV[4], now + rms)\n"
	"  if redis.call('PTTL', KEYS[4]) < rms then redis.call('PEXPIRE', KEYS[4], rms) end\n"
	"end\n"
	"return 1\n";

struct throttle_redis {
	struct redis_pool pool;
};

int throttle_redis_create(const char *url, const char *password, const char *ca_file,
			  int64_t timeout_ms, struct throttle_redis **r_r, const char **error_r)
{
	struct throttle_redis *r = calloc(1, sizeof *r);

	*r_r = NULL;
	if (r == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	if (!redis_is_url(url)) {
		*error_r = "store must be memory, tokens, redis[s]://[USER@]HOST[:PORT][/DB] or "
			   "redis-sentinel://HOST[:PORT][,HOST[:PORT]...]/MASTER[/DB]";
		free(r);
		return -1;
	}
	if (redis_pool_init(&r->pool, "throttle", url, password, ca_file, timeout_ms, error_r) < 0) {
		redis_pool_fini(&r->pool);
		free(r);
		return -1;
	}
	*r_r = r;
	return 0;
}

void throttle_redis_free(struct throttle_redis **rp)
{
	if (*rp == NULL)
		return;
	redis_pool_fini(&(*rp)->pool);
	free(*rp);
	*rp = NULL;
}

struct thr_keys {
	char u[THR_KEY_MAX], q[THR_KEY_MAX], s[THR_KEY_MAX], r[THR_KEY_MAX];
};

static int make_keys(struct thr_keys *k, const char *user, const char *source)
{
	int a = snprintf(k->u, sizeof k->u, "dagate:thr:u:%s", user);
	int b = snprintf(k->q, sizeof k->q, "dagate:thr:q:%s", user);
	int c = snprintf(k->s, sizeof k->s, "dagate:thr:s:%s", source);
	int d = snprintf(k->r, sizeof k->r, "dagate:thr:r:%s", user);

	return a < 0 || b < 0 || c < 0 || d < 0 || (size_t)a >= sizeof k->u ||
	       (size_t)b >= sizeof k->q || (size_t)c >= sizeof k->s ||
	       (size_t)d >= sizeof k->r ? -1 : 0;
}

int throttle_redis_check(struct throttle_redis *r, const struct throttle_redis_limits *lim,
			 const char *user, const char *source, const char *repeat_hex,
			 int64_t deadline_ms, enum throttle_verdict *verdict_r)
{
	struct thr_keys k;
	char nu[16], ns[16], reserve[16];
	redisReply *rep;
	int ret = -1;

	if (make_keys(&k, user, source) < 0)
		return -1;
	snprintf(nu, sizeof nu, "%u", lim->user_max);
	snprintf(ns, sizeof ns, "%u", lim->source_max);
	snprintf(reserve, sizeof reserve, "%d", THROTTLE_RESERVE_MS);
	const char *has_source = source[0] != '\0' ? "1" : "0";
	const char *argv[] = { "EVAL", check_script, "4", k.u, k.q, k.s, k.r,
			       nu, ns, repeat_hex, reserve, has_source };
	size_t lens[sizeof argv / sizeof argv[0]];

	for (size_t i = 0; i < sizeof argv / sizeof argv[0]; i++)
		lens[i] = strlen(argv[i]);
	rep = redis_pool_call(&r->pool, (int)(sizeof argv / sizeof argv[0]), argv, lens,
			      deadline_ms);
	if (rep != NULL && rep->type == REDIS_REPLY_INTEGER && rep->integer >= 0 &&
	    rep->integer <= THROTTLE_WAIT) {
		*verdict_r = (enum throttle_verdict)rep->integer;
		ret = 0;
	}
	freeReplyObject(rep);
	return ret;
}

int throttle_redis_record(struct throttle_redis *r, const struct throttle_redis_limits *lim,
			  const char *user, const char *source, const char *repeat_hex,
			  char outcome, int64_t deadline_ms)
{
	struct thr_keys k;
	char oc[2] = { outcome, '\0' }, wu[24], ws[24], rms[24], nu[16], fmax[16];
	redisReply *rep;
	int ret;

	if (make_keys(&k, user, source) < 0)
		return -1;
	snprintf(wu, sizeof wu, "%lld", (long long)lim->user_window_ms);
	snprintf(ws, sizeof ws, "%lld", (long long)lim->source_window_ms);
	snprintf(rms, sizeof rms, "%lld", (long long)lim->repeat_ms);
	snprintf(nu, sizeof nu, "%u", lim->user_max);
	snprintf(fmax, sizeof fmax, "%d", THR_REPEAT_FIELDS_MAX);
	const char *has_source = source[0] != '\0' && lim->source_max > 0 ? "1" : "0";
	const char *argv[] = { "EVAL", record_script, "4", k.u, k.q, k.s, k.r,
			       oc, wu, ws, repeat_hex, rms, has_source, nu, fmax };
	size_t lens[sizeof argv / sizeof argv[0]];

	for (size_t i = 0; i < sizeof argv / sizeof argv[0]; i++)
		lens[i] = strlen(argv[i]);
	rep = redis_pool_call(&r->pool, (int)(sizeof argv / sizeof argv[0]), argv, lens,
			      deadline_ms);
	ret = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? 0 : -1;
	freeReplyObject(rep);
	return ret;
}

/* KEYS count reservations repeats; ARGV lift -> {count, reservations, pttl} */
static const char state_script[] =
	"if ARGV[1] == '1' then\n"
	"  redis.call('DEL', KEYS[1], KEYS[3])\n"
	"end\n"
	"return { tonumber(redis.call('GET', KEYS[1]) or '0'),\n"
	"         tonumber(redis.call('GET', KEYS[2]) or '0'),\n"
	"         redis.call('PTTL', KEYS[1]) }\n";

int throttle_redis_state(struct throttle_redis *r, char kind, const char *name, bool lift,
			 int64_t deadline_ms, unsigned *failures_r, unsigned *in_flight_r,
			 int64_t *lapses_in_ms_r)
{
	struct thr_keys k;
	redisReply *rep;
	int ret = -1;

	if (make_keys(&k, kind == 'u' ? name : "", kind == 's' ? name : "") < 0)
		return -1;
	const char *argv[] = { "EVAL", state_script, "3", kind == 'u' ? k.u : k.s,
			       kind == 'u' ? k.q : k.s, kind == 'u' ? k.r : k.s, lift ? "1" : "0" };
	size_t lens[sizeof argv / sizeof argv[0]];

	for (size_t i = 0; i < sizeof argv / sizeof argv[0]; i++)
		lens[i] = strlen(argv[i]);
	rep = redis_pool_call(&r->pool, (int)(sizeof argv / sizeof argv[0]), argv, lens,
			      deadline_ms);
	if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
	    rep->element[0]->type == REDIS_REPLY_INTEGER &&
	    rep->element[1]->type == REDIS_REPLY_INTEGER &&
	    rep->element[2]->type == REDIS_REPLY_INTEGER) {
		*failures_r = (unsigned)rep->element[0]->integer;
		*in_flight_r = kind == 'u' ? (unsigned)rep->element[1]->integer : 0;
		*lapses_in_ms_r = rep->element[2]->integer > 0 ? rep->element[2]->integer : 0;
		ret = 0;
	}
	if (rep != NULL)
		freeReplyObject(rep);
	return ret;
}
