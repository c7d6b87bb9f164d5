/*
 * Tokens: the pure parts (form, encoding, HMAC, records, rates, key file),
 * configuration errors and the LMDB lifecycle with an injected clock. No
 * network: the token API is in test_token_api.c, the Redis store in
 * test_token_redis.c.
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

#include "token_fixture.h"

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
			  &exp, NULL) == TOKEN_ISSUE_OK, "issue");
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
	CHECK(issue(ti, "sync", "joe", 0, tok) == TOKEN_ISSUE_BAD_USER, "name without a domain");
	CHECK(issue(ti, "sync", " joe@corp.example", 0, tok) == TOKEN_ISSUE_BAD_USER,
	      "name with a space the endpoint refuses");
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

int main(void)
{
	if (fixture_setup("tokens") < 0)
		return 1;
	test_form();
	test_hash();
	test_records();
	test_rates_and_times();
	test_key_file();
	test_config_errors();
	test_lifecycle();
	check_no_raw_token(path_in("var/tokens/data.mdb"), path_in("audit.log"));
	return fixture_done("test_tokens");
}
