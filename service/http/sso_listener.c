/*
 * The [sso] sign-on listener: GET {path} answers 401 Negotiate until the
 * browser sends a Kerberos ticket, then the page that posts the mapped
 * username and a one-time token to the org's login URL (sso.h). Every
 * request gets one `sso` security line in the audit trail and one count
 * in dagate_sso_requests_total. The work is done on this listener's own
 * event threads (never the endpoint's), each step bounded by the request
 * deadline: GSS-API with a keytab, the token store like the token API's,
 * and with `lookup` one directory search. With fallback = ntlm the
 * connection's NTLM handshake keeps one ntlm_auth child attached to the
 * connection (conn_state_set) from the type 1 message to the type 3.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "conn.h"
#include "header_check.h"
#include "log.h"
#include "metrics.h"
#include "peer.h"
#include "provider.h"
#include "refusal.h"
#include "request.h"
#include "request_id.h"
#include "router.h"
#include "server.h"
#include "sso.h"
#include "tokens.h"

/* The acceptor's answer (a Kerberos AP-REP, a few hundred bytes). */
#define SSO_REPLY_MAX 4096
/* Unredeemed sign-on tokens at once: far above any real burst of
 * sign-ons within a ttl, far below what would fill the store. */
#define SSO_MAX_OUTSTANDING 10000

/* What one request came to, for its audit line. */
struct sso_request {
	char id[20];
	char peer[INET6_ADDRSTRLEN + 8];
	char principal[SSO_PRINCIPAL_MAX + 1];
	char user[MAPPED_USER_MAX + 1];
	const char *detail;
	char detail_buf[AUTH_DETAIL_MAX + 64];
	bool start_url_dropped;
	bool basic_offered;     /* fallback = basic on an HTTPS listener */
	bool ntlm_offered;      /* fallback = ntlm */
	const char *method;     /* negotiate, basic or ntlm */
	const char *ntlm_challenge; /* SSO_NTLM_CHALLENGE's header: "NTLM <type 2>" */
};

static void sso_audit(const struct sso_request *rq, enum sso_outcome o)
{
	metrics_record_sso(o);
	log_security("sso", "request_id", rq->id, "outcome", sso_outcome_name(o),
		     "principal", rq->principal[0] != '\0' ? rq->principal : "-",
		     "user", rq->user[0] != '\0' ? rq->user : "-", "peer", rq->peer,
		     "detail", rq->detail != NULL ? rq->detail : "-",
		     "method", rq->method,
		     "start_url", rq->start_url_dropped ? "dropped" : "-", NULL);
}

#define SSO_BASIC_CHALLENGE "Basic realm=\"Salesforce sign-on\", charset=\"UTF-8\""

/* A failure: the short page that says what to do. 401 with the
 * challenges when there was no ticket (Negotiate, then NTLM and Basic
 * when offered) or Basic or NTLM was refused; 401 with Basic alone when
 * the browser could only offer NTLM inside Negotiate and Basic is offered;
 * 401 with the helper's challenge mid-NTLM-handshake; else 403 (503 when
 * nothing could answer). */
static enum MHD_Result refuse(struct MHD_Connection *c, const struct sso_request *rq,
			      enum sso_outcome o)
{
	char *page = sso_failure_page(o);
	bool challenge = (o == SSO_NO_TICKET && rq->detail == NULL) || o == SSO_BASIC_REFUSED ||
			 o == SSO_NTLM_REFUSED;
	bool basic_only = o == SSO_NO_TICKET && rq->detail != NULL && rq->basic_offered;
	bool ntlm_round = o == SSO_NTLM_CHALLENGE;
	unsigned status = challenge || basic_only || ntlm_round ? MHD_HTTP_UNAUTHORIZED :
			  o == SSO_TOKEN || o == SSO_BASIC_UNAVAILABLE || o == SSO_NTLM_UNAVAILABLE ?
			  MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_FORBIDDEN;
	enum MHD_Result ret;

	sso_audit(rq, o);
	if (page == NULL)
		return MHD_NO;
	ret = respond(c, &(struct response){
		.status = status, .content_type = "text/html; charset=utf-8",
		.body = page, .len = strlen(page), .mode = MHD_RESPMEM_MUST_COPY,
		.no_store = true, .csp = SSO_CSP_NONE,
		.www_authenticate = challenge ? "Negotiate" : basic_only ? SSO_BASIC_CHALLENGE :
				    ntlm_round ? rq->ntlm_challenge : NULL,
		.www_authenticate_also = {
			challenge && rq->ntlm_offered ? "NTLM" : NULL,
			challenge && rq->basic_offered ? SSO_BASIC_CHALLENGE : NULL,
		},
	});
	free(page);
	return ret;
}

/* The Negotiate token of the Authorization header, or NULL. */
static const char *negotiate_token(struct MHD_Connection *c)
{
	const char *auth = header_value(c, MHD_HTTP_HEADER_AUTHORIZATION);

	if (auth == NULL || strncasecmp(auth, "Negotiate ", 10) != 0)
		return NULL;
	auth += 10;
	while (*auth == ' ')
		auth++;
	return auth;
}

/* `lookup`: the directory's attribute of the user named by the local
 * part, with the provider's group and account checks. On this listener's
 * own event thread, bounded by the request deadline. */
static enum sso_outcome sso_lookup_user(const struct http_sso *hs, struct sso_request *rq,
					int64_t deadline_ms)
{
	char local[SSO_PRINCIPAL_MAX + 1], detail[AUTH_DETAIL_MAX];
	const char *bad, *pdetail = NULL;
	struct auth_request req = {
		.username = local, .source_ip = "", .request_id = rq->id,
		.deadline_ms = deadline_ms, .detail_buf = detail, .detail_size = sizeof detail,
	};
	enum sso_outcome o;
	enum auth_result r;

	if ((o = sso_principal_local(hs->conf, rq->principal, local, sizeof local, &rq->detail)) != SSO_OK)
		return o;
	r = provider_lookup(hs->lookup, &req, hs->conf->lookup_attribute, rq->user, sizeof rq->user,
			    &pdetail);
	if (r != AUTH_OK) {
		snprintf(rq->detail_buf, sizeof rq->detail_buf, "%s: %s%s%s", hs->lookup->name,
			 auth_result_name(r), pdetail != NULL ? " " : "", pdetail != NULL ? pdetail : "");
		rq->detail = rq->detail_buf;
		rq->user[0] = '\0';
		return SSO_LOOKUP;
	}
	if (usermap_check(rq->user, &bad) < 0) {
		rq->detail = "looked-up value is not a Salesforce username";
		return SSO_MAP;
	}
	return SSO_OK;
}

/* The user is known (rq->user): the token, then the page. */
static enum MHD_Result issue_page(struct request_ctx *ctx, struct MHD_Connection *c,
				  struct sso_request *rq, const char *reply)
{
	const struct http_generation *gen = &ctx->srv->gen;
	const struct sso_config *sso = gen->sso->conf;
	const char *start = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "startURL");
	char token[TOKEN_LEN + 1], mapped[MAPPED_USER_MAX + 1], csp[256], challenge[SSO_REPLY_MAX + 16];
	struct token_origin origin = { rq->peer, rq->id };
	int64_t expires;
	char *page;

	if (gen->tokens == NULL ||
	    token_issue_internal(gen->tokens, &gen->cfg->map, SSO_REQUESTER, SSO_MAX_OUTSTANDING,
				 rq->user, sso->ttl_ms, ctx->deadline_ms, token, mapped, &expires,
				 &origin) != TOKEN_ISSUE_OK) {
		rq->detail = "token not issued (see the token_issue line)";
		return refuse(c, rq, SSO_TOKEN);
	}
	if (start != NULL && !sso_start_url_ok(start)) {
		rq->start_url_dropped = true;
		start = NULL;
	}
	page = sso_page_build(sso->login_url, rq->user, token, start, csp, sizeof csp);
	explicit_bzero(token, sizeof token);
	if (page == NULL) {
		rq->detail = "out of memory";
		return refuse(c, rq, SSO_TOKEN);
	}
	sso_audit(rq, SSO_OK);
	snprintf(challenge, sizeof challenge, "Negotiate %s", reply);
	if (respond(c, &(struct response){
		.status = MHD_HTTP_OK, .content_type = "text/html; charset=utf-8",
		.body = page, .len = strlen(page), .wipe = true, .no_store = true, .csp = csp,
		.www_authenticate = reply[0] != '\0' ? challenge : NULL,
	    }) == MHD_YES)
		return MHD_YES;
	return MHD_NO;   /* response_create failed: page freed by MHD or lost */
}

/* A ticket was accepted: map, issue, answer the page. */
static enum MHD_Result sign_on(struct request_ctx *ctx, struct MHD_Connection *c,
			       struct sso_request *rq, const char *reply)
{
	const struct http_generation *gen = &ctx->srv->gen;
	const struct sso_config *sso = gen->sso->conf;
	enum sso_outcome o;

	o = gen->sso->lookup != NULL ? sso_lookup_user(gen->sso, rq, ctx->deadline_ms)
	    : sso_map_principal(sso, rq->principal, rq->user, sizeof rq->user, &rq->detail);
	if (o != SSO_OK)
		return refuse(c, rq, o);
	return issue_page(ctx, c, rq, reply);
}

/* fallback = basic: the [route] providers (and the throttle) check the
 * password of the Salesforce username the login name maps to, on this
 * listener's own event thread, bounded by the request deadline. */
static enum MHD_Result basic_sign_on(struct request_ctx *ctx, struct MHD_Connection *c,
				     struct sso_request *rq, const char *authorization)
{
	const struct http_generation *gen = &ctx->srv->gen;
	char buf[1024], user[MAPPED_USER_MAX + 1];
	const char *login = NULL, *password = NULL;
	size_t password_len = 0;
	struct router_plan plan;
	struct request_audit a;
	struct decision d;
	enum sso_outcome o;
	enum MHD_Result ret;

	rq->method = "basic";
	if (token_api_parse_basic(authorization, buf, sizeof buf, &login, &password,
				  &password_len) < 0 ||
	    sso_basic_principal(gen->sso->conf, login, rq->principal, sizeof rq->principal) < 0) {
		explicit_bzero(buf, sizeof buf);
		rq->detail = "unreadable Basic credentials";
		return refuse(c, rq, SSO_BASIC_REFUSED);
	}
	o = gen->sso->lookup != NULL ? sso_lookup_user(gen->sso, rq, ctx->deadline_ms)
	    : sso_map_principal(gen->sso->conf, rq->principal, rq->user, sizeof rq->user, &rq->detail);
	if (o != SSO_OK || password_len == 0 || token_has_form(password, password_len)) {
		explicit_bzero(buf, sizeof buf);
		if (o == SSO_OK)
			rq->detail = "empty or token-shaped password";
		return refuse(c, rq, o != SSO_OK ? o : SSO_BASIC_REFUSED);
	}
	snprintf(user, sizeof user, "%s", rq->user);
	router_plan(gen->router, user, password, password_len, &plan);
	router_decide(gen->router, &plan, &(struct auth_request){
		.username = user, .password = password, .password_len = password_len,
		.source_ip = rq->peer, .request_id = rq->id,
		.deadline_ms = ctx->deadline_ms - request_answer_margin_ms(gen->cfg->server.deadline_ms),
	}, NULL, &d);
	explicit_bzero(buf, sizeof buf);
	/* A password checked like the endpoint's: its event=auth line, its
	 * place in `dagate decisions` and the decision metrics (the source
	 * is the browser's address). */
	request_audit_fill(&a, rq->id, d.mapped_user, rq->user, rq->peer, rq->peer, d.provider,
			   d.outcome, d.detail, request_answer_name(d.answer), ctx->started_ms);
	request_ctx_set_audit(ctx, &a);
	if (d.answer != ANSWER_TRUE) {
		snprintf(rq->detail_buf, sizeof rq->detail_buf, "provider %s: %s%s%s", d.provider,
			 outcome_name(d.outcome), d.detail != NULL ? " " : "",
			 d.detail != NULL ? d.detail : "");
		rq->detail = rq->detail_buf;
		ret = refuse(c, rq, d.answer == ANSWER_FAULT ? SSO_BASIC_UNAVAILABLE : SSO_BASIC_REFUSED);
	} else {
		ret = issue_page(ctx, c, rq, "");
	}
	request_ctx_end(ctx, ret == MHD_YES);
	return ret;
}

/* The NTLM message of an Authorization header with fallback = ntlm:
 * "NTLM X", or "Negotiate X" where X is NTLMSSP (a browser without a
 * ticket whose SPNEGO fell back; its challenge is answered under
 * Negotiate too). NULL for anything else. */
static const char *ntlm_message(const char *auth, const char **scheme_r)
{
	const char *blob;

	if (auth == NULL)
		return NULL;
	if (strncasecmp(auth, "NTLM ", 5) == 0)
		*scheme_r = "NTLM", blob = auth + 5;
	else if (strncasecmp(auth, "Negotiate ", 10) == 0)
		*scheme_r = "Negotiate", blob = auth + 10;
	else
		return NULL;
	while (*blob == ' ')
		blob++;
	return strcmp(*scheme_r, "NTLM") == 0 || sso_ntlm_message_type(blob) != 0 ? blob : NULL;
}

/* A helper's answer in time for ours. */
static int64_t helper_deadline(const struct request_ctx *ctx)
{
	return ctx->deadline_ms - request_answer_margin_ms(ctx->srv->gen.cfg->server.deadline_ms);
}

static void ntlm_state_free(void *state)
{
	struct sso_ntlm *n = state;

	sso_ntlm_free(&n);
}

/* Type 1: a helper for this connection, its challenge in a 401. */
static enum MHD_Result ntlm_negotiate(struct request_ctx *ctx, struct MHD_Connection *c,
				      struct sso_request *rq, const char *scheme, const char *blob)
{
	const struct sso_config *sso = ctx->srv->gen.sso->conf;
	int64_t deadline = helper_deadline(ctx);
	char challenge[4096];
	struct sso_ntlm *n = NULL;
	const char *arg;

	conn_state_set(c, NULL, NULL);   /* a handshake begun before is over */
	if (sso_ntlm_start(sso, &n, &rq->detail) < 0)
		return refuse(c, rq, SSO_NTLM_UNAVAILABLE);
	/* The helper's type 2, checked before it goes into a header. */
	if (sso_ntlm_step(n, "YR", blob, deadline, &arg, &rq->detail) != SSO_NTLM_TT ||
	    sso_ntlm_message_type(arg) != 2 ||
	    snprintf(challenge, sizeof challenge, "%s %s", scheme, arg) >= (int)sizeof challenge) {
		if (rq->detail == NULL)
			rq->detail = "ntlm_auth did not answer YR with a challenge";
		sso_ntlm_free(&n);
		return refuse(c, rq, SSO_NTLM_UNAVAILABLE);
	}
	if (conn_state_set(c, n, ntlm_state_free) < 0) {
		rq->detail = "connection not tracked";
		return refuse(c, rq, SSO_NTLM_UNAVAILABLE);
	}
	rq->ntlm_challenge = challenge;
	return refuse(c, rq, SSO_NTLM_CHALLENGE);
}

/* Type 3: the connection's helper says who (AF) or no (NA); the
 * handshake ends either way. */
static enum MHD_Result ntlm_authenticate(struct request_ctx *ctx, struct MHD_Connection *c,
					 struct sso_request *rq, const char *blob)
{
	int64_t deadline = helper_deadline(ctx);
	struct sso_ntlm *n = conn_state(c);
	enum sso_ntlm_reply r;
	const char *arg;

	if (n == NULL) {
		rq->detail = "no NTLM handshake on this connection";
		return refuse(c, rq, SSO_NTLM_REFUSED);
	}
	r = sso_ntlm_step(n, "KK", blob, deadline, &arg, &rq->detail);
	if (r == SSO_NTLM_AF && sso_ntlm_principal(arg, rq->principal, sizeof rq->principal) < 0)
		snprintf(rq->detail_buf, sizeof rq->detail_buf, "ntlm_auth named no DOMAIN\\user");
	else if (r == SSO_NTLM_NA || r == SSO_NTLM_BH)
		snprintf(rq->detail_buf, sizeof rq->detail_buf, "ntlm_auth %s %.200s",
			 r == SSO_NTLM_NA ? "NA" : "BH", arg);
	if (rq->detail_buf[0] != '\0')
		rq->detail = rq->detail_buf;
	conn_state_set(c, NULL, NULL);   /* arg is gone from here on */
	if (r == SSO_NTLM_AF)
		return rq->principal[0] != '\0' ? sign_on(ctx, c, rq, "") : refuse(c, rq, SSO_MAP);
	return refuse(c, rq, r == SSO_NTLM_NA ? SSO_NTLM_REFUSED : SSO_NTLM_UNAVAILABLE);
}

static enum MHD_Result ntlm_sign_on(struct request_ctx *ctx, struct MHD_Connection *c,
				    struct sso_request *rq, const char *scheme, const char *blob)
{
	rq->method = "ntlm";
	switch (sso_ntlm_message_type(blob)) {
	case 1:
		return ntlm_negotiate(ctx, c, rq, scheme, blob);
	case 3:
		return ntlm_authenticate(ctx, c, rq, blob);
	default:
		conn_state_set(c, NULL, NULL);
		rq->detail = "not an NTLM negotiate or authenticate message";
		return refuse(c, rq, SSO_NTLM_REFUSED);
	}
}

static enum MHD_Result handle(struct request_ctx *ctx, struct MHD_Connection *c,
			      const char *url, const char *method)
{
	const struct http_sso *hs = ctx->srv->gen.sso;
	struct sso_request rq = { .detail = NULL, .method = "negotiate" };
	char reply[SSO_REPLY_MAX];
	const char *ticket, *auth, *scheme, *blob;
	enum sso_outcome o;

	request_id_next(rq.id, sizeof rq.id);
	peer_text(c, rq.peer, sizeof rq.peer);
	/* Checked at accept already; kept here as the last word. */
	if (!peer_allowed(c, &hs->conf->allow)) {
		http_refusal(HTTP_REFUSED_PEER, conn_listener(c),
			     "refused a sign-on request from %s: not in [sso] allow", rq.peer);
		rq.detail = "not in allow";
		sso_audit(&rq, SSO_REFUSED_PEER);
		return respond_text(c, MHD_HTTP_FORBIDDEN, "forbidden\n");
	}
	if (strcmp(url, hs->conf->path) != 0)
		return respond_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
	/* GET only: a HEAD would mint a token nobody receives. */
	if (strcmp(method, "GET") != 0)
		return respond(c, &(struct response){
			.status = MHD_HTTP_METHOD_NOT_ALLOWED, .content_type = "text/plain; charset=utf-8",
			.body = "method not allowed\n", .len = 19, .mode = MHD_RESPMEM_PERSISTENT,
			.allow = "GET",
		});
	rq.basic_offered = hs->conf->basic && hs->tls->cert_pem != NULL;
	rq.ntlm_offered = hs->conf->ntlm;
	auth = header_value(c, MHD_HTTP_HEADER_AUTHORIZATION);
	if (rq.ntlm_offered && (blob = ntlm_message(auth, &scheme)) != NULL)
		return ntlm_sign_on(ctx, c, &rq, scheme, blob);
	if ((ticket = negotiate_token(c)) == NULL) {
		if (rq.basic_offered && auth != NULL && strncasecmp(auth, "Basic ", 6) == 0)
			return basic_sign_on(ctx, c, &rq, auth);
		return refuse(c, &rq, SSO_NO_TICKET);
	}
	o = sso_accept(hs->acceptor, ticket, rq.principal, sizeof rq.principal, reply, sizeof reply,
		       &rq.detail);
	if (o != SSO_OK)
		return refuse(c, &rq, o);
	return sign_on(ctx, c, &rq, reply);
}

enum MHD_Result sso_handle(HTTP_HANDLER_ARGS)
{
	struct request_ctx *ctx = *req_cls;
	enum MHD_Result ret;

	if (ctx == NULL)
		return MHD_NO;   /* the URI callback always makes one */
	if (!ctx->headers_checked) {
		ctx->headers_checked = true;
		if (!header_check_passed(c, method, version, &ret))
			return ret;
		/* A GET is answered once the request is in: an answer queued
		 * before that makes libmicrohttpd close the connection, and
		 * NTLM authenticates the connection. Anything else gets its
		 * refusal at once (and the connection closed). */
		return strcmp(method, "GET") == 0 ? MHD_YES : handle(ctx, c, url, method);
	}
	/* A body nobody asked for: skipped. */
	if (*upload_data_size > 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	return strcmp(method, "GET") == 0 ? handle(ctx, c, url, method) : MHD_YES;
}
