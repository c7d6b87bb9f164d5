/*
 * The throttle (service/decide/throttle.h): budget parsing, source keys, config
 * errors, then the rules with an injected clock (budgets trip at N+1, the
 * window restarts at each failure and expires after a quiet window,
 * repeats refused and not counted twice, success resets, sources
 * independent of users, reservations under concurrency, bounded memory
 * under a username spray), and finally the shared state on a real
 * redis-server (two instances agree; an outage falls back to per-instance
 * state and never refuses everyone). Fails when redis-server is missing
 * (scripts/deps test installs it).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "throttle.h"
#include "conf_build.h"
#include "redis_server.h"
#include "throttle_fixture.h"
#include "unit.h"

static void test_parse_budget(void)
{
	static const struct {
		const char *text;
		int ret;
		unsigned count;
		int64_t window;
	} cases[] = {
		{ "4/15m", 0, 4, 15 * MIN },
		{ "30/15m", 0, 30, 15 * MIN },
		{ "1/1s", 0, 1, 1000 },
		{ "100000/24h", 0, 100000, 24 * 60 * MIN },
		{ "off", 0, 0, 0 },
		{ "0/15m", -1, 0, 0 },
		{ "4", -1, 0, 0 },
		{ "4/", -1, 0, 0 },
		{ "/15m", -1, 0, 0 },
		{ "4/15", -1, 0, 0 },
		{ "4/500ms", -1, 0, 0 },      /* windows below a second mean nothing */
		{ "4/25h", -1, 0, 0 },
		{ "100001/1m", -1, 0, 0 },
		{ "-4/1m", -1, 0, 0 },
		{ "4 / 15m", -1, 0, 0 },
		{ "Off", -1, 0, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unsigned n = 99;
		int64_t w = 99;
		int ret = throttle_parse_budget(cases[i].text, &n, &w);

		CHECK(ret == cases[i].ret, "parse_budget(%s) = %d", cases[i].text, ret);
		if (ret == 0 && cases[i].ret == 0)
			CHECK(n == cases[i].count && w == cases[i].window, "parse_budget(%s) = %u/%lld",
			      cases[i].text, n, (long long)w);
	}
}

static void test_source_key(void)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "203.0.113.7", "203.0.113.7" },
		{ "::ffff:192.0.2.1", "192.0.2.1" },             /* IPv4-mapped is IPv4 */
		{ "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64" }, /* one host owns a /64 */
		{ "2001:DB8:1:2::99", "2001:db8:1:2::/64" },
		{ "2001:db8::1", "2001:db8::/64" },
		{ "not-an-address", "not-an-address" },
	};
	char out[64];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		throttle_source_key(cases[i].in, out, sizeof out);
		CHECK_STR(out, cases[i].want, cases[i].in);
	}
	throttle_source_key("0123456789012345678901234567890123456789012345678901234567890123456789",
			    out, sizeof out);
	CHECK(strlen(out) == sizeof out - 1, "long source capped: %zu", strlen(out));
}

static void test_verdict_names(void)
{
	CHECK_STR(throttle_verdict_name(THROTTLE_USER_BUDGET), "throttled_user", "user");
	CHECK_STR(throttle_verdict_name(THROTTLE_SOURCE_BUDGET), "throttled_source", "source");
	CHECK_STR(throttle_verdict_name(THROTTLE_REPEAT), "repeat_failure", "repeat");
	CHECK_STR(throttle_verdict_name(THROTTLE_ASK), "ask", "ask");
	CHECK_STR(throttle_verdict_name(THROTTLE_WAIT), "wait", "wait");
}

static void test_config_errors(void)
{
	static const struct {
		const char *what;
		struct kv kvs[4];
		bool with_tokens;
		const char *tokens_store;
		const char *want;        /* substring of the first error, NULL: valid */
	} cases[] = {
		{ "empty section", { { NULL, NULL } }, false, NULL, NULL },
		{ "all keys", { { "user_failures", "3/30m" }, { "source_failures", "off" },
				{ "repeat_window", "0s" } }, false, NULL, NULL },
		{ "bad budget", { { "user_failures", "4 per 15m" } }, false, NULL,
		  "test.conf:11: 'user_failures' must be N/DURATION" },
		{ "zero budget", { { "source_failures", "0/1m" } }, false, NULL,
		  "test.conf:11: 'source_failures' must be N/DURATION" },
		{ "unknown key", { { "user_failure", "4/15m" } }, false, NULL, "test.conf:11:" },
		{ "bad duration", { { "repeat_window", "5 minutes" } }, false, NULL, "test.conf:11:" },
		{ "bad store", { { "store", "lmdb:./var/thr" } }, false, NULL,
		  "test.conf:11: store must be memory (per instance), tokens" },
		{ "tokens without [tokens]", { { "store", "tokens" } }, false, NULL,
		  "test.conf:11: store = tokens needs [tokens] store = redis://" },
		{ "tokens on lmdb", { { "store", "tokens" } }, true, "lmdb:./var/tokens",
		  "test.conf:11: store = tokens needs [tokens] store = redis://" },
		{ "tokens on redis", { { "store", "tokens" } }, true, "redis://127.0.0.1:1/0", NULL },
		{ "redis without key_file", { { "store", "redis://127.0.0.1:6390/0" } }, false, NULL,
		  "test.conf:11: store = redis://127.0.0.1:6390/0 needs key_file" },
		{ "bad redis URL", { { "store", "redis://:99999" }, { "key_file", "k" } }, false, NULL,
		  "test.conf:11: store redis://:99999:" },
		{ "key_file with memory", { { "key_file", "./k" } }, false, NULL,
		  "test.conf:11: 'key_file' only goes with store = redis://" },
		{ "ca_file with tokens", { { "store", "tokens" }, { "ca_file", "/etc/ssl/ca.pem" } },
		  true, "redis://127.0.0.1:1", "test.conf:12: 'ca_file' only goes with store = redis://" },
		{ "max_tracked too small", { { "max_tracked", "3" } }, false, NULL, "test.conf:11:" },
		{ "bad trusted network", { { "trusted_networks", "10.0.0.1/8" } }, false, NULL,
		  "test.conf:11:" },
		{ "trusted file missing", { { "trusted_networks_file", "/nonexistent/trusted" } },
		  false, NULL, "/nonexistent/trusted: cannot read" },
		/* Against the directory's lockout policy. */
		{ "lockout, derived budget", { { "directory_lockout", "5/30m" } }, false, NULL, NULL },
		{ "lockout, budget below", { { "directory_lockout", "5/30m" },
					     { "user_failures", "3/1h" } }, false, NULL, NULL },
		{ "lockout, budget reaches it", { { "directory_lockout", "5/30m" },
						  { "user_failures", "5/30m" } }, false, NULL,
		  "test.conf:12: user_failures 5/30m lets the directory see 5 bad passwords" },
		{ "lockout, window shorter", { { "directory_lockout", "5/30m" },
					       { "user_failures", "4/15m" } }, false, NULL,
		  "test.conf:12: user_failures 4/15m has a window shorter than the directory's" },
		{ "lockout, budget off", { { "directory_lockout", "5/30m" },
					   { "user_failures", "off" } }, false, NULL,
		  "test.conf:12: user_failures = off lets anyone lock accounts" },
		{ "lockout at 1", { { "directory_lockout", "1/30m" } }, false, NULL,
		  "test.conf:11: directory_lockout 1/30m: a directory that locks at the first" },
		{ "lockout malformed", { { "directory_lockout", "five" } }, false, NULL,
		  "test.conf:11: 'directory_lockout' must be N/DURATION" },
		{ "too many instances", { { "directory_lockout", "3/30m" }, { "instances", "3" } },
		  false, NULL, "test.conf:12: 3 instances cannot share a budget of 2 failures" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct kv tk[] = { { "store", cases[i].tokens_store }, { NULL, NULL } };
		struct dagate_config *cfg = config_with(cases[i].kvs, cases[i].with_tokens ? tk : NULL);
		struct conf_errors errors = { 0 };
		int n = throttle_config_validate(cfg, &errors);

		if (cases[i].want == NULL)
			CHECK(n == 0, "%s: %s", cases[i].what, n ? errors.lines[0] : "");
		else
			CHECK(n > 0 && strstr(errors.lines[0], cases[i].want) != NULL,
			      "%s: got \"%s\", want \"%s\"", cases[i].what,
			      n ? errors.lines[0] : "(no error)", cases[i].want);
		conf_errors_clear(&errors);
		config_done(cfg);
	}

	/* Named, and given twice. */
	struct dagate_config *cfg = config_with((struct kv[]){ { NULL, NULL } }, NULL);
	struct conf_errors errors = { 0 };

	cfg->sections->next = section("throttle", NULL, 40, NULL);
	CHECK(throttle_config_validate(cfg, &errors) == 1 && strstr(errors.lines[0],
	      "test.conf:40: [throttle] given twice (first at line 10)") != NULL,
	      "twice: %s", errors.count ? errors.lines[0] : "(no error)");
	conf_errors_clear(&errors);
	config_done(cfg);
	cfg = config_with((struct kv[]){ { NULL, NULL } }, NULL);
	cfg->sections->name = strdup("x");
	CHECK(throttle_config_validate(cfg, &errors) == 1 &&
	      strstr(errors.lines[0], "[throttle] takes no name") != NULL, "named");
	conf_errors_clear(&errors);
	config_done(cfg);

	/* No [throttle] at all: valid, and on with the defaults. */
	cfg = config_with(NULL, NULL);
	CHECK(throttle_config_validate(cfg, &errors) == 0, "absent section is valid");
	config_done(cfg);
}

static const struct kv defaults[] = { { NULL, NULL } };

/* Default budget 4/15m: four wrong passwords reach the directory, the
 * fifth attempt does not, whatever the password, and nothing about it is
 * counted. */
static void test_user_budget(void)
{
	struct throttle *t = make(NULL);   /* no [throttle]: the defaults */
	struct throttle_stats st;
	char pw[16], ip[32];

	for (int i = 0; i < 4; i++) {
		snprintf(pw, sizeof pw, "wrong%d", i);
		snprintf(ip, sizeof ip, "198.51.100.%d", i);
		CHECK(login(t, "joe@corp.example", ip, pw, AUTH_REJECT) == THROTTLE_ASK,
		      "failure %d reaches the directory", i + 1);
	}
	CHECK(login(t, "joe@corp.example", "198.51.100.9", "right", AUTH_OK) == THROTTLE_USER_BUDGET,
	      "attempt 5 is refused, even with the right password");
	/* Directories match names without regard to case: so does the budget. */
	CHECK(login(t, "JOE@Corp.example", "198.51.100.9", "x", AUTH_REJECT) == THROTTLE_USER_BUDGET,
	      "the same name in other case shares the budget");
	CHECK(login(t, "ann@corp.example", "198.51.100.9", "x", AUTH_REJECT) == THROTTLE_ASK,
	      "other users are not affected");
	/* The window restarts at the last failure (t0): quiet 15m - 1ms is not enough. */
	fake_now += 15 * MIN - 1;
	CHECK(throttle_check(t, "joe@corp.example", "", "right", 5, FAR) == THROTTLE_USER_BUDGET,
	      "still refused 1 ms before the window ends");
	fake_now += 1;
	CHECK(login(t, "joe@corp.example", "", "right", AUTH_OK) == THROTTLE_ASK,
	      "asked again once the window passed");
	throttle_stats(t, &st);
	CHECK(st.throttled_user == 3 && st.throttled_source == 0 && st.repeats == 0,
	      "stats %llu %llu %llu", (unsigned long long)st.throttled_user,
	      (unsigned long long)st.throttled_source, (unsigned long long)st.repeats);
	throttle_free(&t);
	CHECK(t == NULL, "free clears the pointer");
}

/* A failure every 10 minutes never lets the window lapse (AD's counter
 * would not reset either): a sliding 15m log would allow a fifth one at
 * 40m and AD, counting since 0m, would lock the account. */
static void test_window_restarts(void)
{
	struct throttle *t = make(defaults);
	char pw[16];

	for (int i = 0; i < 4; i++) {
		snprintf(pw, sizeof pw, "w%d", i);
		CHECK(login(t, "slow@corp.example", "", pw, AUTH_REJECT) == THROTTLE_ASK, "failure %d", i);
		fake_now += 10 * MIN;
	}
	CHECK(login(t, "slow@corp.example", "", "w9", AUTH_REJECT) == THROTTLE_USER_BUDGET,
	      "a trickle never resets the count");
	fake_now += 5 * MIN;  /* 15m after the last counted failure */
	CHECK(login(t, "slow@corp.example", "", "w9", AUTH_REJECT) == THROTTLE_ASK,
	      "a quiet window resets it");
	/* Refused attempts do not extend the window. */
	for (int i = 0; i < 3; i++)
		login(t, "slow@corp.example", "", i == 0 ? "a" : i == 1 ? "b" : "c", AUTH_REJECT);
	for (int i = 0; i < 10; i++) {
		CHECK(login(t, "slow@corp.example", "", "zz", AUTH_REJECT) == THROTTLE_USER_BUDGET,
		      "hammering");
		fake_now += MIN;
	}
	fake_now += 5 * MIN;
	CHECK(login(t, "slow@corp.example", "", "right", AUTH_OK) == THROTTLE_ASK,
	      "refused attempts did not extend the window");
	throttle_free(&t);
}

static void test_repeat(void)
{
	struct throttle *t = make((struct kv[]){ { "user_failures", "4/15m" },
						 { "repeat_window", "5m" }, { NULL, NULL } });
	struct throttle_stats st;

	CHECK(login(t, "joe", "203.0.113.7", "stale", AUTH_REJECT) == THROTTLE_ASK, "first failure");
	for (int i = 0; i < 10; i++)
		CHECK(login(t, "joe", "203.0.113.8", "stale", AUTH_REJECT) == THROTTLE_REPEAT,
		      "repeat %d refused without a backend", i);
	CHECK(login(t, "ann", "203.0.113.7", "stale", AUTH_REJECT) == THROTTLE_ASK,
	      "the same password for another user is not a repeat");
	CHECK(login(t, "joe", "203.0.113.7", "stale2", AUTH_REJECT) == THROTTLE_ASK,
	      "another password is asked");
	CHECK(login(t, "joe", "203.0.113.7", "stalE", AUTH_REJECT) == THROTTLE_ASK,
	      "passwords are compared exactly");
	/* Two counted failures so far + "stalE": 3; the repeats counted nothing. */
	CHECK(login(t, "joe", "", "fourth", AUTH_REJECT) == THROTTLE_ASK, "fourth failure counts");
	CHECK(login(t, "joe", "", "fifth", AUTH_REJECT) == THROTTLE_USER_BUDGET, "budget after 4");
	throttle_stats(t, &st);
	CHECK(st.repeats == 10, "repeats counted: %llu", (unsigned long long)st.repeats);
	fake_now += 15 * MIN;
	CHECK(login(t, "joe", "", "stale", AUTH_REJECT) == THROTTLE_ASK,
	      "after repeat_window the password is asked again");
	CHECK(throttle_check(t, "joe", "", "stale", 5, FAR) == THROTTLE_REPEAT,
	      "and remembered again");
	throttle_free(&t);

	/* repeat_window = 0s: off. */
	t = make((struct kv[]){ { "repeat_window", "0s" }, { NULL, NULL } });
	login(t, "joe", "", "stale", AUTH_REJECT);
	CHECK(login(t, "joe", "", "stale", AUTH_REJECT) == THROTTLE_ASK, "repeats off");
	throttle_free(&t);

	/* A password with a NUL byte and the user name cannot be confused:
	 * user "a" + password "b\0c" vs user "a\0b" is impossible (C strings),
	 * but the password length counts. */
	t = make(defaults);
	throttle_check(t, "u", "", "ab\0cd", 5, FAR);
	throttle_record(t, "u", "", "ab\0cd", 5, AUTH_REJECT, false, FAR);
	CHECK(throttle_check(t, "u", "", "ab\0cd", 5, FAR) == THROTTLE_REPEAT, "same bytes");
	CHECK(throttle_check(t, "u", "", "ab\0ce", 5, FAR) == THROTTLE_ASK, "bytes after a NUL count");
	throttle_record(t, "u", "", "ab\0ce", 5, AUTH_UNAVAILABLE, false, FAR);
	throttle_free(&t);
}

static void test_success_resets(void)
{
	struct throttle *t = make(defaults);

	for (int i = 0; i < 3; i++)
		CHECK(login(t, "joe", "", i == 0 ? "a" : i == 1 ? "b" : "c", AUTH_REJECT) == THROTTLE_ASK,
		      "failure %d", i);
	CHECK(login(t, "joe", "", "right", AUTH_OK) == THROTTLE_ASK, "success");
	CHECK(login(t, "joe", "", "a", AUTH_REJECT) == THROTTLE_ASK,
	      "success forgot the repeats");
	for (int i = 0; i < 3; i++)
		CHECK(login(t, "joe", "", i == 0 ? "d" : i == 1 ? "e" : "f", AUTH_REJECT) == THROTTLE_ASK,
		      "a full budget again: %d", i);
	CHECK(login(t, "joe", "", "g", AUTH_REJECT) == THROTTLE_USER_BUDGET, "spent again");
	throttle_free(&t);
}

static void test_nothing_counted(void)
{
	struct throttle *t = make(defaults);
	static const enum auth_result neutral[] = { AUTH_UNAVAILABLE, AUTH_ERROR };
	static const enum auth_result counted[] = { AUTH_REJECT, AUTH_UNKNOWN_USER, AUTH_LOCKED };

	for (int i = 0; i < 50; i++)
		CHECK(login(t, "joe", "203.0.113.1", "pw", neutral[i % 2]) == THROTTLE_ASK,
		      "unavailable/error count nothing (%d)", i);
	for (int i = 0; i < 4; i++) {
		char pw[8];

		snprintf(pw, sizeof pw, "p%d", i);
		CHECK(login(t, "joe", "", pw, counted[i % 3]) == THROTTLE_ASK, "counted %d", i);
	}
	CHECK(login(t, "joe", "", "p9", AUTH_REJECT) == THROTTLE_USER_BUDGET,
	      "reject, unknown user and locked all count");
	throttle_free(&t);
}

/* A password sent and never answered (a bind the directory may have
 * counted) counts against the budgets, but is not remembered as a wrong
 * password: the same password may be asked again. */
static void test_unanswered_counts(void)
{
	struct throttle *t = make(defaults);

	for (int i = 0; i < 4; i++) {
		CHECK(throttle_check(t, "joe", "203.0.113.1", "same", 4, FAR) == THROTTLE_ASK,
		      "unanswered %d: asked again, not a repeat", i);
		throttle_record(t, "joe", "203.0.113.1", "same", 4, AUTH_UNAVAILABLE, true, FAR);
	}
	CHECK(throttle_check(t, "joe", "203.0.113.1", "same", 4, FAR) == THROTTLE_USER_BUDGET,
	      "four unanswered binds spend the budget of four");
	throttle_free(&t);
}

/* directory_lockout sets the default budget to N-1 in its window. */
static void test_lockout_derived_budget(void)
{
	struct throttle *t = make((struct kv[]){ { "directory_lockout", "3/30m" }, { NULL, NULL } });

	CHECK(login(t, "joe", "", "a", AUTH_REJECT) == THROTTLE_ASK, "first");
	CHECK(login(t, "joe", "", "b", AUTH_REJECT) == THROTTLE_ASK, "second");
	CHECK(login(t, "joe", "", "c", AUTH_REJECT) == THROTTLE_USER_BUDGET,
	      "a directory locking at 3 sees at most 2");
	fake_now += 20 * 60 * 1000;    /* 20 min: inside the directory's 30 */
	CHECK(login(t, "joe", "", "d", AUTH_REJECT) == THROTTLE_USER_BUDGET,
	      "the window is the directory's, not 15m");
	throttle_free(&t);
}

/* A source that also logs people in pays back one failure per success;
 * trusted networks have no source budget at all. */
static void test_source_payback_and_trusted(void)
{
	struct throttle *t = make((struct kv[]){ { "source_failures", "3/1m" },
						 { "trusted_networks", "198.51.100.0/24" },
						 { NULL, NULL } });
	const char *nat = "203.0.113.9";

	CHECK(login(t, "a", nat, "x", AUTH_REJECT) == THROTTLE_ASK, "typo 1");
	CHECK(login(t, "b", nat, "x", AUTH_REJECT) == THROTTLE_ASK, "typo 2");
	CHECK(login(t, "c", nat, "x", AUTH_OK) == THROTTLE_ASK, "a success pays one back");
	CHECK(login(t, "d", nat, "x", AUTH_REJECT) == THROTTLE_ASK, "typo 3, two counted");
	CHECK(login(t, "e", nat, "x", AUTH_REJECT) == THROTTLE_ASK, "typo 4, three counted");
	CHECK(login(t, "f", nat, "x", AUTH_OK) == THROTTLE_SOURCE_BUDGET,
	      "spent: a success cannot get in to pay");
	for (int i = 0; i < 10; i++) {
		char user[16];

		snprintf(user, sizeof user, "u%d", i);
		CHECK(login(t, user, "198.51.100.7", "x", AUTH_REJECT) == THROTTLE_ASK,
		      "trusted network %d", i);
	}
	throttle_free(&t);
}

static void test_source_budget(void)
{
	struct throttle *t = make((struct kv[]){ { "source_failures", "3/1m" }, { NULL, NULL } });
	char user[32];

	for (int i = 0; i < 3; i++) {
		snprintf(user, sizeof user, "user%d", i);
		CHECK(login(t, user, "192.0.2.50", "pw", AUTH_UNKNOWN_USER) == THROTTLE_ASK,
		      "spray %d reaches the directory", i);
	}
	CHECK(login(t, "user9", "192.0.2.50", "pw", AUTH_REJECT) == THROTTLE_SOURCE_BUDGET,
	      "the fourth from one source is refused");
	CHECK(login(t, "user9", "192.0.2.51", "pw", AUTH_REJECT) == THROTTLE_ASK,
	      "another source is not");
	CHECK(login(t, "user0", "192.0.2.51", "right", AUTH_OK) == THROTTLE_ASK,
	      "users of the spray keep their own budgets");
	for (int i = 0; i < 20; i++) {
		snprintf(user, sizeof user, "nosrc%d", i);
		CHECK(login(t, user, "", "pw", AUTH_REJECT) == THROTTLE_ASK,
		      "an empty sourceIp counts under no source (%d)", i);
	}
	/* IPv6: one /64 is one source. */
	for (int i = 0; i < 3; i++) {
		char ip[64];

		snprintf(ip, sizeof ip, "2001:db8:5:6::%x", i + 1);
		snprintf(user, sizeof user, "v6user%d", i);
		CHECK(login(t, user, ip, "pw", AUTH_REJECT) == THROTTLE_ASK, "v6 %d", i);
	}
	CHECK(login(t, "v6user9", "2001:db8:5:6:ffff::1", "pw", AUTH_REJECT) == THROTTLE_SOURCE_BUDGET,
	      "another address of the same /64 is refused");
	CHECK(login(t, "v6user9", "2001:db8:5:7::1", "pw", AUTH_REJECT) == THROTTLE_ASK,
	      "the next /64 is not");
	/* Success does not reset a source. */
	CHECK(login(t, "user8", "192.0.2.50", "right", AUTH_OK) == THROTTLE_SOURCE_BUDGET,
	      "still refused");
	fake_now += MIN;
	CHECK(login(t, "user8", "192.0.2.50", "right", AUTH_OK) == THROTTLE_ASK, "source window over");
	throttle_free(&t);

	/* source_failures = off */
	t = make((struct kv[]){ { "source_failures", "off" }, { NULL, NULL } });
	for (int i = 0; i < 100; i++) {
		snprintf(user, sizeof user, "u%d", i);
		CHECK(login(t, user, "192.0.2.50", "pw", AUTH_REJECT) == THROTTLE_ASK, "off %d", i);
	}
	throttle_free(&t);
}

/* Concurrent checks reserve failures: with 4 left, only 4 logins in flight
 * may reach the directory; a reservation ends with its record, or lapses. */
static void test_reservations(void)
{
	struct throttle *t = make(defaults);

	login(t, "joe", "", "a", AUTH_REJECT);
	for (int i = 0; i < 3; i++)
		CHECK(throttle_check(t, "joe", "", "p", 1, FAR) == THROTTLE_ASK, "in flight %d", i);
	CHECK(throttle_check(t, "joe", "", "q", 1, FAR) == THROTTLE_WAIT,
	      "a fifth in flight waits: its password may be right");
	throttle_record(t, "joe", "", "p", 1, AUTH_UNAVAILABLE, false, FAR);
	CHECK(throttle_check(t, "joe", "", "q", 1, FAR) == THROTTLE_ASK, "released by a record");
	fake_now += THROTTLE_RESERVE_MS;
	CHECK(throttle_check(t, "joe", "", "r", 1, FAR) == THROTTLE_ASK, "lapsed reservations");
	throttle_record(t, "joe", "", "r", 1, AUTH_OK, false, FAR);
	throttle_free(&t);
}

struct race { struct throttle *t; int asked; };

static void *race_thread(void *arg)
{
	struct race *r = arg;
	char pw[32];

	for (int i = 0; i < 200; i++) {
		snprintf(pw, sizeof pw, "%p-%d", (void *)pthread_self(), i);
		if (throttle_check(r->t, "victim", "", pw, strlen(pw), FAR) == THROTTLE_ASK) {
			__atomic_add_fetch(&r->asked, 1, __ATOMIC_SEQ_CST);
			throttle_record(r->t, "victim", "", pw, strlen(pw), AUTH_REJECT, false, FAR);
		}
	}
	return NULL;
}

static void test_threads(void)
{
	struct race r = { make(defaults), 0 };
	pthread_t th[8];

	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, race_thread, &r);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	CHECK(r.asked == 4, "8 threads x 200 wrong passwords: %d reached the directory", r.asked);
	throttle_free(&r.t);
}

/* A spray of distinct user names: the table stays at max_tracked, the
 * oldest entries go first, live ones that go are counted. */
static void test_eviction(void)
{
	struct throttle *t = make((struct kv[]){ { "max_tracked", "64" },
						 { "source_failures", "off" }, { NULL, NULL } });
	struct throttle_stats st;
	char user[32];

	for (int i = 0; i < 4; i++)
		login(t, "target", "", i == 0 ? "a" : i == 1 ? "b" : i == 2 ? "c" : "d", AUTH_REJECT);
	CHECK(login(t, "target", "", "e", AUTH_REJECT) == THROTTLE_USER_BUDGET, "target spent");
	fake_now += 1;
	for (int i = 0; i < 20000; i++) {
		snprintf(user, sizeof user, "spray%d", i);
		login(t, user, "", "pw", AUTH_REJECT);
	}
	throttle_stats(t, &st);
	CHECK(st.evictions > 0, "live entries were evicted: %llu", (unsigned long long)st.evictions);
	CHECK(login(t, "target", "", "e", AUTH_REJECT) == THROTTLE_ASK,
	      "the oldest entry went first (documented limit of a full table)");
	snprintf(user, sizeof user, "spray%d", 19999);
	CHECK(throttle_check(t, user, "", "pw", 2, FAR) == THROTTLE_REPEAT, "the newest stays");
	throttle_free(&t);
}

static struct throttle *make_shared(const char *url, const char *key_file, const char *user_failures)
{
	struct throttle *t = make((struct kv[]){ { "store", url }, { "key_file", key_file },
						 { "user_failures", user_failures },
						 { "block_steps", "1s,3s" }, { NULL, NULL } });

	if (t != NULL)
		throttle_set_clock(t, NULL, NULL);  /* real time: Redis windows run on its clock */
	return t;
}

static void test_redis(void)
{
	int port = redis_free_port();
	char url[64], key_file[300];
	pid_t pid;
	struct throttle *a, *b;
	struct throttle_stats st;

	if (access(REDIS_BIN, X_OK) != 0) {
		CHECK(0, "%s is not installed (scripts/deps test)", REDIS_BIN);
		return;
	}
	snprintf(url, sizeof url, "redis://127.0.0.1:%d/3", port);
	snprintf(key_file, sizeof key_file, "%s/throttle.key", tmpdir);
	pid = redis_start(tmpdir, port, NULL);
	CHECK(redis_wait_port(port), "redis-server listening on %d", port);
	a = make_shared(url, key_file, "4/2s");
	b = make_shared(url, key_file, "4/2s");
	if (a == NULL || b == NULL)
		goto out;
	{
		struct stat sb;

		CHECK(stat(key_file, &sb) == 0 && (sb.st_mode & 077) == 0, "key_file created 0600");
	}
	/* Two instances share one budget and one repeat memory. */
	CHECK(login(a, "joe", "203.0.113.7", "w1", AUTH_REJECT) == THROTTLE_ASK, "a: 1");
	CHECK(login(b, "joe", "203.0.113.7", "w1", AUTH_REJECT) == THROTTLE_REPEAT,
	      "b sees a's failing password");
	CHECK(login(b, "joe", "203.0.113.7", "w2", AUTH_REJECT) == THROTTLE_ASK, "b: 2");
	CHECK(login(a, "joe", "203.0.113.7", "w3", AUTH_REJECT) == THROTTLE_ASK, "a: 3");
	CHECK(login(b, "joe", "203.0.113.7", "w4", AUTH_REJECT) == THROTTLE_ASK, "b: 4");
	CHECK(login(a, "joe", "203.0.113.7", "right", AUTH_OK) == THROTTLE_USER_BUDGET,
	      "a refuses after 2 + 2 failures");
	CHECK(login(b, "joe", "203.0.113.7", "right", AUTH_OK) == THROTTLE_USER_BUDGET, "b too");
	/* Reservations are shared. */
	CHECK(throttle_check(a, "ann", "", "x1", 2, FAR) == THROTTLE_ASK, "ann 1 in flight");
	CHECK(throttle_check(b, "ann", "", "x2", 2, FAR) == THROTTLE_ASK, "ann 2 in flight");
	CHECK(throttle_check(a, "ann", "", "x3", 2, FAR) == THROTTLE_ASK, "ann 3 in flight");
	CHECK(throttle_check(b, "ann", "", "x4", 2, FAR) == THROTTLE_ASK, "ann 4 in flight");
	CHECK(throttle_check(a, "ann", "", "x5", 2, FAR) == THROTTLE_WAIT,
	      "a fifth in flight on either instance waits");
	for (int i = 0; i < 4; i++)
		throttle_record(i % 2 ? b : a, "ann", "", "x", 2, AUTH_OK, false, FAR);
	CHECK(throttle_check(b, "ann", "", "x6", 2, FAR) == THROTTLE_ASK, "released");
	throttle_record(b, "ann", "", "x6", 2, AUTH_OK, false, FAR);
	/* Windows on Redis's clock. */
	usleep(2100 * 1000);
	CHECK(login(b, "joe", "203.0.113.7", "right", AUTH_OK) == THROTTLE_ASK,
	      "the shared window lapsed");
	CHECK(login(a, "joe", "203.0.113.7", "w1", AUTH_REJECT) == THROTTLE_ASK,
	      "success forgot the shared repeats");

	/* A request out of time skips Redis without taking it for down. */
	throttle_record(a, "zed", "", "z", 1, AUTH_REJECT, false, clock_now_ms() - 1);
	CHECK(login(b, "zed", "", "z", AUTH_REJECT) == THROTTLE_ASK, "past deadline: not in Redis");
	CHECK(login(a, "zed", "", "z", AUTH_REJECT) == THROTTLE_REPEAT,
	      "past deadline: a still asks Redis (no backoff)");

	/* Outage: per-instance state answers, at once, never refusing everyone. */
	redis_stop(pid);
	pid = -1;
	for (int i = 0; i < 3; i++) {
		char pw[8];

		snprintf(pw, sizeof pw, "o%d", i);
		CHECK(login(a, "sue", "", pw, AUTH_REJECT) == THROTTLE_ASK, "outage: failure %d asked", i);
	}
	CHECK(login(a, "sue", "", "o3", AUTH_REJECT) == THROTTLE_ASK, "outage: 4th asked");
	CHECK(login(a, "sue", "", "o4", AUTH_REJECT) == THROTTLE_USER_BUDGET,
	      "outage: the instance's own count still protects the directory");
	CHECK(login(a, "sue", "", "o0", AUTH_REJECT) == THROTTLE_REPEAT, "outage: repeats too");
	CHECK(login(a, "bob", "", "right", AUTH_OK) == THROTTLE_ASK, "outage: others are asked");
	throttle_stats(a, &st);
	CHECK(st.redis_failures >= 1, "redis failures counted: %llu",
	      (unsigned long long)st.redis_failures);
	/* Back: after the backoff, shared again. */
	pid = redis_start(tmpdir, port, NULL);
	redis_wait_port(port);  /* if it is not back, the two checks below fail */
	usleep((THROTTLE_REDIS_BACKOFF_MS + 100) * 1000);
	CHECK(login(b, "kim", "", "k1", AUTH_REJECT) == THROTTLE_ASK, "b after restart");
	CHECK(login(a, "kim", "", "k1", AUTH_REJECT) == THROTTLE_REPEAT, "a shares again");
out:
	throttle_free(&a);
	throttle_free(&b);
	redis_stop(pid);
}

static void test_tokens_store(void)
{
	/* store = tokens derives the key from [tokens] key_file; two instances
	 * created from the same config share repeats. No Redis needed to build. */
	char key_file[300];
	struct kv tk[] = { { "store", "redis://127.0.0.1:1/0" }, { "key_file", key_file },
			   { NULL, NULL } };
	struct dagate_config *cfg;
	struct conf_errors errors = { 0 };
	struct throttle *t = NULL;

	snprintf(key_file, sizeof key_file, "%s/token.key", tmpdir);
	cfg = config_with((struct kv[]){ { "store", "tokens" }, { NULL, NULL } }, tk);
	CHECK(throttle_create(cfg, &errors, &t) == 0, "store = tokens: %s",
	      errors.count ? errors.lines[0] : "");
	CHECK(access(key_file, F_OK) == 0, "the token key was created");
	/* Redis at port 1 is down: answers from memory, promptly. */
	if (t != NULL) {
		int64_t start = clock_now_ms();

		CHECK(login(t, "joe", "", "a", AUTH_REJECT) == THROTTLE_ASK, "down: asked");
		CHECK(login(t, "joe", "", "a", AUTH_REJECT) == THROTTLE_REPEAT, "down: memory repeat");
		CHECK(clock_now_ms() - start < 1000, "no waiting on a refused connection");
	}
	throttle_free(&t);
	conf_errors_clear(&errors);
	config_done(cfg);
}

int main(void)
{
	char tmpl[] = "/tmp/dagate-test-throttle-XXXXXX";

	if (mkdtemp(tmpl) == NULL)
		return 2;
	snprintf(tmpdir, sizeof tmpdir, "%s", tmpl);
	log_set_level(LOG_LEVEL_ERROR);
	test_parse_budget();
	test_source_key();
	test_verdict_names();
	test_config_errors();
	test_user_budget();
	test_window_restarts();
	test_repeat();
	test_success_resets();
	test_nothing_counted();
	test_unanswered_counts();
	test_lockout_derived_budget();
	test_source_payback_and_trusted();
	test_source_budget();
	test_reservations();
	test_threads();
	test_eviction();
	test_tokens_store();
	test_redis();
	{
		char cmd[300];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	return unit_done("test_throttle");
}
