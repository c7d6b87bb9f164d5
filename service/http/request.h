/*
 * One HTTP request: its deadline, its state between the event thread, a
 * worker and the reaper, its answer, and the one body accumulator both
 * listeners use.
 */
#ifndef DAGATE_HTTP_REQUEST_H
#define DAGATE_HTTP_REQUEST_H

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decision.h"
#include "provider.h"
#include "sf_server.h"
#include "usermap.h"

struct http_server;

/* The audit line of a request's decision (log.h's audit_record, copied).
 * It is written once both the decision and the answer's fate are known:
 * handed to libmicrohttpd for sending, or not -- then the line says
 * `sent=no` (the client went away, the connection was cut, the server
 * stopped, before the answer could be queued). */
struct request_audit {
	char request_id[20];
	char user[MAPPED_USER_MAX + 1];          /* after [map] */
	char received[SF_USERNAME_MAX + 1];     /* as Salesforce sent it */
	char source_ip[SF_SOURCE_IP_MAX + 1];
	char peer[INET6_ADDRSTRLEN + 8];
	char provider[128];
	char detail[AUTH_DETAIL_MAX];
	const char *outcome;          /* static: outcome_name() */
	const char *answer;           /* static: "true", "false", "fault" */
	int64_t elapsed_ms;
};

enum request_state {
	REQ_READING = 0,   /* headers/body arriving on an MHD thread */
	REQ_SUSPENDED,     /* handed to a worker, connection suspended */
	REQ_ANSWERED,      /* worker or reaper stored the answer, resumed */
	REQ_DONE,          /* response queued */
};

/* A request body, bounded: past `cap` it is skipped (MHD cannot answer
 * mid-body) and the request ends in 413; past `discard_max` skipped bytes
 * the connection is cut, so a client cannot keep a thread busy. */
struct request_body {
	char *data;             /* wiped on free: it holds a password */
	size_t len, cap;
	size_t used;            /* most of `data` ever written: what to wipe */
	size_t discarded, discard_max;
	bool too_large;
};

/* References: the MHD request (req_cls), the connection tracker while the
 * request is current, a worker job while it runs, the reaper while it
 * answers. The last request_ctx_unref() frees it. `lock` guards state and
 * the answer. Everything else belongs to the event thread. */
struct request_ctx {
	struct http_server *srv;
	struct MHD_Connection *conn;
	atomic_uint refs;
	pthread_mutex_t lock;
	enum request_state state;
	int64_t started_ms, deadline_ms;
	bool headers_checked;
	char client[INET6_ADDRSTRLEN];  /* the peer, or who a trusted proxy names */
	char request_id[20];            /* the audit line's, once parsed ("" before) */
	struct request_body body;
	bool answer_authenticated;  /* the answer: a result, unless */
	char *answer_fault;         /* a malloc'd soap:Server fault body */
	size_t answer_fault_len;
	/* Under `lock`: the decision's audit line and the answer's fate
	 * (request_ctx_end); whichever comes second writes the line. */
	struct request_audit audit;
	bool audit_set, ended, sent;
	/* A listener's parsed request waiting for the handler's next call
	 * (endpoint.c says why); freed with the context if it never comes. */
	void *pending;
	void (*pending_free)(void *pending);
};

/* Counts in the server's in-flight requests until the last unref. The
 * deadline is [server] deadline from now. */
struct request_ctx *request_ctx_new(struct http_server *srv, struct MHD_Connection *c);
struct request_ctx *request_ctx_ref(struct request_ctx *ctx);
void request_ctx_unref(struct request_ctx **ctx);

/* Every change of ctx->state takes ctx->lock: the reaper reads it from its
 * own thread. */
enum request_state request_ctx_state(struct request_ctx *ctx);
void request_ctx_set_state(struct request_ctx *ctx, enum request_state state);
/* Called by whoever finishes a suspended request first (worker or reaper):
 * records the answer — a result (fault == NULL) or a malloc'd soap:Server
 * fault body, which this takes over — and its audit line (or NULL: the
 * caller gives one later), and resumes the connection. Returns false if
 * the request was already answered. */
bool request_ctx_answer(struct request_ctx *ctx, bool authenticated, char *fault,
			size_t fault_len, const struct request_audit *audit);
/* The decision's audit line: written now if the request has ended, else
 * when it ends. One per request; a second is ignored. */
void request_ctx_set_audit(struct request_ctx *ctx, const struct request_audit *audit);
/* A decision's audit line (event=auth), written by the request context
 * once it is known whether the answer was sent; elapsed since started_ms. */
void request_audit_fill(struct request_audit *a, const char *request_id, const char *user,
			const char *received, const char *source_ip, const char *peer,
			const char *provider, enum outcome outcome, const char *detail,
			const char *answer, int64_t started_ms);
/* "false", "true", "fault". */
const char *request_answer_name(enum answer answer);
/* The request's answer was queued on its connection (`sent`), or the
 * request ended without one (false). The first call counts; a context
 * freed without any counts as not sent. */
void request_ctx_end(struct request_ctx *ctx, bool sent);

/* Time kept in hand to serialize and send an answer before the deadline. */
static inline int64_t request_answer_margin_ms(int64_t deadline_ms)
{
	return deadline_ms / 4 < 100 ? deadline_ms / 4 : 100;
}

enum request_body_open {
	BODY_OPEN,
	BODY_ANNOUNCED_TOO_LARGE,  /* Content-Length over `max`: 413, read nothing */
	BODY_NO_MEMORY,
};
/* On the first handler call, once the request may have a body. */
enum request_body_open request_body_open(struct request_ctx *ctx, struct MHD_Connection *c,
					 size_t max, size_t discard_max);
/* One upload_data call of the handler: takes (or skips) every byte, sets
 * *size to 0. MHD_NO: cut the connection. */
enum MHD_Result request_body_take(struct request_ctx *ctx, const char *data, size_t *size);
/* Wipe what the body held, as soon as it has been read. */
void request_body_wipe(struct request_ctx *ctx);

#endif
