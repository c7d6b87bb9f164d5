/*
 * Throttling that protects the directory: see throttle.h for the rules,
 * the window semantics and why.
 */
#include "throttle.h"
#include "throttle_int.h"

#include <arpa/inet.h>
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

static const char *const store_help =
	"memory (per instance), tokens (the [tokens] Redis store) or redis[s]://[USER@]HOST[:PORT][/DB]";

static const struct conf_key throttle_keys[] = {
	{ "user_failures", CONF_STRING, 0, "4/15m", 0, 0, NULL,
	  "failures per mapped user, N/DURATION or off; keep N below the directory's lockout threshold" },
	{ "source_failures", CONF_STRING, 0, "30/15m", 0, 0, NULL,
	  "failures per sourceIp (an IPv6 address counts as its /64), N/DURATION or off" },
	{ "repeat_window", CONF_DURATION, 0, "5m", 0, THR_WINDOW_MAX_MS, NULL,
	  "the same failing user+password within this is refused without a backend (0s = off)" },
	{ "store", CONF_STRING, 0, "memory", 0, 0, NULL,
	  "memory (per instance), tokens (the [tokens] Redis store) or redis[s]://..." },
	{ "key_file", CONF_PATH, 0, NULL, 0, 0, NULL,
	  "with a redis URL: HMAC key (64 hex digits), created 0600 if absent; the same on every instance" },
	{ "password_file", CONF_SECRET_FILE, 0, NULL, 0, 0, NULL,
	  "with a redis URL: Redis AUTH password" },
	{ "ca_file", CONF_PATH, 0, NULL, 0, 0, NULL,
	  "with a rediss URL: CA certificates (default: the system's)" },
	{ "timeout", CONF_DURATION, 0, "250ms", 10, 9000, NULL,
	  "longest a Redis call may take before the per-instance state answers" },
	{ "max_tracked", CONF_UINT, 0, "100000", 64, 10000000, NULL,
	  "users (and as many sourceIps) tracked per instance; the least recent go first" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};
static const struct conf_key *const throttle_tables[] = { throttle_keys, NULL };

/* ---- keys and identities ----------------------------------------------- */

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

/* ---- configuration ----------------------------------------------------- */

int throttle_parse_budget(const char *text, unsigned *count_r, int64_t *window_ms_r)
{
	int64_t n, w;

	if (strcmp(text, "off") == 0) {
		*count_r = 0;
		*window_ms_r = 0;
		return 0;
	}
	if (parse_rate(text, &n, &w) < 0 || n > THR_BUDGET_COUNT_MAX ||
	    w < 1000 || w > THR_WINDOW_MAX_MS)
		return -1;
	*count_r = (unsigned)n;
	*window_ms_r = w;
	return 0;
}

static const struct conf_section *section_find(const struct dagate_config *cfg,
					       const char *kind)
{
	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next)
		if (strcmp(s->kind, kind) == 0)
			return s;
	return NULL;
}

static void throttle_section_check(const struct dagate_config *cfg, struct conf_errors *errors)
{
	throttle_config_validate(cfg, errors);
}

const struct conf_section_kind throttle_section_kind = {
	.kind = "throttle", .named = false, .check = throttle_section_check,
};

int throttle_config_validate(const struct dagate_config *cfg, struct conf_errors *errors)
{
	const struct conf_section *s = section_find(cfg, "throttle");
	size_t before = errors->count;
	const char *store, *err = NULL;
	unsigned n;
	int64_t w;

	if (s == NULL)
		return 0;
	conf_validate_section(s, throttle_tables, errors);
	if (s->name != NULL)
		conf_error_at(errors, s->file, s->line, "[throttle] takes no name");
	for (const struct conf_section *o = s->next; o != NULL; o = o->next)
		if (strcmp(o->kind, "throttle") == 0)
			conf_error_at(errors, o->file, o->line,
				      "[throttle] given twice (first at line %d)", s->line);
	if (errors->count != before)
		return (int)(errors->count - before);
	for (const char *const *k = (const char *const[]){ "user_failures", "source_failures", NULL };
	     *k != NULL; k++)
		if (throttle_parse_budget(conf_get(s, throttle_keys, *k), &n, &w) < 0)
			conf_error_at(errors, s->file, conf_line(s, *k),
				      "'%s' must be N/DURATION (e.g. 4/15m; N 1..%d, DURATION 1s..24h) or off",
				      *k, THR_BUDGET_COUNT_MAX);
	store = conf_get(s, throttle_keys, "store");
	if (strcmp(store, "tokens") == 0) {
		struct token_redis_share share;

		token_redis_share(cfg, &share);
		if (share.url == NULL)
			conf_error_at(errors, s->file, conf_line(s, "store"),
				      "store = tokens needs [tokens] store = redis://... (use memory, or a redis URL)");
	} else if (redis_is_url(store)) {
		struct throttle_redis *r = NULL;

		if (throttle_redis_create(store, NULL, NULL, 1000, &r, &err) < 0)
			conf_error_at(errors, s->file, conf_line(s, "store"), "store %s: %s", store, err);
		throttle_redis_free(&r);
		if (conf_find(s, "key_file") == NULL)
			conf_error_at(errors, s->file, conf_line(s, "store"),
				      "store = %s needs key_file (the same file on every instance), "
				      "or use store = tokens", store);
	} else if (strcmp(store, "memory") != 0) {
		conf_error_at(errors, s->file, conf_line(s, "store"), "store must be %s", store_help);
	}
	if (!redis_is_url(store))
		for (const char *const *k = (const char *const[]){ "key_file", "password_file", "ca_file", NULL };
		     *k != NULL; k++)
			if (conf_find(s, *k) != NULL)
				conf_error_at(errors, s->file, conf_line(s, *k),
					      "'%s' only goes with store = redis://...%s", *k,
					      strcmp(store, "tokens") == 0 ? " (store = tokens uses [tokens]'s)" : "");
	return (int)(errors->count - before);
}

/* The key: random per process (memory), [throttle] key_file (redis URL),
 * or derived from [tokens] key_file (tokens). */
static int key_setup(const struct conf_section *s, const struct dagate_config *cfg,
		     const char *store, uint8_t key[TOKEN_KEY_LEN], struct conf_errors *errors)
{
	const char *err = NULL, *path;

	if (s == NULL || strcmp(store, "memory") == 0) {
		if (RAND_priv_bytes(key, TOKEN_KEY_LEN) != 1) {
			conf_error_at(errors, s != NULL ? s->file : cfg->path, s != NULL ? s->line : 0,
				      "throttle: no randomness for the key");
			return -1;
		}
		return 0;
	}
	if (redis_is_url(store)) {
		path = conf_get(s, throttle_keys, "key_file");
		if (token_key_load(path, true, key, &err) < 0) {
			conf_error_at(errors, s->file, conf_line(s, "key_file"), "key_file %s: %s", path, err);
			return -1;
		}
		return 0;
	}
	return token_derive_key(cfg, "dagate throttle v1", key, errors);
}

static int redis_setup(struct throttle *t, const struct conf_section *s,
		       const struct dagate_config *cfg, const char *store,
		       struct conf_errors *errors)
{
	struct token_redis_share from = {
		.url = store, .file = s->file,
		.password_file = conf_get(s, throttle_keys, "password_file"),
		.ca_file = conf_get(s, throttle_keys, "ca_file"),
		.store_line = conf_line(s, "store"), .password_line = conf_line(s, "password_file"),
	};
	const char *err = NULL;
	char *password = NULL;
	size_t password_len = 0;
	int ret;

	if (strcmp(store, "tokens") == 0)
		token_redis_share(cfg, &from);
	if (from.password_file != NULL &&
	    config_read_secret_file(from.password_file, &password, &password_len, &err) < 0) {
		conf_error_at(errors, from.file, from.password_line, "%s", err);
		return -1;
	}
	ret = throttle_redis_create(from.url, password, from.ca_file,
				    conf_get_int(s, throttle_keys, "timeout"), &t->redis, &err);
	if (ret < 0)
		conf_error_at(errors, from.file, from.store_line, "store %s: %s", from.url, err);
	if (password != NULL) {
		explicit_bzero(password, password_len);
		free(password);
	}
	return ret;
}

static int64_t thr_default_clock(void *ctx)
{
	return clock_now_ms();
}

int throttle_create(const struct dagate_config *cfg, struct conf_errors *errors,
		    struct throttle **t_r)
{
	const struct conf_section *s = section_find(cfg, "throttle");
	struct throttle *t;
	uint8_t key[TOKEN_KEY_LEN];
	const char *store;
	EVP_MAC *mac;
	OSSL_PARAM params[2];
	int64_t max;

	*t_r = NULL;
	if (throttle_config_validate(cfg, errors) > 0)
		return -1;
	if ((t = calloc(1, sizeof *t)) == NULL) {
		conf_error_at(errors, cfg->path, 0, "out of memory");
		return -1;
	}
	/* conf_get on a NULL section gives the defaults. */
	throttle_parse_budget(conf_get(s, throttle_keys, "user_failures"), &t->user_max,
			      &t->user_window_ms);
	throttle_parse_budget(conf_get(s, throttle_keys, "source_failures"), &t->source_max,
			      &t->source_window_ms);
	t->repeat_ms = conf_get_int(s, throttle_keys, "repeat_window");
	max = conf_get_int(s, throttle_keys, "max_tracked");
	store = conf_get(s, throttle_keys, "store");
	t->clock = thr_default_clock;
	if (thr_table_init(&t->users, (uint32_t)max, true) < 0 ||
	    thr_table_init(&t->sources, (uint32_t)max, false) < 0) {
		conf_error_at(errors, cfg->path, 0, "throttle: out of memory");
		throttle_free(&t);
		return -1;
	}
	if (key_setup(s, cfg, store, key, errors) < 0) {
		throttle_free(&t);
		return -1;
	}
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	t->mac = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
	EVP_MAC_free(mac);
	if (t->mac == NULL || !EVP_MAC_init(t->mac, key, sizeof key, params)) {
		explicit_bzero(key, sizeof key);
		conf_error_at(errors, cfg->path, 0, "throttle: HMAC-SHA256 unavailable");
		throttle_free(&t);
		return -1;
	}
	explicit_bzero(key, sizeof key);
	if (strcmp(store, "memory") != 0 && redis_setup(t, s, cfg, store, errors) < 0) {
		throttle_free(&t);
		return -1;
	}
	if (t->user_max >= 5)
		log_warnx("throttle: user_failures allows %u failures: Active Directory usually "
			  "locks an account at 5", t->user_max);
	*t_r = t;
	return 0;
}

void throttle_free(struct throttle **tp)
{
	struct throttle *t = *tp;

	if (t == NULL)
		return;
	thr_table_fini(&t->users);
	thr_table_fini(&t->sources);
	EVP_MAC_CTX_free(t->mac);  /* OpenSSL wipes the key schedule */
	throttle_redis_free(&t->redis);
	free(t);
	*tp = NULL;
}

void throttle_set_clock(struct throttle *t, throttle_clock_fn *fn, void *ctx)
{
	t->clock = fn != NULL ? fn : thr_default_clock;
	t->clock_ctx = ctx;
}

/* ---- Redis: shared when it answers, memory when it does not ------------ */

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
}

/* ---- check and record -------------------------------------------------- */

struct thr_ids {
	uint8_t user[THR_ID_LEN], source[THR_ID_LEN], repeat[THR_ID_LEN];
	char source_key[THR_SOURCE_KEY_MAX];
	bool has_source, has_repeat;
};

static int ids_make(struct throttle *t, const char *user, const char *source_ip,
		    const char *password, size_t password_len, bool want_repeat,
		    struct thr_ids *ids)
{
	ids->has_source = source_ip != NULL && source_ip[0] != '\0' && t->source_max > 0;
	ids->has_repeat = want_repeat && t->repeat_ms > 0 && password != NULL;
	ids->source_key[0] = '\0';
	if (thr_id(t, 'u', user, strlen(user), NULL, 0, ids->user) < 0)
		return -1;
	if (ids->has_source) {
		throttle_source_key(source_ip, ids->source_key, sizeof ids->source_key);
		if (thr_id(t, 's', ids->source_key, strlen(ids->source_key), NULL, 0, ids->source) < 0)
			return -1;
	}
	if (ids->has_repeat &&
	    thr_id(t, 'p', user, strlen(user), password, password_len, ids->repeat) < 0)
		return -1;
	return 0;
}

static enum throttle_verdict count_verdict(struct throttle *t, enum throttle_verdict v)
{
	switch (v) {
	case THROTTLE_USER_BUDGET: atomic_fetch_add(&t->throttled_user, 1); break;
	case THROTTLE_SOURCE_BUDGET: atomic_fetch_add(&t->throttled_source, 1); break;
	case THROTTLE_REPEAT: atomic_fetch_add(&t->repeats, 1); break;
	case THROTTLE_ASK: break;
	}
	return v;
}

/* The user's verdict from memory; with `reserve`, THROTTLE_ASK takes a
 * reservation (re-checked under the same lock, so concurrent checks cannot
 * overrun the budget). */
static enum throttle_verdict user_verdict(struct throttle *t, const struct thr_ids *ids,
					  int64_t now, bool reserve)
{
	struct thr_shard *sh = thr_shard_of(&t->users, ids->user);
	enum throttle_verdict v = THROTTLE_ASK;
	uint32_t i;

	pthread_mutex_lock(&sh->lock);
	i = thr_entry_find(sh, ids->user);
	if (i != THR_NIL) {
		struct thr_entry *e = &sh->e[i];
		int match = 0;

		thr_entry_expire(e, now);
		/* Every live slot compared in full: no early exit on a secret. */
		for (int k = 0; ids->has_repeat && k < THR_REPEAT_SLOTS; k++)
			match |= (sh->rep[i].end[k] > now) &
				 (CRYPTO_memcmp(sh->rep[i].id[k], ids->repeat, THR_ID_LEN) == 0);
		if (match)
			v = THROTTLE_REPEAT;
		else if (t->user_max > 0 && e->failures + e->pending >= t->user_max)
			v = THROTTLE_USER_BUDGET;
	}
	if (v == THROTTLE_ASK && reserve && t->user_max > 0) {
		if (i == THR_NIL)
			i = thr_entry_new(t, sh, ids->user, now);
		sh->e[i].pending++;
		sh->e[i].pending_end = now + THROTTLE_RESERVE_MS;
	}
	pthread_mutex_unlock(&sh->lock);
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
		if (sh->e[i].failures >= t->source_max)
			v = THROTTLE_SOURCE_BUDGET;
	}
	pthread_mutex_unlock(&sh->lock);
	return v;
}

enum throttle_verdict throttle_check(struct throttle *t, const char *mapped_user,
				     const char *source_ip, const char *password,
				     size_t password_len, int64_t deadline_ms)
{
	int64_t now = t->clock(t->clock_ctx);
	struct thr_ids ids;
	enum throttle_verdict v;

	if (ids_make(t, mapped_user, source_ip, password, password_len, true, &ids) < 0) {
		log_errorx("throttle: HMAC failed; not throttling this request");
		return THROTTLE_ASK;
	}
	/* Shared state is the answer when Redis gives one; the memory tables
	 * (kept by every record) answer when it does not. */
	if (redis_usable(t, now, deadline_ms)) {
		struct throttle_redis_limits lim;
		char hex[2 * THR_ID_LEN + 1] = "";
		int ret;

		redis_limits(t, &lim);
		if (ids.has_repeat)
			hex_encode(ids.repeat, THR_ID_LEN, hex);
		ret = throttle_redis_check(t->redis, &lim, mapped_user, ids.source_key, hex,
					   deadline_ms, &v);
		explicit_bzero(hex, sizeof hex);
		redis_answered(t, ret, t->clock(t->clock_ctx), deadline_ms);
		if (ret == 0) {
			explicit_bzero(&ids, sizeof ids);
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

void throttle_record(struct throttle *t, const char *mapped_user, const char *source_ip,
		     const char *password, size_t password_len, enum auth_result result,
		     int64_t deadline_ms)
{
	int64_t now = t->clock(t->clock_ctx);
	bool failed = result == AUTH_REJECT || result == AUTH_UNKNOWN_USER || result == AUTH_LOCKED;
	struct thr_shard *sh;
	struct thr_ids ids;
	uint32_t i;

	if (ids_make(t, mapped_user, source_ip, password, password_len, failed, &ids) < 0) {
		log_errorx("throttle: HMAC failed; this result is not counted");
		return;
	}
	sh = thr_shard_of(&t->users, ids.user);
	pthread_mutex_lock(&sh->lock);
	i = thr_entry_find(sh, ids.user);
	if (i != THR_NIL && sh->e[i].pending > 0)
		sh->e[i].pending--;
	if (failed && (t->user_max > 0 || ids.has_repeat)) {
		if (i == THR_NIL)
			i = thr_entry_new(t, sh, ids.user, now);
		thr_entry_expire(&sh->e[i], now);
		if (t->user_max > 0) {
			sh->e[i].failures++;
			sh->e[i].window_end = now + t->user_window_ms;
		}
		if (ids.has_repeat) {
			int oldest = 0;

			for (int k = 1; k < THR_REPEAT_SLOTS; k++)
				if (sh->rep[i].end[k] < sh->rep[i].end[oldest])
					oldest = k;
			memcpy(sh->rep[i].id[oldest], ids.repeat, THR_ID_LEN);
			sh->rep[i].end[oldest] = now + t->repeat_ms;
		}
		thr_recency_touch(sh, i);
	} else if (i != THR_NIL) {
		if (result == AUTH_OK) {
			sh->e[i].failures = 0;
			explicit_bzero(&sh->rep[i], sizeof sh->rep[i]);
		}
		if (!thr_entry_live(sh, i, now))
			thr_entry_release(sh, i);
	}
	pthread_mutex_unlock(&sh->lock);

	if (failed && ids.has_source) {
		sh = thr_shard_of(&t->sources, ids.source);
		pthread_mutex_lock(&sh->lock);
		i = thr_entry_find(sh, ids.source);
		if (i == THR_NIL)
			i = thr_entry_new(t, sh, ids.source, now);
		thr_entry_expire(&sh->e[i], now);
		sh->e[i].failures++;
		sh->e[i].window_end = now + t->source_window_ms;
		thr_recency_touch(sh, i);
		pthread_mutex_unlock(&sh->lock);
	}

	if (redis_usable(t, now, deadline_ms)) {
		struct throttle_redis_limits lim;
		char hex[2 * THR_ID_LEN + 1] = "";

		redis_limits(t, &lim);
		if (ids.has_repeat)
			hex_encode(ids.repeat, THR_ID_LEN, hex);
		redis_answered(t, throttle_redis_record(t->redis, &lim, mapped_user, ids.source_key,
							hex, failed ? 'f' : result == AUTH_OK ? 'o' : 'n',
							deadline_ms),
			       t->clock(t->clock_ctx), deadline_ms);
		explicit_bzero(hex, sizeof hex);
	}
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
}
