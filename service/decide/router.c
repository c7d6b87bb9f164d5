/*
 * Decision rules for one Authenticate (DESIGN.md): see router.h.
 */
#include "router.h"

#include <ctype.h>
#include <fnmatch.h>
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

int router_create(const struct dagate_config *cfg, struct provider_set *providers,
		  struct conf_errors *errors, struct router **router_r)
{
	struct router *r = calloc(1, sizeof *r);

	*router_r = NULL;
	if (r == NULL)
		return -1;
	r->map = &cfg->map;
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
	}
	*router_r = r;
	return 0;
}

struct provider_set *router_providers(const struct router *router)
{
	return router->providers;
}

void router_set_tokens(struct router *router, struct token_issuer *tokens)
{
	router->tokens = tokens;
}

void router_set_throttle(struct router *router, struct throttle *throttle)
{
	router->throttle = throttle;
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
			 enum auth_result result, const char *outcome)
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
			decide_final(out, ANSWER_TRUE, result, "ok");
			return;
		case AUTH_REJECT:
		case AUTH_UNKNOWN_USER:
		case AUTH_LOCKED:
			decide_final(out, ANSWER_FALSE, result, auth_result_name(result));
			return;
		case AUTH_ERROR:
			decide_final(out, ANSWER_FAULT, result, "error");
			return;
		case AUTH_UNAVAILABLE:
			decide_final(out, ANSWER_FAULT, result, "unavailable");
			break;  /* rule 5: the next provider */
		}
	}
	if (clock_left_ms(mapped_req->deadline_ms) == 0) {
		decide_final(out, ANSWER_FAULT, AUTH_UNAVAILABLE, "deadline");
		if (out->detail == NULL)
			out->detail = "deadline reached";
	}
}

bool router_decides_at_once(const struct router *router, const char *username,
			    const char *password, size_t password_len)
{
	char mapped[MAPPED_USER_MAX + 1];
	const struct route_rule *rule;
	struct provider *const *p;

	if (username[0] == '\0' || password_len == 0 || password[0] == '\0' ||
	    usermap_apply(router->map, username, mapped, sizeof mapped) < 0)
		return true;
	if (token_has_form(password, password_len))
		return router->tokens == NULL;
	rule = router_match(router->rules, router->route_count, mapped);
	if (rule == NULL)
		return true;
	if (router->throttle != NULL && throttle_may_block(router->throttle))
		return false;
	for (p = router->routes[rule - router->rules].providers; *p != NULL; p++)
		if (!(*p)->never_blocks)
			return false;
	return true;
}

static void decide_token(struct router *router, const struct auth_request *req,
			 struct decision *out)
{
	enum auth_result result;

	out->provider = "tokens";
	if (router->tokens == NULL) {
		auth_trace_step(req, "password has the token form, but [tokens] is not configured");
		decide_final(out, ANSWER_FALSE, AUTH_REJECT, "reject");
		out->detail = "tokens disabled";
		return;
	}
	auth_trace_step(req, "password has the token form: asking the token store only");
	result = token_redeem(router->tokens, req->username, req->password, req->password_len,
			      req->source_ip, req->request_id, req->deadline_ms, &out->detail);
	auth_trace_step(req, "token store answered %s%s%s", auth_result_name(result),
			out->detail ? ": " : "", out->detail ? out->detail : "");
	if (result == AUTH_OK)
		decide_final(out, ANSWER_TRUE, result, "ok");
	else if (result == AUTH_UNAVAILABLE || result == AUTH_ERROR)
		decide_final(out, ANSWER_FAULT, result, auth_result_name(result));
	else
		decide_final(out, ANSWER_FALSE, result, auth_result_name(result));
}

void router_decide(struct router *router, const struct auth_request *req,
		   const char *only_provider, struct decision *out)
{
	struct auth_request mapped_req = *req;
	const struct route_rule *rule;
	enum throttle_verdict verdict;

	memset(out, 0, sizeof *out);
	out->provider = "-";
	/* Until a provider answers, a decision is a fault: fail closed. */
	decide_final(out, ANSWER_FAULT, AUTH_ERROR, "error");

	/* Rule 1: nothing empty reaches a provider. Nothing is trimmed. */
	if (req->username[0] == '\0') {
		decide_final(out, ANSWER_FALSE, AUTH_REJECT, "empty_username");
		return;
	}
	if (req->password_len == 0 || req->password[0] == '\0') {
		decide_final(out, ANSWER_FALSE, AUTH_REJECT, "empty_password");
		return;
	}
	if (usermap_apply(router->map, req->username, out->mapped_user,
				sizeof out->mapped_user) < 0) {
		decide_final(out, ANSWER_FALSE, AUTH_REJECT, "bad_username");
		return;
	}
	mapped_req.username = out->mapped_user;
	auth_trace_step(&mapped_req, "mapped username: %s", out->mapped_user);

	/* Rule 3: a token-shaped password goes to the token store only. */
	if (token_has_form(req->password, req->password_len)) {
		decide_token(router, &mapped_req, out);
		return;
	}

	if (only_provider != NULL) {
		struct provider *one[2] = { provider_set_find(router->providers, only_provider), NULL };

		if (one[0] == NULL) {
			decide_final(out, ANSWER_FAULT, AUTH_ERROR, "error");
			out->detail = "no such provider";
			return;
		}
		decide_providers(one, &mapped_req, out);
		return;
	}

	rule = router_match(router->rules, router->route_count, out->mapped_user);
	if (rule == NULL) {
		auth_trace_step(&mapped_req, "no [route] rule matches");
		decide_final(out, ANSWER_FALSE, AUTH_REJECT, "no_route");
		return;
	}
	auth_trace_step(&mapped_req, "route: line %d, pattern %s", rule->line, rule->pattern);
	if (router->throttle == NULL) {
		decide_providers(router->routes[rule - router->rules].providers, &mapped_req, out);
		return;
	}
	/* Protect the directory: spent budgets and known-bad repeats are
	 * answered here, and every check that lets a login through is paired
	 * with a record of its result (which also ends its reservation). */
	verdict = throttle_check(router->throttle, out->mapped_user, req->source_ip,
				 req->password, req->password_len, req->deadline_ms);
	if (verdict != THROTTLE_ASK) {
		auth_trace_step(&mapped_req, "throttled: %s", throttle_verdict_name(verdict));
		decide_final(out, ANSWER_FALSE, AUTH_REJECT, throttle_verdict_name(verdict));
		return;
	}
	decide_providers(router->routes[rule - router->rules].providers, &mapped_req, out);
	throttle_record(router->throttle, out->mapped_user, req->source_ip, req->password,
			req->password_len, out->result, req->deadline_ms);
}
