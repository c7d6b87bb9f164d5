/*
 * The decision for one Authenticate (DESIGN.md "Decision rules"):
 * empty username/password -> false before any provider; [map]; token form
 * -> token store only (later); first matching [route]; providers in order,
 * the next one only after "unavailable"; none left -> fault.
 *
 * The router owns nothing of the request; it is immutable after creation
 * and shared by all worker threads.
 */
#ifndef DAGATE_ROUTER_H
#define DAGATE_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "decision.h"
#include "provider.h"
#include "usermap.h"

struct router;

struct token_issuer;
struct throttle;

/* The router of one configuration generation, complete at creation.
 * `tokens` (NULL: rule 3 answers false) and `throttle` (NULL: no
 * throttling) outlive the router; so do `cfg` and `providers`. */
int router_create(const struct dagate_config *cfg, struct provider_set *providers,
		  struct token_issuer *tokens, struct throttle *throttle,
		  struct conf_errors *errors, struct router **router_r);
void router_free(struct router **router);
/* Readiness (GET /readyz): whether every route has at least one provider
 * whose backend was up at its last answer or probe (no new connection).
 * Names the routes that have none in `down` ("line 12 (*@corp.example):
 * corp-ad, backup; ..."), truncated to `size`. */
bool router_ready(const struct router *router, char *down, size_t size);
/* How many lanes plans use (router_plan.lane < router_lanes). */
unsigned router_lanes(const struct router *router);
/* The providers the router asks (for metrics). */
struct provider_set *router_providers(const struct router *router);

/* Pure: the first rule matching `mapped`, or NULL. */
const struct route_rule *router_match(const struct route_rule *rules,
				      size_t count, const char *mapped);

/* What the rules make of one request before anything is asked: built once
 * per request (on the HTTP event thread) and carried to where it is
 * decided. It holds no password. */
struct route;
struct router_plan {
	enum {
		PLAN_ANSWERED,     /* rules 1, 2 and 4 decided: `early` */
		PLAN_TOKEN,        /* rule 3: the token store only */
		PLAN_ROUTE,        /* rule 5: `route`'s providers, throttled */
	} kind;
	enum outcome early;        /* PLAN_ANSWERED */
	const char *early_detail;  /* static text, or NULL */
	const struct route *route; /* PLAN_ROUTE */
	/* router_decide() would not wait on anything (no I/O, no lock held
	 * for long): the event thread may decide at once. */
	bool at_once;
	/* Where it waits for a worker (workers.h): the route's first
	 * provider, so that a slow backend holds up only its own logins;
	 * 0 for the token store. */
	unsigned lane;
	char mapped_user[MAPPED_USER_MAX + 1];
};

/* Plan a request: rule 1 (nothing empty), a username Salesforce could
 * have sent (usermap_check: else bad_username), [map], rule 3 (token
 * form), the first matching [route]. `username` is the raw username. */
void router_plan(const struct router *router, const char *username,
		 const char *password, size_t password_len, struct router_plan *plan);

/* Decide a planned request. `req->username` is the raw username (the
 * plan's mapped one is what providers see). If `only_provider` is set,
 * routing is skipped and that provider is asked (test-user --provider). */
void router_decide(struct router *router, const struct router_plan *plan,
		   const struct auth_request *req, const char *only_provider,
		   struct decision *out);

#endif
