/*
 * Shared between the listener code (http.c) and the request handlers
 * (endpoint.c, admin.c). Not a public interface.
 */
#ifndef DAGATE_HTTP_INTERNAL_H
#define DAGATE_HTTP_INTERNAL_H

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "netaddr.h"
#include "soap_glue.h"

enum request_state {
	REQ_READING = 0,   /* headers/body arriving on an MHD thread */
	REQ_SUSPENDED,     /* handed to a worker, connection suspended */
	REQ_ANSWERED,      /* worker or reaper stored the answer, resumed */
	REQ_DONE,          /* response queued */
};

/* One HTTP request. References: the MHD request (req_cls), the connection
 * tracker while the request is current, and a worker job while it runs.
 * The last request_ctx_unref() frees it. `lock` guards state and answer. */
struct request_ctx {
	struct http_server *srv;
	struct MHD_Connection *conn;
	atomic_uint refs;
	pthread_mutex_t lock;
	enum request_state state;
	int64_t started_ms, deadline_ms;
	bool headers_checked;
	char client[INET6_ADDRSTRLEN];  /* the peer, or who a trusted proxy names */
	bool too_large;         /* chunked body past max_body: 413 at the end */
	size_t discarded;
	char *body;             /* wiped on free: it holds a password */
	size_t body_len, body_cap;
	size_t body_used;       /* most of `body` ever written: what to wipe */
	bool answer_authenticated;  /* the answer: a result, unless */
	char *answer_fault;         /* a malloc'd soap:Server fault body */
	size_t answer_fault_len;
};

struct request_ctx *request_ctx_new(struct http_server *srv, struct MHD_Connection *c);
void request_ctx_unref(struct request_ctx **ctx);
bool request_ctx_answer(struct request_ctx *ctx, bool authenticated, char *fault,
			size_t fault_len);
/* Every change of ctx->state takes ctx->lock: the reaper reads it from its
 * own thread. */
void request_ctx_set_state(struct request_ctx *ctx, enum request_state state);

const struct http_services *http_server_services(const struct http_server *srv);

/* Time kept in hand to serialize and send an answer before the deadline. */
static inline int64_t http_answer_margin_ms(int64_t deadline_ms)
{
	return deadline_ms / 4 < 100 ? deadline_ms / 4 : 100;
}

enum MHD_Result http_respond(struct MHD_Connection *c, unsigned status,
			     const char *content_type, const char *body, size_t len,
			     enum MHD_ResponseMemoryMode mode);
bool http_connection_closing(struct MHD_Connection *c);
/* 200 with the canned AuthenticateResult (soap_glue_result). */
enum MHD_Result http_respond_result(struct MHD_Connection *c, bool authenticated);
enum MHD_Result http_respond_text(struct MHD_Connection *c, unsigned status,
				  const char *text);
void http_peer_text(struct MHD_Connection *c, char *out, size_t size);
bool http_peer_allowed(struct MHD_Connection *c, const struct cidr_list *allow);
/* The client address (forwarded.h) from the peer text and the request's
 * X-Forwarded-For headers. -1: refuse the request. */
int http_client_address(struct MHD_Connection *c, const char *peer,
			const struct cidr_list *trusted, char *out, size_t size);

#define HTTP_HANDLER_ARGS void *cls, struct MHD_Connection *c, const char *url, \
	const char *method, const char *version, const char *upload_data, \
	size_t *upload_data_size, void **req_cls
enum MHD_Result endpoint_handle(HTTP_HANDLER_ARGS);
enum MHD_Result admin_handle(HTTP_HANDLER_ARGS);

#endif
