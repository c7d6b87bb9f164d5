/*
 * One generation's HTTP server as its parts see it: the daemons, the
 * connections, the canned answers. Internal to service/http; the public
 * side is http.h.
 */
#ifndef DAGATE_HTTP_SERVER_H
#define DAGATE_HTTP_SERVER_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "conn.h"
#include "http.h"
#include "respond.h"

/* What a daemon's accept and connection callbacks are given. */
struct http_daemon {
	struct http_server *srv;
	bool admin;                     /* the [admin] listener, or a [server] one */
	bool sso;                       /* an [sso] listener (admin false) */
	char listener[80];              /* "HOST:PORT" as bound: logs, metrics */
};

struct http_server {
	struct http_generation gen;     /* a copy; what it points to outlives us */
	struct MHD_Daemon **daemons;
	struct http_daemon *daemon_info; /* one per daemon, same index */
	size_t daemon_count;
	struct conn_table conns;
	struct canned_results canned;
	atomic_uint inflight;           /* request contexts alive */
};

/* The request handlers the daemons call; `cls` is the struct http_server,
 * *req_cls the request's context (request.h). */
#define HTTP_HANDLER_ARGS void *cls, struct MHD_Connection *c, const char *url, \
	const char *method, const char *version, const char *upload_data, \
	size_t *upload_data_size, void **req_cls
enum MHD_Result endpoint_handle(HTTP_HANDLER_ARGS);
enum MHD_Result admin_handle(HTTP_HANDLER_ARGS);
enum MHD_Result sso_handle(HTTP_HANDLER_ARGS);

#endif
