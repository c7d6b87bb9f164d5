/*
 * The issuer: [tokens] and [requester NAME], issuing and redeeming.
 */
#include "tokens.h"

#include <fnmatch.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "api_limit.h"
#include "clock.h"
#include "issuer.h"
#include "log.h"
#include "pem.h"
#include "redis_conn.h"
#include "store.h"

/* [tokens] as configured (strings point into the section). */
struct tokens_conf {
	const char *store, *key_file, *password_file, *ca_file;
	int64_t ttl_ms, max_ttl_ms, timeout_ms;
	bool accept_replay_after_crash;
};

static const struct conf_key tokens_keys[] = {
	{ "store", CONF_STRING, 0, "lmdb:./var/tokens", 0, 0, NULL,
	  "lmdb:DIR, or redis[s]://[USER@]HOST[:PORT][/DB] or "
	  "redis-sentinel://HOST:PORT[,HOST:PORT...]/MASTER[/DB] for several instances",
	  CONF_AT(struct tokens_conf, store) },
	{ "key_file", CONF_PATH, 0, "./var/token.key", 0, 0, NULL,
	  "HMAC key (64 hex digits), created 0600 if absent; the same on every instance of one Redis",
	  CONF_AT(struct tokens_conf, key_file) },
	{ "ttl", CONF_DURATION, 0, "5m", TOKEN_TTL_MIN_MS, TOKEN_TTL_MAX_MS, NULL,
	  "default token lifetime", CONF_AT(struct tokens_conf, ttl_ms) },
	{ "max_ttl", CONF_DURATION, 0, "1h", TOKEN_TTL_MIN_MS, TOKEN_TTL_MAX_MS, NULL,
	  "longest lifetime a requester may ask for (never above 24h)",
	  CONF_AT(struct tokens_conf, max_ttl_ms) },
	{ "timeout", CONF_DURATION, 0, "1s", 10, 9000, NULL,
	  "longest a store operation may take (also bounded by the request deadline)",
	  CONF_AT(struct tokens_conf, timeout_ms) },
	{ "password_file", CONF_SECRET_FILE, 0, NULL, 0, 0, NULL,
	  "Redis AUTH password (the URL's USER@ names the ACL user)",
	  CONF_AT(struct tokens_conf, password_file) },
	{ "ca_file", CONF_PATH, 0, NULL, 0, 0, NULL,
	  "CA certificates for rediss:// (default: the system's)",
	  CONF_AT(struct tokens_conf, ca_file) },
	{ "accept_replay_after_crash", CONF_BOOL, 0, "no", 0, 0, NULL,
	  "start on a Redis whose persistence lets a crash bring used tokens back (warns)",
	  CONF_AT(struct tokens_conf, accept_replay_after_crash) },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

/* [requester NAME] as configured (strings point into the section; the
 * issuer keeps copies, as it outlives the configuration). */
struct requester_conf {
	const char *secret_file, *source_ip, *users, *deny_users, *rate;
	struct cidr_list allow;
	unsigned max_outstanding;
};

static const struct conf_key requester_keys[] = {
	{ "secret_file", CONF_SECRET_FILE, CONF_REQUIRED, NULL, 0, 0, NULL,
	  "HTTP Basic password of this requester on the token API",
	  CONF_AT(struct requester_conf, secret_file) },
	{ "allow", CONF_CIDR_LIST, CONF_REQUIRED, NULL, 0, 0, NULL,
	  "peers that may call the token API as this requester",
	  CONF_AT(struct requester_conf, allow) },
	{ "source_ip", CONF_CIDR_LIST, CONF_EMPTY_OK, NULL, 0, 0, NULL,
	  "sourceIp values Salesforce may report when the token is used (optional)" },
	{ "users", CONF_STRING, CONF_REQUIRED, NULL, 0, 0, NULL,
	  "globs of (mapped) users this requester may get tokens for",
	  CONF_AT(struct requester_conf, users) },
	{ "deny_users", CONF_STRING, CONF_EMPTY_OK, NULL, 0, 0, NULL,
	  "globs of users never issued a token, whatever `users` says",
	  CONF_AT(struct requester_conf, deny_users) },
	{ "rate", CONF_STRING, 0, "10/1s", 0, 0, NULL,
	  "most tokens issued per period, e.g. 10/1s or 600/1m (per instance)",
	  CONF_AT(struct requester_conf, rate) },
	{ "max_outstanding", CONF_UINT, 0, "1000", 1, 100000, NULL,
	  "most unredeemed, unexpired tokens at once (across instances)",
	  CONF_AT(struct requester_conf, max_outstanding) },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

static const struct conf_key *const tokens_tables[] = { tokens_keys, NULL };
static const struct conf_key *const requester_tables[] = { requester_keys, NULL };

static int64_t token_wall_ms(void *ctx)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Configuration. */

static void requester_free(struct token_requester *r)
{
	free(r->name);
	explicit_bzero(r->secret_digest, sizeof r->secret_digest);
	cidr_list_clear(&r->allow);
	cidr_list_clear(&r->source_ip);
	free(r->source_ip_text);
	conf_strv_free(&r->users);
	conf_strv_free(&r->deny_users);
	pthread_mutex_destroy(&r->lock);
}

void token_secret_digest(const char *secret, size_t len, uint8_t out[32])
{
	unsigned n = 32;

	EVP_Digest(secret, len, out, &n, EVP_sha256(), NULL);
}

/* Validate (and with `r` != NULL, read) one [requester NAME]. */
static int requester_load(const struct conf_section *s, struct conf_errors *errors,
			  struct token_requester *r)
{
	size_t before = errors->count;
	/* the only key read by name: the records keep its text */
	const char *src = conf_get(s, requester_keys, "source_ip");
	struct requester_conf rc = { 0 };
	unsigned count = 0;
	int64_t per = 0;
	char buf[160];

	conf_validate_section(s, requester_tables, errors);
	if (s->name == NULL || s->name[0] == '\0' || strlen(s->name) > TOKEN_REQUESTER_MAX ||
	    strchr(s->name, ':') != NULL)
		conf_error_at(errors, s->file, s->line,
			      "[requester NAME] needs a name of at most %d characters without ':'",
			      TOKEN_REQUESTER_MAX);
	conf_bind(s, requester_keys, &rc);
	if (rc.rate != NULL && token_parse_rate(rc.rate, &count, &per) < 0)
		conf_error_at(errors, s->file, conf_line(s, "rate"),
			      "bad rate '%s' (use COUNT/DURATION, e.g. 10/1s)", rc.rate);
	if (src != NULL && strlen(src) > TOKEN_SOURCE_IP_MAX)
		conf_error_at(errors, s->file, conf_line(s, "source_ip"),
			      "source_ip is longer than %d characters", TOKEN_SOURCE_IP_MAX);
	if (errors->count != before || r == NULL) {
		cidr_list_clear(&rc.allow);
		return errors->count == before ? 0 : -1;
	}

	char *secret = NULL;
	size_t secret_len = 0;
	const char *err = NULL;

	pthread_mutex_init(&r->lock, NULL);
	r->name = strdup(s->name);
	r->rate_count = count;
	r->rate_per_ms = per;
	r->tokens_left = count;
	r->max_outstanding = rc.max_outstanding;
	r->users = conf_split_list(rc.users);
	r->deny_users = conf_split_list(rc.deny_users != NULL ? rc.deny_users : "");
	r->source_ip_text = strdup(src != NULL ? src : "");
	r->allow = rc.allow;   /* moved */
	if (src != NULL && src[0] != '\0' && cidr_list_parse(src, &r->source_ip, buf, sizeof buf) < 0)
		conf_error_at(errors, s->file, s->line, "%s", buf);
	if (config_read_secret_file(rc.secret_file, &secret, &secret_len, &err) < 0) {
		conf_secret_error_at(errors, s->file, conf_line(s, "secret_file"), rc.secret_file,
				     err);
	} else {
		if (secret_len == 0)
			conf_error_at(errors, s->file, conf_line(s, "secret_file"),
				      "the secret file is empty");
		token_secret_digest(secret, secret_len, r->secret_digest);
		explicit_bzero(secret, secret_len);
		free(secret);
	}
	if (r->name == NULL || r->users == NULL || r->deny_users == NULL ||
	    r->source_ip_text == NULL)
		conf_error_at(errors, s->file, s->line, "out of memory");
	return errors->count == before ? 0 : -1;
}

static const struct conf_section *tokens_section(const struct dagate_config *cfg)
{
	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next)
		if (strcmp(s->kind, "tokens") == 0)
			return s;
	return NULL;
}

static int tokens_check(const struct dagate_config *cfg, const struct conf_section *t,
			struct conf_errors *errors)
{
	size_t before = errors->count;
	const char *err = NULL;

	conf_validate_section(t, tokens_tables, errors);
	if (t->name != NULL)
		conf_error_at(errors, t->file, t->line, "[tokens] takes no name");
	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next) {
		if (s != t && strcmp(s->kind, "tokens") == 0)
			conf_error_at(errors, s->file, s->line,
				      "[tokens] given twice (first at line %d)", t->line);
		if (strcmp(s->kind, "requester") != 0)
			continue;
		requester_load(s, errors, NULL);
		for (const struct conf_section *o = cfg->sections; o != s; o = o->next)
			if (strcmp(o->kind, "requester") == 0 && o->name != NULL &&
			    s->name != NULL && strcmp(o->name, s->name) == 0)
				conf_error_at(errors, s->file, s->line,
					      "[requester %s] given twice (first at line %d)",
					      s->name, o->line);
	}
	if (errors->count != before)
		return -1;
	struct tokens_conf tc;

	conf_bind(t, tokens_keys, &tc);
	if (!token_store_spec_valid(tc.store, &err) && redis_is_url(tc.store))
		conf_error_at(errors, t->file, conf_line(t, "store"), "store %s: %s", tc.store, err);
	else if (err != NULL)
		conf_error_at(errors, t->file, conf_line(t, "store"), "%s", err);
	if (tc.ttl_ms > tc.max_ttl_ms)
		conf_error_at(errors, t->file, conf_line(t, "ttl"),
			      "'ttl' must not exceed 'max_ttl'");
	/* The same check as [throttle] and the providers: a CA file holding a
	 * private key (or no certificate) is refused. A missing file is the
	 * CONF_PATH check's. */
	if (tc.ca_file != NULL && access(tc.ca_file, R_OK) == 0 &&
	    pem_ca_bundle_check(tc.ca_file, &err) < 0)
		conf_error_at(errors, t->file, conf_line(t, "ca_file"), "ca_file %s %s", tc.ca_file,
			      err);
	return errors->count == before ? 0 : -1;
}

int token_config_validate(const struct dagate_config *cfg, struct conf_errors *errors)
{
	const struct conf_section *t = tokens_section(cfg);
	size_t before = errors->count;

	if (t == NULL) {
		for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next)
			if (strcmp(s->kind, "requester") == 0)
				conf_error_at(errors, s->file, s->line,
					      "[requester %s] needs a [tokens] section",
					      s->name != NULL ? s->name : "");
		return (int)(errors->count - before);
	}
	tokens_check(cfg, t, errors);
	return (int)(errors->count - before);
}

void token_redis_share(const struct dagate_config *cfg, struct token_redis_share *out)
{
	const struct conf_section *t = tokens_section(cfg);
	struct tokens_conf tc;

	conf_bind(t, tokens_keys, &tc);
	memset(out, 0, sizeof *out);
	if (t == NULL || !redis_is_url(tc.store))
		return;
	out->url = tc.store;
	out->password_file = tc.password_file;
	out->ca_file = tc.ca_file;
	out->file = t->file;
	out->store_line = conf_line(t, "store");
	out->password_line = conf_line(t, "password_file");
}

int token_derive_key(const struct dagate_config *cfg, const char *label,
		     uint8_t out[TOKEN_KEY_LEN], struct conf_errors *errors)
{
	const struct conf_section *t = tokens_section(cfg);
	const char *err = NULL;
	struct tokens_conf tc;
	uint8_t key[TOKEN_KEY_LEN];
	bool ok;

	if (t == NULL) {
		conf_error_at(errors, cfg->path, 0, "no [tokens] section to derive a key from");
		return -1;
	}
	conf_bind(t, tokens_keys, &tc);
	if (token_key_load(tc.key_file, true, key, &err) < 0) {
		conf_error_at(errors, t->file, conf_line(t, "key_file"), "key_file %s: %s",
			      tc.key_file, err);
		return -1;
	}
	ok = EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, sizeof key,
		       (const uint8_t *)label, strlen(label), out, TOKEN_KEY_LEN, NULL) != NULL;
	explicit_bzero(key, sizeof key);
	if (!ok) {
		explicit_bzero(out, TOKEN_KEY_LEN);
		conf_error_at(errors, t->file, t->line, "cannot derive a key from key_file");
	}
	return ok ? 0 : -1;
}

static void tokens_sections_check(const struct dagate_config *cfg, struct conf_errors *errors)
{
	token_config_validate(cfg, errors);
}

/* [tokens] and [requester NAME] are checked together: a requester needs
 * the [tokens] section and its keys are judged against it. */
const struct conf_section_kind token_section_kind = {
	.kind = "tokens", .named = false, .check = tokens_sections_check,
	.tables = tokens_tables,
};
const struct conf_section_kind requester_section_kind = {
	.kind = "requester", .named = true, .tables = requester_tables,
};

/* Refuse a store whose crash can bring a consumed token back (store.h). */
static void issuer_check_durability(struct token_issuer *ti, const struct conf_section *t,
					 const char *spec, struct conf_errors *errors)
{
	const char *reason = NULL;

	if (ti->store->ops->check_durability == NULL)
		return;
	switch (ti->store->ops->check_durability(ti->store, clock_now_ms() + ti->timeout_ms,
						 &reason)) {
	case TD_DURABLE:
		break;
	case TD_ACCEPTED:
		log_warnx("tokens: store %s: %s (accept_replay_after_crash = yes)", spec, reason);
		break;
	case TD_NOT_DURABLE:
		conf_error_at(errors, t->file, conf_line(t, "store"),
			      "store %s: %s. Use appendonly yes with appendfsync always, or no "
			      "persistence (appendonly no, save \"\"), or set "
			      "accept_replay_after_crash = yes to take the risk", spec, reason);
		break;
	case TD_NO_ANSWER:
		log_warnx("tokens: store %s did not answer; its persistence is checked before "
			  "the first token is issued or redeemed", spec);
		break;
	}
}

int token_issuer_create(const struct dagate_config *cfg, struct conf_errors *errors,
			struct token_issuer **issuer_r)
{
	const struct conf_section *t = tokens_section(cfg);
	struct token_issuer *ti;
	struct token_store_options opt = { 0 };
	char *password = NULL;
	size_t password_len = 0, before = errors->count;
	const char *err = NULL;
	struct tokens_conf tc;

	*issuer_r = NULL;
	if (token_config_validate(cfg, errors) > 0)
		return -1;
	if (t == NULL)
		return 0;
	conf_bind(t, tokens_keys, &tc);
	if ((ti = calloc(1, sizeof *ti)) == NULL) {
		conf_error_at(errors, t->file, t->line, "out of memory");
		token_issuer_free(&ti);
		return -1;
	}
	ti->clock = token_wall_ms;
	if ((ti->login_limit = token_login_limit_new()) == NULL) {
		conf_error_at(errors, t->file, t->line, "out of memory");
		token_issuer_free(&ti);
		return -1;
	}
	ti->ttl_ms = tc.ttl_ms;
	ti->max_ttl_ms = tc.max_ttl_ms;
	ti->timeout_ms = tc.timeout_ms;
	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next)
		if (strcmp(s->kind, "requester") == 0)
			ti->requester_count++;
	ti->requesters = calloc(ti->requester_count + 1, sizeof *ti->requesters);
	if (ti->requesters == NULL) {
		conf_error_at(errors, t->file, t->line, "out of memory");
		token_issuer_free(&ti);
		return -1;
	}
	ti->requester_count = 0;
	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next)
		if (strcmp(s->kind, "requester") == 0)
			requester_load(s, errors, &ti->requesters[ti->requester_count++]);
	if (errors->count == before && token_key_load(tc.key_file, true, ti->key, &err) < 0)
		conf_error_at(errors, t->file, conf_line(t, "key_file"), "key_file %s: %s",
			      tc.key_file, err);
	if (errors->count == before && tc.password_file != NULL &&
	    config_read_secret_file(tc.password_file, &password, &password_len, &err) < 0)
		conf_secret_error_at(errors, t->file, conf_line(t, "password_file"),
				     tc.password_file, err);
	opt.timeout_ms = ti->timeout_ms;
	opt.password = password;
	opt.ca_file = tc.ca_file;
	opt.accept_replay_after_crash = tc.accept_replay_after_crash;
	if (errors->count == before && token_store_open(tc.store, &opt, &ti->store, &err) < 0)
		conf_error_at(errors, t->file, conf_line(t, "store"), "store %s: %s", tc.store, err);
	if (errors->count == before)
		issuer_check_durability(ti, t, tc.store, errors);
	if (password != NULL) {
		explicit_bzero(password, password_len);
		free(password);
	}
	if (errors->count != before) {
		token_issuer_free(&ti);
		return -1;
	}
	*issuer_r = ti;
	return 0;
}

void token_issuer_free(struct token_issuer **issuer)
{
	struct token_issuer *ti = *issuer;

	if (ti == NULL)
		return;
	token_store_close(&ti->store);
	for (size_t i = 0; ti->requesters != NULL && i < ti->requester_count; i++)
		requester_free(&ti->requesters[i]);
	free(ti->requesters);
	token_login_limit_free(&ti->login_limit);
	explicit_bzero(ti->key, sizeof ti->key);
	free(ti);
	*issuer = NULL;
}

void token_issuer_set_clock(struct token_issuer *ti, token_clock_fn *fn, void *ctx)
{
	ti->clock = fn != NULL ? fn : token_wall_ms;
	ti->clock_ctx = ctx;
}

void token_issuer_stats(struct token_issuer *ti, struct token_stats *out)
{
	out->issued = atomic_load(&ti->n_issued);
	out->redeemed = atomic_load(&ti->n_redeemed);
	out->rejected = atomic_load(&ti->n_rejected);
	out->unavailable = atomic_load(&ti->n_unavailable);
	out->not_replicated = atomic_load(&ti->n_not_replicated);
	out->issue_refused = atomic_load(&ti->n_issue_refused);
	out->api_bad_credentials = atomic_load(&ti->n_api_bad_credentials);
	out->api_login_limited = atomic_load(&ti->n_api_login_limited);
}

struct token_requester *token_requester_find(struct token_issuer *ti, const char *name)
{
	for (size_t i = 0; name != NULL && i < ti->requester_count; i++)
		if (strcmp(ti->requesters[i].name, name) == 0)
			return &ti->requesters[i];
	return NULL;
}

/* Issuing. */

static bool globs_match(char **globs, const char *user)
{
	for (size_t i = 0; globs != NULL && globs[i] != NULL; i++)
		if (fnmatch(globs[i], user, FNM_CASEFOLD) == 0)
			return true;
	return false;
}

bool token_user_allowed(const struct token_requester *r, const char *mapped)
{
	return globs_match(r->users, mapped) && !globs_match(r->deny_users, mapped);
}

/* Token bucket: rate_count tokens, refilled evenly over rate_per_ms. */
static bool rate_take(struct token_requester *r, int64_t now_ms)
{
	bool ok;

	pthread_mutex_lock(&r->lock);
	if (r->rate_last_ms != 0 && now_ms > r->rate_last_ms) {
		r->tokens_left += (double)(now_ms - r->rate_last_ms) * r->rate_count /
				  (double)r->rate_per_ms;
		if (r->tokens_left > r->rate_count)
			r->tokens_left = r->rate_count;
	}
	if (r->rate_last_ms == 0 || now_ms > r->rate_last_ms)
		r->rate_last_ms = now_ms;
	ok = r->tokens_left >= 1.0;
	if (ok)
		r->tokens_left -= 1.0;
	pthread_mutex_unlock(&r->lock);
	return ok;
}

const char *token_issue_status_text(enum token_issue_status st)
{
	switch (st) {
	case TOKEN_ISSUE_OK: return "issued";
	case TOKEN_ISSUE_BAD_USER: return "bad user";
	case TOKEN_ISSUE_BAD_TTL: return "ttl out of range";
	case TOKEN_ISSUE_USER_DENIED: return "user not allowed for this requester";
	case TOKEN_ISSUE_RATE: return "issuance rate exceeded";
	case TOKEN_ISSUE_OUTSTANDING: return "too many outstanding tokens";
	case TOKEN_ISSUE_UNAVAILABLE: return "token store unavailable";
	case TOKEN_ISSUE_NO_REQUESTER: return "no such requester";
	}
	return "?";
}

/* The audit outcome of an issuance. */
static const char *issue_outcome(enum token_issue_status st)
{
	static const char *const names[] = {
		[TOKEN_ISSUE_OK] = "ok", [TOKEN_ISSUE_BAD_USER] = "bad_user",
		[TOKEN_ISSUE_BAD_TTL] = "bad_ttl", [TOKEN_ISSUE_USER_DENIED] = "user_denied",
		[TOKEN_ISSUE_RATE] = "rate_limited", [TOKEN_ISSUE_OUTSTANDING] = "too_many_outstanding",
		[TOKEN_ISSUE_UNAVAILABLE] = "store_unavailable",
		[TOKEN_ISSUE_NO_REQUESTER] = "no_requester",
	};

	return names[st];
}

/* Who a token is issued for: a configured requester (its users, rate and
 * limits apply), or an identity of dagate's own (r NULL). */
struct issue_as {
	const char *name;
	struct token_requester *r;
	const char *source_ip_text;
	unsigned max_outstanding;
};

static enum token_issue_status issue(struct token_issuer *ti, const struct usermap_config *map,
				     const struct issue_as *as,
				     const char *user, int64_t ttl_ms, int64_t deadline_ms,
				     char *token_r, char *mapped_r, int64_t *expires_ms_r,
				     const struct token_origin *origin)
{
	struct token_requester *r = as->r;
	struct token_record *rec = NULL;
	uint8_t hash[TOKEN_HASH_LEN];
	char fp[TOKEN_FINGERPRINT_LEN + 1] = "-";
	enum token_issue_status st = TOKEN_ISSUE_OK;
	const char *bad;
	int64_t now;

	token_r[0] = '\0';
	mapped_r[0] = '\0';
	if (ttl_ms == 0)
		ttl_ms = ti->ttl_ms;
	/* A name the endpoint would refuse (usermap_check) could never redeem
	 * the token: refused here, as the endpoint refuses it. */
	if (!token_user_valid(user, strlen(user)) || usermap_check(user, &bad) < 0 ||
	    usermap_apply(map, user, mapped_r, MAPPED_USER_MAX + 1) < 0 ||
	    mapped_r[0] == '\0') {
		st = TOKEN_ISSUE_BAD_USER;
	} else if (ttl_ms < TOKEN_TTL_MIN_MS || ttl_ms > ti->max_ttl_ms) {
		st = TOKEN_ISSUE_BAD_TTL;
	} else if (r != NULL && !token_user_allowed(r, mapped_r)) {
		st = TOKEN_ISSUE_USER_DENIED;
	} else if (r != NULL && !rate_take(r, clock_now_ms())) {
		st = TOKEN_ISSUE_RATE;
	} else if ((rec = calloc(1, sizeof *rec)) == NULL || token_generate(token_r) < 0 ||
		   token_hash(ti->key, token_r, TOKEN_LEN, hash) < 0) {
		st = TOKEN_ISSUE_UNAVAILABLE;
		log_errorx("tokens: no randomness or no memory: refusing to issue");
	} else {
		now = ti->clock(ti->clock_ctx);
		rec->issued_ms = now;
		rec->expires_ms = now + ttl_ms;
		snprintf(rec->requester, sizeof rec->requester, "%s", as->name);
		snprintf(rec->user, sizeof rec->user, "%s", mapped_r);
		snprintf(rec->source_ip, sizeof rec->source_ip, "%s", as->source_ip_text);
		token_fingerprint(hash, fp);
		switch (ti->store->ops->put(ti->store, hash, rec, as->max_outstanding, now,
					    deadline_ms)) {
		case TS_OK:
			*expires_ms_r = rec->expires_ms;
			break;
		case TS_FULL:
			st = TOKEN_ISSUE_OUTSTANDING;
			break;
		default:
			st = TOKEN_ISSUE_UNAVAILABLE;
			break;
		}
	}
	free(rec);
	explicit_bzero(hash, sizeof hash);
	if (st != TOKEN_ISSUE_OK)
		explicit_bzero(token_r, TOKEN_LEN + 1);
	atomic_fetch_add(st == TOKEN_ISSUE_OK ? &ti->n_issued : &ti->n_issue_refused, 1);
	log_security("token_issue", "requester", as->name,
		     "user", mapped_r[0] != '\0' ? mapped_r : "-",
		     "outcome", issue_outcome(st),
		     "fingerprint", st == TOKEN_ISSUE_OK ? fp : "-",
		     "peer", origin != NULL && origin->peer != NULL ? origin->peer : "-",
		     "request_id", origin != NULL && origin->request_id != NULL ?
				   origin->request_id : "-", NULL);
	return st;
}

enum token_issue_status token_issue(struct token_issuer *ti, const struct usermap_config *map,
				    const char *requester,
				    const char *user, int64_t ttl_ms, int64_t deadline_ms,
				    char *token_r, char *mapped_r, int64_t *expires_ms_r,
				    const struct token_origin *origin)
{
	struct token_requester *r = token_requester_find(ti, requester);

	token_r[0] = '\0';
	mapped_r[0] = '\0';
	if (r == NULL)
		return TOKEN_ISSUE_NO_REQUESTER;
	return issue(ti, map, &(struct issue_as){ r->name, r, r->source_ip_text, r->max_outstanding },
		     user, ttl_ms, deadline_ms, token_r, mapped_r, expires_ms_r, origin);
}

enum token_issue_status token_issue_internal(struct token_issuer *ti,
					     const struct usermap_config *map,
					     const char *identity, unsigned max_outstanding,
					     const char *user, int64_t ttl_ms, int64_t deadline_ms,
					     char *token_r, char *mapped_r, int64_t *expires_ms_r,
					     const struct token_origin *origin)
{
	return issue(ti, map, &(struct issue_as){ identity, NULL, "", max_outstanding },
		     user, ttl_ms, deadline_ms, token_r, mapped_r, expires_ms_r, origin);
}

/* Redeeming. */

static bool users_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

static bool source_ip_allowed(const char *list_text, const char *source_ip)
{
	struct cidr_list list = { NULL, 0 };
	char err[128];
	bool ok;

	if (list_text[0] == '\0')
		return true;
	/* A stored list that no longer parses allows nothing: fail closed. */
	ok = cidr_list_parse(list_text, &list, err, sizeof err) == 0 && source_ip != NULL &&
	     cidr_list_contains_text(&list, source_ip);
	cidr_list_clear(&list);
	return ok;
}

enum auth_result token_redeem(struct token_issuer *ti, const char *mapped_user,
			      const char *token, size_t len, const char *source_ip,
			      const char *request_id, int64_t deadline_ms,
			      const char **detail_r)
{
	struct token_record *rec = malloc(sizeof *rec);
	uint8_t hash[TOKEN_HASH_LEN];
	char fp[TOKEN_FINGERPRINT_LEN + 1] = "-";
	enum auth_result res = AUTH_REJECT;
	enum token_store_status st;
	const char *detail = "unknown";

	if (rec == NULL) {
		*detail_r = "out of memory";
		return AUTH_ERROR;
	}
	rec->requester[0] = '\0';
	if (!token_has_form(token, len)) {
		detail = "not_a_token";
		goto out;
	}
	if (token_hash(ti->key, token, len, hash) < 0) {
		res = AUTH_ERROR;
		detail = "hmac_failed";
		goto out;
	}
	token_fingerprint(hash, fp);
	st = ti->store->ops->consume(ti->store, hash, ti->clock(ti->clock_ctx), deadline_ms, rec);
	if (st != TS_OK && st != TS_EXPIRED && st != TS_NOT_REPLICATED)
		rec->requester[0] = '\0';
	switch (st) {
	case TS_OK:
		if (!users_equal(rec->user, mapped_user))
			detail = "user_mismatch";
		else if (!source_ip_allowed(rec->source_ip, source_ip))
			detail = "source_ip_mismatch";
		else {
			res = AUTH_OK;
			detail = "ok";
		}
		break;
	case TS_EXPIRED:
		detail = "expired";
		break;
	case TS_NOT_FOUND:
		detail = "unknown";
		break;
	case TS_NOT_REPLICATED:
		detail = "not_replicated";
		atomic_fetch_add(&ti->n_not_replicated, 1);
		break;
	default:
		res = AUTH_UNAVAILABLE;
		detail = "store_unavailable";
		break;
	}
out:
	atomic_fetch_add(res == AUTH_OK ? &ti->n_redeemed
			 : res == AUTH_REJECT ? &ti->n_rejected : &ti->n_unavailable, 1);
	log_security(res == AUTH_OK ? "token_redeem" : "token_reject",
		     "request_id", request_id != NULL ? request_id : "-",
		     "requester", rec->requester[0] != '\0' ? rec->requester : "-",
		     "user", mapped_user != NULL ? mapped_user : "-",
		     "bound_user", rec->requester[0] != '\0' ? rec->user : "-",
		     "source_ip", source_ip != NULL ? source_ip : "-",
		     "outcome", detail, "fingerprint", fp, NULL);
	explicit_bzero(hash, sizeof hash);
	free(rec);
	*detail_r = res == AUTH_OK ? NULL : detail;
	return res;
}
