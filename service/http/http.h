/*
 * The HTTP(S) listeners (libmicrohttpd): the Salesforce-facing endpoint of
 * [server] and the operator's [admin] listener.
 *
 * Threads: MHD event threads admit peers, read requests, check head/
 * peer/path/method/type/size, parse the SOAP envelope and hand the decision to the worker pool
 * with the connection suspended; the worker resumes it with the answer. A
 * reaper thread enforces the deadline: it answers a suspended request with
 * a soap:Server fault when its deadline comes, and cuts connections that
 * trickle a request for longer than the deadline.
 *
 * Inside: server.c (the daemons), conn.c (admission at accept,
 * connections and the reaper), header_check.c (the request head, checked
 * before any header is read), request.c (a request's context and body),
 * respond.c (every answer), peer.c (who is asking), refusal.c (every
 * refusal logged and counted), endpoint.c and admin.c (the two
 * listeners), sso_listener.c (the intranet sign-on listener of [sso]).
 */
#ifndef DAGATE_HTTP_H
#define DAGATE_HTTP_H

#include "config.h"
#include "listeners.h"
#include "tls_material.h"
#include "router.h"
#include "workers.h"

struct token_issuer;
struct throttle;
struct sso_config;
struct sso_acceptor;
struct provider;

/* [sso] of one generation: its settings, its Kerberos acceptor and its
 * certificate (cert_pem NULL: plain HTTP). Borrowed. */
struct http_sso {
	const struct sso_config *conf;
	struct sso_acceptor *acceptor;
	const struct tls_material *tls;
	struct provider *lookup;        /* `lookup`'s provider, or NULL */
};

/* One configuration generation as the HTTP layer sees it: what serve built
 * from one reading of the config (plus the sockets, token issuer and
 * throttle that outlive generations). Borrowed, never freed here. */
struct http_generation {
	const struct dagate_config *cfg;
	struct router *router;
	struct worker_pool *workers;
	struct token_issuer *tokens;   /* NULL: no token API */
	struct throttle *throttle;     /* NULL: no throttling (for metrics) */
	struct listener_set *listeners; /* sockets for every listen address */
	const struct tls_material *tls; /* certificate and key, or none */
	const struct http_sso *sso;    /* NULL: no [sso] listener */
	const char *wsdl;              /* served by GET {path}?wsdl */
	size_t wsdl_len;
};

struct http_server;

/* Serve every listen address of gen->cfg on its socket from the listener
 * set; logs one "listening" event each. Everything `gen` points to must
 * outlive the server (`gen` itself is copied). */
int http_server_start(const struct http_generation *gen, struct http_server **srv_r,
		      const char **error_r);
/* Stop accepting new connections (SIGTERM drain, SIGHUP hand-over); the
 * listening sockets stay open in the listener set. */
void http_server_quiesce(struct http_server *srv);
/* Requests still being answered (suspended on a worker). */
unsigned http_server_inflight(struct http_server *srv);
/* Connections still open (each closes after its next answer once the
 * server is quiesced). */
unsigned http_server_connections(struct http_server *srv);
/* Stop everything; call after the worker pool has drained. */
void http_server_stop(struct http_server **srv);

#endif
