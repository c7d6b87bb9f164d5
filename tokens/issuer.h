/*
 * The issuer's insides, shared by issuer.c, api.c and cli.c (and unit
 * tests); not an interface for the rest of dagate (use tokens.h).
 */
#ifndef DAGATE_TOKEN_ISSUER_H
#define DAGATE_TOKEN_ISSUER_H

#include <pthread.h>
#include <stdatomic.h>

#include "config.h"
#include "netaddr.h"
#include "tokens.h"

struct token_login_limit;
struct token_store;

struct token_requester {
	char *name;
	uint8_t secret_digest[32];     /* SHA-256 of secret_file's content */
	struct cidr_list allow;        /* token API peers */
	struct cidr_list source_ip;    /* empty: any sourceIp */
	char *source_ip_text;          /* as configured; copied into records */
	char **users, **deny_users;    /* globs on the mapped user */
	unsigned max_outstanding;
	unsigned rate_count;           /* rate = rate_count / rate_per_ms */
	int64_t rate_per_ms;
	pthread_mutex_t lock;          /* guards the bucket below */
	double tokens_left;
	int64_t rate_last_ms;          /* monotonic */
};

struct token_issuer {
	struct token_store *store;
	uint8_t key[TOKEN_KEY_LEN];
	int64_t ttl_ms, max_ttl_ms, timeout_ms;
	struct token_requester *requesters;
	size_t requester_count;
	token_clock_fn *clock;
	void *clock_ctx;
	struct token_login_limit *login_limit;   /* the API's failed logins */
	atomic_uint_fast64_t n_issued, n_redeemed, n_rejected, n_unavailable,
		n_issue_refused, n_api_bad_credentials, n_api_login_limited, n_not_replicated;
};

struct token_requester *token_requester_find(struct token_issuer *ti, const char *name);
bool token_user_allowed(const struct token_requester *r, const char *mapped);
void token_secret_digest(const char *secret, size_t len, uint8_t out[32]);

#endif
