/*
 * [throttle]: its keys, their validation, and the throttle built from them
 * (its key, its Redis store). The algorithm is throttle.c.
 */
#include "throttle.h"
#include "throttle_int.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "pem.h"
#include "redis_conn.h"
#include "throttle_redis.h"
#include "tokens.h"

static const char *const store_help =
	"memory (per instance), tokens (the [tokens] Redis store), redis[s]://[USER@]HOST[:PORT][/DB] "
	"or redis-sentinel://HOST[:PORT][,HOST[:PORT]...]/MASTER[/DB]";

/* [throttle] as configured (strings point into the section). */
struct throttle_conf {
	const char *user_failures, *source_failures, *store;
	const char *key_file, *password_file, *ca_file;
	const char *directory_lockout, *trusted_networks_file, *block_steps;
	struct cidr_list trusted_networks;   /* the binder's: cleared after use */
	int64_t repeat_ms, timeout_ms, familiar_ms;
	unsigned max_tracked, instances, unfamiliar_failures;   /* 0: derived */
};

static const struct conf_key throttle_keys[] = {
	{ "user_failures", CONF_STRING, 0, "4/15m", 0, 0, NULL,
	  "failures per mapped user, N/DURATION or off; keep N below the directory's lockout threshold",
	  CONF_AT(struct throttle_conf, user_failures) },
	{ "source_failures", CONF_STRING, 0, "30/15m", 0, 0, NULL,
	  "failures per sourceIp (an IPv6 address counts as its /64), N/DURATION or off",
	  CONF_AT(struct throttle_conf, source_failures) },
	{ "repeat_window", CONF_DURATION, 0, "5m", 0, THR_WINDOW_MAX_MS, NULL,
	  "the same failing user+password within this is refused without a backend (0s = off)",
	  CONF_AT(struct throttle_conf, repeat_ms) },
	{ "store", CONF_STRING, 0, "memory", 0, 0, NULL,
	  "memory (per instance), tokens (the [tokens] Redis store) or redis[s]://...",
	  CONF_AT(struct throttle_conf, store) },
	{ "key_file", CONF_PATH, 0, NULL, 0, 0, NULL,
	  "with a redis URL: HMAC key (64 hex digits), created 0600 if absent; the same on every instance",
	  CONF_AT(struct throttle_conf, key_file) },
	{ "password_file", CONF_SECRET_FILE, 0, NULL, 0, 0, NULL,
	  "with a redis URL: Redis AUTH password",
	  CONF_AT(struct throttle_conf, password_file) },
	{ "ca_file", CONF_PATH, 0, NULL, 0, 0, NULL,
	  "with a rediss URL: CA certificates (default: the system's)",
	  CONF_AT(struct throttle_conf, ca_file) },
	{ "timeout", CONF_DURATION, 0, "250ms", 10, 9000, NULL,
	  "longest a Redis call may take before the per-instance state answers",
	  CONF_AT(struct throttle_conf, timeout_ms) },
	{ "directory_lockout", CONF_STRING, 0, "off", 0, 0, NULL,
	  "the directory's lockout policy, N/DURATION (AD: threshold / reset counter after) or off; "
	  "user_failures then defaults to N-1 in DURATION, and a budget that could lock is refused",
	  CONF_AT(struct throttle_conf, directory_lockout) },
	{ "familiar_for", CONF_DURATION, 0, "30d", 0, THR_FAMILIAR_MAX_MS, NULL,
	  "a successful login makes its network (IPv4 /24, IPv6 /64) familiar to the user this "
	  "long (0s = no familiar networks)",
	  CONF_AT(struct throttle_conf, familiar_ms) },
	{ "unfamiliar_failures", CONF_UINT, 0, NULL, 1, THR_BUDGET_COUNT_MAX, NULL,
	  "failures from networks unfamiliar to a user who has familiar ones; below the user budget "
	  "(default: half of it)",
	  CONF_AT(struct throttle_conf, unfamiliar_failures) },
	{ "block_steps", CONF_STRING, 0, "1m,5m,15m,1h", 0, 0, NULL,
	  "how long each successive block lasts (the last repeats), never less than the window",
	  CONF_AT(struct throttle_conf, block_steps) },
	{ "trusted_networks", CONF_CIDR_LIST, CONF_EMPTY_OK, NULL, 0, 0, NULL,
	  "CIDRs of sources that host many users (offices, proxies): no source budget",
	  CONF_AT(struct throttle_conf, trusted_networks) },
	{ "trusted_networks_file", CONF_PATH, 0, NULL, 0, 0, NULL,
	  "a file of such CIDRs, one per line (like allow_file)",
	  CONF_AT(struct throttle_conf, trusted_networks_file) },
	{ "instances", CONF_UINT, 0, "1", 1, 64, NULL,
	  "dagate instances sharing the store: while it cannot answer, each allows its share",
	  CONF_AT(struct throttle_conf, instances) },
	{ "max_tracked", CONF_UINT, 0, "100000", 64, 10000000, NULL,
	  "users (and as many sourceIps) tracked per instance; the least recent go first",
	  CONF_AT(struct throttle_conf, max_tracked) },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};
static const struct conf_key *const throttle_tables[] = { throttle_keys, NULL };

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

int throttle_parse_steps(const char *text, int64_t *steps, unsigned *n_r)
{
	const char *p = text;
	unsigned n = 0;

	while (*p != '\0') {
		char item[32];
		size_t len;
		int64_t ms;

		while (*p == ' ' || *p == ',')
			p++;
		len = strcspn(p, ", ");
		if (len == 0)
			break;
		if (len >= sizeof item || n == THR_STEPS_MAX)
			return -1;
		memcpy(item, p, len);
		item[len] = '\0';
		if (parse_duration_ms(item, &ms) < 0 || ms < 1000 || ms > THR_WINDOW_MAX_MS ||
		    (n > 0 && ms < steps[n - 1]))
			return -1;
		steps[n++] = ms;
		p += len;
	}
	*n_r = n;
	return n > 0 ? 0 : -1;
}

/* The unfamiliar budget in force: as written, else half the user budget
 * (0 when familiar networks are off or the user budget is under 2). */
static unsigned unfamiliar_budget(const struct throttle_conf *tc, unsigned user_max)
{
	if (tc->familiar_ms == 0 || user_max == 0)
		return 0;
	if (tc->unfamiliar_failures > 0)
		return tc->unfamiliar_failures;
	return user_max / 2;
}

static const struct conf_section *section_find(const struct dagate_config *cfg,
					       const char *kind)
{
	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next)
		if (strcmp(s->kind, kind) == 0)
			return s;
	return NULL;
}

/* The user budget against the directory's own lockout (N bad passwords
 * within DURATION lock the account): dagate must stop at N-1, with a
 * window at least DURATION (a shorter one lets failures add up at the
 * directory across windows), and each instance's share must stay >= 1. */
/* The user budget in force: user_failures as written, else N-1 in the
 * directory's window when directory_lockout is set. -1 when malformed. */
static int user_budget(const struct conf_section *s, const struct throttle_conf *tc,
		       unsigned *n_r, int64_t *w_r)
{
	unsigned dir_n;
	int64_t dir_w;

	if ((s == NULL || conf_find(s, "user_failures") == NULL) &&
	    throttle_parse_budget(tc->directory_lockout, &dir_n, &dir_w) == 0 && dir_n > 1) {
		*n_r = dir_n - 1;
		*w_r = dir_w;
		return 0;
	}
	return throttle_parse_budget(tc->user_failures, n_r, w_r);
}

static void lockout_check(const struct conf_section *s, const struct throttle_conf *tc,
			  struct conf_errors *errors)
{
	unsigned dir_n, n;
	int64_t dir_w, w;
	int line = conf_line(s, "directory_lockout");

	if (throttle_parse_budget(tc->directory_lockout, &dir_n, &dir_w) < 0) {
		conf_error_at(errors, s->file, line, "'directory_lockout' must be N/DURATION "
			      "(e.g. 5/30m: AD's lockout threshold / reset counter after) or off");
		return;
	}
	if (dir_n == 0)
		return;
	if (dir_n < 2) {
		conf_error_at(errors, s->file, line, "directory_lockout %s: a directory that locks "
			      "at the first wrong password cannot be protected", tc->directory_lockout);
		return;
	}
	if (user_budget(s, tc, &n, &w) < 0) {
		return;   /* reported above */
	} else if (n == 0) {
		conf_error_at(errors, s->file, conf_line(s, "user_failures"),
			      "user_failures = off lets anyone lock accounts at the directory "
			      "(directory_lockout %s)", tc->directory_lockout);
		return;
	} else if (n >= dir_n) {
		conf_error_at(errors, s->file, conf_line(s, "user_failures"),
			      "user_failures %s lets the directory see %u bad passwords: it locks at "
			      "%u (directory_lockout); use at most %u", tc->user_failures, n, dir_n,
			      dir_n - 1);
		return;
	} else if (w < dir_w) {
		conf_error_at(errors, s->file, conf_line(s, "user_failures"),
			      "user_failures %s has a window shorter than the directory's (%s): "
			      "failures would add up there across windows; use at least that",
			      tc->user_failures, tc->directory_lockout);
		return;
	}
	if (n / tc->instances < 1)
		conf_error_at(errors, s->file, conf_line(s, "instances"),
			      "%u instances cannot share a budget of %u failures (each needs one)",
			      tc->instances, n);
}

/* block_steps parse; an unfamiliar budget leaves the familiar networks some of the user's. */
static void familiar_check(const struct conf_section *s, const struct throttle_conf *tc,
			   struct conf_errors *errors)
{
	int64_t steps[THR_STEPS_MAX];
	unsigned nsteps, n;
	int64_t w;

	if (throttle_parse_steps(tc->block_steps, steps, &nsteps) < 0)
		conf_error_at(errors, s->file, conf_line(s, "block_steps"),
			      "'block_steps' must be 1 to %d durations (1s..24h), each at least the "
			      "one before, e.g. 1m,5m,15m,1h", THR_STEPS_MAX);
	if (tc->unfamiliar_failures == 0 || user_budget(s, tc, &n, &w) < 0)
		return;
	if (n == 0)
		conf_error_at(errors, s->file, conf_line(s, "unfamiliar_failures"),
			      "unfamiliar_failures needs a user budget (user_failures is off)");
	else if (tc->unfamiliar_failures >= n)
		conf_error_at(errors, s->file, conf_line(s, "unfamiliar_failures"),
			      "unfamiliar_failures %u must be below the user budget (%u): the rest is "
			      "what strangers cannot take from the user's familiar networks",
			      tc->unfamiliar_failures, n);
	else if (tc->familiar_ms == 0)
		conf_error_at(errors, s->file, conf_line(s, "unfamiliar_failures"),
			      "unfamiliar_failures has no effect with familiar_for = 0s");
}

void throttle_summarize(const struct dagate_config *cfg, struct throttle_summary *out)
{
	const struct conf_section *s = section_find(cfg, "throttle");
	struct throttle_conf tc = { 0 };
	unsigned user_n = 0, source_n = 0;
	int64_t w;

	conf_bind(s, throttle_keys, &tc);   /* no section: the defaults */
	if (user_budget(s, &tc, &user_n, &w) < 0)
		user_n = 1;
	if (throttle_parse_budget(tc.source_failures, &source_n, &w) < 0)
		source_n = 1;
	out->off = user_n == 0 && source_n == 0 && tc.repeat_ms == 0;
	out->shared = strcmp(tc.store, "memory") != 0;
	cidr_list_clear(&tc.trusted_networks);
}

static void report_error(void *errors, const char *message)
{
	conf_error_text(errors, message);
}

static void throttle_section_check(const struct dagate_config *cfg, struct conf_errors *errors)
{
	throttle_config_validate(cfg, errors);
}

const struct conf_section_kind throttle_section_kind = {
	.kind = "throttle", .named = false, .check = throttle_section_check,
	.tables = throttle_tables, .absent_means_defaults = true,
};

int throttle_config_validate(const struct dagate_config *cfg, struct conf_errors *errors)
{
	const struct conf_section *s = section_find(cfg, "throttle");
	size_t before = errors->count;
	const char *store, *err = NULL;
	struct throttle_conf tc = { 0 };
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
	conf_bind(s, throttle_keys, &tc);
	const struct { const char *key, *value; } budgets[] = {
		{ "user_failures", tc.user_failures }, { "source_failures", tc.source_failures },
	};
	for (size_t i = 0; i < sizeof budgets / sizeof budgets[0]; i++)
		if (throttle_parse_budget(budgets[i].value, &n, &w) < 0)
			conf_error_at(errors, s->file, conf_line(s, budgets[i].key),
				      "'%s' must be N/DURATION (e.g. 4/15m; N 1..%d, DURATION 1s..24h) or off",
				      budgets[i].key, THR_BUDGET_COUNT_MAX);
	lockout_check(s, &tc, errors);
	familiar_check(s, &tc, errors);
	cidr_list_clear(&tc.trusted_networks);
	if (tc.trusted_networks_file != NULL) {
		struct cidr_list probe = { NULL, 0 };

		cidr_list_load_file(tc.trusted_networks_file, &probe, report_error, errors);
		cidr_list_clear(&probe);
	}
	store = tc.store;
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
		if (tc.ca_file != NULL && access(tc.ca_file, R_OK) == 0 &&
		    pem_ca_bundle_check(tc.ca_file, &err) < 0)
			conf_error_at(errors, s->file, conf_line(s, "ca_file"), "ca_file %s %s",
				      tc.ca_file, err);
		if (tc.key_file == NULL)
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
		     const struct throttle_conf *tc, uint8_t key[TOKEN_KEY_LEN],
		     struct conf_errors *errors)
{
	const char *err = NULL;

	if (s == NULL || strcmp(tc->store, "memory") == 0) {
		if (RAND_priv_bytes(key, TOKEN_KEY_LEN) != 1) {
			conf_error_at(errors, s != NULL ? s->file : cfg->path, s != NULL ? s->line : 0,
				      "throttle: no randomness for the key");
			return -1;
		}
		return 0;
	}
	if (redis_is_url(tc->store)) {
		if (token_key_load(tc->key_file, true, key, &err) < 0) {
			conf_error_at(errors, s->file, conf_line(s, "key_file"), "key_file %s: %s",
				      tc->key_file, err);
			return -1;
		}
		return 0;
	}
	return token_derive_key(cfg, "dagate throttle v1", key, errors);
}

static int redis_setup(struct throttle *t, const struct conf_section *s,
		       const struct dagate_config *cfg, const struct throttle_conf *tc,
		       struct conf_errors *errors)
{
	struct token_redis_share from = {
		.url = tc->store, .file = s->file,
		.password_file = tc->password_file, .ca_file = tc->ca_file,
		.store_line = conf_line(s, "store"), .password_line = conf_line(s, "password_file"),
	};
	const char *err = NULL;
	char *password = NULL;
	size_t password_len = 0;
	int ret;

	if (strcmp(tc->store, "tokens") == 0)
		token_redis_share(cfg, &from);
	if (from.password_file != NULL &&
	    config_read_secret_file(from.password_file, &password, &password_len, &err) < 0) {
		conf_secret_error_at(errors, from.file, from.password_line, from.password_file, err);
		return -1;
	}
	ret = throttle_redis_create(from.url, password, from.ca_file,
				    tc->timeout_ms, &t->redis, &err);
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
	struct throttle_conf tc = { 0 };
	EVP_MAC *mac;
	OSSL_PARAM params[2];

	*t_r = NULL;
	if (throttle_config_validate(cfg, errors) > 0)
		return -1;
	if ((t = calloc(1, sizeof *t)) == NULL) {
		conf_error_at(errors, cfg->path, 0, "out of memory");
		return -1;
	}
	conf_bind(s, throttle_keys, &tc);   /* no section: the defaults */
	user_budget(s, &tc, &t->user_max, &t->user_window_ms);
	throttle_parse_budget(tc.source_failures, &t->source_max, &t->source_window_ms);
	t->user_max_alone = t->user_max;
	t->source_max_alone = t->source_max;
	t->familiar_ms = tc.familiar_ms;
	t->unfamiliar_max = unfamiliar_budget(&tc, t->user_max);
	if (t->unfamiliar_max == 0)
		t->familiar_ms = 0;
	t->unfamiliar_max_alone = t->unfamiliar_max;
	throttle_parse_steps(tc.block_steps, t->steps, &t->nsteps);
	t->trusted = tc.trusted_networks;      /* moved: freed with t */
	if (tc.trusted_networks_file != NULL &&
	    cidr_list_load_file(tc.trusted_networks_file, &t->trusted, report_error, errors) > 0) {
		throttle_free(&t);
		return -1;
	}
	t->repeat_ms = tc.repeat_ms;
	t->clock = thr_default_clock;
	if (thr_table_init(&t->users, tc.max_tracked, true) < 0 ||
	    thr_table_init(&t->sources, tc.max_tracked, false) < 0) {
		conf_error_at(errors, cfg->path, 0, "throttle: out of memory");
		throttle_free(&t);
		return -1;
	}
	if (key_setup(s, cfg, &tc, key, errors) < 0) {
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
	if (strcmp(tc.store, "memory") != 0 && redis_setup(t, s, cfg, &tc, errors) < 0) {
		throttle_free(&t);
		return -1;
	}
	if (t->redis != NULL && tc.instances > 1) {
		/* Redis down: the instances together still stay in budget. */
		t->user_max_alone = t->user_max / tc.instances > 0 ? t->user_max / tc.instances : 1;
		t->source_max_alone = t->source_max / tc.instances > 0 ?
				      t->source_max / tc.instances : 1;
		t->unfamiliar_max_alone = t->unfamiliar_max / tc.instances > 0 ?
					  t->unfamiliar_max / tc.instances : 1;
	} else if (t->redis == NULL && tc.instances > 1) {
		log_warnx("throttle: instances = %u has no effect with store = memory "
			  "(each instance counts alone)", tc.instances);
	}
	if (t->user_max >= 5 && strcmp(tc.directory_lockout, "off") == 0)
		log_warnx("throttle: user_failures allows %u failures: Active Directory usually "
			  "locks an account at 5 (set directory_lockout to the domain's policy)",
			  t->user_max);
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
	cidr_list_clear(&t->trusted);
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
