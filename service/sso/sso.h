/*
 * Integrated Windows sign-on ([sso]): a browser on a domain PC proves who
 * it is with SPNEGO/Kerberos on an intranet listener of its own; dagate
 * maps the client principal to the Salesforce username, mints a one-time
 * token for it and answers a page that posts username and token to the
 * org's login URL (README "Integrated Windows sign-on").
 *
 * This layer holds what does not need HTTP: the section (its keys, its
 * checks, struct sso_config), the pure rules (principal -> username,
 * the startURL filter, HTML escaping, the pages) and the GSS-API acceptor.
 * The listener itself is service/http/sso_listener.c.
 */
#ifndef DAGATE_SSO_H
#define DAGATE_SSO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "usermap.h"

/* The token's requester identity: in `token list` and the audit log. */
#define SSO_REQUESTER "sso"
/* Longest startURL passed on: Salesforce paths are short. */
#define SSO_START_URL_MAX 1024
/* Longest client principal accepted ("local@REALM"). */
#define SSO_PRINCIPAL_MAX 512

extern const struct conf_section_kind sso_section_kind;

/* [sso] as built from a validated configuration. Strings point into the
 * section (or are static defaults): they live as long as the config. */
struct sso_config {
	struct listen_addr *listen; size_t listen_count;  /* owned */
	const char *tls_cert, *tls_key;   /* both or neither */
	const char *path;                 /* entry path, default "/" */
	const char *keytab;
	const char *principal;            /* NULL: any key of the keytab */
	const char *login_url;
	const char *user;                 /* the pattern as written (%l, %r), or NULL */
	char *user_template;              /* owned: the pattern for template.h */
	char *lookup_provider;            /* owned: `lookup` PROVIDER, or NULL */
	char *lookup_attribute;           /* owned: `lookup` ATTRIBUTE */
	char **realms;                    /* owned, NULL-terminated */
	struct cidr_list allow;           /* owned */
	int64_t ttl_ms;
	bool basic;                       /* fallback = basic (HTTPS only) */
	bool ntlm;                        /* fallback = ntlm (Samba's ntlm_auth) */
	const char *ntlm_auth;            /* the helper's path */
	const char *ntlm_auth_config;     /* its --configfile (smb.conf), or NULL */
	int line, keytab_line;            /* of the header, of keytab */
	const char *file;
};

/* [sso] of `cfg` built into *sso_r (malloc'd), or *sso_r NULL when the
 * section is absent. -1 with errors added (FILE:LINE). Opens nothing but
 * reads no file either (sso_keytab_check does). */
int sso_config_build(const struct dagate_config *cfg, struct sso_config **sso_r,
		     struct conf_errors *errors);
void sso_config_free(struct sso_config **sso);

/* check-config and start-up: the keytab can be read and holds
 * `principal` (any key at all without one). Errors as FILE:LINE. */
int sso_keytab_check(const struct sso_config *sso, struct conf_errors *errors);

/* Pure rules (sso_rules.c; unit-tested). */

/* The `user` pattern -> a template.h template: %l stays, %r becomes %d,
 * %% stays; anything else (including %u, %d) is an error. Malloc'd
 * *template_r, or -1 with *error_r (static). */
int sso_user_pattern(const char *pattern, char **template_r, const char **error_r);

/* The outcome names of the audit log and dagate_sso_requests_total. */
enum sso_outcome {
	SSO_OK,
	SSO_NO_TICKET,      /* no Negotiate token: the 401 challenge */
	SSO_BAD_TICKET,     /* not a Kerberos ticket we can accept */
	SSO_CLOCK_SKEW,     /* the PC's clock is too far off */
	SSO_REPLAY,         /* an authenticator seen before */
	SSO_WRONG_SERVICE,  /* a ticket for another service or key version */
	SSO_REALM,          /* the principal's realm is not in `realms` */
	SSO_MAP,            /* the principal cannot be mapped to a username */
	SSO_LOOKUP,         /* the directory look-up refused the user */
	SSO_TOKEN,          /* no token could be issued */
	SSO_REFUSED_PEER,   /* not in `allow` */
	SSO_BASIC_REFUSED,  /* Basic fallback: the providers said no */
	SSO_BASIC_UNAVAILABLE, /* Basic fallback: no provider could answer */
	SSO_NTLM_CHALLENGE, /* NTLM: the helper's challenge sent, the handshake goes on */
	SSO_NTLM_REFUSED,   /* NTLM: the domain refused the answer (password, PC) */
	SSO_NTLM_UNAVAILABLE, /* NTLM: no helper, a broken one, or too many at once */
	SSO_OUTCOME_COUNT
};
const char *sso_outcome_name(enum sso_outcome o);
/* What the user is told, one plain sentence, for a failure's page. */
const char *sso_outcome_advice(enum sso_outcome o);

/* The checks every principal passes first: "local@REALM" with a realm in
 * `realms` and a single-component local part, copied into `local` (size
 * bytes). SSO_OK, SSO_REALM or SSO_MAP with *detail_r (static). */
enum sso_outcome sso_principal_local(const struct sso_config *sso, const char *principal,
				     char *local, size_t size, const char **detail_r);

/* The Basic fallback's login name as the user types it -- "jdoe",
 * "CORP\jdoe" or the UPN "jdoe@corp.example" -- as the principal
 * "jdoe@REALM" with the first of `realms` (size bytes). -1 for an empty
 * or malformed name. */
int sso_basic_principal(const struct sso_config *sso, const char *login, char *out, size_t size);

/* Principal "local@REALM" -> Salesforce username by `sso`'s pattern,
 * into `out` (size bytes). SSO_OK, SSO_REALM (realm not listed) or
 * SSO_MAP (no '@', empty part, a multi-component principal, an expansion
 * error, or a result Salesforce could not send), with *detail_r static. */
enum sso_outcome sso_map_principal(const struct sso_config *sso, const char *principal,
				   char *out, size_t size, const char **detail_r);

/* The startURL filter: only a relative path that starts with a single
 * '/' (not "//" nor "/\"), of printable ASCII without '\', at most
 * SSO_START_URL_MAX bytes. */
bool sso_start_url_ok(const char *url);

/* HTML-escape `in` into `out`: & < > " ' as character references, C0
 * controls and DEL as U+FFFD, everything else as it is (valid UTF-8 is
 * the caller's to ensure). Returns the length written (without the NUL),
 * or -1 when it does not fit in `size`. */
int sso_html_escape(const char *in, char *out, size_t size);

/* The sign-on page: a form posting username, pw and (when non-NULL)
 * startURL to login_url, submitted by a script whose hash is in the
 * Content-Security-Policy written to csp (size csp_size). Returns a
 * malloc'd NUL-terminated page (it holds the token: wipe, then free), or
 * NULL. */
char *sso_page_build(const char *login_url, const char *username, const char *token,
		     const char *start_url, char *csp, size_t csp_size);
/* A failure's page: the advice of `o`, HTML; malloc'd, or NULL. */
char *sso_failure_page(enum sso_outcome o);
/* The Content-Security-Policy of failure pages (no script at all). */
#define SSO_CSP_NONE "default-src 'none'; base-uri 'none'; form-action 'none'; " \
	"frame-ancestors 'none'"

/* The GSS-API acceptor (sso_gss.c). */

struct sso_acceptor;

/* Acquire acceptor credentials from `keytab` (for `principal`, or any key
 * when NULL). -1 with *error_r (malloc'd, free it) when the keytab cannot
 * be used. */
int sso_acceptor_create(const char *keytab, const char *principal,
			struct sso_acceptor **acc_r, char **error_r);
void sso_acceptor_free(struct sso_acceptor **acc);
/* Accept one SPNEGO token (base64, from "Authorization: Negotiate X").
 * SSO_OK with the client principal in `principal` (size bytes) and the
 * acceptor's answer token, base64, in `reply` (reply_size bytes; "" when
 * there is none), for "WWW-Authenticate: Negotiate REPLY"; or
 * SSO_BAD_TICKET / SSO_CLOCK_SKEW / SSO_REPLAY / SSO_WRONG_SERVICE with
 * *detail_r (static, fit for the audit line). Thread-safe. */
#define SSO_TOKEN_B64_MAX (64 * 1024)
enum sso_outcome sso_accept(struct sso_acceptor *acc, const char *token_b64,
			    char *principal, size_t size, char *reply, size_t reply_size,
			    const char **detail_r);

/* NTLM (fallback = ntlm) through Samba's `ntlm_auth
 * --helper-protocol=squid-2.5-ntlmssp` (sso_ntlm.c): one helper child per
 * connection mid-handshake, as Squid and Apache's mod_auth_ntlm_winbind do.
 * NTLM authenticates a connection: type 1 -> the helper's type 2 in a 401
 * -> type 3 on the same connection. The blobs are never logged. */

/* Handshakes (helper children) at once, over every connection: a
 * handshake takes one round trip, so 64 is a busy morning's burst; beyond
 * it the answer is 503 rather than a fork per request. */
#define SSO_NTLM_MAX_HANDSHAKES 64

/* The NTLMSSP message type of a base64 blob (1 negotiate, 2 challenge, 3
 * authenticate), or 0: not NTLMSSP, not clean base64, or longer than
 * SSO_TOKEN_B64_MAX. */
int sso_ntlm_message_type(const char *b64);

enum sso_ntlm_reply {
	SSO_NTLM_TT,       /* TT <type 2>: the challenge for the browser */
	SSO_NTLM_AF,       /* AF DOMAIN\user: authenticated */
	SSO_NTLM_NA,       /* NA <reason>: refused */
	SSO_NTLM_BH,       /* BH <reason>: the helper is broken */
	SSO_NTLM_GARBLED,  /* anything else, or no line in time */
};
/* One helper line (without its newline): its kind, and *arg_r what
 * follows "XX " (a pointer into `line`; "" when nothing does). */
enum sso_ntlm_reply sso_ntlm_reply_parse(const char *line, const char **arg_r);
/* AF's "DOMAIN\user" as the principal "user@DOMAIN" (the domain upper
 * case, as `realms` lists it) into `out` (size bytes). -1 when either part
 * is empty, the user holds '@' or '/', or it does not fit. */
int sso_ntlm_principal(const char *af, char *out, size_t size);

struct sso_ntlm;

/* Spawn the helper of `sso`, with only its pipes open. -1 with *error_r
 * (static) at SSO_NTLM_MAX_HANDSHAKES or when it cannot be started. */
int sso_ntlm_start(const struct sso_config *sso, struct sso_ntlm **n_r, const char **error_r);
/* Send "CMD BLOB" (CMD is YR or KK) and read one reply line, both by
 * deadline_ms (monotonic). *arg_r points into `n` until its next step or
 * free. SSO_NTLM_GARBLED with *error_r (static) when the helper did not
 * answer in time or went away. */
enum sso_ntlm_reply sso_ntlm_step(struct sso_ntlm *n, const char *cmd, const char *blob,
				  int64_t deadline_ms, const char **arg_r, const char **error_r);
/* Kill and reap the helper; NULL is fine. */
void sso_ntlm_free(struct sso_ntlm **n);

#endif
