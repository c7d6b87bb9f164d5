/*
 * `http`: a login is an HTTP request to `url` with the user's credentials.
 *
 * ok only on the configured 2xx status (`ok_status`); 401 and 403 are a
 * reject; everything else (other statuses, redirects, which are never
 * followed, timeouts, TLS failures) is unavailable. Exactly one auth scheme
 * is offered, so a server cannot talk dagate down from digest to basic.
 * Every check uses a new handle and thus a new connection; for ntlm and
 * negotiate that is also asked for explicitly, because those authenticate
 * the connection rather than the request.
 *
 * Negative control: a URL that accepts anyone (a location without
 * auth_basic, a guest account) would let every password in. At start
 * (never in parse: check-config stays off the network), in `dagate probe`
 * and every HTTP_CONTROL_INTERVAL_MS, a request with a
 * random user and password must be refused with 401/403. If it is accepted,
 * the provider is disabled (every login: unavailable) and says so loudly.
 *
 * negotiate (Kerberos): the password is proven to the KDC of `realm` first
 * (http_negotiate.h); the request then carries a ticket from a private
 * cache. Wrong password, unknown user and locked accounts are the KDC's
 * answers; 401/403 after a valid ticket means the web server refused this
 * user. Its negative control is a random principal, which the KDC must
 * refuse.
 */
#include "provider.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "curl_common.h"
#include "http_negotiate.h"
#include "log.h"
#include "template.h"

/* How often the negative control is repeated while serving: a server's
 * configuration can change under us, but checking it on every login would
 * double the backend's load. */
#define HTTP_CONTROL_INTERVAL_MS (10 * 60 * 1000)

static const char *const http_auth_names[] = { "basic", "digest", "ntlm", "negotiate", NULL };
/* The CURLAUTH_* bit of each of http_auth_names: exactly one scheme. */
static const long http_auth_bits[] = {
	CURLAUTH_BASIC, CURLAUTH_DIGEST, CURLAUTH_NTLM, CURLAUTH_NEGOTIATE
};

/* A [provider NAME] of type http, as configured. */
struct http_conf {
	const char *url;
	int auth;              /* index into http_auth_names */
	const char *login;     /* template */
	unsigned ok_status;
	const char *realm;     /* negotiate only */
	const char *krb5_conf; /* negotiate only; NULL: the system's */
};

static const struct conf_key http_keys[] = {
	{ "url", CONF_STRING, CONF_REQUIRED, NULL, 0, 0, NULL,
	  "https:// address that answers ok_status only to valid credentials",
	  CONF_AT(struct http_conf, url) },
	{ "auth", CONF_ENUM, 0, "basic", 0, 0, http_auth_names,
	  "HTTP authentication scheme: basic, digest, ntlm or negotiate",
	  CONF_AT(struct http_conf, auth) },
	{ "login", CONF_STRING, 0, "%u", 0, 0, NULL,
	  "user name sent: %u mapped username, %l its local part, %d its domain",
	  CONF_AT(struct http_conf, login) },
	{ "ok_status", CONF_UINT, 0, "200", 200, 299, NULL,
	  "the status that means valid credentials", CONF_AT(struct http_conf, ok_status) },
	{ "realm", CONF_STRING, 0, NULL, 0, 0, NULL,
	  "negotiate: the Kerberos realm of the users (login@REALM)",
	  CONF_AT(struct http_conf, realm) },
	{ "krb5_conf", CONF_PATH, 0, NULL, 0, 0, NULL,
	  "negotiate: krb5.conf for dagate's KDC exchanges (default: the system's)",
	  CONF_AT(struct http_conf, krb5_conf) },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

enum http_control {
	HTTP_CONTROL_UNKNOWN = 0,   /* not run, or the server did not answer */
	HTTP_CONTROL_PASSED,        /* random credentials refused */
	HTTP_CONTROL_FAILED,        /* random credentials accepted: disabled */
};

struct http_state {
	char *url;
	char *login;
	long auth;                  /* CURLAUTH_* */
	const char *auth_name;
	long ok_status;
	struct curlc_tls tls;
	struct http_negotiate *negotiate; /* auth = negotiate only */
	atomic_int control;         /* enum http_control */
	_Atomic int64_t control_at; /* clock_now_ms() of the last control */
	atomic_flag control_busy;   /* one periodic re-check at a time */
};

/* CURLOPT_DEBUGFUNCTION for negotiate: notes whether a request carried a
 * Negotiate token, so that a 401 can be told apart from "GSS-API produced
 * nothing". Looks only at the header name; nothing is logged. */
static int http_negotiate_seen(CURL *h, curl_infotype type, char *data, size_t size,
			       void *userp)
{
	static const char want[] = "\nAuthorization: Negotiate ";
	bool *sent = userp;

	(void)h;
	if (type == CURLINFO_HEADER_OUT && size >= sizeof want - 1 &&
	    memmem(data, size, want, sizeof want - 1) != NULL)
		*sent = true;
	return 0;
}

/* What a request carries. */
enum http_creds {
	HTTP_CREDS_PASSWORD,   /* login and password (basic, digest, ntlm) */
	HTTP_CREDS_TICKET,     /* negotiate: this thread's GSS-API cache */
	HTTP_CREDS_NONE,       /* nothing (negotiate's probe) */
};

/* One request. Returns the HTTP status, or 0 with *error_r on failure.
 * *token_sent_r says whether credentials went out: with HTTP_CREDS_TICKET
 * a Negotiate token; with HTTP_CREDS_PASSWORD, on a failure, whether any
 * request bytes left (the password may have reached the server). */
static long http_request(struct http_state *st, enum http_creds creds, const char *login,
			 const char *password, int64_t deadline_ms,
			 bool *token_sent_r, const char **error_r)
{
	char errbuf[CURL_ERROR_SIZE];
	CURL *h = curlc_new(st->url, "https", &st->tls, deadline_ms, errbuf, error_r);
	bool negotiate = creds == HTTP_CREDS_TICKET;
	bool per_connection = st->auth == CURLAUTH_NTLM || st->auth == CURLAUTH_NEGOTIATE;
	long status = 0;
	bool set_up = true;
	CURLcode rc;

	*token_sent_r = false;
	if (h == NULL)
		return 0;
	if (creds == HTTP_CREDS_NONE) {
		if (curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_NONE) != CURLE_OK)
			set_up = false;
	} else if (curl_easy_setopt(h, CURLOPT_HTTPAUTH, st->auth) != CURLE_OK ||
	    (negotiate
	     ? (curl_easy_setopt(h, CURLOPT_USERPWD, ":") != CURLE_OK ||
		curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, http_negotiate_seen) != CURLE_OK ||
		curl_easy_setopt(h, CURLOPT_DEBUGDATA, token_sent_r) != CURLE_OK ||
		curl_easy_setopt(h, CURLOPT_VERBOSE, 1L) != CURLE_OK)
	     : (curl_easy_setopt(h, CURLOPT_USERNAME, login) != CURLE_OK ||
		curl_easy_setopt(h, CURLOPT_PASSWORD, password) != CURLE_OK)) ||
	    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, per_connection ? 1L : 0L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, per_connection ? 1L : 0L) != CURLE_OK) {
		set_up = false;
	}
	if (!set_up) {
		*error_r = "libcurl option refused";
	} else {
		rc = curl_easy_perform(h);
		if (rc == CURLE_OK) {
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		} else {
			*error_r = curlc_failure(rc);
			log_debug("http %s: %s (%s)", st->url, *error_r, errbuf);
			if (creds == HTTP_CREDS_PASSWORD)
				*token_sent_r = curlc_request_sent(h);
		}
	}
	curl_easy_cleanup(h);
	return status;
}

/* The outcome of a request's status. `error`: why there is no status. */
static enum auth_result http_status_result(const struct http_state *st, long status,
					   const char *error, const char **detail_r)
{
	if (status == 0) {
		*detail_r = error;
		return AUTH_UNAVAILABLE;
	}
	if (status == st->ok_status)
		return AUTH_OK;
	if (status == 401 || status == 403) {
		*detail_r = status == 401 ? "http:401" : "http:403";
		return AUTH_REJECT;
	}
	*detail_r = status >= 300 && status < 400 ? "redirect not followed"
		  : status >= 500 ? "server error" : "unexpected status";
	return AUTH_UNAVAILABLE;
}

/* auth = negotiate: tickets from the KDC, then the request with them.
 * *status_r is the HTTP status (0 when no request was answered). `req` is
 * NULL for the negative control. */
static enum auth_result http_check_negotiate(struct http_state *st,
					     const struct auth_request *req,
					     const char *login, const char *password,
					     int64_t deadline_ms, long *status_r,
					     const char **detail_r)
{
	struct http_negotiate_creds creds = { 0 };
	const char *error = "no answer";
	char *saved = NULL;
	bool sent = false;
	enum auth_result res;

	*status_r = 0;
	res = http_negotiate_acquire(st->negotiate, login, password, deadline_ms,
				     &creds, detail_r);
	if (req != NULL)
		auth_trace_step(req, "http: KDC: %s", res == AUTH_OK
				? "password accepted, service ticket issued" : *detail_r);
	if (res == AUTH_OK) {
		if (http_negotiate_begin(&creds, &saved) < 0) {
			*detail_r = "gss-api: cannot select the credential cache";
			res = AUTH_UNAVAILABLE;
		} else {
			*status_r = http_request(st, HTTP_CREDS_TICKET, NULL, NULL, deadline_ms,
						 &sent, &error);
			http_negotiate_end(&saved);
			res = http_status_result(st, *status_r, error, detail_r);
			if (res == AUTH_REJECT && !sent) {
				/* the server never saw our ticket: not its verdict */
				*detail_r = "negotiate: no token sent";
				res = AUTH_UNAVAILABLE;
			}
		}
	}
	http_negotiate_release(&creds);
	return res;
}

/* Random credentials must be refused. Updates st->control. */
static enum http_control http_run_control(struct provider *p, int64_t deadline_ms,
					  long *status_r, const char **error_r)
{
	struct http_state *st = p->state;
	char user[80], password[65];
	enum http_control prev, now;
	enum auth_result res;
	long status;
	bool sent;

	*status_r = 0;
	if (curlc_random_hex(password) < 0) {
		*error_r = "no randomness";
		return (enum http_control)atomic_load(&st->control);
	}
	snprintf(user, sizeof user, "dagate-control-%.16s", password + 48);
	if (st->negotiate != NULL) {
		/* a random principal must fail at the KDC */
		res = http_check_negotiate(st, NULL, user, password, deadline_ms, &status, error_r);
		if (res == AUTH_REJECT || res == AUTH_UNKNOWN_USER || res == AUTH_LOCKED)
			status = 401;
		else if (res == AUTH_OK)
			status = 200;
		else if ((status >= 200 && status <= 299) || status == 401 || status == 403)
			status = 0;   /* no verdict from the KDC or the web server */
	} else {
		status = http_request(st, HTTP_CREDS_PASSWORD, user, password, deadline_ms,
				      &sent, error_r);
	}
	explicit_bzero(password, sizeof password);
	*status_r = status;
	if (status == 401 || status == 403)
		now = HTTP_CONTROL_PASSED;
	else if (status >= 200 && status <= 299)
		now = HTTP_CONTROL_FAILED;
	else
		return (enum http_control)atomic_load(&st->control);  /* no verdict */
	atomic_store(&st->control_at, clock_now_ms());
	prev = (enum http_control)atomic_exchange(&st->control, (int)now);
	if (now == HTTP_CONTROL_FAILED && prev != HTTP_CONTROL_FAILED)
		log_errorx("provider %s: DISABLED: %s answered %ld to a random user and "
			   "password, so it would accept any password; every login through "
			   "this provider answers 'unavailable' until it refuses them",
			   p->name, st->url, status);
	else if (now == HTTP_CONTROL_PASSED && prev == HTTP_CONTROL_FAILED)
		log_warnx("provider %s: %s refuses random credentials again; enabled",
			  p->name, st->url);
	return now;
}

/* The control state to act on for one login, re-running it when due.
 * *error_r says why there is no verdict (HTTP_CONTROL_UNKNOWN). */
static enum http_control http_control_for_login(struct provider *p,
						const struct auth_request *req,
						const char **error_r)
{
	struct http_state *st = p->state;
	enum http_control c = (enum http_control)atomic_load(&st->control);
	long status;

	*error_r = "negative control: no verdict";
	if (c == HTTP_CONTROL_UNKNOWN) {
		auth_trace_step(req, "http: negative control (random credentials) first");
		c = http_run_control(p, req->deadline_ms, &status, error_r);
		if (c == HTTP_CONTROL_UNKNOWN && status != 0)
			*error_r = "negative control: neither accepted nor refused";
		return c;
	}
	if (clock_now_ms() - atomic_load(&st->control_at) > HTTP_CONTROL_INTERVAL_MS &&
	    !atomic_flag_test_and_set(&st->control_busy)) {
		c = http_run_control(p, req->deadline_ms, &status, error_r);
		atomic_flag_clear(&st->control_busy);
	}
	return c;
}

static enum auth_result http_authenticate(struct provider *p,
					  const struct auth_request *req,
					  const char **detail_r)
{
	struct http_state *st = p->state;
	char login[CURLC_LOGIN_MAX];
	const char *error = "no answer";
	enum auth_result res;
	long status;
	bool sent;

	if (req->password_len == 0 || req->password[0] == '\0') {
		*detail_r = "empty password";
		return AUTH_REJECT;
	}
	/* a login that cannot be built is answered before any request, the
	 * negative control included */
	if (template_expand(st->login, req->username, NULL, login, sizeof login, &error) < 0) {
		auth_trace_step(req, "http: cannot build the login: %s", error);
		*detail_r = error;
		return AUTH_UNKNOWN_USER;
	}
	if (st->auth == CURLAUTH_BASIC && strchr(login, ':') != NULL) {
		/* Basic cannot carry it: "user:pass" would split at the wrong colon */
		*detail_r = "':' in login";
		return AUTH_UNKNOWN_USER;
	}
	switch (http_control_for_login(p, req, &error)) {
	case HTTP_CONTROL_FAILED:
		auth_trace_step(req, "http: disabled: %s accepts random credentials", st->url);
		*detail_r = "disabled: accepts random credentials";
		return AUTH_UNAVAILABLE;
	case HTTP_CONTROL_UNKNOWN:
		auth_trace_step(req, "http: no answer: %s", error);
		*detail_r = error;
		return AUTH_UNAVAILABLE;
	case HTTP_CONTROL_PASSED:
		break;
	}
	auth_trace_step(req, "http: GET %s with %s as %s", st->url, st->auth_name, login);
	if (st->negotiate != NULL) {
		res = http_check_negotiate(st, req, login, req->password, req->deadline_ms,
					   &status, detail_r);
	} else {
		status = http_request(st, HTTP_CREDS_PASSWORD, login, req->password,
				      req->deadline_ms, &sent, &error);
		res = http_status_result(st, status, error, detail_r);
		if (status == 0 && sent && req->unanswered_r != NULL)
			*req->unanswered_r = true;   /* may have been counted there */
	}
	explicit_bzero(login, sizeof login);
	if (status == 0 && res == AUTH_UNAVAILABLE)
		auth_trace_step(req, "http: no answer: %s", *detail_r);
	else if (status != 0)
		auth_trace_step(req, "http: TLS verified, status %ld", status);
	return res;
}

static int http_probe(struct provider *p, int64_t deadline_ms, const char **detail_r)
{
	struct http_state *st = p->state;
	int64_t deadline = curlc_probe_deadline(deadline_ms, p->timeout_ms);
	long status;
	const char *error = "no answer";
	bool sent;

	switch (http_run_control(p, deadline, &status, &error)) {
	case HTTP_CONTROL_PASSED:
		if (st->negotiate == NULL) {
			*detail_r = "TLS verified, random credentials refused";
			return 0;
		}
		/* the KDC refused the random principal before any request: the
		 * web server still needs its TLS check, without a ticket */
		status = http_request(st, HTTP_CREDS_NONE, NULL, NULL, deadline, &sent, &error);
		if (status == 401) {
			*detail_r = "KDC refuses random principals, TLS verified, 401 without a ticket";
			return 0;
		}
		*detail_r = status == 0 ? error : status >= 200 && status <= 299
			    ? "url answers without a ticket" : "url: unexpected status without a ticket";
		return -1;
	case HTTP_CONTROL_FAILED:
		*detail_r = "random credentials ACCEPTED: provider disabled";
		return -1;
	case HTTP_CONTROL_UNKNOWN:
		break;
	}
	*detail_r = status != 0 ? "random credentials neither accepted nor refused" : error;
	return -1;
}

static void http_fini(struct provider *p)
{
	struct http_state *st = p->state;

	if (st == NULL)
		return;
	free(st->url);
	free(st->login);
	http_negotiate_free(&st->negotiate);
	curlc_tls_clear(&st->tls);
	free(st);
	p->state = NULL;
}

static int http_parse(struct provider *p, const struct conf_section *s,
		      struct conf_errors *errors)
{
	static const char *const schemes[] = { "https://", NULL };
	static const struct curlc_target_spec spec = {
		.url_key = "url", .schemes = schemes,
		.scheme_error = "url must be https:// (passwords are sent)",
	};
	struct http_state *st = calloc(1, sizeof *st);
	struct curlc_target t;
	struct http_conf c;
	const char *error;
	int ret = 0;

	if (st == NULL)
		return -1;
	p->state = st;
	atomic_init(&st->control, HTTP_CONTROL_UNKNOWN);
	atomic_init(&st->control_at, 0);
	atomic_flag_clear(&st->control_busy);
	conf_bind(s, http_keys, &c);
	if (curlc_target_parse(&spec, s, c.url, c.login, p->name, &t, errors) < 0) {
		ret = -1;
	} else {
		st->url = t.url;
		st->login = t.login;
		st->tls = t.tls;
	}
	st->auth_name = http_auth_names[c.auth];
	st->auth = http_auth_bits[c.auth];
	if (st->auth == CURLAUTH_NEGOTIATE) {
		if (c.realm == NULL) {
			conf_error_at(errors, s->file, s->line, "auth = negotiate needs realm");
			ret = -1;
		} else if (strchr(c.realm, '@') != NULL || strchr(c.realm, '/') != NULL) {
			conf_error_at(errors, s->file, conf_line(s, "realm"), "realm: not a realm name");
			ret = -1;
		} else if (c.krb5_conf != NULL && access(c.krb5_conf, R_OK) != 0) {
			conf_error_at(errors, s->file, conf_line(s, "krb5_conf"),
				      "krb5_conf: cannot read %s", c.krb5_conf);
			ret = -1;
		} else if (http_negotiate_new(c.realm, c.krb5_conf, c.url, &st->negotiate,
					      &error) < 0) {
			conf_error_at(errors, s->file, conf_line(s, "url"), "negotiate: %s", error);
			ret = -1;
		}
	} else if (c.realm != NULL || c.krb5_conf != NULL) {
		conf_error_at(errors, s->file, conf_line(s, c.realm != NULL ? "realm" : "krb5_conf"),
			      "%s is only for auth = negotiate", c.realm != NULL ? "realm" : "krb5_conf");
		ret = -1;
	}
	st->ok_status = (long)c.ok_status;
	if (ret < 0)
		http_fini(p);
	return ret;
}

/* The start-up negative control; a server that is down now is checked
 * before the first login instead. */
static int http_start(struct provider *p, const char **error_r)
{
	const char *error = "no answer";
	long status;

	if (http_run_control(p, curlc_probe_deadline(INT64_MAX, p->timeout_ms),
			     &status, &error) == HTTP_CONTROL_UNKNOWN)
		log_warnx("provider %s: negative control not possible at start-up (%s); "
			  "it runs before the first login", p->name,
			  status != 0 ? "unexpected status" : error);
	return 0;
}

const struct provider_type prov_http_type = {
	.name = "http",
	.keys = http_keys,
	.parse = http_parse,
	.start = http_start,
	.authenticate = http_authenticate,
	.probe = http_probe,
	.fini = http_fini,
};
