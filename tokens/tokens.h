/*
 * One-time impersonation tokens (DESIGN.md [tokens], [requester NAME], the
 * token API and decision rule 3).
 *
 * A requester (a sync engine) asks for a token bound to one user; the token
 * goes into Salesforce's password field; Authenticate redeems it exactly
 * once, across threads, processes, restarts and (with Redis) instances.
 *
 * Token form: "dgt1_" followed by 52 characters of lower-case Crockford
 * base32 ("0123456789abcdefghjkmnpqrstvwxyz": no i, l, o, u), i.e. 32 bytes
 * (256 bits) from the system CSPRNG, 57 characters in all.
 *   - the fixed prefix makes a token recognisable (rule 3: a token-shaped
 *     password never reaches a directory) and versions the format;
 *   - one case and no look-alike letters: nothing to misread or mistype,
 *     and nothing that a form, a URL or a shell would alter (no +, /, =);
 *   - 57 characters fit Salesforce's password field and login() call.
 * Generation fails closed: no token if RAND_priv_bytes fails.
 *
 * What is stored: only HMAC-SHA256(key, token) (the store key), the
 * requester, the bound (mapped) user, the sourceIp ranges allowed for it,
 * and the issue/expiry times. The key lives in `key_file`, never in the
 * store, so a dump of the store yields nothing that can be redeemed. A
 * Instances sharing one Redis store must therefore share the same key_file
 * content (copy it; a different key finds nothing and every token is
 * "unknown"). A token's fingerprint is the first 6 bytes of that HMAC in hex: it appears
 * in logs and `dagate token list` and cannot be turned back into a token.
 *
 * Redemption consumes first (one atomic delete-and-return in the store),
 * then checks the binding, so a token presented with a wrong user or
 * sourceIp is burnt as well as refused. The store is looked up by HMAC:
 * an attacker cannot steer that key, so the lookup's timing says nothing
 * about a valid token; secrets that are compared (requester secrets) are
 * compared in constant time over fixed-length digests.
 *
 * Threads: every function taking a struct token_issuer may be called from
 * any thread at once, except create/free (single-threaded, at start-up and
 * shutdown).
 *
 * LMDB: an environment must not be opened twice by one process: free the
 * old issuer before creating a new one (e.g. on reload), or keep it.
 */
#ifndef DAGATE_TOKENS_H
#define DAGATE_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "provider.h"
#include "usermap.h"

#define TOKEN_PREFIX "dgt1_"
#define TOKEN_PREFIX_LEN 5
#define TOKEN_RANDOM_BYTES 32              /* 256 bits */
#define TOKEN_BODY_LEN 52                  /* ceil(256 / 5) base32 digits */
#define TOKEN_LEN (TOKEN_PREFIX_LEN + TOKEN_BODY_LEN)
#define TOKEN_HASH_LEN 32                  /* HMAC-SHA256 */
#define TOKEN_KEY_LEN 32                   /* key_file: 64 hex digits */
#define TOKEN_FINGERPRINT_LEN 12           /* hex digits of the HMAC */
/* ttl bounds of DESIGN.md: at least a minute, never above 1440 minutes. */
#define TOKEN_TTL_MIN_MS 60000
#define TOKEN_TTL_MAX_MS (1440LL * 60000)

struct token_issuer;

/* The service. */

/* Reads [tokens] and every [requester NAME] from cfg->sections, validating
 * them (errors as FILE:LINE via `errors`). No [tokens] section:
 * *issuer_r = NULL and 0 (tokens disabled). Opens the store and loads
 * key_file, creating it (0600, 32 random bytes as hex) if absent.
 * Returns -1 when anything was reported. The issuer keeps no pointer into
 * `cfg`. */
int token_issuer_create(const struct dagate_config *cfg, struct conf_errors *errors,
			struct token_issuer **issuer_r);
void token_issuer_free(struct token_issuer **issuer);

/* [tokens] and [requester NAME] for config_load (token_config_validate). */
extern const struct conf_section_kind token_section_kind, requester_section_kind;

/* For a module that shares the token store's Redis server ([throttle]
 * store = tokens), read from the validated configuration; opens nothing.
 * url is NULL when there is no [tokens] or its store is not Redis. Lines
 * point at [tokens] for errors. */
struct token_redis_share {
	const char *url;             /* redis:// or rediss:// */
	const char *password_file;   /* NULL: no AUTH */
	const char *ca_file;         /* NULL: the system's CAs */
	const char *file;
	int store_line, password_line;
};
void token_redis_share(const struct dagate_config *cfg, struct token_redis_share *out);

/* A key for another purpose, HMAC-SHA256(tokens key, label): the token
 * key_file is loaded (and created) as the issuer does, so instances that
 * share the key file derive the same key. Errors as FILE:LINE of [tokens]
 * key_file. */
int token_derive_key(const struct dagate_config *cfg, const char *label,
		     uint8_t out[TOKEN_KEY_LEN], struct conf_errors *errors);

/* Only the configuration checks of token_issuer_create (no store, no key
 * file created): for `dagate check-config`. Returns the errors added. */
int token_config_validate(const struct dagate_config *cfg, struct conf_errors *errors);

/* Pure: does this password have the token form? (rule 3) */
bool token_has_form(const char *password, size_t len);

/* Pure: can `user` (len bytes, as a requester sent it) be bound to a
 * token? 1..MAPPED_USER_MAX bytes of well-formed UTF-8 without control
 * characters (C0, DEL, C1), line or paragraph separators (they would split
 * log lines) or U+FFFD (json-c's stand-in for a lone surrogate escape). */
bool token_user_valid(const char *user, size_t len);

/* Rule 3. Consume atomically, then check the binding: `mapped_user` equal
 * to the bound user, `source_ip` within the requester's source_ip (when it
 * had one), not expired (LMDB: by the stored wall-clock expiry; Redis: the
 * key's own PX). AUTH_OK; AUTH_REJECT with *detail_r "unknown" (never
 * issued, already used or revoked), "expired", "user_mismatch",
 * "source_ip_mismatch", "not_a_token"; AUTH_UNAVAILABLE ("store_unavailable")
 * when the store cannot answer by `deadline_ms` (monotonic, clock.h).
 * *detail_r is a static string (NULL on AUTH_OK). Logs a token_redeem or token_reject
 * security event with the fingerprint, never the token. */
enum auth_result token_redeem(struct token_issuer *ti, const char *mapped_user,
			      const char *token, size_t len, const char *source_ip,
			      const char *request_id, int64_t deadline_ms,
			      const char **detail_r);

/* The admin listener's token API. `method`, `path` as received; the
 * Authorization header or NULL; the TCP peer; the body (not NUL-terminated).
 * Sets *status_r (201, 400, 401, 403, 404, 405, 413, 429, 503, 500) and
 * *json_r to a malloc'd JSON body that the caller frees (with
 * explicit_bzero first: a 201 body holds a token). *retry_after_s_r is
 * non-zero on a 429 of the failed-login limit (api_limit.h): the caller
 * sends it as Retry-After. Returns 0, or -1 on allocation failure (then
 * answer 500 without a body). The caller adds Cache-Control: no-store to
 * every answer, and on 401 WWW-Authenticate: Basic realm="dagate". */
#define TOKEN_API_PATH "/api/v1/tokens"
#define TOKEN_API_MAX_BODY 4096
int token_api_handle(struct token_issuer *ti, const struct usermap_config *map,
		     const char *method, const char *path,
		     const char *authorization, const struct sockaddr *peer,
		     const char *body, size_t body_len, int *status_r, char **json_r,
		     unsigned *retry_after_s_r);

/* Counters since creation, for /metrics. */
struct token_stats {
	uint64_t issued, redeemed, rejected, unavailable, issue_refused;
	uint64_t api_bad_credentials;   /* token API 401s that carried credentials */
	uint64_t api_login_limited;     /* token API 429s of the failed-login limit */
	uint64_t not_replicated;        /* of `rejected`: no replica acknowledged (sentinel) */
};
void token_issuer_stats(struct token_issuer *ti, struct token_stats *out);

/* Used by the API, the CLI and tests. */

enum token_issue_status {
	TOKEN_ISSUE_OK = 0,
	TOKEN_ISSUE_BAD_USER,        /* not a name the endpoint accepts (usermap_check) */
	TOKEN_ISSUE_BAD_TTL,         /* outside 60 s .. max_ttl */
	TOKEN_ISSUE_USER_DENIED,     /* not in users, or in deny_users */
	TOKEN_ISSUE_RATE,            /* the requester's issuance rate */
	TOKEN_ISSUE_OUTSTANDING,     /* the requester's max_outstanding */
	TOKEN_ISSUE_UNAVAILABLE,     /* store down, or no randomness */
	TOKEN_ISSUE_NO_REQUESTER,    /* (CLI) no [requester NAME] of that name */
};
const char *token_issue_status_text(enum token_issue_status st);

/* Who asked for a token, for its security event: the peer address (or
 * "cli") and the request id of the call. NULL fields print as "-". */
struct token_origin {
	const char *peer;
	const char *request_id;
};

/* Issue a token for `user` (raw; mapped here like a password login) on
 * behalf of requester `requester`, asked by `origin` (NULL: unknown). ttl_ms 0 = the configured default.
 * On success token_r (TOKEN_LEN+1) holds the token (wipe it after use),
 * mapped_r (MAPPED_USER_MAX+1) the bound user, *expires_ms_r the wall-clock
 * expiry in ms since the epoch. Logs a token_issue security event. */
enum token_issue_status token_issue(struct token_issuer *ti, const struct usermap_config *map,
				    const char *requester,
				    const char *user, int64_t ttl_ms, int64_t deadline_ms,
				    char *token_r, char *mapped_r, int64_t *expires_ms_r,
				    const struct token_origin *origin);

/* The same for an identity of dagate's own (SSO_REQUESTER of [sso]), not
 * a configured requester: no users globs and no rate (the caller
 * authenticated the user), at most `max_outstanding` unredeemed tokens,
 * any sourceIp. */
enum token_issue_status token_issue_internal(struct token_issuer *ti,
					     const struct usermap_config *map,
					     const char *identity, unsigned max_outstanding,
					     const char *user, int64_t ttl_ms, int64_t deadline_ms,
					     char *token_r, char *mapped_r, int64_t *expires_ms_r,
					     const struct token_origin *origin);

/* The wall clock used for expiry (ms since the epoch); tests inject one. */
typedef int64_t token_clock_fn(void *ctx);
void token_issuer_set_clock(struct token_issuer *ti, token_clock_fn *fn, void *ctx);

/* Pure helpers (token.c; unit-tested). */

/* Encode 32 bytes as a token (out: TOKEN_LEN + 1). */
void token_encode(const uint8_t raw[TOKEN_RANDOM_BYTES], char *out);
/* Generate a fresh token from the CSPRNG; -1 (out wiped) if it fails. */
int token_generate(char *out);
/* HMAC-SHA256(key, token). */
int token_hash(const uint8_t key[TOKEN_KEY_LEN], const char *token, size_t len,
	       uint8_t out[TOKEN_HASH_LEN]);
/* Printable fingerprint of a stored hash (out: TOKEN_FINGERPRINT_LEN + 1). */
void token_fingerprint(const uint8_t hash[TOKEN_HASH_LEN], char *out);
/* Load key_file (64 hex digits), creating it 0600 with fresh random bytes
 * when it does not exist. */
int token_key_load(const char *path, bool create, uint8_t key[TOKEN_KEY_LEN],
		   const char **error_r);
/* "100/1m" -> 100 per 60000 ms. */
int token_parse_rate(const char *text, unsigned *count_r, int64_t *per_ms_r);
/* Wall-clock ms -> "2024-05-01T12:00:00Z" (out: at least 32 bytes). */
void token_rfc3339(int64_t wall_ms, char *out, size_t size);

/* The token API's two parsers (api.c), pure, for token_api_handle and the
 * fuzz harness. "Basic base64(name:secret)" -> name and secret inside `buf`
 * (`size` bytes; the caller wipes it); 0 or -1. The JSON body
 * {"user": "...", "ttl": seconds} (ttl optional: *ttl_ms_r 0) -> a malloc'd
 * *user_r; 0, or -1 with *error_r (static) and *user_r NULL. */
int token_api_parse_basic(const char *authorization, char *buf, size_t size,
			  const char **name_r, const char **secret_r, size_t *secret_len_r);
int token_api_parse_body(const char *body, size_t body_len, char **user_r, int64_t *ttl_ms_r,
			 const char **error_r);

#endif
