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
#include "provider.h"
#include "usermap.h"

enum answer { ANSWER_FALSE = 0, ANSWER_TRUE, ANSWER_FAULT };

struct decision {
	enum answer answer;
	enum auth_result result;   /* of the provider that decided */
	const char *outcome;       /* audit outcome: "ok", "empty_password", ... */
	const char *detail;        /* refinement or NULL */
	const char *provider;      /* name, or "-" */
	char mapped_user[MAPPED_USER_MAX + 1];
};

struct router;

int router_create(const struct dagate_config *cfg, struct provider_set *providers,
		  struct conf_errors *errors, struct router **router_r);
void router_free(struct router **router);
/* The providers the router asks (for metrics). */
struct provider_set *router_providers(const struct router *router);
/* Enable rule 3 (token-form passwords go to the token store only). */
struct token_issuer;
void router_set_tokens(struct router *router, struct token_issuer *tokens);
/* Enable throttling (throttle.h); it outlives the router. */
struct throttle;
void router_set_throttle(struct router *router, struct throttle *throttle);

/* Pure: the first rule matching `mapped`, or NULL. */
const struct route_rule *router_match(const struct route_rule *rules,
				      size_t count, const char *mapped);

/* True when router_decide() would answer without waiting on anything
 * (rule 1, no route, or only providers that never block), so the HTTP
 * event thread may decide at once instead of handing over to a worker. */
bool router_decides_at_once(const struct router *router, const char *username,
			    const char *password, size_t password_len);

/* Decide. `req->username` is the raw username; the router maps it and
 * passes the mapped one to providers. If `only_provider` is set, routing
 * is skipped and that provider is asked (test-user --provider). */
void router_decide(struct router *router, const struct auth_request *req,
		   const char *only_provider, struct decision *out);

#endif
