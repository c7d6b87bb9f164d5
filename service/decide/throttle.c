/*
 * Throttling that protects the directory: see throttle.h for the rules,
 * the window semantics and why.
 */
#include "throttle.h"
#include "throttle_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hex.h"
#include "log.h"
#include "redis_conn.h"
#include "throttle_redis.h"
#include "tokens.h"
#include "usermap.h"

/* HMAC(key, kind || a [|| 0 || b]) truncated to THR_ID_LEN. No copy of a
 * or b is made. -1 only when OpenSSL fails (then the caller fails open to
 * THROTTLE_ASK: a throttle fault must not refuse everyone). */
static int thr_id(struct throttle *t, char kind, const char *a, size_t a_len,
		  const char *b, size_t b_len, uint8_t out[THR_ID_LEN])
{
	EVP_MAC_CTX *c = EVP_MAC_CTX_dup(t->mac);
	uint8_t full[EVP_MAX_MD_SIZE];
	size_t len = 0;
	int ok;

	if (c == NULL)
		return -1;
	ok = EVP_MAC_update(c, (const uint8_t *)&kind, 1) &&
	     EVP_MAC_update(c, (const uint8_t *)a, a_len) &&
	     (b == NULL || (EVP_MAC_update(c, (const uint8_t *)"", 1) &&
			    EVP_MAC_update(c, (const uint8_t *)b, b_len))) &&
	     EVP_MAC_final(c, full, &len, sizeof full) && len >= THR_ID_LEN;
	EVP_MAC_CTX_free(c);
	if (ok)
		memcpy(out, full, THR_ID_LEN);
	explicit_bzero(full, sizeof full);
	return ok ? 0 : -1;
}

void throttle_source_key(const char *source_ip, char *out, size_t size)
{
	uint8_t a[16];
	char text[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET, source_ip, a) == 1 && inet_ntop(AF_INET, a, text, sizeof text)) {
		snprintf(out, size, "%s", text);
	} else if (inet_pton(AF_INET6, source_ip, a) == 1) {
		static const uint8_t mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };

		if (memcmp(a, mapped, sizeof mapped) == 0 &&
		    inet_ntop(AF_INET, a + 12, text, sizeof text) != NULL) {
			snprintf(out, size, "%s", text);
			return;
		}
		memset(a + 8, 0, 8);
		inet_ntop(AF_INET6, a, text, sizeof text);
		snprintf(out, size, "%s/64", text);
	} else {
		snprintf(out, size, "%s", source_ip);  /* not an address: as given, capped */
	}
}

void throttle_network_key(const char *source_ip, char *out, size_t size)
{
	uint8_t a[4];
	char text[INET_ADDRSTRLEN];

	throttle_source_key(source_ip, out, size);   /* IPv6: already its /64 */
	if (inet_pton(AF_INET, out, a) == 1) {
		a[3] = 0;
		if (inet_ntop(AF_INET, a, text, sizeof text) != NULL)
			snprintf(out, size, "%s/24", text);
	}
}

/* Redis: shared when it answers, memory when it does not. */

/* Redis is skipped while backing off after a failure, and when the
 * request has no time left (that is not Redis's fault). */
static bool redis_usable(struct throttle *t, int64_t now, int64_t deadline_ms)
{
	return t->redis != NULL && now >= atomic_load(&t->redis_retry_at) &&
	       clock_left_ms(deadline_ms) > 0;
}

static void redis_answered(struct throttle *t, int ok, int64_t now, int64_t deadline_ms)
{
	if (ok == 0) {
		if (atomic_exchange(&t->redis_down, false))
			log_info("throttle: Redis answers again; throttling is shared again");
		return;
	}
	atomic_fetch_add(&t->redis_failures, 1);
	if (clock_left_ms(deadline_ms) == 0)
		return;   /* the request's deadline ran out, not Redis's timeout */
	atomic_store(&t->redis_retry_at, now + THROTTLE_REDIS_BACKOFF_MS);
	if (!atomic_exchange(&t->redis_down, true))
		log_warnx("throttle: Redis did not answer; throttling per instance until it does");
}

static void redis_limits(const struct throttle *t, struct throttle_redis_limits *lim)
{
	lim->user_max = t->user_max;
	lim->source_max = t->source_max;
	lim->user_window_ms = t->user_window_ms;
	lim->source_window_ms = t->source_window_ms;
	lim->repeat_ms = t->repeat_ms;
	lim->unfamiliar_max = t->unfamiliar_max;
	lim->familiar_ms = t->familiar_ms;
	lim->steps = t->steps;
	lim->nsteps = t->nsteps;
}

/* The user rules' numbers for this instance's own memory: its share. */
static void memory_limits(const struct throttle *t, struct thr_limits *l)
{
	l->user_max = t->user_max > 0 ? t->user_max_alone : 0;
	l->unfamiliar_max = t->unfamiliar_max > 0 ? t->unfamiliar_max_alone : 0;
	l->window_ms = t->user_window_ms;
	l->steps = t->steps;
	l->nsteps = t->nsteps;
}

/* Check and record. */

struct thr_ids {
	uint8_t user[THR_ID_LEN], source[THR_ID_LEN], repeat[THR_ID_LEN];
	uint8_t net[THR_ID_LEN];     /* the user's view of the source network */
	char source_key[THR_SOURCE_KEY_MAX];
	bool has_source, has_repeat, has_net;
};

/* What the shared store keys a user and a source by: their keyed hashes in
 * hex, never the name or the address ("" for no source). */
struct thr_names {
	char user[2 * THR_ID_LEN + 1], source[2 * THR_ID_LEN + 1], net[2 * THR_ID_LEN + 1];
};

static void ids_hex(const struct thr_ids *ids, struct thr_names *out)
{
	hex_encode(ids->user, THR_ID_LEN, out->user);
	out->source[0] = out->net[0] = '\0';
	if (ids->has_source)
		hex_encode(ids->source, THR_ID_LEN, out->source);
	if (ids->has_net)
		hex_encode(ids->net, THR_ID_LEN, out->net);
}

/* `user` is the folded name (budgets), `exact` the mapped one: a repeat
 * is the same password for the very name that failed (with [map]
 * lowercase = no, other case may be another route). */
static int ids_make(struct throttle *t, const char *user, const char *exact,
		    const char *source_ip, const char *password, size_t password_len,
		    bool want_repeat, struct thr_ids *ids)
{
	ids->has_source = source_ip != NULL && source_ip[0] != '\0' && t->source_max > 0 &&
			  !cidr_list_contains_text(&t->trusted, source_ip);
	ids->has_repeat = want_repeat && t->repeat_ms > 0 && password != NULL;
	ids->has_net = t->unfamiliar_max > 0 && source_ip != NULL && source_ip[0] != '\0';
	ids->source_key[0] = '\0';
	if (thr_id(t, 'u', user, strlen(user), NULL, 0, ids->user) < 0)
		return -1;
	/* Familiar to this user, not to everyone: keyed with the name. */
	if (ids->has_net && thr_network_id(t, user, source_ip, ids->net) < 0)
		return -1;
	if (ids->has_source) {
		throttle_source_key(source_ip, ids->source_key, sizeof ids->source_key);
		if (thr_id(t, 's', ids->source_key, strlen(ids->source_key), NULL, 0, ids->source) < 0)
			return -1;
	}
	if (ids->has_repeat &&
	    thr_id(t, 'p', exact, strlen(exact), password, password_len, ids->repeat) < 0)
		return -1;
	return 0;
}

static enum throttle_verdict count_verdict(struct throttle *t, enum throttle_verdict v)
{
	switch (v) {
	case THROTTLE_USER_BUDGET: atomic_fetch_add(&t->throttled_user, 1); break;
	case THROTTLE_SOURCE_BUDGET: atomic_fetch_add(&t->throttled_source, 1); break;
	case THROTTLE_REPEAT: atomic_fetch_add(&t->repeats, 1); break;
	case THROTTLE_WAIT: atomic_fetch_add(&t->waits, 1); break;
	case THROTTLE_UNFAMILIAR: atomic_fetch_add(&t->throttled_unfamiliar, 1); break;
	case THROTTLE_ASK: break;
	}
	return v;
}

/* Where the source stands for the user in slot i (under the shard lock). */
static struct thr_familiarity familiarity(const struct thr_shard *sh, uint32_t i,
					  const struct thr_ids *ids, int64_t now)
{
	return thr_familiarity(i != THR_NIL ? &sh->fam[i] : NULL, ids->has_net ? ids->net : NULL,
			       now);
}

/* The user's verdict from memory; with `reserve`, THROTTLE_ASK takes a
 * reservation (re-checked under the same lock, so concurrent checks cannot
 * overrun the budget). */
static enum throttle_verdict user_verdict(struct throttle *t, const struct thr_ids *ids,
					  int64_t now, bool reserve)
{
	struct thr_shard *sh = thr_shard_of(&t->users, ids->user);
	enum throttle_verdict v = THROTTLE_ASK;
	struct thr_familiarity f;
	struct thr_limits lim;
	uint32_t i;

	memory_limits(t, &lim);
	pthread_mutex_lock(&sh->lock);
	i = thr_entry_find(sh, ids->user);
	f = familiarity(sh, i, ids, now);
	if (i != THR_NIL) {
		struct thr_entry *e = &sh->e[i];
		int match = 0;

		thr_user_expire(e, now);
		/* Every live slot compared in full: no early exit on a secret. */
		for (int k = 0; ids->has_repeat && k < THR_REPEAT_SLOTS; k++)
			match |= (sh->rep[i].end[k] > now) &
				 (CRYPTO_memcmp(sh->rep[i].id[k], ids->repeat, THR_ID_LEN) == 0);
		v = match ? THROTTLE_REPEAT : thr_user_verdict(&lim, e, now, thr_unfamiliar(&f));
	}
	if (v == THROTTLE_ASK && reserve && t->user_max > 0) {
		if (i == THR_NIL)
			i = thr_entry_new(t, sh, ids->user, now);
		thr_user_reserve(&sh->e[i], now, thr_unfamiliar(&f));
	}
	pthread_mutex_unlock(&sh->lock);
	if (reserve && f.hit)
		atomic_fetch_add(&t->familiar_hits, 1);
	return v;
}

static enum throttle_verdict source_verdict(struct throttle *t, const struct thr_ids *ids,
					    int64_t now)
{
	struct thr_shard *sh = thr_shard_of(&t->sources, ids->source);
	enum throttle_verdict v = THROTTLE_ASK;
	uint32_t i;

	if (!ids->has_source)
		return v;
	pthread_mutex_lock(&sh->lock);
	i = thr_entry_find(sh, ids->source);
	if (i != THR_NIL) {
		thr_entry_expire(&sh->e[i], now);
		if (sh->e[i].failures >= t->source_max_alone)
			v = THROTTLE_SOURCE_BUDGET;
	}
	pthread_mutex_unlock(&sh->lock);
	return v;
}

/* The user as the throttle counts it: directories match names without
 * regard to case (userPrincipalName, mail, uid), so "Carol@x" and
 * "carol@x" must share one budget even with [map] lowercase = no. */
static void user_fold(const char *mapped_user, char out[MAPPED_USER_MAX + 1])
{
	size_t i;

	for (i = 0; i < MAPPED_USER_MAX && mapped_user[i] != '\0'; i++)
		out[i] = (char)tolower((unsigned char)mapped_user[i]);
	out[i] = '\0';
}

enum throttle_verdict throttle_check(struct throttle *t, const char *mapped_user,
				     const char *source_ip, const char *password,
				     size_t password_len, int64_t deadline_ms)
{
	int64_t now = t->clock(t->clock_ctx);
	char user[MAPPED_USER_MAX + 1];
	struct thr_ids ids;
	enum throttle_verdict v;

	user_fold(mapped_user, user);
	if (ids_make(t, user, mapped_user, source_ip, password, password_len, true, &ids) < 0) {
		log_errorx("throttle: HMAC failed; not throttling this request");
		return THROTTLE_ASK;
	}
	/* Shared state is the answer when Redis gives one; the memory tables
	 * (kept by every record) answer when it does not. */
	if (redis_usable(t, now, deadline_ms)) {
		struct throttle_redis_limits lim;
		char hex[2 * THR_ID_LEN + 1] = "";
		struct thr_names names;
		int ret;

		redis_limits(t, &lim);
		if (ids.has_repeat)
			hex_encode(ids.repeat, THR_ID_LEN, hex);
		bool hit = false;

		ids_hex(&ids, &names);
		ret = throttle_redis_check(t->redis, &lim, names.user, names.source, names.net, hex,
					   deadline_ms, &v, &hit);
		explicit_bzero(hex, sizeof hex);
		redis_answered(t, ret, t->clock(t->clock_ctx), deadline_ms);
		if (ret == 0) {
			explicit_bzero(&ids, sizeof ids);
			if (hit && v == THROTTLE_ASK)
				atomic_fetch_add(&t->familiar_hits, 1);
			return count_verdict(t, v);
		}
	}
	v = user_verdict(t, &ids, now, false);
	if (v == THROTTLE_ASK)
		v = source_verdict(t, &ids, now);
	if (v == THROTTLE_ASK)
		v = user_verdict(t, &ids, now, true);
	explicit_bzero(&ids, sizeof ids);
	return count_verdict(t, v);
}

/* The user's side of a result in memory: THR_TRIPPED_* for the blocks it started. */
static unsigned user_record(struct throttle *t, const struct thr_ids *ids, enum auth_result result,
			    bool failed, int64_t now)
{
	struct thr_shard *sh = thr_shard_of(&t->users, ids->user);
	struct thr_familiarity f;
	struct thr_limits lim;
	unsigned tripped = 0;
	uint32_t i;

	memory_limits(t, &lim);
	pthread_mutex_lock(&sh->lock);
	i = thr_entry_find(sh, ids->user);
	f = familiarity(sh, i, ids, now);
	if (i != THR_NIL)
		thr_user_release(&sh->e[i], thr_unfamiliar(&f));
	if (failed && (t->user_max > 0 || ids->has_repeat)) {
		if (i == THR_NIL)
			i = thr_entry_new(t, sh, ids->user, now);
		thr_user_expire(&sh->e[i], now);
		tripped = thr_user_failed(&lim, &sh->e[i], now, thr_unfamiliar(&f));
		if (ids->has_repeat) {
			int oldest = 0;

			for (int k = 1; k < THR_REPEAT_SLOTS; k++)
				if (sh->rep[i].end[k] < sh->rep[i].end[oldest])
					oldest = k;
			memcpy(sh->rep[i].id[oldest], ids->repeat, THR_ID_LEN);
			sh->rep[i].end[oldest] = now + t->repeat_ms;
		}
		thr_recency_touch(sh, i);
	} else if (result == AUTH_OK && (i != THR_NIL || ids->has_net)) {
		/* The directory said yes: its count is 0 again, and this
		 * network is now familiar to the user. */
		if (i == THR_NIL)
			i = thr_entry_new(t, sh, ids->user, now);
		thr_user_succeeded(&sh->e[i]);
		explicit_bzero(&sh->rep[i], sizeof sh->rep[i]);
		if (ids->has_net)
			thr_familiar_add(&sh->fam[i], ids->net, now + t->familiar_ms, now);
		thr_recency_touch(sh, i);
	} else if (i != THR_NIL && !thr_entry_live(sh, i, now)) {
		thr_entry_release(sh, i);
	}
	pthread_mutex_unlock(&sh->lock);
	return tripped;
}

/* The source's side: a failure counts; a success pays one back (an
 * office behind one NAT address is not refused for its everyday typos; a
 * sprayer has no successes to pay with). */
static void source_record(struct throttle *t, const struct thr_ids *ids, enum auth_result result,
			  bool failed, int64_t now)
{
	struct thr_shard *sh;
	uint32_t i;

	if (!ids->has_source || (!failed && result != AUTH_OK))
		return;
	sh = thr_shard_of(&t->sources, ids->source);
	pthread_mutex_lock(&sh->lock);
	i = thr_entry_find(sh, ids->source);
	if (failed) {
		if (i == THR_NIL)
			i = thr_entry_new(t, sh, ids->source, now);
		thr_entry_expire(&sh->e[i], now);
		sh->e[i].failures++;
		sh->e[i].window_end = now + t->source_window_ms;
		thr_recency_touch(sh, i);
	} else if (i != THR_NIL) {
		thr_entry_expire(&sh->e[i], now);
		if (sh->e[i].failures > 0)
			sh->e[i].failures--;
	}
	pthread_mutex_unlock(&sh->lock);
}

static void count_trips(struct throttle *t, unsigned tripped)
{
	if (tripped & THR_TRIPPED_USER)
		atomic_fetch_add(&t->blocks_user, 1);
	if (tripped & THR_TRIPPED_UNFAMILIAR)
		atomic_fetch_add(&t->blocks_unfamiliar, 1);
}

void throttle_record(struct throttle *t, const char *mapped_user, const char *source_ip,
		     const char *password, size_t password_len, enum auth_result result,
		     bool unanswered, int64_t deadline_ms)
{
	int64_t now = t->clock(t->clock_ctx);
	bool answered_failure = result == AUTH_REJECT || result == AUTH_UNKNOWN_USER ||
				result == AUTH_LOCKED;
	bool failed = answered_failure || unanswered;
	char user[MAPPED_USER_MAX + 1];
	struct thr_ids ids;
	unsigned tripped;

	user_fold(mapped_user, user);
	if (ids_make(t, user, mapped_user, source_ip, password, password_len, answered_failure,
		     &ids) < 0) {
		log_errorx("throttle: HMAC failed; this result is not counted");
		return;
	}
	/* Memory always (it answers while Redis cannot); Redis's trips count
	 * when it answers. */
	tripped = user_record(t, &ids, result, failed, now);
	source_record(t, &ids, result, failed, now);
	if (redis_usable(t, now, deadline_ms)) {
		struct throttle_redis_limits lim;
		char hex[2 * THR_ID_LEN + 1] = "";
		struct thr_names names;
		unsigned shared_tripped = 0;
		int ret;

		redis_limits(t, &lim);
		if (ids.has_repeat)
			hex_encode(ids.repeat, THR_ID_LEN, hex);
		ids_hex(&ids, &names);
		ret = throttle_redis_record(t->redis, &lim, names.user, names.source, names.net, hex,
					    failed ? 'f' : result == AUTH_OK ? 'o' : 'n', deadline_ms,
					    &shared_tripped);
		redis_answered(t, ret, t->clock(t->clock_ctx), deadline_ms);
		if (ret == 0)
			tripped = shared_tripped;
		explicit_bzero(hex, sizeof hex);
	}
	count_trips(t, tripped);
	explicit_bzero(&ids, sizeof ids);
}

bool throttle_may_block(const struct throttle *t)
{
	return t->redis != NULL;
}

const char *throttle_verdict_name(enum throttle_verdict v)
{
	switch (v) {
	case THROTTLE_ASK: return "ask";
	case THROTTLE_USER_BUDGET: return "throttled_user";
	case THROTTLE_SOURCE_BUDGET: return "throttled_source";
	case THROTTLE_REPEAT: return "repeat_failure";
	case THROTTLE_WAIT: return "wait";
	case THROTTLE_UNFAMILIAR: return "throttled_unfamiliar";
	}
	return "ask";
}

void throttle_stats(struct throttle *t, struct throttle_stats *out)
{
	out->throttled_user = atomic_load(&t->throttled_user);
	out->throttled_source = atomic_load(&t->throttled_source);
	out->repeats = atomic_load(&t->repeats);
	out->evictions = atomic_load(&t->evictions);
	out->redis_failures = atomic_load(&t->redis_failures);
	out->waits = atomic_load(&t->waits);
	out->throttled_unfamiliar = atomic_load(&t->throttled_unfamiliar);
	out->blocks_user = atomic_load(&t->blocks_user);
	out->blocks_unfamiliar = atomic_load(&t->blocks_unfamiliar);
	out->familiar_hits = atomic_load(&t->familiar_hits);
}

int thr_name_id(struct throttle *t, char kind, const char *name, uint8_t id[THR_ID_LEN])
{
	char text[MAPPED_USER_MAX + 1];

	if (kind == 'u')
		user_fold(name, text);
	else
		throttle_source_key(name, text, THR_SOURCE_KEY_MAX);
	return thr_id(t, kind, text, strlen(text), NULL, 0, id);
}

int thr_network_id(struct throttle *t, const char *user, const char *source_ip,
		   uint8_t id[THR_ID_LEN])
{
	char folded[MAPPED_USER_MAX + 1], net[THR_SOURCE_KEY_MAX];

	user_fold(user, folded);
	throttle_network_key(source_ip, net, sizeof net);
	return thr_id(t, 'f', folded, strlen(folded), net, strlen(net), id);
}

bool thr_redis_usable(struct throttle *t, int64_t deadline_ms)
{
	return redis_usable(t, t->clock(t->clock_ctx), deadline_ms);
}

void thr_redis_answered(struct throttle *t, int ok, int64_t deadline_ms)
{
	redis_answered(t, ok, t->clock(t->clock_ctx), deadline_ms);
}
