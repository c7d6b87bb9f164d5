/*
 * Listeners, connection tracking and the deadline reaper. The request
 * handlers live in endpoint.c (Salesforce) and admin.c (operators).
 */
#include "http_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "forwarded.h"
#include "log.h"

/* How long a keep-alive connection may sit idle between requests (and how
 * long a client may take to send a request line). Salesforce reuses
 * connections; 15 s keeps that useful without piling up idle sockets. */
#define HTTP_IDLE_TIMEOUT_MS 15000
/* The reaper's tick: the precision of every cut-off it enforces. */
#define HTTP_REAPER_TICK_MS 50
/* Per-connection memory for headers and buffering in MHD: Salesforce's
 * headers are well under 1 KiB and bodies stream through to our own
 * buffer, and MHD clears this pool after every request, so half MHD's
 * 32 KiB default is room enough at half the cost. */
#define HTTP_CONNECTION_MEMORY (16 * 1024)
/* One MHD event thread per core of these small machines. */
#define HTTP_EVENT_THREADS 2

struct http_server {
	struct http_services svc;
	struct MHD_Daemon **daemons;
	size_t daemon_count;
	pthread_mutex_t lock;           /* guards `tracks` */
	struct conn_track *tracks;      /* every open connection */
	pthread_t reaper;
	bool reaper_running, stopping;
	atomic_bool quiesced;           /* answers say Connection: close */
	atomic_uint inflight;
};

/* ---- request contexts ------------------------------------------------ */

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
	ctx->deadline_ms = ctx->started_ms + srv->svc.cfg->server.deadline_ms;
	atomic_fetch_add(&srv->inflight, 1);
	return ctx;
}

void request_ctx_unref(struct request_ctx **ctxp)
{
	struct request_ctx *ctx = *ctxp;

	*ctxp = NULL;
	if (ctx == NULL || atomic_fetch_sub(&ctx->refs, 1) != 1)
		return;
	atomic_fetch_sub(&ctx->srv->inflight, 1);
	if (ctx->body != NULL) {
		explicit_bzero(ctx->body, ctx->body_used);
		free(ctx->body);
	}
	free(ctx->answer_fault);
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

/* ---- connection tracking --------------------------------------------- */

struct conn_track {
	struct conn_track *prev, *next;
	struct http_server *srv;
	struct MHD_Connection *conn;
	int fd;
	int64_t phase_start_ms;         /* open, or end of the last request */
	int64_t first_data_ms;          /* first bytes of the next request, 0 */
	struct request_ctx *ctx;        /* request in progress (a reference) */
};

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *srv = cls;
	struct conn_track *t = *socket_ctx;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		t = calloc(1, sizeof *t);
		if (t == NULL)
			return;
		t->conn = c;
		t->srv = srv;
		t->fd = info != NULL ? info->connect_fd : -1;
		t->phase_start_ms = clock_now_ms();
		pthread_mutex_lock(&srv->lock);
		t->next = srv->tracks;
		if (srv->tracks != NULL)
			srv->tracks->prev = t;
		srv->tracks = t;
		pthread_mutex_unlock(&srv->lock);
		*socket_ctx = t;
		return;
	}
	if (t == NULL)
		return;
	pthread_mutex_lock(&srv->lock);
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		srv->tracks = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&srv->lock);
	request_ctx_unref(&t->ctx);
	free(t);
	*socket_ctx = NULL;
}

static struct conn_track *track_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info != NULL ? info->socket_context : NULL;
}

/* The request line arrived: the request's deadline starts now. */
static void *on_request_start(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct http_server *srv = cls;
	struct request_ctx *ctx = request_ctx_new(srv, c);
	struct conn_track *t = track_of(c);

	if (ctx != NULL && t != NULL) {
		atomic_fetch_add(&ctx->refs, 1);
		pthread_mutex_lock(&srv->lock);
		request_ctx_unref(&t->ctx);
		t->ctx = ctx;
		/* The deadline counts from the request's first byte. */
		if (t->first_data_ms != 0 && t->first_data_ms < ctx->started_ms) {
			ctx->deadline_ms -= ctx->started_ms - t->first_data_ms;
			ctx->started_ms = t->first_data_ms;
		}
		pthread_mutex_unlock(&srv->lock);
	}
	return ctx;
}

static void on_request_done(void *cls, struct MHD_Connection *c, void **req_cls,
			    enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct request_ctx *ctx = *req_cls;
	struct conn_track *t = track_of(c);

	if (t != NULL) {
		pthread_mutex_lock(&srv->lock);
		if (t->ctx == ctx)
			request_ctx_unref(&t->ctx);
		t->phase_start_ms = clock_now_ms();
		t->first_data_ms = 0;
		pthread_mutex_unlock(&srv->lock);
	}
	request_ctx_unref(&ctx);
	*req_cls = NULL;
}

/* ---- answers --------------------------------------------------------- */

/* After quiesce, clients are told not to reuse their connections, so that
 * the old generation drains instead of taking new requests. */
bool http_connection_closing(struct MHD_Connection *c)
{
	struct conn_track *t = track_of(c);

	return t != NULL && atomic_load(&t->srv->quiesced);
}

enum MHD_Result http_respond(struct MHD_Connection *c, unsigned status,
			     const char *content_type, const char *body, size_t len,
			     enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, mode);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	if (content_type != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (http_connection_closing(c))
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* The two answers almost every request gets, built once and shared by
 * every connection (libmicrohttpd responses are reference-counted):
 * [closing][authenticated]. */
static struct MHD_Response *canned[2][2];
static pthread_once_t canned_once = PTHREAD_ONCE_INIT;

static void canned_init(void)
{
	for (int closing = 0; closing < 2; closing++) {
		for (int yes = 0; yes < 2; yes++) {
			size_t len;
			const char *body = soap_glue_result(yes, &len);
			struct MHD_Response *r = MHD_create_response_from_buffer(
				len, (void *)body, MHD_RESPMEM_PERSISTENT);

			if (r == NULL)
				continue;
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
						"text/xml; charset=utf-8");
			MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
			if (closing)
				MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
			canned[closing][yes] = r;
		}
	}
}

enum MHD_Result http_respond_result(struct MHD_Connection *c, bool authenticated)
{
	struct MHD_Response *r;

	pthread_once(&canned_once, canned_init);
	r = canned[http_connection_closing(c)][authenticated];
	if (r == NULL) {
		size_t len;
		const char *body = soap_glue_result(authenticated, &len);

		return http_respond(c, MHD_HTTP_OK, "text/xml; charset=utf-8", body, len,
				    MHD_RESPMEM_PERSISTENT);
	}
	return MHD_queue_response(c, MHD_HTTP_OK, r);
}

enum MHD_Result http_respond_text(struct MHD_Connection *c, unsigned status,
				  const char *text)
{
	return http_respond(c, status, "text/plain; charset=utf-8", text, strlen(text),
			    MHD_RESPMEM_PERSISTENT);
}

void http_peer_text(struct MHD_Connection *c, char *out, size_t size)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	if (info == NULL || info->client_addr == NULL)
		snprintf(out, size, "unknown");
	else
		sockaddr_to_text(info->client_addr, out, size);
}

bool http_peer_allowed(struct MHD_Connection *c, const struct cidr_list *allow)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	return info != NULL && info->client_addr != NULL &&
	       cidr_list_contains_sockaddr(allow, info->client_addr);
}

struct xff_collect {
	char buf[1024];
	size_t len;
	bool overflow;
};

static enum MHD_Result collect_xff(void *cls, enum MHD_ValueKind kind,
				   const char *key, const char *value)
{
	struct xff_collect *x = cls;
	size_t n;

	if (strcasecmp(key, "X-Forwarded-For") != 0 || value == NULL)
		return MHD_YES;
	n = strlen(value);
	if (x->len + n + 2 > sizeof x->buf) {
		x->overflow = true;
		return MHD_NO;
	}
	if (x->len > 0)
		x->buf[x->len++] = ',';
	memcpy(x->buf + x->len, value, n + 1);
	x->len += n;
	return MHD_YES;
}

int http_client_address(struct MHD_Connection *c, const char *peer,
			const struct cidr_list *trusted, char *out, size_t size)
{
	struct xff_collect x = { .len = 0 };

	x.buf[0] = '\0';
	if (trusted->count > 0)
		MHD_get_connection_values(c, MHD_HEADER_KIND, collect_xff, &x);
	if (x.overflow)
		return -1;
	return forwarded_client(peer, x.len > 0 ? x.buf : NULL, trusted, out, size);
}

/* Called by whoever finishes a suspended request first (worker or reaper):
 * records the answer — a result (fault == NULL) or a malloc'd soap:Server
 * fault body, which this takes over — and resumes the connection. Returns
 * false if the request was already answered. */
void request_ctx_set_state(struct request_ctx *ctx, enum request_state state)
{
	pthread_mutex_lock(&ctx->lock);
	ctx->state = state;
	pthread_mutex_unlock(&ctx->lock);
}

bool request_ctx_answer(struct request_ctx *ctx, bool authenticated, char *fault,
			size_t fault_len)
{
	bool mine;

	pthread_mutex_lock(&ctx->lock);
	mine = ctx->state == REQ_SUSPENDED;
	if (mine) {
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

/* ---- the reaper ------------------------------------------------------ */

/* Between requests MHD tells nothing until a whole request line is in, so
 * a client trickling that line looks idle. The kernel knows when data last
 * arrived: the first tick that sees data newer than the end of the last
 * request marks the start of the next one. */
static void track_note_first_data(struct conn_track *t, int64_t now)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	int64_t last;

	if (t->first_data_ms != 0 ||
	    getsockopt(t->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return;
	last = now - (int64_t)ti.tcpi_last_data_recv;
	if (last > t->phase_start_ms)
		t->first_data_ms = last;
}

static void reap_once(struct http_server *srv)
{
	struct request_ctx *late[64];
	size_t nlate = 0;
	int64_t now = clock_now_ms();
	int64_t deadline = srv->svc.cfg->server.deadline_ms;

	pthread_mutex_lock(&srv->lock);
	for (struct conn_track *t = srv->tracks; t != NULL; t = t->next) {
		struct request_ctx *ctx = t->ctx;

		if (ctx != NULL) {
			enum request_state state;

			pthread_mutex_lock(&ctx->lock);
			state = ctx->state;
			pthread_mutex_unlock(&ctx->lock);
			if (state == REQ_SUSPENDED) {
				if (now >= ctx->deadline_ms - http_answer_margin_ms(deadline) / 2 &&
				    nlate < sizeof late / sizeof late[0]) {
					atomic_fetch_add(&ctx->refs, 1);
					late[nlate++] = ctx;
				}
			} else if (state == REQ_READING && now >= ctx->deadline_ms && t->fd >= 0) {
				/* Still sending its request at the deadline: a
				 * trickling client. Cut it; MHD sees the EOF. */
				shutdown(t->fd, SHUT_RDWR);
				t->fd = -1;
			}
		} else if (t->fd >= 0) {
			track_note_first_data(t, now);
			if ((t->first_data_ms != 0 && now - t->first_data_ms >= deadline) ||
			    now - t->phase_start_ms >= HTTP_IDLE_TIMEOUT_MS) {
				/* Idle too long, or a request line trickling. */
				shutdown(t->fd, SHUT_RDWR);
				t->fd = -1;
			}
		}
	}
	pthread_mutex_unlock(&srv->lock);

	for (size_t i = 0; i < nlate; i++) {
		size_t len;
		char *fault = soap_glue_fault(false, "deadline reached", &len);

		if (fault != NULL)
			request_ctx_answer(late[i], false, fault, len);
		request_ctx_unref(&late[i]);
	}
}

static void *reaper_main(void *arg)
{
	struct http_server *srv = arg;

	for (;;) {
		bool stop;

		clock_sleep_until(clock_now_ms() + HTTP_REAPER_TICK_MS);
		pthread_mutex_lock(&srv->lock);
		stop = srv->stopping;
		pthread_mutex_unlock(&srv->lock);
		if (stop)
			return NULL;
		reap_once(srv);
	}
}

/* ---- listeners ------------------------------------------------------- */

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

static const char *tls_priorities(int tls_min)
{
	/* Forward-secret key exchange only; Salesforce offers ECDHE-RSA. */
	return tls_min >= 13 ? "NORMAL:-VERS-ALL:+VERS-TLS1.3:%SERVER_PRECEDENCE"
			     : "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:%SERVER_PRECEDENCE";
}

static int start_listener(struct http_server *srv, size_t index, bool admin,
			  const char **error_r)
{
	const struct server_config *sc = &srv->svc.cfg->server;
	struct listener *l = listeners_at(srv->svc.listeners, index, admin);
	/* poll(), not epoll: libmicrohttpd 0.9.75 can abort the process when
	 * MHD_quiesce_daemon() (SIGHUP hand-over, SIGTERM drain) races its
	 * own epoll loop removing the listening socket (an unguarded
	 * MHD_PANIC on ENOENT); with poll() quiesce only signals the thread. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	bool tls = !admin && srv->svc.tls->cert_pem != NULL;
	struct MHD_OptionItem opts[16];
	size_t n = 0;
	struct MHD_Daemon *d;
	char address[80];

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
	OPT(MHD_OPTION_THREAD_POOL_SIZE, HTTP_EVENT_THREADS, NULL);
	OPT(MHD_OPTION_CONNECTION_LIMIT, sc->max_connections, NULL);
	OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, sc->max_connections_per_ip, NULL);
	OPT(MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IDLE_TIMEOUT_MS / 1000, NULL);
	OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONNECTION_MEMORY, NULL);
	OPT(MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv);
	OPT(MHD_OPTION_URI_LOG_CALLBACK, on_request_start, srv);
	OPT(MHD_OPTION_NOTIFY_COMPLETED, on_request_done, srv);
	if (tls) {
		OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, srv->svc.tls->cert_pem);
		OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, srv->svc.tls->key_pem);
		OPT(MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)tls_priorities(sc->tls_min));
	}
	OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
	d = MHD_start_daemon(flags, 0, NULL, NULL,
			     admin ? admin_handle : endpoint_handle, srv,
			     MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (d == NULL) {
		*error_r = "cannot serve (bad TLS certificate or key?)";
		return -1;
	}
	srv->daemons[srv->daemon_count++] = d;
	snprintf(address, sizeof address, l->v6 ? "[%s]:%u" : "%s:%u", l->host, l->bound_port);
	log_event("listening", "listener", admin ? "admin" : "server",
		  "address", address, "tls", tls ? "yes" : "no", NULL);
	return 0;
}

int http_server_start(const struct http_services *svc, struct http_server **srv_r,
		      const char **error_r)
{
	const struct dagate_config *cfg = svc->cfg;
	struct http_server *srv = calloc(1, sizeof *srv);

	*srv_r = NULL;
	if (srv == NULL)
		return -1;
	srv->svc = *svc;
	pthread_mutex_init(&srv->lock, NULL);
	srv->daemons = calloc(cfg->server.listen_count + cfg->admin.listen_count,
			      sizeof *srv->daemons);
	if (srv->daemons == NULL)
		goto fail;
	for (size_t i = 0; i < cfg->server.listen_count; i++)
		if (start_listener(srv, i, false, error_r) < 0)
			goto fail;
	for (size_t i = 0; i < cfg->admin.listen_count; i++)
		if (start_listener(srv, i, true, error_r) < 0)
			goto fail;
	if (pthread_create(&srv->reaper, NULL, reaper_main, srv) != 0) {
		*error_r = "cannot start the reaper thread";
		goto fail;
	}
	srv->reaper_running = true;
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
	atomic_store(&srv->quiesced, true);
}

unsigned http_server_inflight(struct http_server *srv)
{
	return atomic_load(&srv->inflight);
}

unsigned http_server_connections(struct http_server *srv)
{
	unsigned n = 0;

	pthread_mutex_lock(&srv->lock);
	for (struct conn_track *t = srv->tracks; t != NULL; t = t->next)
		n++;
	pthread_mutex_unlock(&srv->lock);
	return n;
}

void http_server_stop(struct http_server **srvp)
{
	struct http_server *srv = *srvp;

	if (srv == NULL)
		return;
	if (srv->reaper_running) {
		pthread_mutex_lock(&srv->lock);
		srv->stopping = true;
		pthread_mutex_unlock(&srv->lock);
		pthread_join(srv->reaper, NULL);
	}
	/* A daemon that still owns its listening socket would close it. */
	if (!atomic_load(&srv->quiesced))
		http_server_quiesce(srv);
	for (size_t i = 0; i < srv->daemon_count; i++)
		MHD_stop_daemon(srv->daemons[i]);
	free(srv->daemons);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
	*srvp = NULL;
}

const struct http_services *http_server_services(const struct http_server *srv)
{
	return &srv->svc;
}
