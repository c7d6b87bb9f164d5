/*
 * Decision rules for one Authenticate (DESIGN.md): see router.h.
 */
#include "router.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "log.h"
#include "throttle.h"
#include "tokens.h"

struct route {
	const struct route_rule *rule;
	struct provider **providers;  /* NULL-terminated */
	unsigned lane;                /* see router_plan.lane */
};

struct router {
	const struct usermap_config *map;
	struct provider_set *providers;
	struct route *routes;
	size_t route_count;
	const struct route_rule *rules;
	struct token_issuer *tokens;  /* NULL: tokens disabled */
	struct throttle *throttle;    /* NULL: no throttling */
};

/* Lane 0: the token store; lane 1 + i: the set's i-th provider. */
static unsigned provider_lane(struct provider_set *set, const struct provider *p)
{
	for (size_t i = 0; i < provider_set_count(set); i++)
		if (provider_set_at(set, i) == p)
			return (unsigned)i + 1;
	return 0;
}

bool router_ready(const struct router *router, char *down, size_t size)
{
	size_t used = 0;
	bool ready = true;

	if (size > 0)
		down[0] = '\0';
	for (size_t i = 0; i < router->route_count; i++) {
		const struct route *r = &router->routes[i];
		bool any_up = false;

		for (struct provider *const *p = r->providers; *p != NULL && !any_up; p++)
			any_up = !atomic_load(&(*p)->last_unavailable);
		if (any_up)
			continue;
		ready = false;
		if (used < size) {
			int n = snprintf(down + used, size - used, "%sline %d (%s):", used > 0 ? "; " : "",
					 r->rule->line, r->rule->pattern);

			used += n > 0 ? (size_t)n : 0;
			for (struct provider *const *p = r->providers; *p != NULL && used < size; p++) {
				n = snprintf(down + used, size - used, " %s", (*p)->name);
				used += n > 0 ? (size_t)n : 0;
			}
		}
	}
	return ready;
}

unsigned router_lanes(const struct router *router)
{
	return (unsigned)provider_set_count(router->providers) + 1;
}

int router_create(const struct dagate_config *cfg, struct provider_set *providers,
		  struct token_issuer *tokens, struct throttle *throttle,
		  struct conf_errors *errors, struct router **router_r)
{
	struct router *r = calloc(1, sizeof *r);

	*router_r = NULL;
	if (r == NULL)
		return -1;
	r->map = &cfg->map;
	r->tokens = tokens;
	r->throttle = throttle;
	r->providers = providers;
	r->rules = cfg->routes;
	r->routes = calloc(cfg->route_count ? cfg->route_count : 1, sizeof *r->routes);
	if (r->routes == NULL) {
		free(r);
		return -1;
	}
	for (size_t i = 0; i < cfg->route_count; i++) {
		const struct route_rule *rule = &cfg->routes[i];
		size_t n = 0;

		while (rule->providers[n] != NULL)
			n++;
		r->routes[i].rule = rule;
		r->routes[i].providers = calloc(n + 1, sizeof(struct provider *));
		r->route_count++;
		if (r->routes[i].providers == NULL) {
			router_free(&r);
			return -1;
		}
		for (size_t j = 0; j < n; j++) {
			struct provider *p = provider_set_find(providers, rule->providers[j]);

			if (p == NULL) {
				conf_error_at(errors, cfg->path, rule->line,
					      "route to unknown provider '%s'", rule->providers[j]);
				router_free(&r);
				return -1;
			}
			r->routes[i].providers[j] = p;
		}
		r->routes[i].lane = n > 0 ? provider_lane(providers, r->routes[i].providers[0]) : 0;
	}
	*router_r = r;
	return 0;
}

struct provider_set *router_providers(const struct router *router)
{
	return router->providers;
}

void router_free(struct router **rp)
{
	struct router *r = *rp;

	if (r == NULL)
		return;
	for (size_t i = 0; i < r->route_count; i++)
		free(r->routes[i].providers);
	free(r->routes);
	free(r);
	*rp = NULL;
}

const struct route_rule *router_match(const struct route_rule *rules, size_t count,
				      const char *mapped)
{
	for (size_t i = 0; i < count; i++)
		if (fnmatch(rules[i].pattern, mapped, 0) == 0)
			return &rules[i];
	return NULL;
}

static void decide_final(struct decision *out, enum answer answer,
			 enum auth_result result, enum outcome outcome)
{
	out->answer = answer;
	out->result = result;
	out->outcome = outcome;
}

/* Ask the providers of one route in order (rule 5). */
static void decide_providers(struct provider *const *providers,
			     const struct auth_request *mapped_req,
			     struct decision *out)
{
	for (size_t i = 0; providers[i] != NULL; i++) {
		struct provider *p = providers[i];
		const char *detail = NULL;
		enum auth_result result;

		if (clock_left_ms(mapped_req->deadline_ms) == 0)
			break;
		auth_trace_step(mapped_req, "asking provider %s (type %s)", p->name,
				p->type->name);
		result = provider_call(p, mapped_req, &detail);
		out->provider = p->name;
		out->detail = detail;
		auth_trace_step(mapped_req, "provider %s answered %s%s%s", p->name,
				auth_result_name(result), detail ? ": " : "",
				detail ? detail : "");
		switch (result) {
		case AUTH_OK:
			decide_final(out, ANSWER_TRUE, result, OUTCOME_OK);
			return;
		case AUTH_REJECT:
		case AUTH_UNKNOWN_USER:
		case AUTH_LOCKED:
			decide_final(out, ANSWER_FALSE, result, outcome_of_result(result));
			return;
		case AUTH_ERROR:
			decide_final(out, ANSWER_FAULT, result, OUTCOME_ERROR);
			return;
		case AUTH_UNAVAILABLE:
			decide_final(out, ANSWER_FAULT, result, OUTCOME_UNAVAILABLE);
			break;  /* rule 5: the next provider */
		}
	}
	if (clock_left_ms(mapped_req->deadline_ms) == 0) {
		decide_final(out, ANSWER_FAULT, AUTH_UNAVAILABLE, OUTCOME_DEADLINE);
		if (out->detail == NULL)
			out->detail = "deadline reached";
	}
}

static bool route_never_blocks(const struct router *router, const struct route *route)
{
	if (router->throttle != NULL && throttle_may_block(router->throttle))
		return false;
	for (struct provider *const *p = route->providers; *p != NULL; p++)
		if (!(*p)->never_blocks)
			return false;
	return true;
}

void router_plan(const struct router *router, const char *username,
		 const char *password, size_t password_len, struct router_plan *plan)
{
	const struct route_rule *rule;

	memset(plan, 0, sizeof *plan);
	plan->kind = PLAN_ANSWERED;
	plan->at_once = true;
	/* Rule 1: nothing empty reaches a provider. Nothing is trimmed. */
	if (username[0] == '\0') {
		plan->early = OUTCOME_EMPTY_USERNAME;
		return;
	}
	if (password_len == 0 || password[0] == '\0') {
		plan->early = OUTCOME_EMPTY_PASSWORD;
		return;
	}
	/* Not a Salesforce username: nothing a directory should see, and a
	 * name the throttle would count apart from the one it matches. */
	if (usermap_check(username, &plan->early_detail) < 0) {
		snprintf(plan->mapped_user, sizeof plan->mapped_user, "%s", username);
		plan->early = OUTCOME_BAD_USERNAME;
		return;
	}
	if (usermap_apply(router->map, username, plan->mapped_user,
			  sizeof plan->mapped_user) < 0) {
		plan->mapped_user[0] = '\0';
		plan->early = OUTCOME_BAD_USERNAME;
		return;
	}
	/* Rule 3: a token-shaped password goes to the token store only. */
	if (token_has_form(password, password_len)) {
		plan->kind = PLAN_TOKEN;
		plan->at_once = router->tokens == NULL;
		return;
	}
	rule = router_match(router->rules, router->route_count, plan->mapped_user);
	if (rule == NULL) {
		plan->early = OUTCOME_NO_ROUTE;
		return;
	}
	plan->kind = PLAN_ROUTE;
	plan->route = &router->routes[rule - router->rules];
	plan->lane = plan->route->lane;
	plan->at_once = route_never_blocks(router, plan->route);
}

static void decide_token(struct router *router, const struct auth_request *req,
			 struct decision *out)
{
	enum auth_result result;

	out->provider = "tokens";
	if (router->tokens == NULL) {
		auth_trace_step(req, "password has the token form, but [tokens] is not configured");
		decide_final(out, ANSWER_FALSE, AUTH_REJECT, OUTCOME_REJECT);
		out->detail = "tokens disabled";
		return;
	}
	auth_trace_step(req, "password has the token form: asking the token store only");
	result = token_redeem(router->tokens, req->username, req->password, req->password_len,
			      req->source_ip, req->request_id, req->deadline_ms, &out->detail);
	auth_trace_step(req, "token store answered %s%s%s", auth_result_name(result),
			out->detail ? ": " : "", out->detail ? out->detail : "");
	if (result == AUTH_OK)
		decide_final(out, ANSWER_TRUE, result, OUTCOME_OK);
	else if (result == AUTH_UNAVAILABLE || result == AUTH_ERROR)
		decide_final(out, ANSWER_FAULT, result, outcome_of_result(result));
	else
		decide_final(out, ANSWER_FALSE, result, outcome_of_result(result));
}

static enum outcome throttled_outcome(enum throttle_verdict verdict)
{
	switch (verdict) {
	case THROTTLE_USER_BUDGET: return OUTCOME_THROTTLED_USER;
	case THROTTLE_SOURCE_BUDGET: return OUTCOME_THROTTLED_SOURCE;
	case THROTTLE_UNFAMILIAR: return OUTCOME_THROTTLED_UNFAMILIAR;
	case THROTTLE_REPEAT: return OUTCOME_REPEAT_FAILURE;
	case THROTTLE_WAIT:
	case THROTTLE_ASK: break;
	}
	return OUTCOME_ERROR;
}

/* Rule 5 behind the throttle: spent budgets and known-bad repeats are
 * answered here, and every check that lets a login through is paired with
 * a record of its result (which also ends its reservation). */
static void decide_route(struct router *router, const struct route *route,
			 const struct auth_request *req, const struct auth_request *mapped_req,
			 struct decision *out)
{
	enum throttle_verdict verdict;

	auth_trace_step(mapped_req, "route: line %d, pattern %s", route->rule->line,
			route->rule->pattern);
	if (router->throttle == NULL) {
		auth_trace_step(mapped_req, "throttle: off");
		decide_providers(route->providers, mapped_req, out);
		return;
	}
	/* Other logins of this user in flight hold the rest of its budget:
	 * wait for one to end rather than refuse a password that may be right;
	 * at the deadline it is a fault, never false. */
	for (bool told = false;; told = true) {
		verdict = throttle_check(router->throttle, out->mapped_user, req->source_ip,
					 req->password, req->password_len, req->deadline_ms);
		if (verdict != THROTTLE_WAIT)
			break;
		if (!told)
			auth_trace_step(mapped_req, "throttle: the user's remaining budget is held by "
					"logins in flight: waiting for one to end");
		if (clock_left_ms(req->deadline_ms) <= 2 * THROTTLE_WAIT_STEP_MS) {
			decide_final(out, ANSWER_FAULT, AUTH_UNAVAILABLE, OUTCOME_BUSY);
			out->detail = "other logins of this user in flight";
			return;
		}
		clock_sleep_until(clock_now_ms() + THROTTLE_WAIT_STEP_MS);
	}
	if (verdict != THROTTLE_ASK) {
		auth_trace_step(mapped_req, "throttled: %s", throttle_verdict_name(verdict));
		decide_final(out, ANSWER_FALSE, AUTH_REJECT, throttled_outcome(verdict));
		return;
	}
	auth_trace_step(mapped_req, "throttle: within the user's and the source's budgets");
	{
		/* A password sent and never answered may have been counted by
		 * the directory: the throttle counts it too. */
		struct auth_request asked = *mapped_req;
		bool unanswered = false;

		asked.unanswered_r = &unanswered;
		decide_providers(route->providers, &asked, out);
		unanswered = unanswered && (out->result == AUTH_UNAVAILABLE || out->result == AUTH_ERROR);
		if (unanswered)
			auth_trace_step(mapped_req, "throttle: the password went unanswered: counted "
					"as a failure");
		throttle_record(router->throttle, out->mapped_user, req->source_ip, req->password,
				req->password_len, out->result, unanswered, req->deadline_ms);
	}
}

void router_decide(struct router *router, const struct router_plan *plan,
		   const struct auth_request *req, const char *only_provider,
		   struct decision *out)
{
	struct auth_request mapped_req = *req;

	memset(out, 0, sizeof *out);
	out->provider = "-";
	/* Until a provider answers, a decision is a fault: fail closed. */
	decide_final(out, ANSWER_FAULT, AUTH_ERROR, OUTCOME_ERROR);
	memcpy(out->mapped_user, plan->mapped_user, sizeof out->mapped_user);
	if (plan->kind == PLAN_ANSWERED && plan->early != OUTCOME_NO_ROUTE) {
		decide_final(out, ANSWER_FALSE, AUTH_REJECT, plan->early);
		out->detail = plan->early_detail;
		return;
	}
	mapped_req.username = out->mapped_user;
	mapped_req.detail_buf = out->detail_buf;
	mapped_req.detail_size = sizeof out->detail_buf;
	auth_trace_step(&mapped_req, "mapped username: %s", out->mapped_user);
	if (plan->kind == PLAN_TOKEN) {
		decide_token(router, &mapped_req, out);
		return;
	}
	if (only_provider != NULL) {
		struct provider *one[2] = { provider_set_find(router->providers, only_provider), NULL };

		if (one[0] == NULL) {
			decide_final(out, ANSWER_FAULT, AUTH_ERROR, OUTCOME_ERROR);
			out->detail = "no such provider";
			return;
		}
		decide_providers(one, &mapped_req, out);
		return;
	}
	if (plan->kind == PLAN_ANSWERED) {
		auth_trace_step(&mapped_req, "no [route] rule matches");
		decide_final(out, ANSWER_FALSE, AUTH_REJECT, plan->early);
		return;
	}
	decide_route(router, plan->route, req, &mapped_req, out);
}
