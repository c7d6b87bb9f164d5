/*
 * Internals of the `ldap` provider, shared by its files:
 *
 *   ldap.c       the provider: config, search-then-bind, groups, probe
 *   ldap_conn.c  one connection: URIs in order, TLS, timeouts, binds
 *   ldap_pool.c  service-account connection slots shared by workers
 *   ldap_tls_diag.c  why a TLS connection failed (certificate verdict)
 *   ldap_probe.c what `dagate probe` checks, URI by URI
 *   ldap_util.c  pure helpers: URI list, filter templates on template.h
 *                (unit-tested)
 *   ldap_ad.c    directory diagnostics -> outcomes (AD "data XXX",
 *                ppolicy response control) (unit-tested)
 *
 * Deadlines are absolute milliseconds on clock_now_ms(); every libldap
 * timeout is derived from what is left of them.
 */
#ifndef DAGATE_LDAP_INT_H
#define DAGATE_LDAP_INT_H

#include <ldap.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "provider.h"

/* A failed server is skipped for this long while another URI remains,
 * so that a black-holed first URI does not cost every new connection its
 * share of the deadline. */
#define PROV_LDAP_DOWN_BACKOFF_MS 5000
/* Below this much time left, a new connection or operation is not even
 * started: it could not complete and would only leave state behind. */
#define PROV_LDAP_MIN_OP_MS 20
/* Search size limit: two entries are enough to call a match ambiguous. */
#define PROV_LDAP_SIZELIMIT 2
/* A message with a URI and a directory's diagnostic in it (logs, the
 * audit detail): as much as the caller's detail buffer holds. */
#define PROV_LDAP_MSG_MAX AUTH_DETAIL_MAX

struct prov_ldap_uri {
	char *text;              /* as configured, e.g. "ldaps://dc1:636" */
	bool ldaps;              /* TLS from the first byte */
	_Atomic int64_t down_until_ms; /* skip while another URI remains */
};

/* Read-only after parse, shared by every thread. */
struct prov_ldap_conf {
	const char *name;        /* provider name, for logs (not owned) */
	struct prov_ldap_uri *uris;
	size_t uri_count;
	bool starttls;           /* for ldap:// URIs */
	bool insecure;           /* plain ldap:// without TLS allowed */
	bool insecure_tls;       /* no certificate / host name check */
	char *ca_file;           /* NULL: system trust */
	char *base;
	char *bind_dn;           /* NULL: anonymous search */
	char *bind_password;     /* read at parse; wiped at fini */
	size_t bind_password_len;
	char *user_filter;       /* template with %u %l %d */
	char *group;             /* NULL: no group required */
	char *group_filter;      /* user-side check, built from `group` */
	unsigned pool_size;
};

/* Trace helper tolerating req == NULL (probe has no request). */
#define PROV_LDAP_TRACE(req, ...) do { \
	if ((req) != NULL) \
		auth_trace_step((req), __VA_ARGS__); \
} while (0)

/* ldap_util.c (pure) */

/* Parse a blank/comma separated list of ldap:// and ldaps:// URIs.
 * Each must name a host and nothing else (no DN, filter, extension).
 * On error returns -1 with a static message in *error_r. */
int prov_ldap_uris_parse(const char *text, struct prov_ldap_uri **uris_r,
			 size_t *count_r, const char **error_r);
void prov_ldap_uris_free(struct prov_ldap_uri **uris, size_t count);

/* Check a user_filter template: one filter in parentheses, the escapes of
 * template.h, %u or %l in it. */
int prov_ldap_filter_check(const char *tmpl, const char **error_r);
/* Expand `tmpl` with template.h, each value RFC 4515-escaped by libldap.
 * Returns malloc'd text, or NULL with *error_r (static) when it cannot be
 * expanded (%d without a domain, too long, ...). */
char *prov_ldap_filter_expand(const char *tmpl, const char *username,
			      const char **error_r);
/* RFC 4515-escape `value` into "(attr=value)"-safe malloc'd text. */
char *prov_ldap_escape(const char *value);

/* ldap_ad.c (pure) */

/* AD puts the reason of a failed bind into the diagnostic message:
 * "80090308: LdapErr: DSID-..., comment: AcceptSecurityContext error,
 * data 775, v4563". Returns the hex number after "data ", or -1. */
long prov_ldap_ad_data_code(const char *diagnostic);
/* Outcome of a bind that failed with invalidCredentials (49), from the AD
 * data code (or -1 when absent). *detail_r is static. */
enum auth_result prov_ldap_ad_outcome(long code, const char **detail_r);
/* Outcome of a bind from an RFC draft-behera ppolicy response error
 * (LDAPPasswordPolicyError); PP_noError returns AUTH_OK. */
enum auth_result prov_ldap_ppolicy_outcome(int pp_error, const char **detail_r);
/* Outcome of any other bind result code (not 0 or 49). */
enum auth_result prov_ldap_bind_rc_outcome(int rc, const char **detail_r);

/* A user's entry as [sso] lookup reads it, without a bind: AD's
 * userAccountControl (disabled), msDS-User-Account-Control-Computed
 * (locked out, password expired) and accountExpires (FILETIME, 100 ns
 * since 1601; 0 or INT64_MAX: never), and whether OpenLDAP ppolicy's
 * pwdAccountLockedTime is set. -1 for an attribute that is absent.
 * AUTH_OK, or AUTH_LOCKED with *detail_r (static). */
enum auth_result prov_ldap_account_state(long long uac, long long computed,
					 long long account_expires, bool ppolicy_locked,
					 int64_t now_unix_ms, const char **detail_r);

/* ldap_conn.c */

/* Connect to the configured URIs in order (skipping ones marked down
 * while another remains), each given an equal share of what is left, with
 * TLS (ldaps or StartTLS) established and verified unless the config says
 * otherwise. No bind. On failure returns -1 with the last URI's failure in
 * the caller's `error` (libldap's words and the server's diagnostic: no
 * static text can hold them; PROV_LDAP_MSG_MAX is room enough). */
int prov_ldap_connect(const struct prov_ldap_conf *c, int64_t deadline_ms,
		      const struct auth_request *req, LDAP **ld_r,
		      char *error, size_t error_size);
/* Connect to one URI with the whole budget (probe). */
int prov_ldap_connect_uri(const struct prov_ldap_conf *c, size_t i,
			  int64_t deadline_ms, const struct auth_request *req,
			  LDAP **ld_r, char *error, size_t error_size);
/* After libldap failed to connect to `uri` with TLS: a second connection
 * (TCP, StartTLS for ldap://, the handshake with OpenSSL and the same
 * trust; no bind) names the first step that fails, e.g. "TCP connect:
 * Connection refused" or "TLS: certificate verify failed (hostname
 * mismatch)". Returns 0 with that text in `cause`, or -1 when there is no
 * time left or every step passes (then libldap's words are all there is).
 * Only explains: a connection that failed stays failed. */
int prov_ldap_tls_explain(const struct prov_ldap_conf *c, const struct prov_ldap_uri *uri,
			  int64_t deadline_ms, char *cause, size_t size);
/* Set LDAP_OPT_TIMEOUT and LDAP_OPT_NETWORK_TIMEOUT to what is left. */
void prov_ldap_set_timeouts(LDAP *ld, int64_t deadline_ms);
/* True when an idle connection has not been closed by the server (no
 * EOF, reset or unsolicited Notice of Disconnection waiting). */
bool prov_ldap_idle_alive(LDAP *ld);
void prov_ldap_close(LDAP **ld);

/* A search returning no attributes, bounded by the deadline; libldap's
 * result code (LDAP_TIMEOUT without trying when too little time is left).
 * The caller frees *res_r (ldap_msgfree), also on error. */
int prov_ldap_search(LDAP *ld, const char *base, int scope, const char *filter,
		     int sizelimit, int64_t deadline_ms, LDAPMessage **res_r);
/* The same, returning `attrs` (NULL-terminated). */
int prov_ldap_search_attrs(LDAP *ld, const char *base, int scope, const char *filter,
			   char **attrs, int sizelimit, int64_t deadline_ms, LDAPMessage **res_r);

/* Result of one simple bind whose request was handed to the network. */
struct prov_ldap_bind_result {
	bool answered;    /* false: timeout or connection lost after send */
	int rc;           /* LDAP result code when answered */
	long ad_code;     /* AD "data XXX" or -1 */
	int pp_error;     /* ppolicy error, or -1 when no control came back */
	char detail[160]; /* safe for logs (no password) */
};
/* Simple bind on `ld`, waiting at most until the deadline. With
 * `ppolicy`, the password policy request control is sent (non-critical).
 * Returns -1 only when nothing was sent (then nothing can have been
 * processed), 0 otherwise with *out filled. */
int prov_ldap_simple_bind(LDAP *ld, const char *dn, const char *password,
			  size_t password_len, bool ppolicy,
			  int64_t deadline_ms, struct prov_ldap_bind_result *out);

/* ldap_pool.c */

/* One slot: a service connection (bound as bind_dn, or anonymous) for
 * searches and group checks, and a separate connection used only for
 * user binds, so the service connection never changes identity. */
struct prov_ldap_slot {
	LDAP *svc;
	LDAP *user;
};

struct prov_ldap_pool;

int prov_ldap_pool_create(unsigned size, struct prov_ldap_pool **pool_r);
/* Wait for a free slot until the deadline; -1 on timeout. */
int prov_ldap_pool_get(struct prov_ldap_pool *pool, int64_t deadline_ms,
		       struct prov_ldap_slot **slot_r);
void prov_ldap_pool_put(struct prov_ldap_pool *pool, struct prov_ldap_slot *slot);
/* Closes every connection; no slot may be in use. */
void prov_ldap_pool_free(struct prov_ldap_pool **pool);
/* Slots handed out now, and in all (for /metrics). */
void prov_ldap_pool_usage(struct prov_ldap_pool *pool, unsigned *in_use_r, unsigned *size_r);

/* ldap_probe.c */

/* Each URI in turn, each with an equal share of what is left: connect,
 * TLS and certificate, service bind, base readable, and the `group` entry
 * present. One "URI: what was found" per URI, "; "-separated, into `out`.
 * -1 when any URI fails. */
int prov_ldap_probe(const struct prov_ldap_conf *c, int64_t deadline_ms, char *out,
		    size_t size);

#endif
