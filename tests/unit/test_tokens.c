/*
 * Tokens: the pure parts (form, encoding, HMAC, records, rates, key file),
 * configuration errors, the LMDB lifecycle with an injected clock, and the
 * token API handler. No network: the Redis store is in test_token_redis.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "clock.h"
#include "api_limit.h"
#include "issuer.h"
#include "log.h"
#include "router.h"
#include "store.h"
#include "tokens.h"
#include "conf_build.h"
#include "unit.h"

static char tmpdir[256];

/* A hand-built configuration: conf_build.h. */

static char *strip[] = { ".uat", ".dev", NULL };
static const struct usermap_config test_map = { .lowercase = true, .strip_suffix = strip };

static void cfg_init(struct dagate_config *cfg, struct conf_section *first)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->map = test_map;
	cfg->sections = first;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	fchmod(fd, mode);
	close(fd);
}

static char *path_in(const char *name)
{
	static char buf[8][512];
	static int next;
	char *p = buf[next++ % 8];

	snprintf(p, 512, "%s/%s", tmpdir, name);
	return p;
}

/* An injected wall clock. */

static int64_t fake_now = 1700000000000LL;

static int64_t fake_clock(void *ctx)
{
	return fake_now;
}

/* Pure parts. */

static void test_form(void)
{
	uint8_t raw[TOKEN_RANDOM_BYTES];
	char tok[TOKEN_LEN + 1], other[TOKEN_LEN + 1], bad[TOKEN_LEN + 2];

	memset(raw, 0, sizeof raw);
	token_encode(raw, tok);
	CHECK(strcmp(tok, "dgt1_0000000000000000000000000000000000000000000000000000") == 0,
	      "zeros: %s", tok);
	for (size_t i = 0; i < sizeof raw; i++)
		raw[i] = (uint8_t)i;
	token_encode(raw, tok);
	CHECK_STR(tok, "dgt1_000g40r40m30e209185gr38e1w8124gk2gahc5rr34d1p70x3rfg", "0..31");
	memset(raw, 0xff, sizeof raw);
	token_encode(raw, tok);
	CHECK(strlen(tok) == TOKEN_LEN && tok[TOKEN_LEN - 1] == 'g', "ones: %s", tok);

	CHECK(token_generate(tok) == 0, "generate");
	CHECK(token_generate(other) == 0, "generate");
	CHECK(strcmp(tok, other) != 0, "two tokens differ");
	CHECK(token_has_form(tok, strlen(tok)), "generated has form: %s", tok);

	struct { const char *text; bool want; } table[] = {
		{ "dgt1_000g40r40m30e209185gr38e1w8124gk2gahc5rr34d1p70x3rfg", true },
		{ "dgt1_000g40r40m30e209185gr38e1w8124gk2gahc5rr34d1p70x3rf0", true },
		{ "dgt1_000g40r40m30e209185gr38e1w8124gk2gahc5rr34d1p70x3rf1", false }, /* pad bits */
		{ "dgt2_000g40r40m30e209185gr38e1w8124gk2gahc5rr34d1p70x3rfg", false },
		{ "DGT1_000g40r40m30e209185gr38e1w8124gk2gahc5rr34d1p70x3rfg", false },
		{ "dgt1_000G40r40m30e209185gr38e1w8124gk2gahc5rr34d1p70x3rfg", false },
		{ "dgt1_000i40r40m30e209185gr38e1w8124gk2gahc5rr34d1p70x3rfg", false },
		{ "dgt1_000l40r40m30e209185gr38e1w8124gk2gahc5rr34d1p70x3rfg", false },
		{ "dgt1_000o40r40m30e209185gr38e1w8124gk2gahc5rr34d1p70x3rfg", false },
		{ "dgt1_000u40r40m30e209185gr38e1w8124gk2gahc5rr34d1p70x3rfg", false },
		{ "dgt1_000g40r40m30e209185gr38e1w8124gk2gahc5rr34d1p70x3rf", false },
		{ "dgt1_000g40r40m30e209185gr38e1w8124gk2gahc5rr34d1p70x3rfg0", false },
		{ "dgt1_000g40r40m30e209185gr38e1w8124gk2gahc5rr34d1p70x3r-g", false },
		{ "dgt1_000g40r40m30e209185gr38e1w8124gk2gahc5rr34d1p70x3r g", false },
		{ "dgt1_", false },
		{ "", false },
		{ "correct horse battery staple", false },
	};
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		CHECK(token_has_form(table[i].text, strlen(table[i].text)) == table[i].want,
		      "form of '%s'", table[i].text);
	CHECK(!token_has_form(NULL, 0), "NULL");
	/* an embedded NUL inside the length is not a token */
	memcpy(bad, tok, sizeof tok);
	bad[10] = '\0';
	CHECK(!token_has_form(bad, TOKEN_LEN), "embedded NUL");
}

static void test_hash(void)
{
	uint8_t key[TOKEN_KEY_LEN], hash[TOKEN_HASH_LEN], hash2[TOKEN_HASH_LEN];
	const char *tok = "dgt1_0000000000000000000000000000000000000000000000000000";
	char fp[TOKEN_FINGERPRINT_LEN + 1];

	for (size_t i = 0; i < sizeof key; i++)
		key[i] = (uint8_t)i;
	CHECK(token_hash(key, tok, strlen(tok), hash) == 0, "hmac");
	token_fingerprint(hash, fp);
	/* HMAC-SHA256 computed independently (Python hmac). */
	CHECK_STR(fp, "12b5a96c8319", "fingerprint = first 6 bytes of the HMAC");
	key[0] ^= 1;
	token_hash(key, tok, strlen(tok), hash2);
	CHECK(memcmp(hash, hash2, sizeof hash) != 0, "the key matters");
}

static void test_records(void)
{
	struct token_record rec = { 0 }, back;
	uint8_t buf[TOKEN_RECORD_MAX];
	int len;

	rec.issued_ms = 1700000000123LL;
	rec.expires_ms = 1700000300123LL;
	strcpy(rec.requester, "riva-sync");
	strcpy(rec.user, "joe@corp.example");
	strcpy(rec.source_ip, "203.0.113.7/32, 2001:db8::/32");
	len = token_record_encode(&rec, buf, sizeof buf);
	CHECK(len > 0, "encode");
	CHECK(token_record_decode(buf, (size_t)len, &back) == 0, "decode");
	CHECK(back.issued_ms == rec.issued_ms && back.expires_ms == rec.expires_ms, "times");
	CHECK_STR(back.requester, "riva-sync", "requester");
	CHECK_STR(back.user, "joe@corp.example", "user");
	CHECK_STR(back.source_ip, rec.source_ip, "source_ip");
	CHECK(token_record_decode(buf, (size_t)len - 1, &back) < 0, "truncated");
	CHECK(token_record_decode(buf, 3, &back) < 0, "short");
	buf[0] ^= 0xff;
	CHECK(token_record_decode(buf, (size_t)len, &back) < 0, "bad magic");
	CHECK(token_record_encode(&rec, buf, 20) < 0, "too small a buffer");
}

static void test_rates_and_times(void)
{
	struct { const char *text; int ok; unsigned count; int64_t per; } table[] = {
		{ "10/1s", 1, 10, 1000 }, { "600/1m", 1, 600, 60000 }, { "1/500ms", 1, 1, 500 },
		{ "0/1s", 0, 0, 0 }, { "10", 0, 0, 0 }, { "/1s", 0, 0, 0 }, { "10/", 0, 0, 0 },
		{ "x/1s", 0, 0, 0 }, { "10/1y", 0, 0, 0 },
	};
	char when[40];

	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		unsigned count = 0;
		int64_t per = 0;
		int r = token_parse_rate(table[i].text, &count, &per);

		CHECK((r == 0) == table[i].ok, "rate '%s'", table[i].text);
		if (table[i].ok)
			CHECK(count == table[i].count && per == table[i].per, "rate '%s' value",
			      table[i].text);
	}
	token_rfc3339(0, when, sizeof when);
	CHECK_STR(when, "1970-01-01T00:00:00Z", "epoch");
	token_rfc3339(1700000000999LL, when, sizeof when);
	CHECK_STR(when, "2023-11-14T22:13:20Z", "rfc3339");
}

static void test_key_file(void)
{
	uint8_t key[TOKEN_KEY_LEN], again[TOKEN_KEY_LEN];
	const char *err = NULL, *path = path_in("k/token.key");
	struct stat st;
	char buf[100] = "";
	int fd;

	CHECK(token_key_load(path, false, key, &err) < 0, "absent, no create");
	CHECK(token_key_load(path, true, key, &err) == 0, "created: %s", err ? err : "");
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode 0600");
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && read(fd, buf, sizeof buf - 1) == 65 && buf[64] == '\n', "64 hex + newline");
	if (fd >= 0)
		close(fd);
	CHECK(token_key_load(path, true, again, &err) == 0 && memcmp(key, again, sizeof key) == 0,
	      "reloaded, not regenerated");
	write_file(path_in("short.key"), "abcd\n", 0600);
	CHECK(token_key_load(path_in("short.key"), true, key, &err) < 0, "short key refused");
	write_file(path_in("hex.key"),
		   "zz00000000000000000000000000000000000000000000000000000000000000\n", 0600);
	CHECK(token_key_load(path_in("hex.key"), true, key, &err) < 0, "non-hex refused");
	write_file(path_in("open.key"),
		   "0000000000000000000000000000000000000000000000000000000000000000\n", 0644);
	CHECK(token_key_load(path_in("open.key"), true, key, &err) < 0, "world-readable refused");
}

/* Configuration. */

static int errors_matching(const struct conf_errors *e, const char *needle)
{
	int n = 0;

	for (size_t i = 0; i < e->count; i++)
		if (strstr(e->lines[i], needle) != NULL)
			n++;
	return n;
}

static void test_config_errors(void)
{
	struct dagate_config cfg;
	struct conf_errors errors = { 0 };
	struct token_issuer *ti = (struct token_issuer *)1;

	/* No [tokens]: disabled, no error. */
	cfg_init(&cfg, NULL);
	CHECK(token_issuer_create(&cfg, &errors, &ti) == 0 && ti == NULL && errors.count == 0,
	      "no [tokens] = disabled");

	/* [requester] without [tokens]. */
	struct conf_section *r = section("requester", "a", 3, (struct kv[]){
		{ "secret_file", path_in("secret") }, { "allow", "127.0.0.1" },
		{ "users", "*" }, { NULL, NULL } });
	cfg_init(&cfg, r);
	CHECK(token_issuer_create(&cfg, &errors, &ti) < 0 &&
	      errors_matching(&errors, "test.conf:3: [requester a] needs a [tokens]") == 1,
	      "requester without tokens");
	conf_errors_clear(&errors);
	sections_free(r);

	/* Many problems at once, each with its line. */
	struct conf_section *t = section("tokens", NULL, 10, (struct kv[]){
		{ "store", "memcached://x" }, { "ttl", "2h" }, { "max_ttl", "25h" },
		{ "colour", "blue" }, { NULL, NULL } });
	t->next = section("requester", "b", 20, (struct kv[]){
		{ "allow", "10.0.0.0/33" }, { "rate", "fast" }, { "secret_file", path_in("nope") },
		{ NULL, NULL } });
	t->next->next = section("requester", "b", 30, (struct kv[]){
		{ "secret_file", path_in("secret") }, { "allow", "127.0.0.1" }, { "users", "*" },
		{ NULL, NULL } });
	cfg_init(&cfg, t);
	CHECK(token_issuer_create(&cfg, &errors, &ti) < 0 && ti == NULL, "bad config refused");
	CHECK(errors_matching(&errors, "test.conf:14: unknown key 'colour'") == 1, "unknown key");
	CHECK(errors_matching(&errors, "test.conf:13:") == 1, "max_ttl above 24h");
	CHECK(errors_matching(&errors, "test.conf:21:") == 1, "bad CIDR");
	CHECK(errors_matching(&errors, "test.conf:22: bad rate 'fast'") == 1, "bad rate");
	CHECK(errors_matching(&errors, "test.conf:23:") == 1, "missing secret file");
	CHECK(errors_matching(&errors, "missing required key 'users'") == 1, "users required");
	CHECK(errors_matching(&errors, "test.conf:30: [requester b] given twice") == 1,
	      "duplicate requester");
	conf_errors_clear(&errors);
	sections_free(t);

	/* Second pass: store and ttl > max_ttl (checked once keys are sane). */
	t = section("tokens", NULL, 1, (struct kv[]){
		{ "store", "memcached://x" }, { "ttl", "2h" }, { NULL, NULL } });
	cfg_init(&cfg, t);
	CHECK(token_config_validate(&cfg, &errors) == 2, "two errors");
	CHECK(errors_matching(&errors, "test.conf:2: store must be") == 1, "bad store");
	CHECK(errors_matching(&errors, "test.conf:3: 'ttl' must not exceed 'max_ttl'") == 1,
	      "ttl > max_ttl");
	conf_errors_clear(&errors);
	sections_free(t);
	for (size_t i = 0; i < errors.count; i++)
		fprintf(stderr, "%s\n", errors.lines[i]);
}

/* The LMDB lifecycle. */

static struct conf_section *lifecycle_sections(const char *store)
{
	struct conf_section *t = section("tokens", NULL, 1, (struct kv[]){
		{ "store", store }, { "key_file", path_in("var/token.key") },
		{ "max_ttl", "2h" }, { NULL, NULL } });
	struct conf_section *a = section("requester", "sync", 10, (struct kv[]){
		{ "secret_file", path_in("secret") }, { "allow", "127.0.0.1/32, ::1" },
		{ "source_ip", "203.0.113.0/24" }, { "users", "*@corp.example, *@other.example" },
		{ "deny_users", "admin@corp.example" }, { "rate", "1000/1s" },
		{ "max_outstanding", "5" }, { NULL, NULL } });
	struct conf_section *b = section("requester", "slow", 20, (struct kv[]){
		{ "secret_file", path_in("secret2") }, { "allow", "127.0.0.1" },
		{ "users", "*" }, { "rate", "3/1h" }, { NULL, NULL } });

	t->next = a;
	a->next = b;
	return t;
}

static enum auth_result redeem(struct token_issuer *ti, const char *user, const char *tok,
			       const char *ip, const char **detail)
{
	return token_redeem(ti, user, tok, strlen(tok), ip, "req-1", clock_now_ms() + 2000,
			    detail);
}

static enum token_issue_status issue(struct token_issuer *ti, const char *req, const char *user,
				     int64_t ttl_ms, char *tok)
{
	char mapped[MAPPED_USER_MAX + 1];
	int64_t exp;

	return token_issue(ti, &test_map, req, user, ttl_ms, clock_now_ms() + 2000, tok, mapped, &exp);
}

#define MAX_SEEN 64
static char seen[MAX_SEEN][TOKEN_LEN + 1];
static int seen_count;

static void remember(const char *tok)
{
	if (seen_count < MAX_SEEN)
		strcpy(seen[seen_count++], tok);
}

static void test_lifecycle(void)
{
	struct dagate_config cfg;
	struct conf_errors errors = { 0 };
	struct token_issuer *ti = NULL;
	char tok[TOKEN_LEN + 1], mapped[MAPPED_USER_MAX + 1];
	const char *detail = NULL;
	int64_t exp = 0;
	char spec[600];
	struct conf_section *secs;

	snprintf(spec, sizeof spec, "lmdb:%s", path_in("var/tokens"));
	secs = lifecycle_sections(spec);
	cfg_init(&cfg, secs);
	CHECK(token_issuer_create(&cfg, &errors, &ti) == 0 && ti != NULL, "create");
	for (size_t i = 0; i < errors.count; i++)
		fprintf(stderr, "%s\n", errors.lines[i]);
	conf_errors_clear(&errors);
	if (ti == NULL)
		return;
	token_issuer_set_clock(ti, fake_clock, NULL);

	/* issue -> redeem ok -> replay false; the user is mapped like a password. */
	CHECK(token_issue(ti, &test_map, "sync", "Joe@Corp.Example.uat", 0, clock_now_ms() + 2000, tok, mapped,
			  &exp) == TOKEN_ISSUE_OK, "issue");
	remember(tok);
	CHECK_STR(mapped, "joe@corp.example", "mapped user");
	CHECK(exp == fake_now + 5 * 60000, "default ttl 5m");
	CHECK(token_has_form(tok, strlen(tok)), "issued token has the form");
	CHECK(redeem(ti, "joe@corp.example", tok, "203.0.113.7", &detail) == AUTH_OK, "redeem");
	CHECK(redeem(ti, "joe@corp.example", tok, "203.0.113.7", &detail) == AUTH_REJECT &&
	      strcmp(detail, "unknown") == 0, "replay refused: %s", detail);

	/* expiry by the injected clock: not extended, and burnt on the way. */
	issue(ti, "sync", "joe@corp.example", 60000, tok);
	remember(tok);
	fake_now += 59999;
	CHECK(redeem(ti, "joe@corp.example", tok, "203.0.113.7", &detail) == AUTH_OK,
	      "just before expiry");
	issue(ti, "sync", "joe@corp.example", 60000, tok);
	remember(tok);
	fake_now += 60000;
	CHECK(redeem(ti, "joe@corp.example", tok, "203.0.113.7", &detail) == AUTH_REJECT &&
	      strcmp(detail, "expired") == 0, "expired: %s", detail);
	fake_now -= 60000;
	CHECK(redeem(ti, "joe@corp.example", tok, "203.0.113.7", &detail) == AUTH_REJECT &&
	      strcmp(detail, "unknown") == 0, "an expired token is gone");

	/* wrong user burns the token */
	issue(ti, "sync", "joe@corp.example", 0, tok);
	remember(tok);
	CHECK(redeem(ti, "eve@corp.example", tok, "203.0.113.7", &detail) == AUTH_REJECT &&
	      strcmp(detail, "user_mismatch") == 0, "wrong user: %s", detail);
	CHECK(redeem(ti, "joe@corp.example", tok, "203.0.113.7", &detail) == AUTH_REJECT &&
	      strcmp(detail, "unknown") == 0, "burnt after the wrong user");

	/* wrong sourceIp burns the token */
	issue(ti, "sync", "joe@corp.example", 0, tok);
	remember(tok);
	CHECK(redeem(ti, "joe@corp.example", tok, "198.51.100.1", &detail) == AUTH_REJECT &&
	      strcmp(detail, "source_ip_mismatch") == 0, "wrong sourceIp: %s", detail);
	CHECK(redeem(ti, "joe@corp.example", tok, "203.0.113.7", &detail) == AUTH_REJECT,
	      "burnt after the wrong sourceIp");
	issue(ti, "sync", "joe@corp.example", 0, tok);
	CHECK(redeem(ti, "joe@corp.example", tok, "", &detail) == AUTH_REJECT &&
	      strcmp(detail, "source_ip_mismatch") == 0, "empty sourceIp with a source_ip list");

	/* a requester without source_ip accepts any sourceIp */
	CHECK(issue(ti, "slow", "x@y", 0, tok) == TOKEN_ISSUE_OK, "issue (slow)");
	CHECK(redeem(ti, "x@y", tok, "198.51.100.1", &detail) == AUTH_OK, "any sourceIp");

	/* a near miss of a real token is unknown, and does not burn it */
	issue(ti, "sync", "joe@corp.example", 0, tok);
	char near[TOKEN_LEN + 1];
	strcpy(near, tok);
	near[10] = near[10] == 'a' ? 'b' : 'a';
	CHECK(redeem(ti, "joe@corp.example", near, "203.0.113.7", &detail) == AUTH_REJECT &&
	      strcmp(detail, "unknown") == 0, "near miss");
	CHECK(redeem(ti, "joe@corp.example", tok, "203.0.113.7", &detail) == AUTH_OK,
	      "the real one still works");
	CHECK(redeem(ti, "joe@corp.example", "hunter2", "203.0.113.7", &detail) == AUTH_REJECT &&
	      strcmp(detail, "not_a_token") == 0, "not a token");

	/* ttl bounds: 60 s .. max_ttl, errors rather than clamping */
	CHECK(issue(ti, "sync", "joe@corp.example", 59999, tok) == TOKEN_ISSUE_BAD_TTL, "59.999s");
	CHECK(issue(ti, "sync", "joe@corp.example", 60000, tok) == TOKEN_ISSUE_OK, "60s");
	remember(tok);
	CHECK(issue(ti, "sync", "joe@corp.example", 2 * 3600000, tok) == TOKEN_ISSUE_OK, "max_ttl");
	remember(tok);
	CHECK(issue(ti, "sync", "joe@corp.example", 2 * 3600000 + 1000, tok) == TOKEN_ISSUE_BAD_TTL,
	      "above max_ttl");
	CHECK(tok[0] == '\0', "no token on refusal");

	/* users / deny_users */
	CHECK(issue(ti, "sync", "admin@corp.example", 0, tok) == TOKEN_ISSUE_USER_DENIED, "denied");
	CHECK(issue(ti, "sync", "ADMIN@corp.example.dev", 0, tok) == TOKEN_ISSUE_USER_DENIED,
	      "denied after mapping");
	CHECK(issue(ti, "sync", "joe@elsewhere.example", 0, tok) == TOKEN_ISSUE_USER_DENIED,
	      "not in users");
	CHECK(issue(ti, "sync", "bad\x01user@corp.example", 0, tok) == TOKEN_ISSUE_BAD_USER,
	      "control character");
	CHECK(issue(ti, "sync", "", 0, tok) == TOKEN_ISSUE_BAD_USER, "empty user");
	CHECK(issue(ti, "nobody", "joe@corp.example", 0, tok) == TOKEN_ISSUE_NO_REQUESTER,
	      "no requester");

	/* max_outstanding = 5: the two above are outstanding; three more fit. */
	for (int i = 0; i < 3; i++) {
		CHECK(issue(ti, "sync", "joe@corp.example", 0, tok) == TOKEN_ISSUE_OK, "fill %d", i);
		remember(tok);
	}
	CHECK(issue(ti, "sync", "joe@corp.example", 0, tok) == TOKEN_ISSUE_OUTSTANDING, "full");
	CHECK(redeem(ti, "joe@corp.example", tok, "203.0.113.7", &detail) == AUTH_REJECT,
	      "(the refused token was never stored)");
	CHECK(redeem(ti, "joe@corp.example", seen[seen_count - 1], "203.0.113.7", &detail) == AUTH_OK,
	      "redeem one");
	CHECK(issue(ti, "sync", "joe@corp.example", 0, tok) == TOKEN_ISSUE_OK, "room again");
	remember(tok);
	fake_now += 3 * 3600000;  /* all expire: room for five again */
	for (int i = 0; i < 5; i++)
		CHECK(issue(ti, "sync", "joe@corp.example", 0, tok) == TOKEN_ISSUE_OK,
		      "after expiry %d", i);

	/* rate = 3/1h on "slow" (one used above) */
	CHECK(issue(ti, "slow", "a@b", 0, tok) == TOKEN_ISSUE_OK, "rate 2");
	CHECK(issue(ti, "slow", "a@b", 0, tok) == TOKEN_ISSUE_OK, "rate 3");
	CHECK(issue(ti, "slow", "a@b", 0, tok) == TOKEN_ISSUE_RATE, "rate exceeded");

	/* list and revoke */
	size_t n = 0;
	CHECK(ti->store->ops->revoke(ti->store, "nobody@corp.example", NULL, fake_now,
				     clock_now_ms() + 2000, &n) == TS_OK && n == 0, "revoke none");
	CHECK(ti->store->ops->revoke(ti->store, NULL, "slow", fake_now, clock_now_ms() + 2000,
				     &n) == TS_OK && n == 2, "revoke requester: %zu", n);
	CHECK(ti->store->ops->revoke(ti->store, "joe@corp.example", NULL, fake_now,
				     clock_now_ms() + 2000, &n) == TS_OK && n == 5, "revoke user: %zu", n);
	CHECK(redeem(ti, "joe@corp.example", tok, "203.0.113.7", &detail) == AUTH_REJECT,
	      "revoked token refused");
	/* the outstanding count followed the revocation: five fit again, not six */
	for (int i = 0; i < 5; i++)
		CHECK(issue(ti, "sync", "zed@corp.example", 0, tok) == TOKEN_ISSUE_OK,
		      "after revoke %d", i);
	CHECK(issue(ti, "sync", "zed@corp.example", 0, tok) == TOKEN_ISSUE_OUTSTANDING,
	      "count kept across revoke");
	CHECK(ti->store->ops->revoke(ti->store, NULL, NULL, fake_now, clock_now_ms() + 2000,
				     &n) == TS_OK && n == 5, "revoke all: %zu", n);

	struct token_stats stats;
	token_issuer_stats(ti, &stats);
	CHECK(stats.redeemed >= 5 && stats.rejected >= 8 && stats.issued >= 20, "stats");
	token_issuer_free(&ti);
	CHECK(ti == NULL, "free clears");

	/* Restart: a token issued before is redeemable once after. */
	CHECK(token_issuer_create(&cfg, &errors, &ti) == 0 && ti != NULL, "reopen");
	token_issuer_set_clock(ti, fake_clock, NULL);
	issue(ti, "sync", "joe@corp.example", 0, tok);
	remember(tok);
	token_issuer_free(&ti);
	token_issuer_create(&cfg, &errors, &ti);
	token_issuer_set_clock(ti, fake_clock, NULL);
	CHECK(redeem(ti, "joe@corp.example", tok, "203.0.113.7", &detail) == AUTH_OK,
	      "redeemable after restart");
	token_issuer_free(&ti);
	token_issuer_create(&cfg, &errors, &ti);
	token_issuer_set_clock(ti, fake_clock, NULL);
	CHECK(redeem(ti, "joe@corp.example", tok, "203.0.113.7", &detail) == AUTH_REJECT,
	      "consumed stays consumed after restart");
	/* Leave some outstanding for the scan below. */
	for (int i = 0; i < 3; i++) {
		issue(ti, "sync", "joe@corp.example", 0, tok);
		remember(tok);
	}
	token_issuer_free(&ti);
	sections_free(secs);
}

/* The store file and the audit log never hold a raw token, nor its key. */
static void test_no_raw_token_anywhere(void)
{
	const char *files[] = { path_in("var/tokens/data.mdb"), path_in("api/tokens/data.mdb"),
				path_in("audit.log") };

	for (size_t f = 0; f < 3; f++) {
		FILE *fp = fopen(files[f], "rb");
		char *data;
		long size;

		CHECK(fp != NULL, "open %s", files[f]);
		if (fp == NULL)
			continue;
		fseek(fp, 0, SEEK_END);
		size = ftell(fp);
		fseek(fp, 0, SEEK_SET);
		data = malloc((size_t)size + 1);
		CHECK(fread(data, 1, (size_t)size, fp) == (size_t)size, "read");
		fclose(fp);
		CHECK(size > 0, "%s not empty", files[f]);
		for (int i = 0; i < seen_count; i++) {
			CHECK(memmem(data, (size_t)size, seen[i], TOKEN_LEN) == NULL,
			      "token %d in %s", i, files[f]);
			/* nor the base32 body alone */
			CHECK(memmem(data, (size_t)size, seen[i] + TOKEN_PREFIX_LEN, 20) == NULL,
			      "token body %d in %s", i, files[f]);
		}
		if (f == 2)
			CHECK(memmem(data, (size_t)size, "fingerprint=", 12) != NULL,
			      "the audit log has fingerprints");
		free(data);
	}
}

/* The token API. */

/* The failed-login limit alone, with its own clock. */
static void test_login_limit(void)
{
	struct token_login_limit *limit = token_login_limit_new();
	struct sockaddr_in a = { .sin_family = AF_INET }, b = a;
	struct sockaddr_in6 v6a = { .sin6_family = AF_INET6 }, v6b = v6a, v6c = v6a;
	const struct sockaddr *pa = (struct sockaddr *)&a, *pb = (struct sockaddr *)&b;
	int64_t t0 = 1000000;
	int reached = 0;

	CHECK(limit != NULL, "new");
	if (limit == NULL)
		return;
	inet_pton(AF_INET, "192.0.2.1", &a.sin_addr);
	inet_pton(AF_INET, "192.0.2.2", &b.sin_addr);
	for (int i = 0; i < TOKEN_LOGIN_FAILURES; i++) {
		CHECK(token_login_limit_wait(limit, pa, t0 + i) == 0, "try %d allowed", i);
		reached += token_login_limit_failed(limit, pa, t0 + i);
	}
	CHECK(reached == 1, "the limit is reached once (%d)", reached);
	CHECK(token_login_limit_wait(limit, pa, t0 + 10) == TOKEN_LOGIN_WINDOW_MS - 10,
	      "blocked until the window ends");
	CHECK(token_login_limit_wait(limit, pb, t0 + 10) == 0, "another address is not");
	CHECK(token_login_limit_wait(limit, pa, t0 + TOKEN_LOGIN_WINDOW_MS - 1) == 1, "last ms");
	CHECK(token_login_limit_wait(limit, pa, t0 + TOKEN_LOGIN_WINDOW_MS) == 0,
	      "free again when the window is over");
	CHECK(!token_login_limit_failed(limit, pa, t0 + TOKEN_LOGIN_WINDOW_MS) &&
	      token_login_limit_wait(limit, pa, t0 + TOKEN_LOGIN_WINDOW_MS) == 0,
	      "a new window counts from one");

	/* IPv6: one /64 is one peer; the next /64 is another. */
	inet_pton(AF_INET6, "2001:db8:1:2::1", &v6a.sin6_addr);
	inet_pton(AF_INET6, "2001:db8:1:2:ffff::9", &v6b.sin6_addr);
	inet_pton(AF_INET6, "2001:db8:1:3::1", &v6c.sin6_addr);
	for (int i = 0; i < TOKEN_LOGIN_FAILURES; i++)
		token_login_limit_failed(limit, (struct sockaddr *)(i % 2 ? &v6a : &v6b), t0);
	CHECK(token_login_limit_wait(limit, (struct sockaddr *)&v6a, t0 + 1) > 0 &&
	      token_login_limit_wait(limit, (struct sockaddr *)&v6b, t0 + 1) > 0,
	      "one /64 shares its count");
	CHECK(token_login_limit_wait(limit, (struct sockaddr *)&v6c, t0 + 1) == 0, "next /64");

	/* Bounded: thousands of other addresses fill the table, and a
	 * blocked peer is at worst forgotten, never another one blocked. */
	for (uint32_t i = 0; i < 4 * TOKEN_LOGIN_SLOTS; i++) {
		struct sockaddr_in x = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a000000 + i) };

		token_login_limit_failed(limit, (struct sockaddr *)&x, t0 + 2);
		if (token_login_limit_wait(limit, pb, t0 + 2) != 0)
			break;
	}
	CHECK(token_login_limit_wait(limit, pb, t0 + 2) == 0, "an address that never failed");
	token_login_limit_free(&limit);
	CHECK(limit == NULL, "free clears");
}

/* The body parser alone: strict JSON, and a user that is UTF-8 text. */
static void test_api_parse_body(void)
{
	static const struct { const char *body; size_t len; bool ok; const char *what; } t[] = {
#define B(s) s, sizeof s - 1
		{ B("{\"user\": \"joe@corp.example\"}"), true, "plain" },
		{ B("{\"user\": \"joe@corp.example\", \"ttl\": 300}"), true, "with ttl" },
		{ B(" {\"ttl\":60,\"user\":\"a\"}\r\n"), true, "whitespace around" },
		{ B("{\"user\": \"j\xc3\xb6rg@corp.example\"}"), true, "UTF-8 letters" },
		{ B("{\"user\": \"j\\u00f6rg@corp.example\"}"), true, "escaped letter" },
		{ B("{\"user\": \"\\ud83d\\ude00@corp.example\"}"), true, "surrogate pair" },
		{ B("{\"user\": \"a\" /* c */}"), false, "block comment" },
		{ B("{\"user\": \"a\"} // c"), false, "line comment" },
		{ B("# c\n{\"user\": \"a\"}"), false, "hash comment" },
		{ B("{'user': 'a'}"), false, "single quotes" },
		{ B("{user: \"a\"}"), false, "bare key" },
		{ B("{\"user\": \"a\", \"ttl\": 0300}"), false, "leading zero" },
		{ B("{\"user\": \"a\", \"ttl\": 0x12c}"), false, "hex" },
		{ B("{\"user\": \"a\", \"ttl\": +300}"), false, "plus sign" },
		{ B("{\"user\": \"a\", \"ttl\": 300.}"), false, "trailing dot" },
		{ B("{\"user\": \"a\", \"ttl\": 3e2}"), false, "exponent" },
		{ B("{\"user\": \"a\", \"ttl\": NaN}"), false, "NaN" },
		{ B("{\"user\": \"a\", \"ttl\": Infinity}"), false, "Infinity" },
		{ B("{\"user\": \"a\", \"ttl\": -0}"), false, "minus zero" },
		{ B("{\"user\": \"a\", \"ttl\": 99999999999999999999999}"), false, "huge ttl" },
		{ B("{\"user\": \"a\",}"), false, "trailing comma" },
		{ B("{\"user\": \"a\"}{}"), false, "second value" },
		{ B("{\"user\": \"a\"}\0"), false, "trailing NUL" },
		{ B("\xef\xbb\xbf{\"user\": \"a\"}"), false, "byte order mark" },
		{ B("{\"user\": \"\xff\"}"), false, "invalid byte" },
		{ B("{\"user\": \"\xc0\xaf\"}"), false, "overlong" },
		{ B("{\"user\": \"\xed\xa0\x80\"}"), false, "encoded surrogate" },
		{ B("{\"user\": \"\xf4\x90\x80\x80\"}"), false, "above U+10FFFF" },
		{ B("{\"user\": \"a\xe2\x82\"}"), false, "truncated sequence" },
		{ B("{\"user\": \"\\ud800@x\"}"), false, "lone surrogate escape" },
		{ B("{\"user\": \"a\tb\"}"), false, "raw tab" },
		{ B("{\"user\": \"a\\nb\"}"), false, "escaped newline" },
		{ B("{\"user\": \"a\\u0000b\"}"), false, "escaped NUL" },
		{ B("{\"user\": \"a\x7f\"}"), false, "DEL" },
		{ B("{\"user\": \"a\\u0085b\"}"), false, "C1 control" },
		{ B("{\"user\": \"a\xe2\x80\xa8" "b\"}"), false, "line separator" },
		{ B("{\"user\": \"a\\u2029b\"}"), false, "paragraph separator" },
		{ B("{\"user\": \"\"}"), false, "empty user" },
		{ B("{\"user\": null}"), false, "null user" },
		{ B("{\"user\": [\"a\"]}"), false, "array user" },
		{ B("{\"user\": \"a\", \"ttl\": null}"), false, "null ttl" },
		{ B("[\"a\"]"), false, "array" },
		{ B("\"a\""), false, "string" },
		{ B(""), false, "empty" },
#undef B
	};
	char long_user[MAPPED_USER_MAX + 32];
	const char *error;
	char *user;
	int64_t ttl;

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		int ret = token_api_parse_body(t[i].body, t[i].len, &user, &ttl, &error);

		CHECK((ret == 0) == t[i].ok, "%s: got %d", t[i].what, ret);
		CHECK(ret == 0 ? user != NULL : user == NULL && error != NULL && error[0] != '\0',
		      "%s: result", t[i].what);
		free(user);
	}
	snprintf(long_user, sizeof long_user, "{\"user\":\"A@b\",\"ttl\":120}");
	CHECK(token_api_parse_body(long_user, strlen(long_user), &user, &ttl, &error) == 0 &&
	      user != NULL && strcmp(user, "A@b") == 0 && ttl == 120000, "user and ttl as sent");
	free(user);
	snprintf(long_user, sizeof long_user, "{\"user\":\"%0*d\"}", MAPPED_USER_MAX + 1, 0);
	CHECK(token_api_parse_body(long_user, strlen(long_user), &user, &ttl, &error) < 0,
	      "user longer than MAPPED_USER_MAX");
	CHECK(token_user_valid("joe@corp.example", 16) && !token_user_valid("a\0b", 3) &&
	      !token_user_valid("", 0), "token_user_valid");
}


static unsigned api_retry_after;   /* of the last api() call */

static int api(struct token_issuer *ti, const char *method, const char *path, const char *auth,
	       const char *peer_ip, const char *body, json_object **out)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int status = 0;
	char *json = NULL;

	inet_pton(AF_INET, peer_ip, &sin.sin_addr);
	if (token_api_handle(ti, &test_map, method, path, auth, (struct sockaddr *)&sin, body,
			     body != NULL ? strlen(body) : 0, &status, &json, &api_retry_after) < 0)
		return -1;
	*out = json != NULL ? json_tokener_parse(json) : NULL;
	free(json);
	return status;
}

static void test_api(void)
{
	struct dagate_config cfg;
	struct conf_errors errors = { 0 };
	struct token_issuer *ti = NULL;
	char spec[600];
	json_object *o = NULL, *v;
	const char *detail;
	/* sync:s3cret-sync, slow:s3cret-slow, sync:wrong */
	const char *good = "Basic c3luYzpzM2NyZXQtc3luYw==";
	const char *wrong = "Basic c3luYzp3cm9uZw==";
	const char *slow = "Basic c2xvdzpzM2NyZXQtc2xvdw==";
	const char *nobody = "Basic bm9ib2R5OnMzY3JldC1zeW5j";
	const char *body = "{\"user\": \"Joe@corp.example.uat\", \"ttl\": 300}";
	char big[TOKEN_API_MAX_BODY + 10];

	snprintf(spec, sizeof spec, "lmdb:%s", path_in("api/tokens"));
	struct conf_section *secs = lifecycle_sections(spec);
	cfg_init(&cfg, secs);
	CHECK(token_issuer_create(&cfg, &errors, &ti) == 0 && ti != NULL, "create");
	conf_errors_clear(&errors);
	if (ti == NULL)
		return;

	CHECK(api(ti, "POST", TOKEN_API_PATH, good, "127.0.0.1", body, &o) == 201, "201");
	CHECK(json_object_object_get_ex(o, "token", &v) && token_has_form(json_object_get_string(v),
	      (size_t)json_object_get_string_len(v)), "token in body");
	char tok[TOKEN_LEN + 1];
	snprintf(tok, sizeof tok, "%s", json_object_get_string(v));
	remember(tok);
	CHECK(json_object_object_get_ex(o, "user", &v) &&
	      strcmp(json_object_get_string(v), "joe@corp.example") == 0, "mapped user in body");
	CHECK(json_object_object_get_ex(o, "expires_at", &v) &&
	      strlen(json_object_get_string(v)) == 20, "expires_at RFC 3339");
	json_object_put(o);
	CHECK(redeem(ti, "joe@corp.example", tok, "203.0.113.9", &detail) == AUTH_OK,
	      "API token redeems");

	struct { const char *method, *path, *auth, *peer, *body; int status; const char *what; } t[] = {
		{ "POST", "/api/v1/other", good, "127.0.0.1", body, 404, "path" },
		{ "GET", TOKEN_API_PATH, good, "127.0.0.1", NULL, 405, "method" },
		{ "POST", TOKEN_API_PATH, NULL, "127.0.0.1", body, 401, "no credentials" },
		{ "POST", TOKEN_API_PATH, wrong, "127.0.0.1", body, 401, "wrong secret" },
		{ "POST", TOKEN_API_PATH, nobody, "127.0.0.1", body, 401, "unknown requester" },
		{ "POST", TOKEN_API_PATH, "Basic !!!!", "127.0.0.1", body, 401, "bad base64" },
		{ "POST", TOKEN_API_PATH, "Bearer c3luYzpzM2NyZXQtc3luYw==", "127.0.0.1", body, 401,
		  "not Basic" },
		{ "POST", TOKEN_API_PATH, good, "10.9.9.9", body, 403, "peer not allowed" },
		{ "POST", TOKEN_API_PATH, wrong, "10.9.9.9", body, 401, "credentials before peer" },
		{ "POST", TOKEN_API_PATH, good, "127.0.0.1", "", 400, "empty body" },
		{ "POST", TOKEN_API_PATH, good, "127.0.0.1", "{\"user\": ", 400, "truncated JSON" },
		{ "POST", TOKEN_API_PATH, good, "127.0.0.1", "[1]", 400, "not an object" },
		{ "POST", TOKEN_API_PATH, good, "127.0.0.1", "{}", 400, "no user" },
		{ "POST", TOKEN_API_PATH, good, "127.0.0.1", "{\"user\": 5}", 400, "user not a string" },
		{ "POST", TOKEN_API_PATH, good, "127.0.0.1", "{\"user\": \"\"}", 400, "empty user" },
		{ "POST", TOKEN_API_PATH, good, "127.0.0.1", "{\"user\": \"a@corp.example\", \"x\": 1}",
		  400, "unknown field" },
		{ "POST", TOKEN_API_PATH, good, "127.0.0.1", "{\"user\": \"a@corp.example\"} x", 400,
		  "trailing garbage" },
		{ "POST", TOKEN_API_PATH, good, "127.0.0.1", "{\"user\": \"a@corp.example\", \"ttl\": 59}",
		  400, "ttl 59" },
		{ "POST", TOKEN_API_PATH, good, "127.0.0.1",
		  "{\"user\": \"a@corp.example\", \"ttl\": 86401}", 400, "ttl 86401" },
		{ "POST", TOKEN_API_PATH, good, "127.0.0.1",
		  "{\"user\": \"a@corp.example\", \"ttl\": 7201}", 400, "ttl above max_ttl" },
		{ "POST", TOKEN_API_PATH, good, "127.0.0.1",
		  "{\"user\": \"a@corp.example\", \"ttl\": \"300\"}", 400, "ttl as a string" },
		{ "POST", TOKEN_API_PATH, good, "127.0.0.1",
		  "{\"user\": \"a@corp.example\", \"ttl\": 300.5}", 400, "fractional ttl" },
		{ "POST", TOKEN_API_PATH, good, "127.0.0.1", "{\"user\": \"admin@corp.example\"}", 403,
		  "denied user" },
		{ "POST", TOKEN_API_PATH, good, "127.0.0.1", "{\"user\": \"joe@elsewhere\"}", 403,
		  "user outside users" },
		{ "POST", TOKEN_API_PATH, good, "127.0.0.1",
		  "{\"user\": \"a@corp.example\", \"ttl\": 60}", 201, "ttl 60" },
		{ "POST", TOKEN_API_PATH, slow, "127.0.0.1", "{\"user\": \"a\"}", 201, "slow 1" },
		{ "POST", TOKEN_API_PATH, slow, "127.0.0.1", "{\"user\": \"a\"}", 201, "slow 2" },
		{ "POST", TOKEN_API_PATH, slow, "127.0.0.1", "{\"user\": \"a\"}", 201, "slow 3" },
		{ "POST", TOKEN_API_PATH, slow, "127.0.0.1", "{\"user\": \"a\"}", 429, "slow: rate" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		int status = api(ti, t[i].method, t[i].path, t[i].auth, t[i].peer, t[i].body, &o);

		CHECK(status == t[i].status, "%s: got %d, want %d", t[i].what, status, t[i].status);
		CHECK(o != NULL && json_object_is_type(o, json_type_object), "%s: JSON body",
		      t[i].what);
		if (status != 201)
			CHECK(json_object_object_get_ex(o, "error", &v), "%s: error field", t[i].what);
		else if (json_object_object_get_ex(o, "token", &v))
			remember(json_object_get_string(v));
		json_object_put(o);
	}
	memset(big, ' ', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	CHECK(api(ti, "POST", TOKEN_API_PATH, good, "127.0.0.1", big, &o) == 413, "413");
	json_object_put(o);

	/* Failed logins: after TOKEN_LOGIN_FAILURES the peer gets 429 for
	 * everything, right credentials too; other peers do not. */
	for (int i = 0; i < TOKEN_LOGIN_FAILURES; i++) {
		CHECK(api(ti, "POST", TOKEN_API_PATH, i % 2 ? wrong : nobody, "192.0.2.7", body,
			  &o) == 401, "failure %d: 401", i);
		json_object_put(o);
	}
	CHECK(api(ti, "POST", TOKEN_API_PATH, NULL, "192.0.2.8", body, &o) == 401, "no credentials");
	json_object_put(o);
	struct token_stats stats;

	token_issuer_stats(ti, &stats);
	CHECK(stats.api_bad_credentials >= TOKEN_LOGIN_FAILURES && stats.api_login_limited == 0,
	      "failures counted");
	CHECK(api(ti, "POST", TOKEN_API_PATH, good, "192.0.2.7", body, &o) == 429 &&
	      json_object_object_get_ex(o, "error", &v), "blocked: 429 even with the secret");
	json_object_put(o);
	CHECK(api_retry_after > 0 && api_retry_after <= TOKEN_LOGIN_WINDOW_MS / 1000,
	      "Retry-After %u", api_retry_after);
	CHECK(api(ti, "POST", TOKEN_API_PATH, good, "127.0.0.1", body, &o) == 201 &&
	      api_retry_after == 0, "another peer is served");
	if (json_object_object_get_ex(o, "token", &v))
		remember(json_object_get_string(v));
	json_object_put(o);
	token_issuer_stats(ti, &stats);
	CHECK(stats.api_login_limited == 1, "the 429 counted");
	token_issuer_free(&ti);
	sections_free(secs);
}

int main(void)
{
	char audit[600];
	struct log_config lc = { LOG_LEVEL_INFO, LOG_FORMAT_TEXT, audit };
	const char *err = NULL;

	snprintf(tmpdir, sizeof tmpdir, "/tmp/dagate-test-tokens-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(audit, sizeof audit, "%s/audit.log", tmpdir);
	if (log_setup(&lc, &err) < 0)
		return 1;
	write_file(path_in("secret"), "s3cret-sync\n", 0600);
	write_file(path_in("secret2"), "s3cret-slow\n", 0600);

	test_form();
	test_hash();
	test_records();
	test_rates_and_times();
	test_key_file();
	test_config_errors();
	test_lifecycle();
	test_login_limit();
	test_api_parse_body();
	test_api();
	test_no_raw_token_anywhere();

	if (unit_failures == 0 && getenv("DAGATE_TEST_KEEP") == NULL) {
		char cmd[600];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	} else {
		fprintf(stderr, "files kept in %s\n", tmpdir);
	}
	return unit_done("test_tokens");
}
