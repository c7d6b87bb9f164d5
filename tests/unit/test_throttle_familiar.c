/*
 * The throttle's familiar networks and growing blocks (throttle.h), with
 * an injected clock: a success makes the source's /24 (IPv6 /64) familiar
 * to the user; failures from elsewhere spend a smaller budget whose
 * exhaustion never refuses the familiar networks; a tripped budget blocks
 * for the next of block_steps (never less than the window), reset by a
 * success; the operator's view and lift. Then the same rules shared by two
 * instances through a real redis-server.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "redis_server.h"
#include "throttle.h"
#include "throttle_fixture.h"
#include "unit.h"

#define HOME "203.0.113.10"          /* the user's office */
#define HOME_TOO "203.0.113.200"     /* the same /24 */
#define SEC 1000LL

static void test_network_key(void)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "203.0.113.77", "203.0.113.0/24" },
		{ "10.1.2.3", "10.1.2.0/24" },
		{ "::ffff:10.1.2.3", "10.1.2.0/24" },
		{ "2001:db8:1:2:3::4", "2001:db8:1:2::/64" },
		{ "not-an-address", "not-an-address" },
	};
	char out[64];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		throttle_network_key(cases[i].in, out, sizeof out);
		CHECK(strcmp(out, cases[i].out) == 0, "network of %s: %s", cases[i].in, out);
	}
}

static void test_parse_steps(void)
{
	int64_t steps[8];
	unsigned n = 0;

	CHECK(throttle_parse_steps("1m,5m,15m,1h", steps, &n) == 0 && n == 4 &&
	      steps[0] == MIN && steps[3] == 60 * MIN, "the default");
	CHECK(throttle_parse_steps("1s, 1s ,2s", steps, &n) == 0 && n == 3, "blanks, equal steps");
	CHECK(throttle_parse_steps("30s", steps, &n) == 0 && n == 1, "one step");
	CHECK(throttle_parse_steps("5m,1m", steps, &n) < 0, "a step shorter than the one before");
	CHECK(throttle_parse_steps("", steps, &n) < 0, "empty");
	CHECK(throttle_parse_steps("500ms", steps, &n) < 0, "under a second");
	CHECK(throttle_parse_steps("25h", steps, &n) < 0, "over a day");
	CHECK(throttle_parse_steps("1s,2s,3s,4s,5s,6s,7s,8s,9s", steps, &n) < 0, "nine steps");
	CHECK(throttle_parse_steps("1m;5m", steps, &n) < 0, "not a list");
}

static void test_config_errors(void)
{
	static const struct { const char *key, *value, *user, *want; } cases[] = {
		{ "unfamiliar_failures", "4", "4/15m", "must be below the user budget (4)" },
		{ "unfamiliar_failures", "2", "off", "needs a user budget" },
		{ "block_steps", "5m,1m", "4/15m", "'block_steps' must be" },
		{ "familiar_for", "400d", "4/15m", "familiar_for" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct dagate_config *cfg = config_with((struct kv[]){
			{ cases[i].key, cases[i].value }, { "user_failures", cases[i].user },
			{ NULL, NULL } }, NULL);
		struct conf_errors errors = { 0 };
		int n = throttle_config_validate(cfg, &errors);

		CHECK(n == 1 && strstr(errors.lines[0], cases[i].want) != NULL &&
		      strstr(errors.lines[0], "test.conf:") != NULL,
		      "%s = %s: %d errors, %s", cases[i].key, cases[i].value, n,
		      n > 0 ? errors.lines[0] : "none");
		conf_errors_clear(&errors);
		config_done(cfg);
	}
	{
		struct dagate_config *cfg = config_with((struct kv[]){
			{ "unfamiliar_failures", "1" }, { "familiar_for", "0s" }, { NULL, NULL } }, NULL);
		struct conf_errors errors = { 0 };

		CHECK(throttle_config_validate(cfg, &errors) == 1 &&
		      strstr(errors.lines[0], "no effect with familiar_for = 0s") != NULL,
		      "unfamiliar_failures without familiar networks");
		conf_errors_clear(&errors);
		config_done(cfg);
	}
}

/* A stranger who knows joe's name spends the unfamiliar budget (2 of 4);
 * joe's office network still has the rest, and its success resets all. */
static void test_unfamiliar_budget(void)
{
	struct throttle *t = make((struct kv[]){ { "user_failures", "4/15m" },
						 { "source_failures", "off" },
						 { "repeat_window", "0s" }, { NULL, NULL } });
	struct throttle_state st;
	struct throttle_stats stats;

	if (t == NULL)
		return;
	CHECK(login(t, "joe", HOME, "right", AUTH_OK) == THROTTLE_ASK, "joe at the office");
	CHECK(login(t, "joe", "198.51.100.1", "g1", AUTH_REJECT) == THROTTLE_ASK, "stranger 1");
	CHECK(login(t, "joe", "198.51.101.1", "g2", AUTH_REJECT) == THROTTLE_ASK, "stranger 2");
	for (int i = 0; i < 50; i++) {
		char ip[32];

		snprintf(ip, sizeof ip, "192.0.%d.9", i);
		CHECK(login(t, "joe", ip, "g", AUTH_REJECT) == THROTTLE_UNFAMILIAR,
		      "stranger %d refused without a backend", i + 3);
	}
	CHECK(throttle_state(t, 'u', "joe", HOME_TOO, false, FAR, &st) == 0 && st.source_familiar,
	      "the office's /24 is familiar to joe");
	CHECK(throttle_state(t, 'u', "joe", "198.51.100.1", false, FAR, &st) == 0 &&
	      !st.source_familiar, "a stranger's is not");
	CHECK(throttle_state(t, 'u', "ann", HOME_TOO, false, FAR, &st) == 0 && !st.source_familiar,
	      "nor is joe's office familiar to ann");
	CHECK(throttle_state(t, 'u', "joe", NULL, false, FAR, &st) == 0 && st.failures == 2 &&
	      st.unfamiliar_failures == 2 && st.unfamiliar_budget == 2 &&
	      st.familiar_networks == 1 && st.unfamiliar_blocked && !st.blocked &&
	      st.unfamiliar_block_ms == 15 * MIN, "state: %u/%u unfamiliar, block %lld ms",
	      st.unfamiliar_failures, st.unfamiliar_budget, (long long)st.unfamiliar_block_ms);
	/* A typo at the office is still asked, and the right password works. */
	CHECK(login(t, "joe", HOME_TOO, "typo", AUTH_REJECT) == THROTTLE_ASK, "office typo asked");
	CHECK(login(t, "joe", HOME_TOO, "right", AUTH_OK) == THROTTLE_ASK, "office: true");
	CHECK(login(t, "joe", "198.51.100.1", "g3", AUTH_REJECT) == THROTTLE_ASK,
	      "the success reset the unfamiliar budget and its block");
	throttle_stats(t, &stats);
	CHECK(stats.throttled_unfamiliar == 50 && stats.blocks_unfamiliar == 1 &&
	      stats.blocks_user == 0 && stats.familiar_hits == 2,
	      "stats: %llu unfamiliar, %llu blocks, %llu familiar hits",
	      (unsigned long long)stats.throttled_unfamiliar,
	      (unsigned long long)stats.blocks_unfamiliar, (unsigned long long)stats.familiar_hits);

	/* The user budget still counts everything: 2 strangers + 2 office
	 * typos and everyone is refused (the directory must not see a 5th). */
	CHECK(login(t, "joe", "198.51.100.1", "g4", AUTH_REJECT) == THROTTLE_ASK, "stranger 2 again");
	CHECK(login(t, "joe", HOME, "t1", AUTH_REJECT) == THROTTLE_ASK, "office typo 1");
	CHECK(login(t, "joe", HOME, "t2", AUTH_REJECT) == THROTTLE_ASK, "office typo 2");
	CHECK(login(t, "joe", HOME, "right", AUTH_OK) == THROTTLE_USER_BUDGET,
	      "4 failures in all: the office too is refused");

	/* A user with no familiar network has the user budget alone. */
	for (int i = 0; i < 4; i++)
		CHECK(login(t, "ann", i % 2 ? HOME : "198.51.100.7", "w", AUTH_REJECT) == THROTTLE_ASK,
		      "ann %d", i + 1);
	CHECK(login(t, "ann", HOME, "right", AUTH_OK) == THROTTLE_USER_BUDGET, "ann refused");
	throttle_free(&t);
}

/* Familiarity lapses after familiar_for; IPv6 counts by /64. */
static void test_familiar_for(void)
{
	struct throttle *t = make((struct kv[]){ { "user_failures", "4/15m" },
						 { "familiar_for", "1h" },
						 { "unfamiliar_failures", "1" },
						 { "repeat_window", "0s" }, { NULL, NULL } });

	if (t == NULL)
		return;
	CHECK(login(t, "kim", "2001:db8:1:2::10", "right", AUTH_OK) == THROTTLE_ASK, "kim v6");
	CHECK(login(t, "kim", "2001:db8:9:9::1", "g", AUTH_REJECT) == THROTTLE_ASK, "other /64");
	CHECK(login(t, "kim", "2001:db8:9:9::2", "g", AUTH_REJECT) == THROTTLE_UNFAMILIAR,
	      "unfamiliar budget of 1 spent");
	CHECK(login(t, "kim", "2001:db8:1:2:ffff::1", "w", AUTH_REJECT) == THROTTLE_ASK,
	      "the same /64 is familiar");
	fake_now += 2 * 60 * MIN;     /* the count, the block and the familiarity all lapse */
	CHECK(login(t, "kim", "2001:db8:9:9::3", "g", AUTH_REJECT) == THROTTLE_ASK, "new start");
	CHECK(login(t, "kim", "2001:db8:9:9::4", "g", AUTH_REJECT) == THROTTLE_ASK,
	      "no familiar network any more: the user budget alone");
	throttle_free(&t);
}

/* Blocks grow 1m, 5m, then 5m again (the last step repeats); never shorter
 * than the window; a success starts the ladder again. */
static void test_growing_blocks(void)
{
	struct throttle *t = make((struct kv[]){ { "user_failures", "2/10s" },
						 { "block_steps", "1m,5m" },
						 { "source_failures", "off" },
						 { "repeat_window", "0s" }, { NULL, NULL } });
	static const int64_t want[] = { MIN, 5 * MIN, 5 * MIN };
	struct throttle_state st;
	struct throttle_stats stats;

	if (t == NULL)
		return;
	for (int trip = 0; trip < 3; trip++) {
		CHECK(login(t, "lee", "198.51.100.1", "a", AUTH_REJECT) == THROTTLE_ASK, "trip %d: 1", trip);
		CHECK(login(t, "lee", "198.51.100.1", "b", AUTH_REJECT) == THROTTLE_ASK, "trip %d: 2", trip);
		CHECK(throttle_state(t, 'u', "lee", NULL, false, FAR, &st) == 0 && st.blocked &&
		      st.block_ms == want[trip] && st.blocks == (unsigned)trip + 1,
		      "trip %d blocks for %lld ms (want %lld), %u blocks", trip,
		      (long long)st.block_ms, (long long)want[trip], st.blocks);
		fake_now += want[trip] - SEC;
		CHECK(login(t, "lee", "198.51.100.1", "right", AUTH_OK) == THROTTLE_USER_BUDGET,
		      "trip %d: still blocked a second before the end", trip);
		fake_now += 2 * SEC;
		CHECK(throttle_check(t, "lee", "198.51.100.1", "x", 1, FAR) == THROTTLE_ASK,
		      "trip %d: asked again after the block", trip);
		throttle_record(t, "lee", "198.51.100.1", "x", 1, AUTH_UNAVAILABLE, false, FAR);
	}
	/* A success: the next block is the first step again. */
	CHECK(login(t, "lee", "198.51.100.1", "right", AUTH_OK) == THROTTLE_ASK, "success");
	login(t, "lee", "198.51.100.1", "a", AUTH_REJECT);
	login(t, "lee", "198.51.100.1", "b", AUTH_REJECT);
	CHECK(throttle_state(t, 'u', "lee", NULL, false, FAR, &st) == 0 && st.block_ms == MIN &&
	      st.blocks == 1, "after a success the ladder starts again: %lld", (long long)st.block_ms);
	/* The operator's lift ends the block and the ladder. */
	CHECK(throttle_state(t, 'u', "lee", NULL, true, FAR, &st) == 0 && !st.blocked && st.blocks == 0,
	      "lifted");
	CHECK(login(t, "lee", "198.51.100.1", "right", AUTH_OK) == THROTTLE_ASK, "asked after lift");
	throttle_stats(t, &stats);
	CHECK(stats.blocks_user == 4, "4 blocks counted: %llu", (unsigned long long)stats.blocks_user);
	throttle_free(&t);

	/* A step shorter than the window blocks for the window. */
	t = make((struct kv[]){ { "user_failures", "1/10m" }, { "block_steps", "1m" },
				{ "repeat_window", "0s" }, { NULL, NULL } });
	if (t == NULL)
		return;
	login(t, "max", "198.51.100.1", "a", AUTH_REJECT);
	CHECK(throttle_state(t, 'u', "max", NULL, false, FAR, &st) == 0 && st.block_ms == 10 * MIN,
	      "the block is the window: %lld", (long long)st.block_ms);
	throttle_free(&t);
}

/* Logins in flight from unfamiliar networks hold the unfamiliar budget:
 * a third waits, while the office is asked at once. */
static void test_unfamiliar_reservations(void)
{
	struct throttle *t = make((struct kv[]){ { "user_failures", "4/15m" }, { NULL, NULL } });

	if (t == NULL)
		return;
	CHECK(login(t, "eve", HOME, "right", AUTH_OK) == THROTTLE_ASK, "eve at the office");
	CHECK(throttle_check(t, "eve", "198.51.100.1", "a", 1, FAR) == THROTTLE_ASK, "away 1");
	CHECK(throttle_check(t, "eve", "198.51.100.2", "b", 1, FAR) == THROTTLE_ASK, "away 2");
	CHECK(throttle_check(t, "eve", "198.51.100.3", "c", 1, FAR) == THROTTLE_WAIT,
	      "a third from away waits");
	CHECK(throttle_check(t, "eve", HOME, "d", 1, FAR) == THROTTLE_ASK, "the office does not");
	throttle_record(t, "eve", HOME, "d", 1, AUTH_OK, false, FAR);
	throttle_record(t, "eve", "198.51.100.1", "a", 1, AUTH_OK, false, FAR);
	throttle_record(t, "eve", "198.51.100.2", "b", 1, AUTH_OK, false, FAR);
	throttle_free(&t);
}

/* Two instances, one redis-server: familiar networks, unfamiliar budget,
 * blocks and lifts are shared. */
static void test_shared(void)
{
	int port = redis_free_port();
	char url[64], key_file[300];
	struct throttle *a = NULL, *b = NULL;
	struct throttle_state st;
	struct throttle_stats stats;
	pid_t pid;

	if (access(REDIS_BIN, X_OK) != 0) {
		CHECK(0, "%s is not installed (scripts/deps test)", REDIS_BIN);
		return;
	}
	snprintf(url, sizeof url, "redis://127.0.0.1:%d/4", port);
	snprintf(key_file, sizeof key_file, "%s/throttle.key", tmpdir);
	pid = redis_start(tmpdir, port, NULL);
	CHECK(redis_wait_port(port), "redis-server listening on %d", port);
	for (int i = 0; i < 2; i++) {
		struct throttle *t = make((struct kv[]){
			{ "store", url }, { "key_file", key_file }, { "user_failures", "4/2s" },
			{ "block_steps", "3s" }, { "repeat_window", "0s" }, { NULL, NULL } });

		if (t != NULL)
			throttle_set_clock(t, NULL, NULL);   /* Redis runs on its own clock */
		*(i == 0 ? &a : &b) = t;
	}
	if (a == NULL || b == NULL)
		goto out;
	CHECK(login(a, "joe", HOME, "right", AUTH_OK) == THROTTLE_ASK, "joe at the office via a");
	CHECK(login(b, "joe", "198.51.100.1", "g", AUTH_REJECT) == THROTTLE_ASK, "b: stranger 1");
	CHECK(login(a, "joe", "198.51.100.2", "g", AUTH_REJECT) == THROTTLE_ASK, "a: stranger 2");
	CHECK(login(b, "joe", "198.51.100.3", "g", AUTH_REJECT) == THROTTLE_UNFAMILIAR,
	      "b knows a's familiar network and the strangers' count");
	CHECK(login(b, "joe", HOME_TOO, "right", AUTH_OK) == THROTTLE_ASK,
	      "b lets the office in (familiar through Redis)");
	login(a, "joe", "198.51.100.1", "g", AUTH_REJECT);
	login(b, "joe", "198.51.100.1", "g", AUTH_REJECT);
	CHECK(throttle_state(b, 'u', "joe", HOME, false, FAR, &st) == 0 && st.shared &&
	      st.source_familiar, "b: the office is familiar (shared)");
	CHECK(throttle_state(b, 'u', "joe", "198.51.100.1", false, FAR, &st) == 0 && st.shared &&
	      !st.source_familiar, "b: a stranger's network is not");
	CHECK(throttle_state(b, 'u', "joe", NULL, false, FAR, &st) == 0 && st.shared &&
	      st.unfamiliar_blocked && st.familiar_networks == 1 && st.unfamiliar_failures == 2 &&
	      st.unfamiliar_block_ms > 2000, "b's view: %u unfamiliar, block %lld ms",
	      st.unfamiliar_failures, (long long)st.unfamiliar_block_ms);
	CHECK(throttle_state(a, 'u', "joe", NULL, true, FAR, &st) == 0 && st.shared &&
	      !st.unfamiliar_blocked && st.familiar_networks == 1, "a lifts");
	CHECK(login(b, "joe", "198.51.100.1", "g", AUTH_REJECT) == THROTTLE_ASK,
	      "b sees the lift");
	throttle_stats(a, &stats);
	CHECK(stats.blocks_unfamiliar == 1, "a started one unfamiliar block: %llu",
	      (unsigned long long)stats.blocks_unfamiliar);
	/* The block outlasts the 2 s window: 3 s. */
	login(a, "kim", "198.51.100.1", "1", AUTH_REJECT);
	login(a, "kim", "198.51.100.1", "2", AUTH_REJECT);
	login(b, "kim", "198.51.100.1", "3", AUTH_REJECT);
	login(b, "kim", "198.51.100.1", "4", AUTH_REJECT);
	usleep(2300 * 1000);
	CHECK(login(a, "kim", "198.51.100.1", "right", AUTH_OK) == THROTTLE_USER_BUDGET,
	      "the window lapsed but the 3 s block did not");
	usleep(1000 * 1000);
	CHECK(login(b, "kim", "198.51.100.1", "right", AUTH_OK) == THROTTLE_ASK, "block over");
out:
	throttle_free(&a);
	throttle_free(&b);
	redis_stop(pid);
}

int main(void)
{
	char tmpl[] = "/tmp/dagate-test-familiar-XXXXXX";

	if (mkdtemp(tmpl) == NULL)
		return 2;
	snprintf(tmpdir, sizeof tmpdir, "%s", tmpl);
	log_set_level(LOG_LEVEL_ERROR);
	test_network_key();
	test_parse_steps();
	test_config_errors();
	test_unfamiliar_budget();
	test_familiar_for();
	test_growing_blocks();
	test_unfamiliar_reservations();
	test_shared();
	{
		char cmd[300];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	return unit_done("test_throttle_familiar");
}
