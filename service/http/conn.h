/*
 * Every open connection of one server, and the reaper thread that holds
 * them to the deadline: it answers a suspended request with a soap:Server
 * fault when its deadline comes, and cuts connections that trickle a
 * request (or a TLS handshake) for longer than the deadline, stay silent
 * after connecting, or sit idle too long between requests.
 */
#ifndef DAGATE_HTTP_CONN_H
#define DAGATE_HTTP_CONN_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* How long a keep-alive connection may sit idle between requests.
 * Salesforce reuses connections; 15 s keeps that useful without piling up
 * idle sockets. */
#define CONN_IDLE_TIMEOUT_MS 15000
/* How long a new connection may stay silent: a client that means it sends
 * its request line or TLS ClientHello at once. Never more than half the
 * deadline, so that silent peers give their slots back well before it. */
#define CONN_SILENT_MAX_MS 2000
/* Connections from one client count against max_connections_per_ip by
 * network: an IPv4 address, or the /64 of an IPv6 address (one host or
 * site holds a whole /64). */
#define CONN_V6_NETWORK_PREFIX 64

struct conn_track;
struct conn_network;

struct conn_table {
	pthread_mutex_t lock;         /* guards `tracks`, `nets` and `stopping` */
	struct conn_track *tracks;    /* every open connection */
	struct conn_network *nets;    /* open connections by network */
	size_t net_count, net_cap;
	unsigned per_network_max;     /* [server] max_connections_per_ip */
	int64_t deadline_ms;          /* [server] deadline */
	pthread_t reaper;
	bool reaper_running, stopping;
	atomic_bool closing;          /* quiesced: answers say Connection: close */
};

void conn_table_init(struct conn_table *t, int64_t deadline_ms, unsigned per_network_max);
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

/* libmicrohttpd's callbacks. conn_accept and conn_notify take the
 * daemon's struct http_daemon (server.h): a peer outside the listener's
 * allow list (for [server]: outside allow and trusted_proxies, whose
 * clients are checked per request) or over its network's connection limit
 * is closed at accept. The request callbacks take the struct http_server.
 * A request's context (request.h) is made when its request line is in:
 * the deadline counts from the request's first byte. */
enum MHD_Result conn_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
void conn_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
		 enum MHD_ConnectionNotificationCode toe);
void *conn_request_started(void *cls, const char *uri, struct MHD_Connection *c);
/* The listener ("HOST:PORT") the connection came in on, "unknown" if MHD
 * cannot say. Valid while the connection is. */
const char *conn_listener(struct MHD_Connection *c);
/* State a listener keeps for the life of one connection (the [sso] NTLM
 * handshake, which authenticates a connection): conn_state_set() frees the
 * state held (with its free_fn) and holds `state` instead, to be freed by
 * `free_fn` when the connection closes. Only the connection's own event
 * thread calls these. -1 (and `state` freed) for an untracked connection. */
int conn_state_set(struct MHD_Connection *c, void *state, void (*free_fn)(void *));
void *conn_state(struct MHD_Connection *c);
void conn_request_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			    enum MHD_RequestTerminationCode toe);

#endif
