/*
 * The Kerberos half of the `http` provider's `auth = negotiate`.
 *
 * A login first proves the password to the KDC: an AS exchange for the
 * user's TGT, then a TGS exchange for the web server's HTTP/<host> ticket,
 * both stored in a private MEMORY: credential cache made for this one
 * check. libcurl's GSS-API is then pointed at that cache for the calling
 * thread only (gss_krb5_ccache_name is thread-specific) and finds the
 * service ticket there, so it has no reason to talk to a KDC itself.
 *
 * Deadlines: MIT krb5 1.20 has no per-call timeout and no kdc_timeout
 * setting (its own transport waits ~1 s per UDP try and several passes).
 * So the KDC messages are produced with the step APIs (krb5_init_creds_step,
 * krb5_tkt_creds_step: the same code krb5_get_init_creds_password runs,
 * without its prompter and its "retry at the primary KDC", which would count
 * a wrong password twice) and carried over dagate's own TCP transport (netio),
 * every connect, write and read bounded by the request deadline. KDCs come from
 * the profile's `[realms] REALM kdc =` lines; DNS SRV discovery is not done.
 * Still unbounded: resolving a KDC given as a host name (getaddrinfo), and
 * GSS-API going to a KDC on its own if the system krb5.conf canonicalises
 * the web server's host name differently from `krb5_conf` (then it would not
 * find the cached ticket).
 *
 * Threads: a struct http_negotiate is read-only after creation and shared
 * by all threads; a struct http_negotiate_creds belongs to one check on one
 * thread.
 */
#ifndef DAGATE_HTTP_NEGOTIATE_H
#define DAGATE_HTTP_NEGOTIATE_H

#include <stdint.h>

#include "provider.h"

struct http_negotiate;

/* realm: the user's realm (principal login@REALM). krb5_conf: a krb5.conf
 * for dagate's own KDC exchanges, or NULL for the system's. url: the
 * https:// address, whose host names the service (HTTP/host). Returns -1
 * with *error_r (static text) on a bad value or OOM. */
int http_negotiate_new(const char *realm, const char *krb5_conf, const char *url,
		       struct http_negotiate **ng_r, const char **error_r);
void http_negotiate_free(struct http_negotiate **ng);

/* One check's credentials: a MEMORY: cache holding the user's TGT and the
 * service ticket. Zero-initialise; release with http_negotiate_release. */
struct http_negotiate_creds {
	void *ctx;               /* krb5_context */
	void *ccache;            /* krb5_ccache */
	char name[64];           /* "MEMORY:dagate-<random>" */
};

/* Get the tickets for `login` (login@REALM, or an enterprise name when it
 * contains '@') with `password`, by `deadline_ms`. AUTH_OK: *creds is
 * filled. Otherwise the KDC's answer: AUTH_REJECT (wrong password),
 * AUTH_UNKNOWN_USER, AUTH_LOCKED (revoked, expired, must change), or
 * AUTH_UNAVAILABLE (KDC unreachable, timeout, no service principal,
 * anything unexpected); *detail_r is static text. The caller releases
 * *creds in every case. */
enum auth_result http_negotiate_acquire(const struct http_negotiate *ng,
					const char *login, const char *password,
					int64_t deadline_ms,
					struct http_negotiate_creds *creds,
					const char **detail_r);
/* Destroy the cache (its keys are wiped) and the context. Idempotent. */
void http_negotiate_release(struct http_negotiate_creds *creds);

/* Point this thread's GSS-API at creds' cache; *saved_r receives the
 * previous name (malloc'd, may be NULL) for http_negotiate_end, which
 * restores it and frees *saved. Returns -1 when GSS-API refuses. */
int http_negotiate_begin(const struct http_negotiate_creds *creds, char **saved_r);
void http_negotiate_end(char **saved);

#endif
