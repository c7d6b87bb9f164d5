#include "request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "decisions.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

/* With ctx->lock held, once both the audit line and the end are known. */
static void audit_write(struct request_ctx *ctx)
{
	const struct request_audit *a = &ctx->audit;
	struct audit_record rec = {
		.request_id = a->request_id, .user = a->user,
		.received_user = a->received, .source_ip = a->source_ip,
		.peer = a->peer, .provider = a->provider, .outcome = a->outcome,
		.detail = a->detail[0] != '\0' ? a->detail : NULL, .answer = a->answer,
		.sent = ctx->sent ? NULL : "no", .elapsed_ms = a->elapsed_ms,
	};

	log_audit(&rec);
	decisions_remember(&rec, time(NULL));
	metrics_record_decision(a->provider, a->outcome, a->answer, a->elapsed_ms);
	if (!ctx->sent)
		metrics_record_unsent(a->answer);
}

void request_audit_fill(struct request_audit *a, const char *request_id, const char *user,
			const char *received, const char *source_ip, const char *peer,
			const char *provider, enum outcome outcome, const char *detail,
			const char *answer, int64_t started_ms)
{
	snprintf(a->request_id, sizeof a->request_id, "%s", request_id);
	snprintf(a->user, sizeof a->user, "%s", user);
	snprintf(a->received, sizeof a->received, "%s", received);
	snprintf(a->source_ip, sizeof a->source_ip, "%s", source_ip);
	snprintf(a->peer, sizeof a->peer, "%s", peer);
	snprintf(a->provider, sizeof a->provider, "%s", provider);
	snprintf(a->detail, sizeof a->detail, "%s", detail != NULL ? detail : "");
	a->outcome = outcome_name(outcome);
	a->answer = answer;
	a->elapsed_ms = clock_now_ms() - started_ms;
}

const char *request_answer_name(enum answer answer)
{
	static const char *const names[] = { "false", "true", "fault" };

	return answer >= 0 && answer <= ANSWER_FAULT ? names[answer] : "fault";
}

struct request_ctx *request_ctx_new(struct http_server *srv, struct MHD_Connection *c)
{
	struct request_ctx *ctx = calloc(1, sizeof *ctx);

	if (ctx == NULL)
		return NULL;
	ctx->srv = srv;
	ctx->conn = c;
	atomic_init(&ctx->refs, 1);
	pthread_mutex_init(&ctx->lock, NULL);
	ctx->started_ms = clock_now_ms();
	ctx->deadline_ms = ctx->started_ms + srv->gen.cfg->server.deadline_ms;
	atomic_fetch_add(&srv->inflight, 1);
	return ctx;
}

struct request_ctx *request_ctx_ref(struct request_ctx *ctx)
{
	atomic_fetch_add(&ctx->refs, 1);
	return ctx;
}

void request_ctx_unref(struct request_ctx **ctxp)
{
	struct request_ctx *ctx = *ctxp;

	*ctxp = NULL;
	if (ctx == NULL || atomic_fetch_sub(&ctx->refs, 1) != 1)
		return;
	if (ctx->pending != NULL)
		ctx->pending_free(ctx->pending);
	if (ctx->audit_set && !ctx->ended) {
		ctx->sent = false;
		audit_write(ctx);
	}
	atomic_fetch_sub(&ctx->srv->inflight, 1);
	if (ctx->body.data != NULL) {
		explicit_bzero(ctx->body.data, ctx->body.used);
		free(ctx->body.data);
	}
	free(ctx->answer_fault);
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

enum request_state request_ctx_state(struct request_ctx *ctx)
{
	enum request_state state;

	pthread_mutex_lock(&ctx->lock);
	state = ctx->state;
	pthread_mutex_unlock(&ctx->lock);
	return state;
}

void request_ctx_set_state(struct request_ctx *ctx, enum request_state state)
{
	pthread_mutex_lock(&ctx->lock);
	ctx->state = state;
	pthread_mutex_unlock(&ctx->lock);
}

/* With ctx->lock held. */
static void audit_set_locked(struct request_ctx *ctx, const struct request_audit *audit)
{
	if (ctx->audit_set)
		return;
	ctx->audit = *audit;
	ctx->audit_set = true;
	if (ctx->ended)
		audit_write(ctx);
}

void request_ctx_set_audit(struct request_ctx *ctx, const struct request_audit *audit)
{
	pthread_mutex_lock(&ctx->lock);
	audit_set_locked(ctx, audit);
	pthread_mutex_unlock(&ctx->lock);
}

void request_ctx_end(struct request_ctx *ctx, bool sent)
{
	pthread_mutex_lock(&ctx->lock);
	if (!ctx->ended) {
		ctx->ended = true;
		ctx->sent = sent;
		if (ctx->audit_set)
			audit_write(ctx);
	}
	pthread_mutex_unlock(&ctx->lock);
}

bool request_ctx_answer(struct request_ctx *ctx, bool authenticated, char *fault,
			size_t fault_len, const struct request_audit *audit)
{
	bool mine;

	pthread_mutex_lock(&ctx->lock);
	mine = ctx->state == REQ_SUSPENDED;
	if (mine) {
		if (audit != NULL)
			audit_set_locked(ctx, audit);
		ctx->state = REQ_ANSWERED;
		ctx->answer_authenticated = authenticated;
		ctx->answer_fault = fault;
		ctx->answer_fault_len = fault_len;
		fault = NULL;
		MHD_resume_connection(ctx->conn);
	}
	pthread_mutex_unlock(&ctx->lock);
	free(fault);
	return mine;
}

enum request_body_open request_body_open(struct request_ctx *ctx, struct MHD_Connection *c,
					 size_t max, size_t discard_max)
{
	const char *length = NULL;
	size_t length_len = 0;
	uint64_t announced = 0;

	/* Digits only: libmicrohttpd refused anything else already. */
	MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH,
				      strlen(MHD_HTTP_HEADER_CONTENT_LENGTH), &length, &length_len);
	for (size_t i = 0; length != NULL && i < length_len && announced <= max; i++) {
		if (length[i] < '0' || length[i] > '9')
			return BODY_ANNOUNCED_TOO_LARGE;
		announced = announced * 10 + (uint64_t)(length[i] - '0');
	}
	if (announced > max)
		return BODY_ANNOUNCED_TOO_LARGE;
	ctx->body.cap = max;
	ctx->body.discard_max = discard_max;
	ctx->body.data = malloc(max + 1);
	return ctx->body.data != NULL ? BODY_OPEN : BODY_NO_MEMORY;
}

enum MHD_Result request_body_take(struct request_ctx *ctx, const char *data, size_t *size)
{
	struct request_body *b = &ctx->body;

	if (b->too_large || *size > b->cap - b->len) {
		b->too_large = true;
		b->discarded += *size;
		*size = 0;
		return b->discarded > b->discard_max ? MHD_NO : MHD_YES;
	}
	memcpy(b->data + b->len, data, *size);
	b->len += *size;
	b->used = b->len;
	*size = 0;
	return MHD_YES;
}

void request_body_wipe(struct request_ctx *ctx)
{
	if (ctx->body.data != NULL)
		explicit_bzero(ctx->body.data, ctx->body.used);
	ctx->body.len = 0;
}
