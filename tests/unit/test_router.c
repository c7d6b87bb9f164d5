/*
 * The decision rules: username mapping, route matching, provider chaining,
 * and rule 1 (nothing empty reaches a provider), with `static` providers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decider.h"
#include "clock.h"
#include "router.h"
#include "unit.h"

/* Plan, then decide: what the endpoint and test-user do. */
static void decide(struct router *router, const struct auth_request *req,
		   const char *only_provider, struct decision *d)
{
	struct router_plan plan;

	router_plan(router, req->username, req->password, req->password_len, &plan);
	router_decide(router, &plan, req, only_provider, d);
}

static void test_map(void)
{
	char *suffixes[] = { ".uat", ".dev", NULL };
	struct usermap_config lower = { .lowercase = true, .strip_suffix = suffixes };
	struct usermap_config keep = { .lowercase = false, .strip_suffix = NULL };
	const struct {
		const struct usermap_config *map;
		const char *in, *want;
	} cases[] = {
		{ &lower, "Joe@Corp.Example", "joe@corp.example" },
		{ &lower, "joe@corp.example.uat", "joe@corp.example" },
		{ &lower, "JOE@CORP.EXAMPLE.DEV", "joe@corp.example" },
		{ &lower, "joe@corp.example.uat.dev", "joe@corp.example.uat" }, /* one suffix only */
		{ &lower, ".uat", ".uat" },          /* never strip to nothing */
		{ &lower, "joe@corp.uatx", "joe@corp.uatx" },
		{ &lower, " joe ", " joe " },        /* nothing trimmed */
		{ &lower, "Jörg@corp.example", "jörg@corp.example" }, /* UTF-8 bytes kept */
		{ &keep, "Joe@Corp.Example.uat", "Joe@Corp.Example.uat" },
	};
	char out[MAPPED_USER_MAX + 1];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CHECK(usermap_apply(cases[i].map, cases[i].in, out, sizeof out) == 0,
		      "map %s", cases[i].in);
		CHECK_STR(out, cases[i].want, cases[i].in);
	}
	{
		char longname[MAPPED_USER_MAX + 10];

		memset(longname, 'a', sizeof longname - 1);
		longname[sizeof longname - 1] = '\0';
		CHECK(usermap_apply(&lower, longname, out, sizeof out) < 0,
		      "an over-long name is refused");
	}
}

static void test_match(void)
{
	char *p1[] = { "a", NULL }, *p2[] = { "b", NULL }, *p3[] = { "c", NULL };
	struct route_rule rules[] = {
		{ "*@corp.example", p1, 1 },
		{ "admin*", p2, 2 },
		{ "*", p3, 3 },
	};
	static const struct { const char *user; int line; } cases[] = {
		{ "joe@corp.example", 1 },
		{ "admin@corp.example", 1 },   /* first match wins */
		{ "admin@other.example", 2 },
		{ "x", 3 },
		{ "joe@corp.example.evil", 3 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct route_rule *r = router_match(rules, 3, cases[i].user);

		CHECK(r != NULL && r->line == cases[i].line, "%s matched line %d, want %d",
		      cases[i].user, r ? r->line : 0, cases[i].line);
	}
	CHECK(router_match(rules, 2, "nobody@else") == NULL, "no match -> NULL");
}

static const char decide_conf[] =
	"[server]\nlisten = 127.0.0.1:0\n"
	"[map]\nstrip_suffix = .uat\n"
	"[route]\n"
	"match = ok* -> yes\n"
	"match = no* -> no\n"
	"match = failover* -> down, yes\n"
	"match = stop* -> no, yes\n"
	"match = dead* -> down, down2\n"
	"match = slow* -> slow\n"
	"match = *@routed.example -> yes\n"
	"[provider yes]\ntype = static\nresult = true\n"
	"[provider no]\ntype = static\nresult = false\n"
	"[provider down]\ntype = static\nresult = unavailable\n"
	"[provider down2]\ntype = static\nresult = unavailable\n"
	"[provider slow]\ntype = static\nresult = true\ndelay = 5s\n";

static void test_decide(void)
{
	char dir[] = "/tmp/test_router.XXXXXX", path[256];
	struct dagate_config *cfg = NULL;
	struct provider_set *set = NULL;
	struct router *router = NULL;
	struct conf_errors errors = { 0 };
	static const struct {
		const char *user, *password;
		enum answer answer;
		const char *outcome, *provider;
	} cases[] = {
		{ "ok1@x.test", "pw", ANSWER_TRUE, "ok", "yes" },
		{ "OK2@x.test.uat", "pw", ANSWER_TRUE, "ok", "yes" },
		{ "no1@x.test", "pw", ANSWER_FALSE, "reject", "no" },
		{ "failover1@x.test", "pw", ANSWER_TRUE, "ok", "yes" },  /* unavailable -> next */
		{ "stop1@x.test", "pw", ANSWER_FALSE, "reject", "no" },  /* reject -> no next */
		{ "dead1@x.test", "pw", ANSWER_FAULT, "unavailable", "down2" }, /* none left */
		{ "ok3@x.test", "", ANSWER_FALSE, "empty_password", "-" },
		{ "", "pw", ANSWER_FALSE, "empty_username", "-" },
		{ "unrouted@x.test", "pw", ANSWER_FALSE, "no_route", "-" },
		/* Not a Salesforce username: no provider, whatever the route. */
		{ " ok4@x.test", "pw", ANSWER_FALSE, "bad_username", "-" },
		{ "ok4@x.test ", "pw", ANSWER_FALSE, "bad_username", "-" },
		{ "ok4 @x.test", "pw", ANSWER_FALSE, "bad_username", "-" },
		{ "ok4\xc2\xa0@x.test", "pw", ANSWER_FALSE, "bad_username", "-" },  /* NBSP */
		{ "ok4\xe2\x80\x8b@x.test", "pw", ANSWER_FALSE, "bad_username", "-" }, /* ZWSP */
		{ "ok4\xe2\x80\xa8@x.test", "pw", ANSWER_FALSE, "bad_username", "-" }, /* U+2028 */
		{ "ok4", "pw", ANSWER_FALSE, "bad_username", "-" },
		{ "ok4@", "pw", ANSWER_FALSE, "bad_username", "-" },
		{ "@x.test", "pw", ANSWER_FALSE, "bad_username", "-" },
		{ "ok4@x@x.test", "pw", ANSWER_FALSE, "bad_username", "-" },
		{ "ok4<x>@x.test", "pw", ANSWER_FALSE, "bad_username", "-" },
		{ "ok4(x)@x.test", "pw", ANSWER_FALSE, "bad_username", "-" },
		{ "ok4\"@x.test", "pw", ANSWER_FALSE, "bad_username", "-" },
		{ "ok4\\@x.test", "pw", ANSWER_FALSE, "bad_username", "-" },
		{ "ok4\xff@x.test", "pw", ANSWER_FALSE, "bad_username", "-" },
		{ "ok5+tag@x.test", "pw", ANSWER_TRUE, "ok", "yes" },
		{ "ok6.o'neil@x.test", "pw", ANSWER_TRUE, "ok", "yes" },
		{ "ok7.j\xc3\xb6rg@x.test", "pw", ANSWER_TRUE, "ok", "yes" },
		{ "joe@routed.example", "   ", ANSWER_TRUE, "ok", "yes" }, /* spaces are a password */
	};
	FILE *f;

	if (mkdtemp(dir) == NULL)
		return;
	snprintf(path, sizeof path, "%s/d.conf", dir);
	f = fopen(path, "w");
	fputs(decide_conf, f);
	fclose(f);
	CHECK(decider_config_load(path, &cfg, &errors) == 0, "config loads (%zu errors: %s)",
	      errors.count, errors.count ? errors.lines[0] : "");
	if (cfg == NULL)
		goto out;
	CHECK(provider_set_parse(cfg, &errors, &set) == 0, "providers");
	CHECK(set != NULL && provider_set_start(set, cfg, &errors) == 0, "providers start");
	CHECK(router_create(cfg, set, NULL, NULL, &errors, &router) == 0, "router");
	if (router == NULL)
		goto out;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct auth_request req = {
			.username = cases[i].user, .password = cases[i].password,
			.password_len = strlen(cases[i].password), .source_ip = "203.0.113.7",
			.request_id = "t", .deadline_ms = clock_now_ms() + 2000,
		};
		struct decision d;

		decide(router, &req, NULL, &d);
		CHECK(d.answer == cases[i].answer, "%s: answer %d, want %d", cases[i].user,
		      d.answer, cases[i].answer);
		CHECK_STR(outcome_name(d.outcome), cases[i].outcome, cases[i].user);
		CHECK_STR(d.provider, cases[i].provider, cases[i].user);
	}
	{
		/* A provider slower than the deadline: a fault, on time. */
		struct auth_request req = {
			.username = "slow1@x.test", .password = "pw", .password_len = 2,
			.source_ip = "", .request_id = "t",
			.deadline_ms = clock_now_ms() + 200,
		};
		struct decision d;
		int64_t started = clock_now_ms();

		decide(router, &req, NULL, &d);
		CHECK(d.answer == ANSWER_FAULT, "slow provider -> fault");
		CHECK(clock_now_ms() - started < 1000, "the deadline cut the delay");
	}
	{
		/* The plan: rules 1 and 4 answer at once; a route is planned once. */
		struct router_plan plan;

		router_plan(router, "ok3@x.test", "", 0, &plan);
		CHECK(plan.kind == PLAN_ANSWERED && plan.early == OUTCOME_EMPTY_PASSWORD &&
		      plan.at_once, "empty password planned as answered");
		router_plan(router, "unrouted@x.test", "pw", 2, &plan);
		CHECK(plan.kind == PLAN_ANSWERED && plan.early == OUTCOME_NO_ROUTE && plan.at_once,
		      "no route planned as answered");
		router_plan(router, "OK2@x.test.uat", "pw", 2, &plan);
		CHECK(plan.kind == PLAN_ROUTE && plan.route != NULL &&
		      strcmp(plan.mapped_user, "ok2@x.test") == 0, "route planned for the mapped user");
		router_plan(router, " ok2@x.test", "pw", 2, &plan);
		CHECK(plan.kind == PLAN_ANSWERED && plan.early == OUTCOME_BAD_USERNAME &&
		      plan.at_once && plan.early_detail != NULL,
		      "a name with a space planned as answered, with the reason");
	}
	{
		/* test-user --provider skips routing. */
		struct auth_request req = {
			.username = "no1@x.test", .password = "pw", .password_len = 2,
			.source_ip = "", .request_id = "t",
			.deadline_ms = clock_now_ms() + 2000,
		};
		struct decision d;

		decide(router, &req, "yes", &d);
		CHECK(d.answer == ANSWER_TRUE, "only_provider overrides the route");
		decide(router, &req, "nosuch", &d);
		CHECK(d.answer == ANSWER_FAULT, "unknown only_provider -> fault");
	}
out:
	router_free(&router);
	provider_set_free(&set);
	config_free(&cfg);
	conf_errors_clear(&errors);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	test_map();
	test_match();
	test_decide();
	return unit_done("test_router");
}
