/*
 * What the libcurl-based providers (smtp, http, relay) share: the checks of
 * their sections, one safe way to set up an easy handle, a bounded response
 * buffer.
 *
 * Every handle made here: verifies the peer's certificate and host name
 * against `ca_file` (or the system store) unless `insecure_tls`; speaks
 * TLS 1.2 or later; follows no redirect; allows only the protocols asked
 * for; ignores proxy and netrc settings from the environment; uses no
 * signals; and times out at the absolute deadline it was made for.
 *
 * Credentials: the caller hands them to libcurl with CURLOPT_USERNAME /
 * CURLOPT_PASSWORD, never in a URL. libcurl's own heap is wiped on free
 * (curlc_global_init installs wiping allocators), so its internal copies of
 * passwords and Authorization headers do not linger in freed memory.
 *
 * Threads: curlc_global_init() and curlc_target_parse() run from provider
 * parse (single-threaded); everything else is safe from any thread, one
 * handle per call.
 */
#ifndef DAGATE_CURL_COMMON_H
#define DAGATE_CURL_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "config.h"

/* Largest backend answer read (an AuthenticateResult is ~300 bytes; an
 * intranet page may be larger, but its body is never needed). */
#define CURLC_BODY_MAX (64 * 1024)
/* Longest login built from a template (template.h): usernames are capped
 * at 512 bytes by the SOAP layer, and a template may repeat them. */
#define CURLC_LOGIN_MAX 1024

struct curlc_tls {
	char *ca_file;   /* NULL: system store */
	bool insecure;   /* insecure_tls = yes: no verification (logged) */
};

int curlc_global_init(const char **error_r);

void curlc_tls_clear(struct curlc_tls *tls);

/* How one libcurl provider type names and checks its backend. */
struct curlc_target_spec {
	const char *url_key;           /* "url" or "uri", for messages */
	const char *const *schemes;    /* accepted prefixes, NULL-terminated */
	const char *scheme_error;      /* reported when none matches */
};

/* What a libcurl provider reads from its section. */
struct curlc_target {
	char *url;
	char *login;           /* the `login` template; NULL without one */
	struct curlc_tls tls;
	size_t scheme;         /* index of the URL's scheme in spec->schemes */
};

/* The checks every libcurl provider makes at parse time: libcurl usable,
 * `url` (the type's bound url or uri key) with an accepted scheme and
 * without credentials, `login` (its bound login key; NULL: the type has
 * none) a valid template (template.h), the TLS settings of the common keys
 * of `s`. Reports every problem with conf_error_at() and returns -1 (the
 * target is then empty). No I/O. */
int curlc_target_parse(const struct curlc_target_spec *spec, const struct conf_section *s,
		       const char *url, const char *login, const char *provider_name,
		       struct curlc_target *t, struct conf_errors *errors);
void curlc_target_clear(struct curlc_target *t);

/* A response accumulated by curlc_write_cb (CURLOPT_WRITEDATA). More than
 * CURLC_BODY_MAX bytes make the transfer fail (CURLE_WRITE_ERROR). */
struct curlc_body {
	char data[CURLC_BODY_MAX + 1];  /* NUL-terminated */
	size_t len;
	bool overflow;
};
size_t curlc_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata);
/* Discards the body (for checks that only need the status). */
size_t curlc_discard_cb(char *ptr, size_t size, size_t nmemb, void *userdata);

/* A new easy handle for `url` with the settings above. `protocols` is a
 * CURLOPT_PROTOCOLS_STR list ("https", "smtp,smtps"). `errbuf` must hold
 * CURL_ERROR_SIZE bytes and outlive the handle. Returns NULL with *error_r
 * when the deadline has already passed ("timeout") or on failure. */
CURL *curlc_new(const char *url, const char *protocols,
		const struct curlc_tls *tls, int64_t deadline_ms,
		char *errbuf, const char **error_r);

/* Short, fixed description of a libcurl failure for audit details and
 * probe rows (never includes server text or credentials). */
const char *curlc_failure(CURLcode code);
/* After a failed transfer: whether request bytes went out (so a password
 * in them may have reached the server, which may have counted it). */
bool curlc_request_sent(CURL *h);

/* The earlier of `deadline_ms` and now + `timeout_ms` (for probe hooks,
 * which get the command's deadline and not the provider's timeout). */
int64_t curlc_probe_deadline(int64_t deadline_ms, int64_t timeout_ms);

/* 32 random bytes as 64 hex characters plus NUL (negative controls). */
int curlc_random_hex(char out[65]);

#endif
