/*
 * Throttle state shared through Redis (throttle_redis.h). Keys, ID being
 * the user's or the source's keyed hash in hex (throttle.c), so Redis
 * holds no username and no address:
 *   dagate:thr:c:ID   hash f (counted failures), x (of which from unfamiliar
 *                     networks); PX = the user window, restarted by each
 *   dagate:thr:b:ID   hash t, b (trips, block end), xt, xb (the same for
 *                     unfamiliar networks); PX = the block + THR_TRIPS_FORGET_MS
 *   dagate:thr:p:ID   hash a, x: reservations of logins in flight; PX THROTTLE_RESERVE_MS
 *   dagate:thr:f:ID   sorted set: familiar network hash -> until (Redis ms);
 *                     at most THR_FAMILIAR_SLOTS, PX familiar_for
 *   dagate:thr:s:ID   counted failures of a sourceIp (or its /64)
 *   dagate:thr:r:ID   hash: HMAC(user+password) hex -> expiry (Redis ms)
 * Each call is one EVAL, atomic in Redis, so concurrent instances see one
 * consistent count; times come from Redis's own clock (TIME). The user
 * rules are throttle_rules.c's, in Lua: change both together.
 */
#include "throttle_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_conn.h"
#include "router.h"
#include "throttle_int.h"

#define THR_REPEAT_FIELDS_MAX 16   /* past this, expired repeat fields are purged */
#define THR_KEY_MAX 64             /* "dagate:thr:u:" + 32 hex digits */

#define LUA_NOW \
	"local tm = redis.call('TIME')\n" \
	"local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)\n"
/* unf: the user has a familiar network and this is not one (ARGV[net]). */
#define LUA_FAMILIARITY(net) \
	"local hit, unf = 0, false\n" \
	"if ARGV[" net "] ~= '' then\n" \
	"  local sc = redis.call('ZSCORE', KEYS[4], ARGV[" net "])\n" \
	"  if sc and tonumber(sc) > now then hit = 16\n" \
	"  elseif redis.call('ZCOUNT', KEYS[4], '(' .. now, '+inf') > 0 then unf = true end\n" \
	"end\n"

/* KEYS c b p f s r; ARGV user_max source_max repeat_hex reserve_ms has_source
 * unfamiliar_max net_hex -> the verdict (throttle.h order: 0 ask, 1 user,
 * 2 source, 3 repeat, 4 wait, 5 unfamiliar) + 16 when the network is familiar. */
static const char check_script[] =
	LUA_NOW
	"if ARGV[3] ~= '' then\n"
	"  local e = redis.call('HGET', KEYS[6], ARGV[3])\n"
	"  if e and tonumber(e) > now then return 3 end\n"
	"end\n"
	LUA_FAMILIARITY("7")
	"local nu, nx = tonumber(ARGV[1]), tonumber(ARGV[6])\n"
	"if nu > 0 then\n"
	"  local c = redis.call('HMGET', KEYS[1], 'f', 'x')\n"
	"  local b = redis.call('HMGET', KEYS[2], 'b', 'xb')\n"
	"  local q = redis.call('HMGET', KEYS[3], 'a', 'x')\n"
	"  local f, x = tonumber(c[1] or '0'), tonumber(c[2] or '0')\n"
	"  local qa, qx = tonumber(q[1] or '0'), tonumber(q[2] or '0')\n"
	"  if tonumber(b[1] or '0') > now or f >= nu then return 1 + hit end\n"
	"  if unf and (tonumber(b[2] or '0') > now or x >= nx) then return 5 end\n"
	"  if f + qa >= nu or (unf and x + qx >= nx) then return 4 + hit end\n"
	"end\n"
	"local ns = tonumber(ARGV[2])\n"
	"if ns > 0 and ARGV[5] == '1' then\n"
	"  if tonumber(redis.call('GET', KEYS[5]) or '0') >= ns then return 2 + hit end\n"
	"end\n"
	"if nu > 0 then\n"
	"  redis.call('HINCRBY', KEYS[3], 'a', 1)\n"
	"  if unf then redis.call('HINCRBY', KEYS[3], 'x', 1) end\n"
	"  redis.call('PEXPIRE', KEYS[3], ARGV[4])\n"
	"end\n"
	"return hit\n";

/* KEYS c b p f s r; ARGV outcome user_window source_window repeat_hex
 * repeat_ms has_source user_max fields_max unfamiliar_max net_hex
 * familiar_ms steps(ms, comma-separated) forget_ms familiar_slots
 * -> THR_TRIPPED_* of the blocks this failure started. */
static const char record_script[] =
	LUA_NOW
	LUA_FAMILIARITY("10")
	"local nu, nx = tonumber(ARGV[7]), tonumber(ARGV[9])\n"
	"if nu > 0 then\n"
	"  if tonumber(redis.call('HGET', KEYS[3], 'a') or '0') > 0 then\n"
	"    redis.call('HINCRBY', KEYS[3], 'a', -1)\n"
	"  end\n"
	"  if unf and tonumber(redis.call('HGET', KEYS[3], 'x') or '0') > 0 then\n"
	"    redis.call('HINCRBY', KEYS[3], 'x', -1)\n"
	"  end\n"
	"end\n"
	"if ARGV[1] == 'o' then\n"
	"  redis.call('DEL', KEYS[1], KEYS[2], KEYS[6])\n"
	"  if ARGV[6] == '1' and tonumber(redis.call('GET', KEYS[5]) or '0') > 0 then\n"
	"    redis.call('DECR', KEYS[5])\n"
	"  end\n"
	"  local fm, slots = tonumber(ARGV[11]), tonumber(ARGV[14])\n"
	"  if ARGV[10] ~= '' and fm > 0 then\n"
	"    redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)\n"
	"    redis.call('ZADD', KEYS[4], now + fm, ARGV[10])\n"
	"    local n = redis.call('ZCARD', KEYS[4])\n"
	"    if n > slots then redis.call('ZREMRANGEBYRANK', KEYS[4], 0, n - slots - 1) end\n"
	"    redis.call('PEXPIRE', KEYS[4], fm)\n"
	"  end\n"
	"  return 0\n"
	"end\n"
	"if ARGV[1] ~= 'f' then return 0 end\n"
	"local tripped = 0\n"
	"if nu > 0 then\n"
	"  local w, forget = tonumber(ARGV[2]), tonumber(ARGV[13])\n"
	"  local f = redis.call('HINCRBY', KEYS[1], 'f', 1)\n"
	"  local x = 0\n"
	"  if unf then x = redis.call('HINCRBY', KEYS[1], 'x', 1) end\n"
	"  redis.call('PEXPIRE', KEYS[1], w)\n"
	"  local steps = {}\n"
	"  for v in string.gmatch(ARGV[12], '%d+') do steps[#steps + 1] = tonumber(v) end\n"
	"  local function trip(tf, bf)\n"
	"    if tonumber(redis.call('HGET', KEYS[2], bf) or '0') > now then return false end\n"
	"    local n = tonumber(redis.call('HGET', KEYS[2], tf) or '0')\n"
	"    local ms = 0\n"
	"    if #steps > 0 then ms = steps[math.min(n + 1, #steps)] end\n"
	"    if ms < w then ms = w end\n"
	"    redis.call('HSET', KEYS[2], bf, now + ms, tf, n + 1)\n"
	"    if redis.call('PTTL', KEYS[2]) < ms + forget then\n"
	"      redis.call('PEXPIRE', KEYS[2], ms + forget)\n"
	"    end\n"
	"    return true\n"
	"  end\n"
	"  if f >= nu and trip('t', 'b') then tripped = tripped + 1 end\n"
	"  if unf and x >= nx and trip('xt', 'xb') then tripped = tripped + 2 end\n"
	"end\n"
	"if ARGV[6] == '1' and tonumber(ARGV[3]) > 0 then\n"
	"  redis.call('INCR', KEYS[5])\n"
	"  redis.call('PEXPIRE', KEYS[5], ARGV[3])\n"
	"end\n"
	"local rms = tonumber(ARGV[5])\n"
	"if ARGV[4] ~= '' and rms > 0 then\n"
	"  if redis.call('HLEN', KEYS[6]) >= tonumber(ARGV[8]) then\n"
	"    local all = redis.call('HGETALL', KEYS[6])\n"
	"    for i = 1, #all, 2 do\n"
	"      if tonumber(all[i + 1]) <= now then redis.call('HDEL', KEYS[6], all[i]) end\n"
	"    end\n"
	"  end\n"
	"  redis.call('HSET', KEYS[6], ARGV[4], now + rms)\n"
	"  if redis.call('PTTL', KEYS[6]) < rms then redis.call('PEXPIRE', KEYS[6], rms) end\n"
	"end\n"
	"return tripped\n";

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
	char c[THR_KEY_MAX], b[THR_KEY_MAX], p[THR_KEY_MAX], f[THR_KEY_MAX];
	char s[THR_KEY_MAX], r[THR_KEY_MAX];
};

static int make_keys(struct thr_keys *k, const char *user, const char *source)
{
	struct { char *out; char kind; const char *id; } all[] = {
		{ k->c, 'c', user }, { k->b, 'b', user }, { k->p, 'p', user },
		{ k->f, 'f', user }, { k->s, 's', source }, { k->r, 'r', user },
	};

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		int n = snprintf(all[i].out, THR_KEY_MAX, "dagate:thr:%c:%s", all[i].kind, all[i].id);

		if (n < 0 || n >= THR_KEY_MAX)
			return -1;
	}
	return 0;
}

/* One EVAL of `script` over `keys` (6) and `args`; the reply, or NULL. */
static redisReply *eval(struct throttle_redis *r, const char *script, const struct thr_keys *k,
			const char *const *args, size_t nargs, int64_t deadline_ms)
{
	const char *argv[3 + 6 + 16];
	size_t lens[sizeof argv / sizeof argv[0]], n = 0;

	if (nargs > 16)
		return NULL;
	argv[n++] = "EVAL";
	argv[n++] = script;
	argv[n++] = "6";
	argv[n++] = k->c;
	argv[n++] = k->b;
	argv[n++] = k->p;
	argv[n++] = k->f;
	argv[n++] = k->s;
	argv[n++] = k->r;
	for (size_t i = 0; i < nargs; i++)
		argv[n++] = args[i];
	for (size_t i = 0; i < n; i++)
		lens[i] = strlen(argv[i]);
	return redis_pool_call(&r->pool, (int)n, argv, lens, deadline_ms);
}

int throttle_redis_check(struct throttle_redis *r, const struct throttle_redis_limits *lim,
			 const char *user, const char *source, const char *net,
			 const char *repeat_hex, int64_t deadline_ms,
			 enum throttle_verdict *verdict_r, bool *familiar_r)
{
	struct thr_keys k;
	char nu[16], ns[16], nx[16], reserve[16];
	redisReply *rep;
	int ret = -1;

	if (make_keys(&k, user, source) < 0)
		return -1;
	snprintf(nu, sizeof nu, "%u", lim->user_max);
	snprintf(ns, sizeof ns, "%u", lim->source_max);
	snprintf(nx, sizeof nx, "%u", lim->unfamiliar_max);
	snprintf(reserve, sizeof reserve, "%d", THROTTLE_RESERVE_MS);
	const char *args[] = { nu, ns, repeat_hex, reserve, source[0] != '\0' ? "1" : "0", nx,
			       lim->unfamiliar_max > 0 ? net : "" };

	rep = eval(r, check_script, &k, args, sizeof args / sizeof args[0], deadline_ms);
	if (rep != NULL && rep->type == REDIS_REPLY_INTEGER && rep->integer >= 0 &&
	    rep->integer % 16 <= THROTTLE_UNFAMILIAR && rep->integer < 32) {
		*verdict_r = (enum throttle_verdict)(rep->integer % 16);
		*familiar_r = rep->integer >= 16;
		ret = 0;
	}
	freeReplyObject(rep);
	return ret;
}

/* "60000,300000,..." */
static void steps_text(const struct throttle_redis_limits *lim, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < lim->nsteps && used < size; i++) {
		int n = snprintf(out + used, size - used, "%s%lld", i > 0 ? "," : "",
				 (long long)lim->steps[i]);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

int throttle_redis_record(struct throttle_redis *r, const struct throttle_redis_limits *lim,
			  const char *user, const char *source, const char *net,
			  const char *repeat_hex, char outcome, int64_t deadline_ms,
			  unsigned *tripped_r)
{
	struct thr_keys k;
	char oc[2] = { outcome, '\0' }, wu[24], ws[24], rms[24], nu[16], fmax[16], nx[16];
	char fam[24], steps[THR_STEPS_MAX * 24], forget[24], slots[16];
	redisReply *rep;
	int ret = -1;

	*tripped_r = 0;
	if (make_keys(&k, user, source) < 0)
		return -1;
	snprintf(wu, sizeof wu, "%lld", (long long)lim->user_window_ms);
	snprintf(ws, sizeof ws, "%lld", (long long)lim->source_window_ms);
	snprintf(rms, sizeof rms, "%lld", (long long)lim->repeat_ms);
	snprintf(nu, sizeof nu, "%u", lim->user_max);
	snprintf(fmax, sizeof fmax, "%d", THR_REPEAT_FIELDS_MAX);
	snprintf(nx, sizeof nx, "%u", lim->unfamiliar_max);
	snprintf(fam, sizeof fam, "%lld", (long long)lim->familiar_ms);
	snprintf(forget, sizeof forget, "%lld", (long long)THR_TRIPS_FORGET_MS);
	snprintf(slots, sizeof slots, "%d", THR_FAMILIAR_SLOTS);
	steps_text(lim, steps, sizeof steps);
	const char *args[] = { oc, wu, ws, repeat_hex, rms,
			       source[0] != '\0' && lim->source_max > 0 ? "1" : "0", nu, fmax, nx,
			       lim->unfamiliar_max > 0 ? net : "", fam, steps, forget, slots };

	rep = eval(r, record_script, &k, args, sizeof args / sizeof args[0], deadline_ms);
	if (rep != NULL && rep->type == REDIS_REPLY_INTEGER) {
		*tripped_r = (unsigned)rep->integer & (THR_TRIPPED_USER | THR_TRIPPED_UNFAMILIAR);
		ret = 0;
	}
	freeReplyObject(rep);
	return ret;
}

/* KEYS c b p f s r; ARGV lift kind net -> {failures, in flight, count pttl,
 * trips, block left, unfamiliar failures, unfamiliar block left,
 * familiar networks, net is one of them}. A lift forgets counts, blocks, trips and repeats,
 * never the familiar networks. */
static const char state_script[] =
	LUA_NOW
	"if ARGV[2] == 's' then\n"
	"  if ARGV[1] == '1' then redis.call('DEL', KEYS[5]) end\n"
	"  return { tonumber(redis.call('GET', KEYS[5]) or '0'), 0, redis.call('PTTL', KEYS[5]),\n"
	"           0, 0, 0, 0, 0, 0 }\n"
	"end\n"
	"if ARGV[1] == '1' then redis.call('DEL', KEYS[1], KEYS[2], KEYS[6]) end\n"
	"local c = redis.call('HMGET', KEYS[1], 'f', 'x')\n"
	"local b = redis.call('HMGET', KEYS[2], 't', 'b', 'xt', 'xb')\n"
	"local function left(v) return math.max(0, tonumber(v or '0') - now) end\n"
	"return { tonumber(c[1] or '0'), tonumber(redis.call('HGET', KEYS[3], 'a') or '0'),\n"
	"         redis.call('PTTL', KEYS[1]),\n"
	"         tonumber(b[1] or '0') + tonumber(b[3] or '0'), left(b[2]),\n"
	"         tonumber(c[2] or '0'), left(b[4]),\n"
	"         redis.call('ZCOUNT', KEYS[4], '(' .. now, '+inf'),\n"
	"         (ARGV[3] ~= '' and tonumber(redis.call('ZSCORE', KEYS[4], ARGV[3]) or '0') > now)\n"
	"           and 1 or 0 }\n";

int throttle_redis_state(struct throttle_redis *r, char kind, const char *name,
			 const char *net, bool lift, int64_t deadline_ms, struct throttle_state *out)
{
	struct thr_keys k;
	redisReply *rep;
	int ret = -1;
	const char *args[] = { lift ? "1" : "0", kind == 'u' ? "u" : "s", net };

	if (make_keys(&k, kind == 'u' ? name : "-", kind == 's' ? name : "-") < 0)
		return -1;
	rep = eval(r, state_script, &k, args, 3, deadline_ms);
	if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 9) {
		long long v[9];

		ret = 0;
		for (size_t i = 0; i < 9; i++) {
			if (rep->element[i]->type != REDIS_REPLY_INTEGER)
				ret = -1;
			else
				v[i] = rep->element[i]->integer > 0 ? rep->element[i]->integer : 0;
		}
		if (ret == 0) {
			out->failures = (unsigned)v[0];
			out->in_flight = (unsigned)v[1];
			out->lapses_in_ms = out->failures > 0 ? v[2] : 0;
			out->blocks = (unsigned)v[3];
			out->block_ms = v[4];
			out->unfamiliar_failures = (unsigned)v[5];
			out->unfamiliar_block_ms = v[6];
			out->familiar_networks = (unsigned)v[7];
			out->source_familiar = v[8] == 1;
		}
	}
	freeReplyObject(rep);
	return ret;
}
