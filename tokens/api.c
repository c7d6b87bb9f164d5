/*
 * POST /api/v1/tokens on the admin listener (DESIGN.md "Token API").
 *
 * Order of checks: path (404), method (405), body size (413), the peer's
 * failed logins (429, api_limit.h), HTTP Basic credentials (401), the
 * requester's `allow` for the TCP peer (403), the
 * JSON body (400), then issuing: ttl (400), users/deny_users (403), rate
 * and max_outstanding (429), store (503). Credentials come first so that
 * an unauthenticated caller learns nothing about requesters' peers.
 */
#include "tokens.h"

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_limit.h"
#include "clock.h"
#include "issuer.h"
#include "log.h"
#include "request_id.h"

/* A Basic header longer than this is not a requester's (names <= 64). */
#define API_AUTH_MAX 1024
/* The absolute bounds DESIGN.md gives for a requested ttl (seconds). */
#define API_TTL_MIN_S 60
#define API_TTL_MAX_S 86400
/* How much of a claimed requester name goes into a log line. */
#define API_NAME_LOG 80

static int api_answer(int status, const char *error, int *status_r, char **json_r)
{
	json_object *o = json_object_new_object();
	const char *text;

	*status_r = status;
	*json_r = NULL;
	if (o == NULL)
		return -1;
	json_object_object_add(o, "error", json_object_new_string(error));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	*json_r = text != NULL ? strdup(text) : NULL;
	json_object_put(o);
	return *json_r != NULL ? 0 : -1;
}

int token_api_parse_basic(const char *authorization, char *buf, size_t size,
			  const char **name_r, const char **secret_r, size_t *secret_len_r)
{
	const char *b64;
	size_t len;
	int n, pad = 0;
	char *colon;

	if (authorization == NULL || strncasecmp(authorization, "Basic ", 6) != 0)
		return -1;
	b64 = authorization + 6;
	while (*b64 == ' ')
		b64++;
	len = strlen(b64);
	while (len > 0 && b64[len - 1] == ' ')
		len--;
	if (len == 0 || len % 4 != 0 || len / 4 * 3 >= size)
		return -1;
	n = EVP_DecodeBlock((unsigned char *)buf, (const unsigned char *)b64, (int)len);
	if (n < 0)
		return -1;
	pad = (b64[len - 1] == '=') + (len > 1 && b64[len - 2] == '=');
	n -= pad;
	buf[n] = '\0';
	if ((int)strlen(buf) != n || (colon = strchr(buf, ':')) == NULL || colon == buf)
		return -1;
	*colon = '\0';
	*name_r = buf;
	*secret_r = colon + 1;
	*secret_len_r = (size_t)(buf + n - (colon + 1));
	return 0;
}

/* Constant-time check of the credentials; NULL when they are wrong. */
static struct token_requester *api_authenticate(struct token_issuer *ti, const char *authorization,
						char *name_r, size_t name_size)
{
	char buf[API_AUTH_MAX];
	const char *name = NULL, *secret = NULL;
	size_t secret_len = 0;
	uint8_t digest[32], dummy[32] = { 0 };
	struct token_requester *r = NULL;
	bool ok = false;

	snprintf(name_r, name_size, "-");
	if (authorization != NULL && strlen(authorization) < sizeof buf &&
	    token_api_parse_basic(authorization, buf, sizeof buf, &name, &secret, &secret_len) == 0) {
		snprintf(name_r, name_size, "%s", name);
		r = token_requester_find(ti, name);
		token_secret_digest(secret, secret_len, digest);
		/* Unknown requester: the same work against a digest nothing matches. */
		ok = CRYPTO_memcmp(digest, r != NULL ? r->secret_digest : dummy,
				   sizeof digest) == 0 && r != NULL && secret_len > 0;
		explicit_bzero(digest, sizeof digest);
	}
	explicit_bzero(buf, sizeof buf);
	return ok ? r : NULL;
}

/* Members of the top-level object as written, duplicates included: json-c
 * keeps only the last of two equal names, which a proxy or auditor reading
 * the first would take for another user. Runs on a body json-c has already
 * accepted as strict JSON, so strings and nesting are well formed. */
static size_t written_members(const char *body, size_t len)
{
	size_t members = 0;
	unsigned depth = 0;
	bool in_string = false, escaped = false, want_name = false;

	for (size_t i = 0; i < len; i++) {
		char c = body[i];

		if (in_string) {
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '"') {
			in_string = true;
			if (depth == 1 && want_name)
				members++;
			want_name = false;
		} else if (c == '{' || c == '[') {
			want_name = ++depth == 1;
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (c == ',' && depth == 1) {
			want_name = true;
		}
	}
	return members;
}

int token_api_parse_body(const char *body, size_t body_len, char **user_r, int64_t *ttl_ms_r,
			 const char **error_r)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL, *user;
	int ret = -1;

	*user_r = NULL;
	*ttl_ms_r = 0;
	*error_r = "body must be a JSON object {\"user\": \"...\", \"ttl\": seconds}";
	if (tok == NULL || body_len > TOKEN_API_MAX_BODY)
		goto out;
	/* Strict: no comments, single quotes, bare words, hex or leading zeros,
	 * trailing commas or trailing text, and the whole body UTF-8 (json-c
	 * 0.16 still takes NaN, Infinity and "5.", doubles all, which no field
	 * here accepts). */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, body != NULL ? body : "", (int)body_len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != body_len || !json_object_is_type(o, json_type_object))
		goto out;
	if (written_members(body, body_len) != (size_t)json_object_object_length(o)) {
		*error_r = "a field appears twice in the body";
		goto out;
	}
	json_object_object_foreach(o, key, val) {
		if (strcmp(key, "user") == 0) {
			if (!json_object_is_type(val, json_type_string)) {
				*error_r = "\"user\" must be a string";
				goto out;
			}
		} else if (strcmp(key, "ttl") == 0) {
			int64_t ttl;

			if (!json_object_is_type(val, json_type_int)) {
				*error_r = "\"ttl\" must be an integer number of seconds";
				goto out;
			}
			ttl = json_object_get_int64(val);
			if (ttl < API_TTL_MIN_S || ttl > API_TTL_MAX_S) {
				*error_r = "\"ttl\" must be within 60..86400 seconds";
				goto out;
			}
			*ttl_ms_r = ttl * 1000;
		} else {
			*error_r = "unknown field in body";
			goto out;
		}
	}
	if (!json_object_object_get_ex(o, "user", &user)) {
		*error_r = "\"user\" is required";
		goto out;
	}
	/* An embedded NUL would make the user ambiguous; it is a control
	 * character and refused here with the others. */
	if (!token_user_valid(json_object_get_string(user),
			      (size_t)json_object_get_string_len(user))) {
		*error_r = "\"user\" must be UTF-8 text without control characters";
		goto out;
	}
	if ((*user_r = strdup(json_object_get_string(user))) != NULL)
		ret = 0;
out:
	json_object_put(o);
	if (tok != NULL)
		json_tokener_free(tok);
	return ret;
}

static int api_created(const char *token, const char *user, int64_t expires_ms,
		       int *status_r, char **json_r)
{
	json_object *o = json_object_new_object();
	char when[40], *out;
	const char *rest;
	size_t size;

	*json_r = NULL;
	if (o == NULL)
		return -1;
	token_rfc3339(expires_ms, when, sizeof when);
	json_object_object_add(o, "user", json_object_new_string(user));
	json_object_object_add(o, "expires_at", json_object_new_string(when));
	/* The token is spliced in here (base32: nothing to escape) so that it
	 * never sits in json-c's buffers, which are freed without wiping. */
	rest = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (rest == NULL || rest[0] != '{') {
		json_object_put(o);
		return -1;
	}
	size = strlen(rest) + TOKEN_LEN + 16;
	if ((out = malloc(size)) != NULL)
		snprintf(out, size, "{\"token\":\"%s\",%s", token, rest + 1);
	json_object_put(o);
	*status_r = 201;
	*json_r = out;
	return out != NULL ? 0 : -1;
}

int token_api_handle(struct token_issuer *ti, const struct usermap_config *map,
		     const char *method, const char *path,
		     const char *authorization, const struct sockaddr *peer,
		     const char *body, size_t body_len, int *status_r, char **json_r,
		     unsigned *retry_after_s_r)
{
	struct token_requester *r;
	char name[API_NAME_LOG], peer_text[64] = "-", token[TOKEN_LEN + 1];
	char mapped[MAPPED_USER_MAX + 1], request_id[REQUEST_ID_SIZE] = "-";
	struct token_origin origin = { peer_text, request_id };
	char *user = NULL;
	const char *error;
	int64_t ttl_ms, expires_ms = 0;
	enum token_issue_status st;
	int64_t wait_ms;
	int ret;

	*retry_after_s_r = 0;
	if (path == NULL || strcmp(path, TOKEN_API_PATH) != 0)
		return api_answer(404, "not found", status_r, json_r);
	if (method == NULL || strcmp(method, "POST") != 0)
		return api_answer(405, "use POST", status_r, json_r);
	if (body_len > TOKEN_API_MAX_BODY)
		return api_answer(413, "body too large", status_r, json_r);
	if (peer != NULL)
		sockaddr_to_text(peer, peer_text, sizeof peer_text);
	request_id_next(request_id, sizeof request_id);
	/* Not logged one by one: a blocked guesser would fill the log. */
	if ((wait_ms = token_login_limit_wait(ti->login_limit, peer, clock_now_ms())) > 0) {
		atomic_fetch_add(&ti->n_api_login_limited, 1);
		*retry_after_s_r = (unsigned)((wait_ms + 999) / 1000);
		return api_answer(429, "too many failed logins", status_r, json_r);
	}
	if ((r = api_authenticate(ti, authorization, name, sizeof name)) == NULL) {
		log_security("token_api_refused", "requester", name, "peer", peer_text,
			     "outcome", "bad_credentials", "request_id", request_id, NULL);
		/* A request without credentials guesses nothing. */
		if (authorization != NULL) {
			atomic_fetch_add(&ti->n_api_bad_credentials, 1);
			if (token_login_limit_failed(ti->login_limit, peer, clock_now_ms()))
				log_security("token_api_login_limit", "peer", peer_text,
					     "requester", name, "outcome", "blocked",
					     "failures", TOKEN_LOGIN_FAILURES_TEXT,
					     "window", TOKEN_LOGIN_WINDOW_TEXT,
					     "request_id", request_id, NULL);
		}
		return api_answer(401, "bad credentials", status_r, json_r);
	}
	if (peer == NULL || !cidr_list_contains_sockaddr(&r->allow, peer)) {
		log_security("token_api_refused", "requester", r->name, "peer", peer_text,
			     "outcome", "peer_not_allowed", "request_id", request_id, NULL);
		return api_answer(403, "peer not allowed for this requester", status_r, json_r);
	}
	if (token_api_parse_body(body, body_len, &user, &ttl_ms, &error) < 0)
		return api_answer(400, error, status_r, json_r);
	if (usermap_check(user, &error) < 0) {
		free(user);
		return api_answer(400, error, status_r, json_r);
	}
	st = token_issue(ti, map, r->name, user, ttl_ms, clock_now_ms() + ti->timeout_ms, token,
			 mapped, &expires_ms, &origin);
	free(user);
	switch (st) {
	case TOKEN_ISSUE_OK:
		ret = api_created(token, mapped, expires_ms, status_r, json_r);
		explicit_bzero(token, sizeof token);
		return ret;
	case TOKEN_ISSUE_BAD_USER:
	case TOKEN_ISSUE_BAD_TTL:
		return api_answer(400, token_issue_status_text(st), status_r, json_r);
	case TOKEN_ISSUE_USER_DENIED:
		return api_answer(403, token_issue_status_text(st), status_r, json_r);
	case TOKEN_ISSUE_RATE:
	case TOKEN_ISSUE_OUTSTANDING:
		return api_answer(429, token_issue_status_text(st), status_r, json_r);
	case TOKEN_ISSUE_UNAVAILABLE:
		return api_answer(503, token_issue_status_text(st), status_r, json_r);
	case TOKEN_ISSUE_NO_REQUESTER:
		break;
	}
	return api_answer(500, "internal error", status_r, json_r);
}
