/*
 * Failed logins at the token API, counted per peer network, so that a
 * requester's secret cannot be guessed at line rate: after
 * TOKEN_LOGIN_FAILURES failed Basic logins within TOKEN_LOGIN_WINDOW_MS of
 * the first, the peer gets 429 (with Retry-After) for every token API call
 * until that window ends, right credentials included, so that a guess
 * learns nothing while blocked. Successes do not clear the count: one
 * requester's secret must not buy guesses at another's.
 *
 * A peer network is an IPv4 address or an IPv6 /64 (one host's usual
 * share). Memory is bounded: TOKEN_LOGIN_SLOTS entries, each network
 * hashed to a run of TOKEN_LOGIN_PROBE of them; a full run evicts its
 * oldest window (an attacker with many networks only forgets its own).
 *
 * Thread-safe (one mutex; each call is a few dozen instructions). Times
 * are monotonic ms (clock.h), passed in so that tests need no clock.
 */
#ifndef DAGATE_TOKEN_API_LIMIT_H
#define DAGATE_TOKEN_API_LIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* 10 a minute: a person mistyping is never stopped, a secret of even a
 * few random words is out of reach (14,400 guesses a day per network). */
#define TOKEN_LOGIN_FAILURES 10
#define TOKEN_LOGIN_WINDOW_MS 60000
#define TOKEN_LOGIN_FAILURES_TEXT "10"      /* for the log line */
#define TOKEN_LOGIN_WINDOW_TEXT "60s"
/* The admin listener serves a handful of sync engines. */
#define TOKEN_LOGIN_SLOTS 1024
#define TOKEN_LOGIN_PROBE 8
#define TOKEN_LOGIN_V6_PREFIX 64

struct token_login_limit;

/* NULL when out of memory. */
struct token_login_limit *token_login_limit_new(void);
void token_login_limit_free(struct token_login_limit **limit);

/* 0 when `peer` may try to log in now, else the ms until it may. A NULL
 * or non-IP peer shares one entry. */
int64_t token_login_limit_wait(struct token_login_limit *limit, const struct sockaddr *peer,
			       int64_t now_ms);
/* Count one failed login of `peer`; true when this one reached the limit
 * (the caller logs the block once). */
bool token_login_limit_failed(struct token_login_limit *limit, const struct sockaddr *peer,
			      int64_t now_ms);

#endif
