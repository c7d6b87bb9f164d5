/*
 * `ldap`: search-then-bind against Active Directory, OpenLDAP and other
 * LDAPv3 directories.
 *
 * One login: the service connection of a pool slot (bound as bind_dn, or
 * anonymous) searches `base` with `user_filter`; exactly one entry must
 * match. With `group`, membership is checked next (AD nested membership via
 * LDAP_MATCHING_RULE_IN_CHAIN, memberOf, or the group's member list). Then
 * the slot's separate user connection binds as the entry's DN with the
 * password: at most one bind per login, never retried once sent (AD counts
 * every bad bind towards lockout). Searches are retried once on a fresh
 * connection, because they change nothing.
 */
#include "ldap_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

/* After the directory refused the service account's password, do not try
 * again for this long: each try counts towards the service account's own
 * lockout on AD. */
#define PROV_LDAP_SVC_REJECT_BACKOFF_MS 30000
/* The user-side group test: AD's LDAP_MATCHING_RULE_IN_CHAIN (nested
 * groups), or a plain memberOf on servers with that attribute. */
#define PROV_LDAP_IN_CHAIN "1.2.840.113556.1.4.1941"

/* A [provider NAME] of type ldap, as configured; parse turns it into the
 * struct prov_ldap_conf that logins read. */
struct ldap_conf {
	const char *uri;
	bool starttls, insecure;
	const char *base;
	const char *bind_dn;             /* NULL: anonymous search */
	const char *bind_password_file;
	const char *user_filter;
	const char *group;               /* NULL: no group required */
	unsigned pool;
};

static const struct conf_key ldap_keys[] = {
	{ "uri", CONF_STRING, CONF_REQUIRED, NULL, 0, 0, NULL,
	  "ldap:// or ldaps:// URIs, tried in order", CONF_AT(struct ldap_conf, uri) },
	{ "starttls", CONF_BOOL, 0, "no", 0, 0, NULL,
	  "StartTLS on ldap:// URIs (certificate and host name verified)",
	  CONF_AT(struct ldap_conf, starttls) },
	{ "insecure", CONF_BOOL, 0, "no", 0, 0, NULL,
	  "allow binds over ldap:// without any TLS (passwords in clear)",
	  CONF_AT(struct ldap_conf, insecure) },
	{ "base", CONF_STRING, CONF_REQUIRED, NULL, 0, 0, NULL,
	  "search base for users", CONF_AT(struct ldap_conf, base) },
	{ "bind_dn", CONF_STRING, CONF_EMPTY_OK, NULL, 0, 0, NULL,
	  "service account for searches; unset: anonymous search",
	  CONF_AT(struct ldap_conf, bind_dn) },
	{ "bind_password_file", CONF_SECRET_FILE, 0, NULL, 0, 0, NULL,
	  "file holding the service account's password",
	  CONF_AT(struct ldap_conf, bind_password_file) },
	{ "user_filter", CONF_STRING, 0, "(|(uid=%u)(mail=%u)(userPrincipalName=%u))", 0, 0, NULL,
	  "filter finding exactly one user: %u username, %l local part, %d domain",
	  CONF_AT(struct ldap_conf, user_filter) },
	{ "group", CONF_STRING, CONF_EMPTY_OK, NULL, 0, 0, NULL,
	  "DN of a group the user must belong to (nested on AD)",
	  CONF_AT(struct ldap_conf, group) },
	{ "pool", CONF_UINT, 0, "4", 1, 1024, NULL,
	  "service-account connections kept open", CONF_AT(struct ldap_conf, pool) },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

/* What `dagate probe` prints for one instance: a line per URI. */
#define PROV_LDAP_PROBE_MAX 1024

struct ldap_state {
	struct prov_ldap_conf conf;
	struct prov_ldap_pool *pool;
	_Atomic int64_t svc_rejected_until_ms;
	char probe_report[PROV_LDAP_PROBE_MAX]; /* the last probe's detail */
};

/* One login. A detail with the directory's own words is formatted into
 * `detail` and handed to the caller's buffer at the end (provider.h). */
struct ldap_login {
	struct ldap_state *st;
	const struct auth_request *req;
	struct prov_ldap_slot *slot;
	char detail[PROV_LDAP_MSG_MAX];
};

static const char *detailf(struct ldap_login *lg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static const char *detailf(struct ldap_login *lg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(lg->detail, sizeof lg->detail, fmt, ap);
	va_end(ap);
	return lg->detail;
}

/* The caller's copy of a formatted detail (provider.h). */
static const char *detail_keep(const struct auth_request *req, const char *text)
{
	if (req->detail_buf == NULL || req->detail_size == 0)
		return "directory failure (no room for its detail)";
	snprintf(req->detail_buf, req->detail_size, "%s", text);
	return req->detail_buf;
}

static void ldap_conf_clear(struct prov_ldap_conf *c)
{
	prov_ldap_uris_free(&c->uris, c->uri_count);
	free(c->ca_file);
	free(c->base);
	free(c->bind_dn);
	if (c->bind_password != NULL) {
		explicit_bzero(c->bind_password, c->bind_password_len);
		free(c->bind_password);
	}
	free(c->user_filter);
	free(c->group);
	free(c->group_filter);
	memset(c, 0, sizeof *c);
}

static char *dup_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

static size_t ldaps_count(const struct prov_ldap_conf *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->uri_count; i++)
		n += c->uris[i].ldaps;
	return n;
}

static int ldap_conf_read(struct prov_ldap_conf *c, const struct conf_section *s,
			  struct conf_errors *errors)
{
	struct provider_common_conf common;
	struct ldap_conf cfg;
	const char *error, *pwfile;
	int bad = 0;

	conf_bind(s, provider_common_keys, &common);
	conf_bind(s, ldap_keys, &cfg);
	pwfile = cfg.bind_password_file;
	if (prov_ldap_uris_parse(cfg.uri, &c->uris, &c->uri_count, &error) < 0) {
		conf_error_at(errors, s->file, conf_line(s, "uri"), "%s", error);
		bad++;
	}
	c->starttls = cfg.starttls;
	c->insecure = cfg.insecure;
	c->insecure_tls = common.insecure_tls;
	if (c->starttls && c->uri_count > 0 && ldaps_count(c) == c->uri_count) {
		conf_error_at(errors, s->file, conf_line(s, "starttls"),
			      "starttls = yes but every URI is ldaps:// (TLS from the first "
			      "byte): remove starttls, or use ldap:// URIs with it");
		bad++;
	}
	for (size_t i = 0; i < c->uri_count; i++) {
		if (!c->uris[i].ldaps && !c->starttls && !c->insecure) {
			conf_error_at(errors, s->file, conf_line(s, "uri"),
				      "%s would send passwords without TLS: use ldaps://, "
				      "starttls = yes, or (not for production) insecure = yes",
				      c->uris[i].text);
			bad++;
			break;
		}
	}
	if (common.ca_file != NULL && access(common.ca_file, R_OK) != 0) {
		conf_error_at(errors, s->file, conf_line(s, "ca_file"),
			      "ca_file %s is not readable", common.ca_file);
		bad++;
	}
	c->user_filter = strdup(cfg.user_filter);
	if (c->user_filter != NULL && prov_ldap_filter_check(c->user_filter, &error) < 0) {
		conf_error_at(errors, s->file, conf_line(s, "user_filter"), "%s", error);
		bad++;
	}
	c->ca_file = dup_or_null(common.ca_file);
	c->base = strdup(cfg.base);
	c->bind_dn = dup_or_null(cfg.bind_dn);
	c->group = dup_or_null(cfg.group);
	c->pool_size = cfg.pool;
	if (c->bind_dn != NULL && pwfile == NULL) {
		conf_error_at(errors, s->file, conf_line(s, "bind_dn"),
			      "bind_dn needs bind_password_file");
		bad++;
	} else if (c->bind_dn == NULL && pwfile != NULL) {
		conf_error_at(errors, s->file, conf_line(s, "bind_password_file"),
			      "bind_password_file without bind_dn");
		bad++;
	} else if (pwfile != NULL) {
		if (config_read_secret_file(pwfile, &c->bind_password, &c->bind_password_len,
					    &error) < 0) {
			conf_secret_error_at(errors, s->file, conf_line(s, "bind_password_file"),
					     pwfile, error);
			bad++;
		} else if (c->bind_password_len == 0) {
			/* An empty password makes a DN bind anonymous (RFC 4513). */
			conf_error_at(errors, s->file, conf_line(s, "bind_password_file"),
				      "%s is empty", pwfile);
			bad++;
		}
	}
	if (c->group != NULL) {
		char *esc = prov_ldap_escape(c->group);
		size_t len = esc != NULL ? 2 * strlen(esc) + 64 : 0;

		if (esc != NULL && (c->group_filter = malloc(len)) != NULL)
			snprintf(c->group_filter, len, "(|(memberOf:" PROV_LDAP_IN_CHAIN ":=%s)(memberOf=%s))",
				 esc, esc);
		free(esc);
	}
	if (c->user_filter == NULL || c->base == NULL ||
	    (c->group != NULL && c->group_filter == NULL))
		bad++;
	return bad > 0 ? -1 : 0;
}

static void ldap_fini(struct provider *p)
{
	struct ldap_state *st = p->state;

	if (st == NULL)
		return;
	prov_ldap_pool_free(&st->pool);
	ldap_conf_clear(&st->conf);
	free(st);
	p->state = NULL;
}

static int ldap_parse(struct provider *p, const struct conf_section *s,
		      struct conf_errors *errors)
{
	struct ldap_state *st = calloc(1, sizeof *st);

	if (st == NULL)
		return -1;
	p->state = st;
	st->conf.name = p->name;
	atomic_init(&st->svc_rejected_until_ms, 0);
	if (ldap_conf_read(&st->conf, s, errors) < 0) {
		ldap_fini(p);
		return -1;
	}
	if (st->conf.insecure_tls)
		log_warnx("provider %s: insecure_tls = yes: directory certificates are NOT verified",
			  p->name);
	if (st->conf.insecure && !st->conf.starttls)
		log_warnx("provider %s: insecure = yes: passwords may cross the network in clear",
			  p->name);
	return 0;
}

/* The pool's connections are opened by the first logins, not here. */
static int ldap_start(struct provider *p, const char **error_r)
{
	struct ldap_state *st = p->state;
	int version;

	/* libldap's global defaults are set up here, single-threaded; not in
	 * parse, because doing so looks up this host's FQDN (maybe by DNS). */
	ldap_get_option(NULL, LDAP_OPT_PROTOCOL_VERSION, &version);
	if (prov_ldap_pool_create(st->conf.pool_size, &st->pool) < 0) {
		*error_r = "out of memory for the connection pool";
		return -1;
	}
	return 0;
}

/* Result codes after which the connection is not worth keeping. */
static bool rc_lost_connection(int rc)
{
	return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT ||
	       rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY || rc == LDAP_NO_MEMORY ||
	       rc == LDAP_LOCAL_ERROR || rc == LDAP_ENCODING_ERROR || rc == LDAP_DECODING_ERROR;
}

/* The slot's service connection: open, bound as bind_dn (if any). */
static int svc_ready(struct ldap_login *lg, const char **detail_r)
{
	struct ldap_state *st = lg->st;
	const struct prov_ldap_conf *c = &st->conf;
	const struct auth_request *req = lg->req;
	int64_t deadline_ms = req->deadline_ms;
	LDAP **ld = &lg->slot->svc;
	struct prov_ldap_bind_result br;

	if (*ld != NULL && !prov_ldap_idle_alive(*ld)) {
		PROV_LDAP_TRACE(req, "ldap: pooled service connection was closed by the server");
		prov_ldap_close(ld);
	}
	if (*ld != NULL)
		return 0;
	if (c->bind_dn != NULL && atomic_load(&st->svc_rejected_until_ms) > clock_now_ms()) {
		*detail_r = "service account password was refused recently";
		return -1;
	}
	if (prov_ldap_connect(c, deadline_ms, req, ld, lg->detail, sizeof lg->detail) < 0) {
		*detail_r = lg->detail;
		return -1;
	}
	if (c->bind_dn == NULL) {
		PROV_LDAP_TRACE(req, "ldap: no bind_dn: searching anonymously");
		return 0;
	}
	if (prov_ldap_simple_bind(*ld, c->bind_dn, c->bind_password, c->bind_password_len,
				  false, deadline_ms, &br) == 0 && br.answered && br.rc == LDAP_SUCCESS) {
		PROV_LDAP_TRACE(req, "ldap: service bind as %s: ok", c->bind_dn);
		return 0;
	}
	if (br.answered && br.rc == LDAP_INVALID_CREDENTIALS) {
		atomic_store(&st->svc_rejected_until_ms,
			     clock_now_ms() + PROV_LDAP_SVC_REJECT_BACKOFF_MS);
		log_errorx("ldap %s: service bind as %s refused: %s (not retried for %ds)",
			   c->name, c->bind_dn, br.detail, PROV_LDAP_SVC_REJECT_BACKOFF_MS / 1000);
	}
	PROV_LDAP_TRACE(req, "ldap: service bind as %s failed: %s", c->bind_dn, br.detail);
	*detail_r = detailf(lg, "service bind failed: %s", br.detail);
	prov_ldap_close(ld);
	return -1;
}

/* Find the user's DN with the service connection; one retry on a fresh
 * connection when the pooled one turns out dead. */
static enum auth_result find_user(struct ldap_login *lg, const char *filter, char **dn_r,
				  const char **detail_r)
{
	const struct prov_ldap_conf *c = &lg->st->conf;
	const struct auth_request *req = lg->req;
	struct prov_ldap_slot *slot = lg->slot;
	LDAPMessage *res = NULL;
	int rc = LDAP_SERVER_DOWN, count;
	long long first_ms = -1;

	for (int attempt = 0; attempt < 2; attempt++) {
		int64_t started;

		if (svc_ready(lg, detail_r) < 0) {
			/* Say what happened first: a pooled connection that hung
			 * ate the time, "no time left to connect" is only the
			 * consequence. */
			if (first_ms >= 0) {
				char then[sizeof lg->detail];

				snprintf(then, sizeof then, "%s", *detail_r);
				*detail_r = detailf(lg, "search on a pooled connection failed after "
						    "%lld ms: %s; then %s", first_ms,
						    ldap_err2string(rc), then);
			}
			return AUTH_UNAVAILABLE;
		}
		started = clock_now_ms();
		rc = prov_ldap_search(slot->svc, c->base, LDAP_SCOPE_SUBTREE, filter, PROV_LDAP_SIZELIMIT,
			    req->deadline_ms, &res);
		if (!rc_lost_connection(rc))
			break;
		first_ms = (long long)(clock_now_ms() - started);
		PROV_LDAP_TRACE(req, "ldap: search failed after %lld ms: %s", first_ms,
				ldap_err2string(rc));
		ldap_msgfree(res);
		res = NULL;
		prov_ldap_close(&slot->svc);
	}
	if (rc_lost_connection(rc)) {
		*detail_r = detailf(lg, "search failed after %lld ms: %s", first_ms, ldap_err2string(rc));
		return AUTH_UNAVAILABLE;
	}
	if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
		ldap_msgfree(res);
		PROV_LDAP_TRACE(req, "ldap: search base=%s filter=%s failed: %s", c->base, filter,
				ldap_err2string(rc));
		*detail_r = detailf(lg, "search failed: %s (%d)", ldap_err2string(rc), rc);
		return AUTH_ERROR;
	}
	count = ldap_count_entries(slot->svc, res);
	PROV_LDAP_TRACE(req, "ldap: search base=%s filter=%s: %d entr%s%s", c->base, filter,
			count, count == 1 ? "y" : "ies", count > 1 ? " (or more)" : "");
	if (count == 1)
		*dn_r = ldap_get_dn(slot->svc, ldap_first_entry(slot->svc, res));
	ldap_msgfree(res);
	if (count == 0) {
		*detail_r = "no entry matches";
		return AUTH_UNKNOWN_USER;
	}
	if (count > 1) {
		*detail_r = "ambiguous: several entries match";
		return AUTH_ERROR;
	}
	if (*dn_r == NULL) {
		*detail_r = "entry without DN";
		return AUTH_ERROR;
	}
	PROV_LDAP_TRACE(req, "ldap: user entry: %s", *dn_r);
	return AUTH_OK;
}

/* Is `dn` in c->group? User side first (AD nested, memberOf), then the
 * group's own member / uniqueMember list. */
static enum auth_result check_group(struct ldap_login *lg, const char *dn,
				    const char **detail_r)
{
	const struct prov_ldap_conf *c = &lg->st->conf;
	const struct auth_request *req = lg->req;
	struct prov_ldap_slot *slot = lg->slot;
	LDAPMessage *res = NULL;
	char *esc, *filter;
	size_t len;
	int rc, count;

	rc = prov_ldap_search(slot->svc, dn, LDAP_SCOPE_BASE, c->group_filter, 1, req->deadline_ms, &res);
	count = rc == LDAP_SUCCESS ? ldap_count_entries(slot->svc, res) : 0;
	ldap_msgfree(res);
	if (rc_lost_connection(rc)) {
		prov_ldap_close(&slot->svc);
		*detail_r = detailf(lg, "group check failed: %s", ldap_err2string(rc));
		return AUTH_UNAVAILABLE;
	}
	if (count > 0) {
		PROV_LDAP_TRACE(req, "ldap: member of %s (memberOf, nested on AD)", c->group);
		return AUTH_OK;
	}
	if ((esc = prov_ldap_escape(dn)) == NULL)
		return AUTH_ERROR;
	len = 2 * strlen(esc) + 40;
	filter = malloc(len);
	if (filter == NULL) {
		free(esc);
		return AUTH_ERROR;
	}
	snprintf(filter, len, "(|(member=%s)(uniqueMember=%s))", esc, esc);
	free(esc);
	rc = prov_ldap_search(slot->svc, c->group, LDAP_SCOPE_BASE, filter, 1, req->deadline_ms, &res);
	free(filter);
	count = rc == LDAP_SUCCESS ? ldap_count_entries(slot->svc, res) : 0;
	ldap_msgfree(res);
	if (rc_lost_connection(rc)) {
		prov_ldap_close(&slot->svc);
		*detail_r = detailf(lg, "group check failed: %s", ldap_err2string(rc));
		return AUTH_UNAVAILABLE;
	}
	if (rc == LDAP_NO_SUCH_OBJECT) {
		log_errorx("ldap %s: group %s does not exist", c->name, c->group);
		*detail_r = "required group does not exist";
		return AUTH_ERROR;
	}
	if (rc != LDAP_SUCCESS) {
		*detail_r = detailf(lg, "group check failed: %s (%d)", ldap_err2string(rc), rc);
		return AUTH_ERROR;
	}
	if (count > 0) {
		PROV_LDAP_TRACE(req, "ldap: member of %s (group's member list)", c->group);
		return AUTH_OK;
	}
	PROV_LDAP_TRACE(req, "ldap: NOT a member of %s", c->group);
	*detail_r = "not in the required group";
	return AUTH_REJECT;
}

/* The one bind of this login, on the slot's user connection. */
static enum auth_result bind_user(struct ldap_login *lg, const char *dn,
				  const char **detail_r)
{
	const struct auth_request *req = lg->req;
	struct prov_ldap_slot *slot = lg->slot;
	struct prov_ldap_bind_result br;
	enum auth_result result;

	if (slot->user != NULL && !prov_ldap_idle_alive(slot->user))
		prov_ldap_close(&slot->user);
	/* Until the bind is sent, failing over is safe: nothing was tried. */
	if (slot->user == NULL &&
	    prov_ldap_connect(&lg->st->conf, req->deadline_ms, req, &slot->user, lg->detail,
			      sizeof lg->detail) < 0) {
		*detail_r = lg->detail;
		return AUTH_UNAVAILABLE;
	}
	if (prov_ldap_simple_bind(slot->user, dn, req->password, req->password_len, true,
				  req->deadline_ms, &br) < 0) {
		*detail_r = detailf(lg, "%s", br.detail);
		return AUTH_UNAVAILABLE;
	}
	if (!br.answered) {
		/* Sent but unanswered: it may have counted. Not retried. */
		if (req->unanswered_r != NULL)
			*req->unanswered_r = true;
		prov_ldap_close(&slot->user);
		PROV_LDAP_TRACE(req, "ldap: bind as %s: %s (not retried)", dn, br.detail);
		*detail_r = detailf(lg, "%s", br.detail);
		return AUTH_UNAVAILABLE;
	}
	if (br.pp_error >= 0)
		result = prov_ldap_ppolicy_outcome(br.pp_error, detail_r);
	else if (br.rc == LDAP_INVALID_CREDENTIALS)
		result = prov_ldap_ad_outcome(br.ad_code, detail_r);
	else
		result = prov_ldap_bind_rc_outcome(br.rc, detail_r);
	if (result == AUTH_OK && br.rc != LDAP_SUCCESS)
		result = prov_ldap_bind_rc_outcome(br.rc, detail_r);
	if (rc_lost_connection(br.rc))
		prov_ldap_close(&slot->user);
	PROV_LDAP_TRACE(req, "ldap: bind as %s: %s -> %s%s%s", dn, br.detail,
			auth_result_name(result), *detail_r != NULL ? " " : "",
			*detail_r != NULL ? *detail_r : "");
	return result;
}

static enum auth_result ldap_authenticate(struct provider *p, const struct auth_request *req,
					  const char **detail_r)
{
	struct ldap_state *st = p->state;
	struct ldap_login lg = { .st = st, .req = req };
	enum auth_result result;
	char *filter, *dn = NULL;

	*detail_r = NULL;
	/* RFC 4513 5.1.2: a DN with an empty password is an anonymous bind,
	 * which AD and others answer with success. Never let one through,
	 * whatever the callers checked. */
	if (req->password_len == 0 || req->password[0] == '\0') {
		PROV_LDAP_TRACE(req, "ldap: empty password refused without asking the directory");
		*detail_r = "empty password";
		return AUTH_REJECT;
	}
	filter = prov_ldap_filter_expand(st->conf.user_filter, req->username, detail_r);
	if (filter == NULL) {
		PROV_LDAP_TRACE(req, "ldap: cannot build the filter: %s", *detail_r);
		return AUTH_UNKNOWN_USER;
	}
	if (prov_ldap_pool_get(st->pool, req->deadline_ms, &lg.slot) < 0) {
		free(filter);
		*detail_r = "no pooled connection free before the deadline";
		return AUTH_UNAVAILABLE;
	}
	result = find_user(&lg, filter, &dn, detail_r);
	if (result == AUTH_OK && st->conf.group != NULL)
		result = check_group(&lg, dn, detail_r);
	if (result == AUTH_OK)
		result = bind_user(&lg, dn, detail_r);
	prov_ldap_pool_put(st->pool, lg.slot);
	ldap_memfree(dn);
	free(filter);
	if (*detail_r == lg.detail)
		*detail_r = detail_keep(req, lg.detail);
	return result;
}

/* [sso] lookup. Login names are matched on AD's and POSIX's own
 * attributes, never on what Salesforce sends. */
#define PROV_LDAP_LOOKUP_FILTER "(|(sAMAccountName=%u)(uid=%u))"

/* One integer attribute of `e`, or -1 when absent or unreadable. */
static long long attr_number(LDAP *ld, LDAPMessage *e, const char *name)
{
	struct berval **v = ldap_get_values_len(ld, e, name);
	long long n = -1;
	char buf[32];

	if (v != NULL && v[0] != NULL && v[0]->bv_len < sizeof buf) {
		memcpy(buf, v[0]->bv_val, v[0]->bv_len);
		buf[v[0]->bv_len] = '\0';
		n = strtoll(buf, NULL, 10);
	}
	ldap_value_free_len(v);
	return n;
}

/* The entry `dn` read for its state and `attribute`'s single value. */
static enum auth_result read_entry(struct ldap_login *lg, const char *dn, const char *attribute,
				   char *out, size_t size, const char **detail_r)
{
	LDAP *ld = lg->slot->svc;
	char *attrs[] = { (char *)attribute, "userAccountControl",
			  "msDS-User-Account-Control-Computed", "accountExpires",
			  "pwdAccountLockedTime", NULL };
	LDAPMessage *res = NULL, *e;
	struct berval **v = NULL, **locked;
	enum auth_result r = AUTH_ERROR;
	int rc;

	rc = prov_ldap_search_attrs(ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 1,
				    lg->req->deadline_ms, &res);
	if (rc != LDAP_SUCCESS || (e = ldap_first_entry(ld, res)) == NULL) {
		ldap_msgfree(res);
		if (rc_lost_connection(rc))
			prov_ldap_close(&lg->slot->svc);
		*detail_r = detailf(lg, "reading the entry failed: %s", ldap_err2string(rc));
		return rc_lost_connection(rc) ? AUTH_UNAVAILABLE : AUTH_ERROR;
	}
	locked = ldap_get_values_len(ld, e, "pwdAccountLockedTime");
	r = prov_ldap_account_state(attr_number(ld, e, "userAccountControl"),
				    attr_number(ld, e, "msDS-User-Account-Control-Computed"),
				    attr_number(ld, e, "accountExpires"), locked != NULL,
				    clock_wall_ms(), detail_r);
	ldap_value_free_len(locked);
	if (r == AUTH_OK) {
		v = ldap_get_values_len(ld, e, attribute);
		if (v == NULL || v[0] == NULL) {
			*detail_r = detailf(lg, "the entry has no %s", attribute);
			r = AUTH_UNKNOWN_USER;
		} else if (v[1] != NULL) {
			*detail_r = detailf(lg, "the entry has several %s values", attribute);
			r = AUTH_ERROR;
		} else if (v[0]->bv_len == 0 || v[0]->bv_len >= size ||
			   memchr(v[0]->bv_val, '\0', v[0]->bv_len) != NULL) {
			*detail_r = detailf(lg, "the entry's %s is empty or too long", attribute);
			r = AUTH_ERROR;
		} else {
			memcpy(out, v[0]->bv_val, v[0]->bv_len);
			out[v[0]->bv_len] = '\0';
			PROV_LDAP_TRACE(lg->req, "ldap: %s: %s", attribute, out);
		}
	}
	ldap_value_free_len(v);
	ldap_msgfree(res);
	return r;
}

static enum auth_result ldap_lookup(struct provider *p, const struct auth_request *req,
				    const char *attribute, char *out, size_t size,
				    const char **detail_r)
{
	struct ldap_state *st = p->state;
	struct ldap_login lg = { .st = st, .req = req };
	enum auth_result result;
	char *filter, *dn = NULL;

	*detail_r = NULL;
	filter = prov_ldap_filter_expand(PROV_LDAP_LOOKUP_FILTER, req->username, detail_r);
	if (filter == NULL)
		return AUTH_UNKNOWN_USER;
	if (prov_ldap_pool_get(st->pool, req->deadline_ms, &lg.slot) < 0) {
		free(filter);
		*detail_r = "no pooled connection free before the deadline";
		return AUTH_UNAVAILABLE;
	}
	/* The account's state first: "disabled" says more than "not in the
	 * group" about a disabled account. */
	result = find_user(&lg, filter, &dn, detail_r);
	if (result == AUTH_OK)
		result = read_entry(&lg, dn, attribute, out, size, detail_r);
	if (result == AUTH_OK && st->conf.group != NULL)
		result = check_group(&lg, dn, detail_r);
	prov_ldap_pool_put(st->pool, lg.slot);
	ldap_memfree(dn);
	free(filter);
	if (result != AUTH_OK)
		out[0] = '\0';
	if (*detail_r == lg.detail)
		*detail_r = detail_keep(req, lg.detail);
	return result;
}

/* Every URI in turn (ldap_probe.c). The report is p-owned: probes of one
 * instance never overlap (provider.h). */
static int ldap_probe(struct provider *p, int64_t deadline_ms, const char **detail_r)
{
	struct ldap_state *st = p->state;

	*detail_r = st->probe_report;
	return prov_ldap_probe(&st->conf, deadline_ms, st->probe_report,
			       sizeof st->probe_report);
}

static void ldap_servers(struct provider *p,
			 void (*emit)(void *ctx, const char *server, bool up), void *ctx,
			 unsigned *pool_in_use_r, unsigned *pool_size_r)
{
	struct ldap_state *st = p->state;
	int64_t now = clock_now_ms();

	for (size_t i = 0; i < st->conf.uri_count; i++)
		emit(ctx, st->conf.uris[i].text,
		     atomic_load(&st->conf.uris[i].down_until_ms) <= now);
	*pool_in_use_r = *pool_size_r = 0;
	if (st->pool != NULL)
		prov_ldap_pool_usage(st->pool, pool_in_use_r, pool_size_r);
}

const struct provider_type prov_ldap_type = {
	.name = "ldap",
	.keys = ldap_keys,
	.parse = ldap_parse,
	.start = ldap_start,
	.authenticate = ldap_authenticate,
	.lookup = ldap_lookup,
	.probe = ldap_probe,
	.fini = ldap_fini,
	.servers = ldap_servers,
};
