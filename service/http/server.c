#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

/* Per-connection memory for headers and buffering in MHD: Salesforce's
 * headers are well under 1 KiB and bodies stream through to our own
 * buffer, and MHD clears this pool after every request, so half MHD's
 * 32 KiB default is room enough at half the cost. */
#define HTTP_CONNECTION_MEMORY (16 * 1024)
/* One MHD event thread per core of these small machines. */
#define HTTP_EVENT_THREADS 2
/* The sign-on listener reads an Authorization header that carries a
 * Kerberos ticket: AD's PAC grows with group membership (Microsoft's
 * MaxTokenSize is 48 KiB; base64 makes 64). */
#define HTTP_SSO_CONNECTION_MEMORY (96 * 1024)
/* The sign-on listener's threads also wait on the directory ([sso] lookup,
 * Basic fallback), each wait bounded by the deadline: more of them, so
 * that one slow directory answer does not hold up the next sign-ons. */
#define HTTP_SSO_EVENT_THREADS 8

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t len;

	vsnprintf(msg, sizeof msg, fmt, ap);
	len = strlen(msg);
	while (len > 0 && msg[len - 1] == '\n')
		msg[--len] = '\0';
	log_debug("libmicrohttpd: %s", msg);
}

/* GnuTLS priorities: ECDHE key exchange and AEAD ciphers only (TLS 1.3,
 * and TLS 1.2 ECDHE with AES-GCM or ChaCha20-Poly1305) -- what Salesforce's
 * client offers; no CBC, no static RSA, no finite-field DHE. */
#define TLS_AEAD_ONLY "-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA:-CIPHER-ALL:+AES-256-GCM:" \
	"+AES-128-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:%SERVER_PRECEDENCE"

static const char *tls_priorities(int tls_min)
{
	return tls_min >= 13 ? "NORMAL:-VERS-ALL:+VERS-TLS1.3:" TLS_AEAD_ONLY
			     : "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:" TLS_AEAD_ONLY;
}

static int start_listener(struct http_server *srv, size_t index, enum listener_kind kind,
			  const char **error_r)
{
	const struct server_config *sc = &srv->gen.cfg->server;
	struct listener *l = listeners_at(srv->gen.listeners, index, kind);
	bool admin = kind == LISTENER_ADMIN, sso = kind == LISTENER_SSO;
	const struct tls_material *tm = sso ? srv->gen.sso->tls : srv->gen.tls;
	/* poll(), not epoll: libmicrohttpd 0.9.75 can abort the process when
	 * MHD_quiesce_daemon() (SIGHUP hand-over, SIGTERM drain) races its
	 * own epoll loop removing the listening socket (an unguarded
	 * MHD_PANIC on ENOENT); with poll() quiesce only signals the thread. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	bool tls = !admin && tm->cert_pem != NULL;
	MHD_AccessHandlerCallback handler = admin ? admin_handle : sso ? sso_handle : endpoint_handle;
	struct MHD_OptionItem opts[16];
	size_t n = 0;
	struct http_daemon *hd = &srv->daemon_info[srv->daemon_count];
	struct MHD_Daemon *d;

	if (l == NULL) {
		*error_r = "no socket for a listen address";
		return -1;
	}
	if (l->v6)
		flags |= MHD_USE_IPv6;
	if (tls)
		flags |= MHD_USE_TLS;
#define OPT(o, v, p) opts[n++] = (struct MHD_OptionItem){ (o), (intptr_t)(v), (p) }
	OPT(MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL);   /* first, or MHD warns */
	OPT(MHD_OPTION_LISTEN_SOCKET, l->fd, NULL);
	OPT(MHD_OPTION_THREAD_POOL_SIZE, sso ? HTTP_SSO_EVENT_THREADS : HTTP_EVENT_THREADS, NULL);
	OPT(MHD_OPTION_CONNECTION_LIMIT, sc->max_connections, NULL);
	/* max_connections_per_ip is counted by network in conn_accept(). The
	 * reaper enforces every idle limit; MHD's timeout is a backstop. */
	OPT(MHD_OPTION_CONNECTION_TIMEOUT, CONN_IDLE_TIMEOUT_MS / 1000 + 1, NULL);
	OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    sso ? HTTP_SSO_CONNECTION_MEMORY : HTTP_CONNECTION_MEMORY, NULL);
	OPT(MHD_OPTION_NOTIFY_CONNECTION, conn_notify, hd);
	OPT(MHD_OPTION_URI_LOG_CALLBACK, conn_request_started, srv);
	OPT(MHD_OPTION_NOTIFY_COMPLETED, conn_request_completed, srv);
	if (tls) {
		OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, tm->cert_pem);
		OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, tm->key_pem);
		OPT(MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)tls_priorities(sc->tls_min));
	}
	OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
	hd->srv = srv;
	hd->admin = admin;
	hd->sso = sso;
	snprintf(hd->listener, sizeof hd->listener, l->v6 ? "[%s]:%u" : "%s:%u", l->host,
		 l->bound_port);
	metrics_add_listener(hd->listener);
	d = MHD_start_daemon(flags, 0, conn_accept, hd,
			     handler, srv,
			     MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (d == NULL) {
		*error_r = "cannot serve (bad TLS certificate or key?)";
		return -1;
	}
	srv->daemons[srv->daemon_count++] = d;
	log_event("listening", "listener", admin ? "admin" : sso ? "sso" : "server",
		  "address", hd->listener, "tls", tls ? "yes" : "no", NULL);
	return 0;
}

int http_server_start(const struct http_generation *gen, struct http_server **srv_r,
		      const char **error_r)
{
	const struct dagate_config *cfg = gen->cfg;
	struct http_server *srv = calloc(1, sizeof *srv);
	size_t sso_count = gen->sso != NULL ? gen->listeners->index_count[LISTENER_SSO] : 0;
	size_t total = cfg->server.listen_count + cfg->admin.listen_count + sso_count;

	*srv_r = NULL;
	if (srv == NULL)
		return -1;
	srv->gen = *gen;
	conn_table_init(&srv->conns, cfg->server.deadline_ms, cfg->server.max_connections_per_ip);
	canned_results_create(&srv->canned);
	srv->daemons = calloc(total, sizeof *srv->daemons);
	srv->daemon_info = calloc(total, sizeof *srv->daemon_info);
	if (srv->daemons == NULL || srv->daemon_info == NULL)
		goto fail;
	for (size_t i = 0; i < cfg->server.listen_count; i++)
		if (start_listener(srv, i, LISTENER_SERVER, error_r) < 0)
			goto fail;
	for (size_t i = 0; i < cfg->admin.listen_count; i++)
		if (start_listener(srv, i, LISTENER_ADMIN, error_r) < 0)
			goto fail;
	for (size_t i = 0; i < sso_count; i++)
		if (start_listener(srv, i, LISTENER_SSO, error_r) < 0)
			goto fail;
	if (conn_reaper_start(&srv->conns) < 0) {
		*error_r = "cannot start the reaper thread";
		goto fail;
	}
	*srv_r = srv;
	return 0;
fail:
	http_server_stop(&srv);
	return -1;
}

void http_server_quiesce(struct http_server *srv)
{
	/* The listening sockets belong to the listener set: MHD hands them
	 * back and they stay open for the next generation (or serve closes
	 * them). Connections keep arriving in the kernel's backlog. */
	for (size_t i = 0; i < srv->daemon_count; i++)
		MHD_quiesce_daemon(srv->daemons[i]);
	conn_table_close_after_answers(&srv->conns);
}

unsigned http_server_inflight(struct http_server *srv)
{
	return atomic_load(&srv->inflight);
}

unsigned http_server_connections(struct http_server *srv)
{
	return conn_table_count(&srv->conns);
}

void http_server_stop(struct http_server **srvp)
{
	struct http_server *srv = *srvp;

	if (srv == NULL)
		return;
	conn_reaper_stop(&srv->conns);
	/* A daemon that still owns its listening socket would close it. */
	if (!atomic_load(&srv->conns.closing))
		http_server_quiesce(srv);
	for (size_t i = 0; i < srv->daemon_count; i++)
		MHD_stop_daemon(srv->daemons[i]);
	free(srv->daemons);
	free(srv->daemon_info);
	canned_results_destroy(&srv->canned);
	conn_table_fini(&srv->conns);
	free(srv);
	*srvp = NULL;
}
