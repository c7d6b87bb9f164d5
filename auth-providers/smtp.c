/*
 * `smtp`: a login is an SMTP AUTH (PLAIN or LOGIN) on a TLS session.
 *
 * smtp:// URIs must upgrade with STARTTLS (CURLUSESSL_ALL); smtps:// is TLS
 * from the first byte. libcurl authenticates, then sends NOOP instead of a
 * mail transaction, so no mail is ever sent.
 *
 * libcurl returns success without authenticating when the server does not
 * advertise AUTH. So the answer is read from the server's own replies (the
 * header callback sees every reply line): ok only on a 235 reply that came
 * after TLS was up, reject only on 535, anything else is unavailable.
 */
#include "provider.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "curl_common.h"
#include "log.h"
#include "template.h"

/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets with its CRLF.
 * RFC 4954 allows AUTH lines up to 12288, but servers differ (aiosmtpd and
 * others answer 500 past ~1000): a longer line may be refused unread. */
#define SMTP_LINE_MAX 512

static const char *const smtp_mechanisms[] = { "auto", "plain", "login", NULL };
/* CURLOPT_LOGIN_OPTIONS for each of smtp_mechanisms. */
static const char *const smtp_login_options[] = {
	"AUTH=PLAIN;AUTH=LOGIN", "AUTH=PLAIN", "AUTH=LOGIN"
};

/* A [provider NAME] of type smtp, as configured. */
struct smtp_conf {
	const char *uri;
	const char *login;     /* template */
	int mechanism;         /* index into smtp_mechanisms */
};

static const struct conf_key smtp_keys[] = {
	{ "uri", CONF_STRING, CONF_REQUIRED, NULL, 0, 0, NULL,
	  "smtp://HOST[:PORT] (STARTTLS required) or smtps://HOST[:PORT]",
	  CONF_AT(struct smtp_conf, uri) },
	{ "login", CONF_STRING, 0, "%u", 0, 0, NULL,
	  "AUTH identity: %u mapped username, %l its local part, %d its domain",
	  CONF_AT(struct smtp_conf, login) },
	{ "mechanism", CONF_ENUM, 0, "auto", 0, 0, smtp_mechanisms,
	  "SASL mechanism: plain, login, or auto (PLAIN if offered, else LOGIN)",
	  CONF_AT(struct smtp_conf, mechanism) },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

struct smtp_state {
	char *uri;
	char *login;           /* template */
	const char *login_options;
	bool implicit_tls;     /* smtps:// */
	struct curlc_tls tls;
};

/* What the server said, as seen by the header callback. */
struct smtp_replies {
	const struct auth_request *req;  /* for trace; NULL in probe */
	bool implicit_tls;
	int finals_220;        /* greeting, then the STARTTLS go-ahead */
	bool tls_up;
	bool saw_235;          /* AUTH accepted, with tls_up */
	bool saw_535;          /* AUTH credentials invalid */
	int auth_code;         /* last reply code of the AUTH exchange */
	bool auth_offered;     /* EHLO after TLS lists PLAIN or LOGIN */
};

static void smtp_ehlo_auth(struct smtp_replies *r, const char *line, size_t n)
{
	/* "250-AUTH PLAIN LOGIN" or "250 AUTH=LOGIN" */
	char caps[256], *save = NULL;
	size_t len = n - 4 < sizeof caps - 1 ? n - 4 : sizeof caps - 1;

	memcpy(caps, line + 4, len);
	caps[len] = '\0';
	if (strncasecmp(caps, "AUTH", 4) != 0 || (caps[4] != ' ' && caps[4] != '='))
		return;
	for (char *tok = strtok_r(caps + 5, " \r\n", &save); tok != NULL;
	     tok = strtok_r(NULL, " \r\n", &save))
		if (strcasecmp(tok, "PLAIN") == 0 || strcasecmp(tok, "LOGIN") == 0)
			r->auth_offered = true;
}

static size_t smtp_reply_cb(char *line, size_t size, size_t nmemb, void *userdata)
{
	struct smtp_replies *r = userdata;
	size_t n = size * nmemb;
	int code;

	if (n < 4 || !isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]) || (line[3] != ' ' && line[3] != '-'))
		return n;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (code == 250 && r->tls_up)
		smtp_ehlo_auth(r, line, n);
	if (line[3] != ' ')
		return n;   /* continuation of a multi-line reply */
	if (code == 220) {
		r->finals_220++;
		r->tls_up = r->implicit_tls || r->finals_220 >= 2;
		if (r->tls_up && r->req != NULL && r->finals_220 == (r->implicit_tls ? 1 : 2))
			auth_trace_step(r->req, "smtp: TLS up, certificate verified");
	} else if (code == 334) {
		r->auth_code = code;
	} else if (code == 235) {
		r->auth_code = code;
		r->saw_235 = r->tls_up;
	} else if (code == 535) {
		r->auth_code = code;
		r->saw_535 = true;
	} else if ((code == 500 || code == 501) && r->tls_up && r->auth_offered) {
		r->auth_code = code;   /* line too long, or not base64 */
	} else if (r->auth_code == 334 || code == 432 || code == 454 ||
		   code == 534 || code == 538) {
		r->auth_code = code;
	}
	return n;
}

/* The longest line the AUTH exchange sends: "AUTH PLAIN " with the base64
 * of "\0login\0password", or for LOGIN the base64 of the password. */
static size_t smtp_auth_line_len(const struct smtp_state *st, size_t login_len,
				 size_t password_len)
{
	size_t plain = 2 + login_len + password_len;

	if (st->login_options != NULL && strcasecmp(st->login_options, "AUTH=LOGIN") == 0)
		return 4 * ((password_len + 2) / 3) + 2;
	return strlen("AUTH PLAIN ") + 4 * ((plain + 2) / 3) + 2;
}

/* One SMTP session: TLS, then AUTH when `login` is set, then NOOP. */
static CURLcode smtp_session(struct smtp_state *st, const char *login,
			     const char *password, int64_t deadline_ms,
			     struct smtp_replies *replies, const char **error_r)
{
	char errbuf[CURL_ERROR_SIZE];
	CURL *h = curlc_new(st->uri, "smtp,smtps", &st->tls, deadline_ms, errbuf, error_r);
	CURLcode rc = CURLE_FAILED_INIT;

	if (h == NULL)
		return CURLE_OPERATION_TIMEDOUT;
	replies->implicit_tls = st->implicit_tls;
	if (curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "NOOP") != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, smtp_reply_cb) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HEADERDATA, replies) != CURLE_OK ||
	    (login != NULL &&
	     (curl_easy_setopt(h, CURLOPT_USERNAME, login) != CURLE_OK ||
	      curl_easy_setopt(h, CURLOPT_PASSWORD, password) != CURLE_OK ||
	      curl_easy_setopt(h, CURLOPT_LOGIN_OPTIONS, st->login_options) != CURLE_OK))) {
		*error_r = "libcurl option refused";
	} else {
		rc = curl_easy_perform(h);
		*error_r = curlc_failure(rc);
		if (rc != CURLE_OK)
			log_debug("smtp %s: %s (%s)", st->uri, *error_r, errbuf);
	}
	curl_easy_cleanup(h);
	explicit_bzero(errbuf, sizeof errbuf);
	return rc;
}

static enum auth_result smtp_authenticate(struct provider *p,
					  const struct auth_request *req,
					  const char **detail_r)
{
	struct smtp_state *st = p->state;
	struct smtp_replies replies = { .req = req };
	char login[CURLC_LOGIN_MAX];
	const char *error;
	size_t line_len;
	CURLcode rc;

	if (req->password_len == 0 || req->password[0] == '\0') {
		*detail_r = "empty password";
		return AUTH_REJECT;
	}
	if (template_expand(st->login, req->username, NULL, login, sizeof login, &error) < 0) {
		auth_trace_step(req, "smtp: cannot build the login: %s", error);
		*detail_r = error;
		return AUTH_UNKNOWN_USER;
	}
	auth_trace_step(req, "smtp: %s, %s, AUTH as %s", st->uri,
			st->implicit_tls ? "implicit TLS" : "STARTTLS required", login);
	line_len = smtp_auth_line_len(st, strlen(login), req->password_len);
	rc = smtp_session(st, login, req->password, req->deadline_ms, &replies, &error);
	explicit_bzero(login, sizeof login);

	if (rc == CURLE_OK && replies.saw_235) {
		auth_trace_step(req, "smtp: 235, credentials accepted");
		return AUTH_OK;
	}
	if (rc == CURLE_OK) {
		/* libcurl skipped AUTH: the server did not offer it after TLS */
		log_warnx("provider %s: %s did not offer AUTH PLAIN/LOGIN after TLS; "
			  "no login can be checked", p->name, st->uri);
		auth_trace_step(req, "smtp: server offered no AUTH after TLS");
		*detail_r = "no AUTH offered after TLS";
		return AUTH_UNAVAILABLE;
	}
	if (rc == CURLE_LOGIN_DENIED && replies.saw_535 && replies.tls_up) {
		auth_trace_step(req, "smtp: 535, credentials refused");
		*detail_r = "smtp:535";
		return AUTH_REJECT;
	}
	/* A password the server refused to read is a wrong one, never a
	 * fault: anyone can send a long password. */
	if ((replies.auth_code == 500 || replies.auth_code == 501) && replies.tls_up &&
	    line_len > SMTP_LINE_MAX) {
		auth_trace_step(req, "smtp: %d to a %zu-byte AUTH line", replies.auth_code,
				line_len);
		*detail_r = "credentials too long for the server";
		return AUTH_REJECT;
	}
	if (rc == CURLE_LOGIN_DENIED)
		error = replies.auth_code != 0 ? "AUTH failed without 535"
					       : "no usable AUTH mechanism";
	/* Cut off once AUTH could have gone out (TLS up, AUTH offered, no
	 * final answer to it): the server may have counted the password. On
	 * the safe side for lockouts: it may also have been cut just before. */
	if (replies.tls_up && replies.auth_offered &&
	    (replies.auth_code == 0 || replies.auth_code == 334) &&
	    (rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_RECV_ERROR ||
	     rc == CURLE_GOT_NOTHING || rc == CURLE_SEND_ERROR) && req->unanswered_r != NULL)
		*req->unanswered_r = true;
	auth_trace_step(req, "smtp: no answer: %s", error);
	*detail_r = error;
	return AUTH_UNAVAILABLE;
}

static int smtp_probe(struct provider *p, int64_t deadline_ms, const char **detail_r)
{
	struct smtp_state *st = p->state;
	struct smtp_replies replies = { 0 };
	const char *error;
	CURLcode rc;

	rc = smtp_session(st, NULL, NULL, curlc_probe_deadline(deadline_ms, p->timeout_ms),
			  &replies, &error);
	if (rc != CURLE_OK) {
		*detail_r = error;
		return -1;
	}
	if (!replies.auth_offered) {
		*detail_r = "TLS verified, but no AUTH PLAIN/LOGIN offered after TLS";
		return -1;
	}
	*detail_r = st->implicit_tls ? "implicit TLS verified, AUTH offered"
				     : "STARTTLS verified, AUTH offered";
	return 0;
}

static void smtp_fini(struct provider *p)
{
	struct smtp_state *st = p->state;

	if (st == NULL)
		return;
	free(st->uri);
	free(st->login);
	curlc_tls_clear(&st->tls);
	free(st);
	p->state = NULL;
}

static int smtp_parse(struct provider *p, const struct conf_section *s,
		      struct conf_errors *errors)
{
	static const char *const schemes[] = { "smtp://", "smtps://", NULL };
	static const struct curlc_target_spec spec = {
		.url_key = "uri", .schemes = schemes,
		.scheme_error = "uri must start with smtp:// (STARTTLS) or smtps://",
	};
	struct smtp_state *st = calloc(1, sizeof *st);
	struct curlc_target t;
	struct smtp_conf c;

	if (st == NULL)
		return -1;
	conf_bind(s, smtp_keys, &c);
	if (curlc_target_parse(&spec, s, c.uri, c.login, p->name, &t, errors) < 0) {
		free(st);
		return -1;
	}
	st->uri = t.url;
	st->login = t.login;
	st->tls = t.tls;
	st->implicit_tls = t.scheme == 1;
	st->login_options = smtp_login_options[c.mechanism];
	p->state = st;
	return 0;
}

const struct provider_type prov_smtp_type = {
	.name = "smtp",
	.keys = smtp_keys,
	.parse = smtp_parse,
	.authenticate = smtp_authenticate,
	.probe = smtp_probe,
	.fini = smtp_fini,
};
