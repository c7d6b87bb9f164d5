/*
 * The provider contract: how dagate asks one backend about one login.
 *
 * A provider *type* (ldap, smtp, file, static, ...) is one constant
 * `struct provider_type` in its own file, listed in the static registry
 * (registry.c). A provider *instance* is one `[provider NAME]` section of
 * the configuration, made in two steps, as Dovecot's preinit/init and
 * FreeRADIUS's `-C`:
 *
 *   parse  reads the section into p->state and reports every problem as
 *          FILE:LINE. Pure: no socket, no connection, nothing that waits on
 *          another host. Local files the section names may be read (a users
 *          file, a bind password file): they are part of the configuration.
 *          `dagate check-config` runs this and nothing else.
 *   start  may talk to the backend (the http provider's negative control)
 *          and sets up what logins share (the ldap provider's pool).
 *          `serve` (at start-up and on SIGHUP, before the new generation
 *          takes over), `test-user` and `probe` run it after parse.
 *
 * `fini` destroys an instance after parse alone or after start.
 *
 * Threads: `authenticate` is called concurrently from worker threads,
 * never from the HTTP event threads, and only after start; it may block,
 * but never past `req->deadline_ms`. `probe` runs in `dagate probe` and on
 * the prober thread of `serve` (backend_prober.h), concurrently with
 * `authenticate` but one call at a time per instance. `parse`, `start` and
 * `fini` run single-threaded.
 *
 * Secrets: `req->password` is never logged, traced or copied into an error
 * or detail string. Providers wipe their own copies (explicit_bzero).
 */
#ifndef DAGATE_PROVIDER_H
#define DAGATE_PROVIDER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* What a provider says about one login. Only the SOAP layer turns this
 * into true / false / fault (see router.c for the rules). */
enum auth_result {
	AUTH_OK = 0,           /* credentials verified: true */
	AUTH_REJECT,           /* wrong password: false, no further provider */
	AUTH_UNKNOWN_USER,     /* no such user: false, no further provider */
	AUTH_LOCKED,           /* locked/disabled/expired/must change: false */
	AUTH_UNAVAILABLE,      /* backend could not answer: next provider */
	AUTH_ERROR,            /* internal or ambiguous failure: fault, stop */
};

const char *auth_result_name(enum auth_result result);

/* Optional step-by-step narration for `dagate test-user`. */
struct auth_trace {
	void (*step)(void *ctx, const char *what);
	void *ctx;
};

/* Room for an audit detail that must be formatted (a directory's own
 * diagnostic); most details are static text. */
#define AUTH_DETAIL_MAX 384

/* One login as a provider sees it. All strings are NUL-terminated and
 * valid UTF-8 without control characters (the SOAP layer checked). */
struct auth_request {
	const char *username;   /* after [map]; what providers look up */
	const char *password;   /* never empty; never log it */
	size_t password_len;
	const char *source_ip;  /* as reported by Salesforce, may be "" */
	const char *request_id; /* for logs */
	int64_t deadline_ms;    /* absolute, on the clock_now_ms() clock */
	const struct auth_trace *trace; /* NULL except for test-user and trace */
	/* Set to true by a provider that sent the password (a bind, an AUTH,
	 * a request) and got no answer: the backend may have counted a failed
	 * login, so the throttle counts one too. NULL: nobody asks. */
	bool *unanswered_r;
	/* The caller's room for a formatted *detail_r (AUTH_DETAIL_MAX),
	 * kept as long as the caller uses the detail; NULL: none, the
	 * provider then answers with static text. */
	char *detail_buf;
	size_t detail_size;
};

/* printf-like narration; a no-op unless req->trace is set. */
void auth_trace_step(const struct auth_request *req, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct provider;

struct provider_type {
	const char *name;              /* the `type =` value */
	/* Accepted keys, ends with {NULL}. Each is declared once, bound
	 * (CONF_AT) to a field of the type's own config struct, private to
	 * its file. */
	const struct conf_key *keys;
	/* Read the validated section into p->state: conf_bind() the keys,
	 * then check and copy the values, without I/O beyond local files (see
	 * above); set p->never_blocks. Report every problem with
	 * conf_error_at(); return -1 if any was reported (p->state is then
	 * NULL). */
	int (*parse)(struct provider *p, const struct conf_section *section,
		     struct conf_errors *errors);
	/* Optional: get ready to answer logins; may use the network, each
	 * exchange bounded by p->timeout_ms. A backend that is down is not a
	 * failure (logins answer "unavailable" until it is back): return -1
	 * with *error_r (static text) only when the instance cannot work at
	 * all. */
	int (*start)(struct provider *p, const char **error_r);
	/* Answer one login. *detail_r may point to static text or into
	 * req->detail_buf, and refines the outcome for the audit log
	 * ("ad:775 locked", "timeout"); never anything derived from the
	 * password. No thread-local buffers: workers serve many logins. */
	enum auth_result (*authenticate)(struct provider *p,
					 const struct auth_request *req,
					 const char **detail_r);
	/* Optional: check reachability without a user (`dagate probe`, and
	 * serve's periodic probe, which sets last_unavailable from it).
	 * Return 0 when healthy; *detail_r says what was checked or failed
	 * (static text, or p-owned text valid until the next probe of p). */
	int (*probe)(struct provider *p, int64_t deadline_ms,
		     const char **detail_r);
	void (*fini)(struct provider *p);
	/* Optional, for [sso] lookup: find the one user whose login name
	 * (sAMAccountName / uid) is req->username (req->password is NULL),
	 * apply the checks a login would (group, disabled, locked, expired)
	 * and copy the single value of `attribute` into `out` (`size` bytes).
	 * AUTH_OK; AUTH_UNKNOWN_USER (no entry, no such value), AUTH_REJECT
	 * (not in the group), AUTH_LOCKED, AUTH_UNAVAILABLE, AUTH_ERROR
	 * (several entries or values), with *detail_r as for authenticate.
	 * Called from the [sso] listener's own event threads (never the
	 * endpoint's), bounded by req->deadline_ms. */
	enum auth_result (*lookup)(struct provider *p, const struct auth_request *req,
				   const char *attribute, char *out, size_t size,
				   const char **detail_r);
	/* Optional, for /metrics: report each backend server once, with
	 * whether it is currently considered up, and the provider's own pool
	 * (in_use of size; both 0 without a pool). Must not block. */
	void (*servers)(struct provider *p, void (*emit)(void *ctx, const char *server, bool up),
			void *ctx, unsigned *pool_in_use_r, unsigned *pool_size_r);
};

struct provider {
	const struct provider_type *type;
	char *name;              /* the NAME of [provider NAME] */
	int64_t timeout_ms;      /* `timeout`; bounded by the request deadline */
	unsigned max_inflight;   /* `concurrency`: more at once -> unavailable */
	atomic_uint inflight;    /* see provider_call() */
	atomic_bool last_unavailable; /* the last answer was AUTH_UNAVAILABLE */
	bool never_blocks;       /* set by parse when authenticate does no I/O
				    and no waiting: may run on an event thread */
	void *state;             /* the type's own data */
};

/* The keys every provider section accepts, bound to this struct by
 * provider_common_keys (conf_bind); the type's own keys come from its
 * descriptor, bound to the type's own struct. Strings point into the
 * section: a parse copies what must outlive it. */
struct provider_common_conf {
	const char *type;        /* the `type =` value */
	int64_t timeout_ms;      /* `timeout` */
	unsigned concurrency;    /* `concurrency` */
	const char *ca_file;     /* NULL: the system's trust store */
	bool insecure_tls;       /* no certificate or host name check */
};
extern const struct conf_key provider_common_keys[];

/* [provider NAME] for config_load: unknown types and each type's keys are
 * reported there; instances are made by provider_set_parse(). */
extern const struct conf_section_kind provider_section_kind;

/* Registry: NULL when no type has that name. */
const struct provider_type *provider_type_find(const char *name);
/* For help texts: the NULL-terminated list of all types. */
extern const struct provider_type *const provider_types[];

/* Parse every [provider NAME] of the config (no network). Errors via
 * `errors`; on error *set_r is NULL. */
struct provider_set;
int provider_set_parse(const struct dagate_config *cfg,
		       struct conf_errors *errors, struct provider_set **set_r);
/* Start every provider of a parsed set, in config order. A failure is
 * reported as "FILE:LINE: provider NAME: ..." (the section of `cfg`, the
 * config the set was parsed from); the set is then only fit for
 * provider_set_free. */
int provider_set_start(struct provider_set *set, const struct dagate_config *cfg,
		       struct conf_errors *errors);
struct provider *provider_set_find(struct provider_set *set, const char *name);
size_t provider_set_count(const struct provider_set *set);
struct provider *provider_set_at(struct provider_set *set, size_t i);
void provider_set_free(struct provider_set **set);

/* Call p->type->authenticate with the deadline narrowed to p->timeout_ms
 * and the concurrency cap applied (over the cap -> AUTH_UNAVAILABLE,
 * detail "busy"). */
enum auth_result provider_call(struct provider *p,
			       const struct auth_request *req,
			       const char **detail_r);
/* The same for p->type->lookup (which must be set). */
enum auth_result provider_lookup(struct provider *p, const struct auth_request *req,
				 const char *attribute, char *out, size_t size,
				 const char **detail_r);

#endif
