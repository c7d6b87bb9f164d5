/*
 * The Salesforce-facing endpoint: POST {path} Authenticate, GET {path}?wsdl.
 * Checks run cheapest first (peer, path, method, type, size) so that
 * nothing unwanted is read, parsed or queued.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "header_check.h"
#include "log.h"
#include "metrics.h"
#include "peer.h"
#include "refusal.h"
#include "relay.h"
#include "request_id.h"
#include "request.h"
#include "server.h"
#include "sf_server.h"
#include "trace.h"

/* A chunked body over max_body is skipped up to this, then the connection
 * is closed: enough for a polite 413, too little to keep a thread busy. */
#define HTTP_DISCARD_MAX (1024 * 1024)

struct auth_job {
	struct request_ctx *ctx;       /* a reference */
	struct sf_authenticate req;
	struct router_plan plan;       /* made once, on the event thread */
	char peer[INET6_ADDRSTRLEN + 8];
	char request_id[20];
};

static void audit(struct request_ctx *ctx, const char *request_id, const char *user,
		  const char *received, const char *source_ip, const char *peer, const char *provider,
		  enum outcome outcome, const char *detail, const char *answer)
{
	struct request_audit a;

	request_audit_fill(&a, request_id, user, received, source_ip, peer, provider, outcome, detail, answer,
		   ctx->started_ms);
	request_ctx_set_audit(ctx, &a);
}

/* An Authenticate answer handed to libmicrohttpd (or not): what its audit
 * line says (request.h). */
static enum MHD_Result answer_queued(struct request_ctx *ctx, enum MHD_Result ret)
{
	request_ctx_end(ctx, ret == MHD_YES);
	return ret;
}

/* A fault made here (malloc'd, handed to libmicrohttpd). */
static enum MHD_Result respond_fault(struct MHD_Connection *c, bool client,
				     const char *reason, const char *request_id)
{
	size_t len;
	char *body = sf_answer_fault(client, reason, request_id, &len);

	if (body == NULL)
		return MHD_NO;
	return respond_soap(c, MHD_HTTP_INTERNAL_SERVER_ERROR, body, len,
			    MHD_RESPMEM_MUST_FREE);
}


/* The decision for one parsed request; wipes the password. */
static void auth_job_decide(struct auth_job *job, struct decision *d)
{
	struct request_ctx *ctx = job->ctx;
	const struct http_generation *gen = &ctx->srv->gen;
	int64_t margin = request_answer_margin_ms(gen->cfg->server.deadline_ms);
	struct trace_tap tap;
	bool traced = trace_tap_open(job->plan.mapped_user, job->request_id, ctx->started_ms, &tap);

	if (traced)
		trace_note(&tap, "received: user %s, sourceIp %s, from %s (password not shown)",
			   job->req.username, job->req.source_ip, job->peer);
	if (clock_left_ms(ctx->deadline_ms - margin) == 0) {
		memset(d, 0, sizeof *d);
		d->answer = ANSWER_FAULT;
		d->outcome = OUTCOME_DEADLINE;
		d->detail = "waited for a worker";
		d->provider = "-";
		snprintf(d->mapped_user, sizeof d->mapped_user, "%s", job->req.username);
	} else {
		struct auth_request req = {
			.username = job->req.username,
			.password = job->req.password,
			.password_len = job->req.password_len,
			.source_ip = job->req.source_ip,
			.request_id = job->request_id,
			.deadline_ms = ctx->deadline_ms - margin,
			.trace = traced ? &tap.hook : NULL,
		};

		router_decide(gen->router, &job->plan, &req, NULL, d);
	}
	explicit_bzero(job->req.password, job->req.password_len);
	if (traced)
		trace_note(&tap, "decided: %s%s%s%s, answer %s, provider %s", outcome_name(d->outcome),
			   d->detail != NULL ? " (" : "", d->detail != NULL ? d->detail : "",
			   d->detail != NULL ? ")" : "", request_answer_name(d->answer), d->provider);
}

/* The soap:Server fault of a decision that is a fault (malloc'd). */
static char *decision_fault(const struct decision *d, const char *request_id, size_t *len_r)
{
	return sf_answer_fault(false, d->outcome == OUTCOME_DEADLINE ?
			       "deadline reached" : "no provider could answer", request_id, len_r);
}

static void auth_job_free(struct auth_job *job)
{
	sf_request_clear(&job->req);
	request_ctx_unref(&job->ctx);
	free(job);
}

/* A job parsed but never handed over (the connection went first). */
static void auth_job_free_pending(void *job)
{
	auth_job_free(job);
}

/* On a worker thread: decide, store the answer, resume the connection. */
static void auth_job_run(void *arg)
{
	struct auth_job *job = arg;
	struct request_ctx *ctx = job->ctx;
	struct request_audit a;
	struct decision d;
	bool answered;
	char *fault = NULL;
	size_t len = 0;

	auth_job_decide(job, &d);
	if (d.answer == ANSWER_FAULT)
		fault = decision_fault(&d, job->request_id, &len);
	request_audit_fill(&a, job->request_id, d.mapped_user, job->req.username, job->req.source_ip,
		   job->peer,
		   d.provider, d.outcome, d.detail, request_answer_name(d.answer), ctx->started_ms);
	answered = (d.answer != ANSWER_FAULT || fault != NULL) &&
		   request_ctx_answer(ctx, d.answer == ANSWER_TRUE, fault, len, &a);
	if (!answered) {
		/* The reaper answered with a fault at the deadline. */
		audit(ctx, job->request_id, d.mapped_user, job->req.username, job->req.source_ip,
		      job->peer,
		      d.provider, OUTCOME_DEADLINE, outcome_name(d.outcome), "fault");
	}
	auth_job_free(job);
}

/* On the event thread, for decisions that never wait (router.h). */
static enum MHD_Result auth_job_run_at_once(struct auth_job *job, struct MHD_Connection *c)
{
	struct decision d;
	enum MHD_Result ret = MHD_NO;
	size_t len;
	char *fault;

	auth_job_decide(job, &d);
	if (d.answer != ANSWER_FAULT) {
		ret = respond_result(c, &job->ctx->srv->canned, d.answer == ANSWER_TRUE);
		answer_queued(job->ctx, ret);
		request_ctx_set_state(job->ctx, REQ_DONE);
	} else if ((fault = decision_fault(&d, job->request_id, &len)) != NULL) {
		ret = respond_soap(c, MHD_HTTP_INTERNAL_SERVER_ERROR, fault, len,
				   MHD_RESPMEM_MUST_FREE);
		answer_queued(job->ctx, ret);
		request_ctx_set_state(job->ctx, REQ_DONE);
	}
	audit(job->ctx, job->request_id, d.mapped_user, job->req.username, job->req.source_ip,
	      job->peer,
	      d.provider, d.outcome, d.detail, request_answer_name(d.answer));
	auth_job_free(job);
	return ret;
}

static bool is_soap_content_type(const char *v, size_t len)
{
	return v != NULL && len >= 8 && strncasecmp(v, "text/xml", 8) == 0 &&
	       (len == 8 || v[8] == ';' || v[8] == ' ' || v[8] == '\t');
}

static bool wants_wsdl(struct MHD_Connection *c)
{
	return MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, "wsdl", 4,
					     NULL, NULL) == MHD_YES ||
	       MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, "WSDL", 4,
					     NULL, NULL) == MHD_YES;
}

/* First call: everything decided from the request line and headers. */
static enum MHD_Result check_headers(struct request_ctx *ctx, struct MHD_Connection *c,
				     const char *url, const char *method, const char *version,
				     bool *done_r)
{
	static const char not_allowed[] = "method not allowed\n";
	const struct http_generation *gen = &ctx->srv->gen;
	const struct server_config *sc = &gen->cfg->server;
	char peer[INET6_ADDRSTRLEN + 8];
	const char *ctype = NULL;
	size_t ctype_len = 0;
	enum MHD_Result ret;

	*done_r = true;
	if (!header_check_passed(c, method, version, &ret))
		return ret;
	peer_text(c, peer, sizeof peer);
	if (peer_client_address(c, peer, &sc->trusted_proxies, ctx->client,
				sizeof ctx->client) < 0) {
		http_refusal(HTTP_REFUSED_FORWARDED, conn_listener(c),
			     "refused a request via %s: unreadable X-Forwarded-For", peer);
		return respond_text(c, MHD_HTTP_FORBIDDEN, "forbidden\n");
	}
	if (!cidr_list_contains_text(&sc->allow, ctx->client)) {
		char source[HTTP_ALLOW_SOURCE_MAX];

		/* A trusted proxy (the peer itself is checked at accept). */
		http_allow_source(gen->cfg, false, source, sizeof source);
		if (strcmp(peer, ctx->client) == 0)
			http_refusal(HTTP_REFUSED_CLIENT, conn_listener(c),
				     "refused a request from %s: not in %s", peer, source);
		else
			http_refusal(HTTP_REFUSED_CLIENT, conn_listener(c),
				     "refused a request from %s via %s: not in %s",
				     ctx->client, peer, source);
		return respond_text(c, MHD_HTTP_FORBIDDEN, "forbidden\n");
	}
	if (strcmp(url, sc->path) != 0)
		return respond_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
	if ((strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) && wants_wsdl(c))
		return respond_soap(c, MHD_HTTP_OK, gen->wsdl, gen->wsdl_len,
				    MHD_RESPMEM_PERSISTENT);
	if (strcmp(method, "POST") != 0)
		return respond(c, &(struct response){
			.status = MHD_HTTP_METHOD_NOT_ALLOWED,
			.content_type = "text/plain; charset=utf-8",
			.body = not_allowed, .len = sizeof not_allowed - 1,
			.mode = MHD_RESPMEM_PERSISTENT, .allow = "POST, GET",
		});
	MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE,
				      strlen(MHD_HTTP_HEADER_CONTENT_TYPE), &ctype, &ctype_len);
	if (!is_soap_content_type(ctype, ctype_len))
		return respond_text(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "expected text/xml\n");
	switch (request_body_open(ctx, c, sc->max_body, HTTP_DISCARD_MAX)) {
	case BODY_ANNOUNCED_TOO_LARGE:
		return respond_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "body too large\n");
	case BODY_NO_MEMORY:
		return MHD_NO;
	case BODY_OPEN:
		break;
	}
	*done_r = false;
	return MHD_YES;
}

/* Last call: parse, then hand the decision to a worker. */
static enum MHD_Result dispatch(struct request_ctx *ctx, struct MHD_Connection *c)
{
	const struct http_generation *gen = &ctx->srv->gen;
	struct auth_job *job = calloc(1, sizeof *job);
	const char *error = NULL;
	int parsed;

	if (job == NULL)
		return MHD_NO;
	snprintf(job->peer, sizeof job->peer, "%s", ctx->client);
	request_id_next(job->request_id, sizeof job->request_id);
	/* Before the request is suspended: the reaper may answer it. */
	snprintf(ctx->request_id, sizeof ctx->request_id, "%s", job->request_id);
	parsed = sf_request_parse(ctx->body.data, ctx->body.len, &job->req, &error);
	request_body_wipe(ctx);
	if (parsed < 0) {
		audit(ctx, job->request_id, "-", "-", "-", job->peer, "-", OUTCOME_BAD_REQUEST, error,
		      "fault");
		free(job);
		return answer_queued(ctx, respond_fault(c, true, error != NULL ? error :
							 "invalid request", ctx->request_id));
	}
	if (relay_loop_detected(header_value(c, RELAY_HEADER),
				job->req.username, job->req.password,
				job->req.password_len, job->req.source_ip)) {
		audit(ctx, job->request_id, job->req.username, job->req.username,
		      job->req.source_ip, job->peer,
		      "-", OUTCOME_RELAY_LOOP, RELAY_HEADER, "fault");
		sf_request_clear(&job->req);
		free(job);
		return answer_queued(ctx, respond_fault(c, false, "relay loop", ctx->request_id));
	}

	router_plan(gen->router, job->req.username, job->req.password, job->req.password_len,
		    &job->plan);
	if (job->plan.at_once) {
		job->ctx = request_ctx_ref(ctx);
		return auth_job_run_at_once(job, c);
	}
	/* Not suspended yet: see hand_over(). */
	ctx->pending = job;
	ctx->pending_free = auth_job_free_pending;
	return MHD_YES;
}

/* The handler's next call after dispatch(): suspend, and hand the decision
 * to a worker. Not in the same call: libmicrohttpd 0.9.75 only leaves its
 * "read" state after a call that ends with neither an answer nor a
 * suspension, and a connection resumed in that state is read first -- a
 * client that half-closed after its request (shutdown(SHUT_WR), as some
 * proxies and health checkers do) reads as gone, and its answer was
 * dropped. libmicrohttpd calls again at once (a connection waiting for its
 * answer makes it poll without a timeout). */
static enum MHD_Result hand_over(struct request_ctx *ctx, struct MHD_Connection *c)
{
	struct auth_job *job = ctx->pending;

	ctx->pending = NULL;
	job->ctx = request_ctx_ref(ctx);
	request_ctx_set_state(ctx, REQ_SUSPENDED);
	MHD_suspend_connection(c);
	if (workers_submit(ctx->srv->gen.workers, job->plan.lane, auth_job_run, job) < 0) {
		size_t len;
		char *fault = sf_answer_fault(false, "server busy", job->request_id, &len);

		audit(ctx, job->request_id, job->req.username, job->req.username,
		      job->req.source_ip, job->peer,
		      "-", OUTCOME_BUSY, "queue full", "fault");
		auth_job_free(job);
		if (fault == NULL || !request_ctx_answer(ctx, false, fault, len, NULL))
			return MHD_NO;
	}
	return MHD_YES;
}

enum MHD_Result endpoint_handle(HTTP_HANDLER_ARGS)
{
	struct http_server *srv = cls;
	struct request_ctx *ctx = *req_cls;
	enum request_state state;
	bool done;

	if (ctx == NULL) {
		/* No URI callback happened (should not): start the clock now. */
		ctx = request_ctx_new(srv, c);
		if (ctx == NULL)
			return MHD_NO;
		*req_cls = ctx;
	}
	state = request_ctx_state(ctx);
	if (state == REQ_ANSWERED) {
		request_ctx_set_state(ctx, REQ_DONE);
		if (ctx->answer_fault == NULL)
			return answer_queued(ctx, respond_result(c, &srv->canned,
								 ctx->answer_authenticated));
		return answer_queued(ctx, respond_soap(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
						       ctx->answer_fault, ctx->answer_fault_len,
						       MHD_RESPMEM_MUST_COPY));
	}
	if (state != REQ_READING)
		return MHD_YES;
	if (!ctx->headers_checked) {
		enum MHD_Result ret = check_headers(ctx, c, url, method, version, &done);

		ctx->headers_checked = true;
		if (done)
			request_ctx_set_state(ctx, REQ_DONE);
		return ret;
	}
	if (ctx->pending != NULL)
		return hand_over(ctx, c);
	if (*upload_data_size > 0) {
		if (clock_now_ms() >= ctx->deadline_ms)
			return MHD_NO;  /* a trickling client: cut */
		return request_body_take(ctx, upload_data, upload_data_size);
	}
	if (ctx->body.too_large) {
		request_ctx_set_state(ctx, REQ_DONE);
		return respond_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "body too large\n");
	}
	return dispatch(ctx, c);
}
