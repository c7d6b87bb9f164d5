/*
 * The token API handler (tokens/api.c): the failed-login limit, the strict
 * JSON body, and every answer of POST /api/v1/tokens, on an LMDB store.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <json-c/json.h>

#include "api_limit.h"
#include "issuer.h"
#include "token_fixture.h"

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
		{ B("{\"user\": \"a@x\", \"user\": \"b@x\"}"), false, "duplicate user" },
		{ B("{\"ttl\": 60, \"user\": \"a@x\", \"ttl\": 90}"), false, "duplicate ttl" },
		{ B("{\"user\": \"a@x\", \"us\\u0065r\": \"b@x\"}"), false, "duplicate by escape" },
		{ B("{\"user\": \"a,\\\"user\\\":x@y\"}"), true, "name-like text in a value" },
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
		{ "POST", TOKEN_API_PATH, slow, "127.0.0.1", "{\"user\": \"a@corp.example\"}", 201, "slow 1" },
		{ "POST", TOKEN_API_PATH, slow, "127.0.0.1", "{\"user\": \"a@corp.example\"}", 201, "slow 2" },
		{ "POST", TOKEN_API_PATH, slow, "127.0.0.1", "{\"user\": \"a@corp.example\"}", 201, "slow 3" },
		{ "POST", TOKEN_API_PATH, slow, "127.0.0.1", "{\"user\": \"a@corp.example\"}", 429, "slow: rate" },
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
	if (fixture_setup("token-api") < 0)
		return 1;
	test_login_limit();
	test_api_parse_body();
	test_api();
	check_no_raw_token(path_in("api/tokens/data.mdb"), path_in("audit.log"));
	return fixture_done("test_token_api");
}
