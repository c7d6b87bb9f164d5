/*
 * Every open connection of one server, and the reaper thread that holds
 * them to the deadline: it answers a suspended request with a soap:Server
 * fault when its deadline comes, and cuts connections that trickle a
 * request for longer than the deadline or sit idle too long.
 */
#ifndef DAGATE_HTTP_CONN_H
#define DAGATE_HTTP_CONN_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* How long a keep-alive connection may sit idle between requests (and how
 * long a client may take to send a request line). Salesforce reuses
 * connections; 15 s keeps that useful without piling up idle sockets. */
#define CONN_IDLE_TIMEOUT_MS 15000

struct conn_track;

struct conn_table {
	pthread_mutex_t lock;         /* guards `tracks` and `stopping` */
	struct conn_track *tracks;    /* every open connection */
	int64_t deadline_ms;          /* [server] deadline */
	pthread_t reaper;
	bool reaper_running, stopping;
	atomic_bool closing;          /* quiesced: answers say Connection: close */
};

void conn_table_init(struct conn_table *t, int64_t deadline_ms);
int conn_reaper_start(struct conn_table *t);
/* Joins the reaper; call before the daemons stop. */
void conn_reaper_stop(struct conn_table *t);
/* After the daemons stopped (they close every connection). */
void conn_table_fini(struct conn_table *t);
unsigned conn_table_count(struct conn_table *t);

/* After quiesce clients are told not to reuse their connections, so that
 * the old generation drains instead of taking new requests. */
void conn_table_close_after_answers(struct conn_table *t);
bool conn_closing(struct MHD_Connection *c);

/* libmicrohttpd's callbacks; `cls` is the struct http_server. A request's
 * context (request.h) is made when its request line is in: the deadline
 * counts from the request's first byte. */
void conn_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
		 enum MHD_ConnectionNotificationCode toe);
void *conn_request_started(void *cls, const char *uri, struct MHD_Connection *c);
void conn_request_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			    enum MHD_RequestTerminationCode toe);

#endif
