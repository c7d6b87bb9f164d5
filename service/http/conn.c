#include "conn.h"

#include <arpa/inet.h>
#include <linux/tcp.h>   /* struct tcp_info with tcpi_bytes_received */
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "netaddr.h"
#include "refusal.h"
#include "sso.h"
#include "request.h"
#include "server.h"
#include "sf_server.h"

/* The reaper's tick: the precision of every cut-off it enforces. */
#define CONN_REAPER_TICK_MS 50
/* Requests the reaper answers in one tick; the rest wait for the next. */
#define CONN_REAP_BATCH 64

struct conn_track {
	struct conn_track *prev, *next;
	struct conn_table *table;
	struct MHD_Connection *conn;
	int fd;
	char peer[INET6_ADDRSTRLEN];
	const char *listener;           /* its daemon's, which outlives it */
	struct cidr network;            /* what it counts against */
	bool admin, counted;
	bool served;                    /* a request was answered: idle is keep-alive */
	int64_t phase_start_ms;         /* open, or end of the last request */
	uint64_t phase_bytes;           /* bytes the kernel had received then */
	int64_t quiet_ms;               /* last tick that saw no new bytes */
	int64_t first_data_ms;          /* first bytes of the next request, 0 */
	struct request_ctx *ctx;        /* request in progress (a reference) */
	void *state;                    /* conn_state_set(): its event thread's only */
	void (*state_free)(void *state);
};

struct conn_network {
	struct cidr net;
	bool admin;
	unsigned count;
};

/* Bytes the kernel has received on `fd` so far (data, not ACKs). */
static bool tcp_bytes_received(int fd, uint64_t *bytes_r)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;

	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received)
		return false;
	*bytes_r = ti.tcpi_bytes_received;
	return true;
}

/* With table->lock held. */
static struct conn_network *network_find(struct conn_table *table, const struct cidr *net,
					 bool admin)
{
	for (size_t i = 0; i < table->net_count; i++)
		if (table->nets[i].admin == admin && cidr_equal(&table->nets[i].net, net))
			return &table->nets[i];
	return NULL;
}

/* With table->lock held. Failing (out of memory) leaves it uncounted. */
static void network_add(struct conn_table *table, struct conn_track *t)
{
	struct conn_network *n = network_find(table, &t->network, t->admin);

	if (n == NULL) {
		if (table->net_count == table->net_cap) {
			size_t cap = table->net_cap ? 2 * table->net_cap : 16;
			struct conn_network *nets = realloc(table->nets, cap * sizeof *nets);

			if (nets == NULL)
				return;
			table->nets = nets;
			table->net_cap = cap;
		}
		n = &table->nets[table->net_count++];
		*n = (struct conn_network){ .net = t->network, .admin = t->admin };
	}
	n->count++;
	t->counted = true;
}

/* With table->lock held. */
static void network_remove(struct conn_table *table, struct conn_track *t)
{
	struct conn_network *n = t->counted ? network_find(table, &t->network, t->admin) : NULL;

	if (n == NULL)
		return;
	if (--n->count == 0)
		*n = table->nets[--table->net_count];
	t->counted = false;
}

static void network_text(const struct cidr *net, char *out, size_t size)
{
	char addr[INET6_ADDRSTRLEN];

	if (inet_ntop(net->family, net->addr, addr, sizeof addr) == NULL)
		snprintf(addr, sizeof addr, "?");
	snprintf(out, size, "%s/%u", addr, net->prefix);
}

enum MHD_Result conn_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	const struct http_daemon *hd = cls;
	const struct dagate_config *cfg = hd->srv->gen.cfg;
	struct conn_table *table = &hd->srv->conns;
	char peer[INET6_ADDRSTRLEN], network[INET6_ADDRSTRLEN + 8];
	struct conn_network *n;
	struct cidr net;
	bool allowed, full;

	(void)addrlen;
	if (hd->admin)
		allowed = cidr_list_contains_sockaddr(&cfg->admin.allow, addr);
	else if (hd->sso)
		allowed = cidr_list_contains_sockaddr(&hd->srv->gen.sso->conf->allow, addr);
	else
		allowed = cidr_list_contains_sockaddr(&cfg->server.allow, addr) ||
			  cidr_list_contains_sockaddr(&cfg->server.trusted_proxies, addr);
	sockaddr_to_text(addr, peer, sizeof peer);
	if (!allowed || sockaddr_network(addr, CONN_V6_NETWORK_PREFIX, &net) < 0) {
		char source[HTTP_ALLOW_SOURCE_MAX];

		if (hd->sso)
			snprintf(source, sizeof source, "[sso] allow");
		else
			http_allow_source(cfg, hd->admin, source, sizeof source);
		http_refusal(HTTP_REFUSED_PEER, hd->listener,
			     "refused a connection from %s: not in %s (listener %s)", peer, source,
			     hd->listener);
		return MHD_NO;
	}
	pthread_mutex_lock(&table->lock);
	n = network_find(table, &net, hd->admin);
	full = n != NULL && n->count >= table->per_network_max;
	pthread_mutex_unlock(&table->lock);
	if (full) {
		network_text(&net, network, sizeof network);
		http_refusal(HTTP_REFUSED_NETWORK_LIMIT, hd->listener,
			     "refused a connection from %s: max_connections_per_ip reached for %s (listener %s)",
			     peer, network, hd->listener);
		return MHD_NO;
	}
	return MHD_YES;
}

void conn_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
		 enum MHD_ConnectionNotificationCode toe)
{
	const struct http_daemon *hd = cls;
	struct conn_table *table = &hd->srv->conns;
	struct conn_track *t = *socket_ctx;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *addr =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

		t = calloc(1, sizeof *t);
		if (t == NULL)
			return;
		t->conn = c;
		t->table = table;
		t->admin = hd->admin;
		t->listener = hd->listener;
		t->fd = info != NULL ? info->connect_fd : -1;
		t->phase_start_ms = t->quiet_ms = clock_now_ms();
		sockaddr_to_text(addr != NULL ? addr->client_addr : NULL, t->peer, sizeof t->peer);
		pthread_mutex_lock(&table->lock);
		if (addr != NULL &&
		    sockaddr_network(addr->client_addr, CONN_V6_NETWORK_PREFIX, &t->network) == 0)
			network_add(table, t);
		t->next = table->tracks;
		if (table->tracks != NULL)
			table->tracks->prev = t;
		table->tracks = t;
		pthread_mutex_unlock(&table->lock);
		*socket_ctx = t;
		return;
	}
	if (t == NULL)
		return;
	pthread_mutex_lock(&table->lock);
	network_remove(table, t);
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		table->tracks = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&table->lock);
	request_ctx_unref(&t->ctx);
	if (t->state_free != NULL)
		t->state_free(t->state);
	free(t);
	*socket_ctx = NULL;
}

static struct conn_track *track_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info != NULL ? info->socket_context : NULL;
}

int conn_state_set(struct MHD_Connection *c, void *state, void (*free_fn)(void *))
{
	struct conn_track *t = track_of(c);

	if (t == NULL) {
		if (free_fn != NULL)
			free_fn(state);
		return -1;
	}
	if (t->state_free != NULL)
		t->state_free(t->state);
	t->state = state;
	t->state_free = free_fn;
	return 0;
}

void *conn_state(struct MHD_Connection *c)
{
	struct conn_track *t = track_of(c);

	return t != NULL ? t->state : NULL;
}

const char *conn_listener(struct MHD_Connection *c)
{
	const struct conn_track *t = track_of(c);

	return t != NULL ? t->listener : "unknown";
}

void *conn_request_started(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct http_server *srv = cls;
	struct request_ctx *ctx = request_ctx_new(srv, c);
	struct conn_track *t = track_of(c);

	if (ctx != NULL && t != NULL) {
		pthread_mutex_lock(&srv->conns.lock);
		request_ctx_unref(&t->ctx);
		t->ctx = request_ctx_ref(ctx);
		if (t->first_data_ms != 0 && t->first_data_ms < ctx->started_ms) {
			ctx->deadline_ms -= ctx->started_ms - t->first_data_ms;
			ctx->started_ms = t->first_data_ms;
		}
		pthread_mutex_unlock(&srv->conns.lock);
	}
	return ctx;
}

/* What libmicrohttpd answered by itself (a malformed request line or
 * header, a bad Content-Length): our handler never saw the request. */
static void note_mhd_refusal(struct MHD_Connection *c, const struct conn_track *t)
{
	const union MHD_ConnectionInfo *status =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);

	if (status != NULL && status->http_status >= 400)
		http_refusal(HTTP_REFUSED_MALFORMED, t != NULL ? t->listener : "unknown",
			     "refused a request from %s: malformed (%u)",
			     t != NULL ? t->peer : "?", status->http_status);
}

void conn_request_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			    enum MHD_RequestTerminationCode toe)
{
	struct conn_table *table = &((struct http_server *)cls)->conns;
	struct request_ctx *ctx = *req_cls;
	struct conn_track *t = track_of(c);

	if (ctx != NULL && !ctx->headers_checked && toe == MHD_REQUEST_TERMINATED_WITH_ERROR)
		note_mhd_refusal(c, t);
	/* An answer queued said so already: this is for requests that end
	 * without one. */
	if (ctx != NULL)
		request_ctx_end(ctx, false);
	if (t != NULL) {
		uint64_t bytes = 0;

		/* A next request that arrives before this reads as part of
		 * this one's bytes: MHD reads it at once anyway. */
		tcp_bytes_received(t->fd, &bytes);
		pthread_mutex_lock(&table->lock);
		if (t->ctx == ctx)
			request_ctx_unref(&t->ctx);
		t->phase_start_ms = t->quiet_ms = clock_now_ms();
		t->phase_bytes = bytes;
		t->first_data_ms = 0;
		t->served = true;
		pthread_mutex_unlock(&table->lock);
	}
	request_ctx_unref(&ctx);
	*req_cls = NULL;
}

void conn_table_close_after_answers(struct conn_table *t)
{
	atomic_store(&t->closing, true);
}

bool conn_closing(struct MHD_Connection *c)
{
	struct conn_track *t = track_of(c);

	return t != NULL && atomic_load(&t->table->closing);
}

/* Between requests MHD tells nothing until a whole request line is in (or,
 * with TLS, until the handshake is done), so a client trickling either
 * looks idle. The kernel counts the bytes it received: the first tick that
 * sees more than at the start of the phase marks the start of the next
 * request, as of the tick before (conservatively early). */
static void track_note_first_data(struct conn_track *t, int64_t now)
{
	uint64_t bytes;

	if (t->first_data_ms != 0)
		return;
	/* A kernel that cannot say: the deadline counts from the phase start. */
	if (!tcp_bytes_received(t->fd, &bytes) || bytes > t->phase_bytes)
		t->first_data_ms = t->quiet_ms;
	else
		t->quiet_ms = now;
}

static void track_cut(struct conn_track *t, enum http_refusal why, int64_t for_ms)
{
	static const char *const what[] = {
		[HTTP_CUT_SILENT] = "sent nothing",
		[HTTP_CUT_SLOW] = "request not complete",
		[HTTP_CUT_IDLE] = "idle",
	};

	http_refusal(why, t->listener, "cut a connection from %s: %s after %lld ms", t->peer, what[why],
		     (long long)for_ms);
	/* MHD sees the EOF and closes the connection itself. */
	shutdown(t->fd, SHUT_RDWR);
	t->fd = -1;
}

static int64_t silent_max_ms(int64_t deadline_ms)
{
	return deadline_ms / 2 < CONN_SILENT_MAX_MS ? deadline_ms / 2 : CONN_SILENT_MAX_MS;
}

/* A connection with no request in progress. */
static void reap_between_requests(struct conn_track *t, int64_t now, int64_t deadline)
{
	int64_t quiet_for = now - t->phase_start_ms;

	track_note_first_data(t, now);
	if (t->first_data_ms != 0) {
		if (now - t->first_data_ms >= deadline)
			track_cut(t, HTTP_CUT_SLOW, now - t->first_data_ms);
	} else if (t->served) {
		if (quiet_for >= CONN_IDLE_TIMEOUT_MS)
			track_cut(t, HTTP_CUT_IDLE, quiet_for);
	} else if (quiet_for >= silent_max_ms(deadline)) {
		track_cut(t, HTTP_CUT_SILENT, quiet_for);
	}
}

static void reap_once(struct conn_table *table)
{
	struct request_ctx *late[CONN_REAP_BATCH];
	size_t nlate = 0;
	int64_t now = clock_now_ms();
	int64_t deadline = table->deadline_ms;

	pthread_mutex_lock(&table->lock);
	for (struct conn_track *t = table->tracks; t != NULL; t = t->next) {
		struct request_ctx *ctx = t->ctx;

		if (ctx != NULL) {
			enum request_state state = request_ctx_state(ctx);

			if (state == REQ_SUSPENDED) {
				if (now >= ctx->deadline_ms - request_answer_margin_ms(deadline) / 2 &&
				    nlate < CONN_REAP_BATCH)
					late[nlate++] = request_ctx_ref(ctx);
			} else if (state == REQ_READING && now >= ctx->deadline_ms && t->fd >= 0) {
				track_cut(t, HTTP_CUT_SLOW, now - ctx->started_ms);
			}
		} else if (t->fd >= 0) {
			reap_between_requests(t, now, deadline);
		}
	}
	pthread_mutex_unlock(&table->lock);

	for (size_t i = 0; i < nlate; i++) {
		size_t len;
		char *fault = sf_answer_fault(false, "deadline reached",
					     late[i]->request_id[0] != '\0' ? late[i]->request_id : NULL,
					     &len);

		if (fault != NULL)
			request_ctx_answer(late[i], false, fault, len, NULL);
		request_ctx_unref(&late[i]);
	}
}

static void *reaper_main(void *arg)
{
	struct conn_table *table = arg;

	for (;;) {
		bool stop;

		clock_sleep_until(clock_now_ms() + CONN_REAPER_TICK_MS);
		pthread_mutex_lock(&table->lock);
		stop = table->stopping;
		pthread_mutex_unlock(&table->lock);
		if (stop)
			return NULL;
		reap_once(table);
	}
}

void conn_table_init(struct conn_table *t, int64_t deadline_ms, unsigned per_network_max)
{
	pthread_mutex_init(&t->lock, NULL);
	t->deadline_ms = deadline_ms;
	t->per_network_max = per_network_max;
}

int conn_reaper_start(struct conn_table *t)
{
	if (pthread_create(&t->reaper, NULL, reaper_main, t) != 0)
		return -1;
	t->reaper_running = true;
	return 0;
}

void conn_reaper_stop(struct conn_table *t)
{
	if (!t->reaper_running)
		return;
	pthread_mutex_lock(&t->lock);
	t->stopping = true;
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->reaper, NULL);
	t->reaper_running = false;
}

void conn_table_fini(struct conn_table *t)
{
	free(t->nets);
	t->nets = NULL;
	t->net_count = t->net_cap = 0;
	pthread_mutex_destroy(&t->lock);
}

unsigned conn_table_count(struct conn_table *t)
{
	unsigned n = 0;

	pthread_mutex_lock(&t->lock);
	for (struct conn_track *c = t->tracks; c != NULL; c = c->next)
		n++;
	pthread_mutex_unlock(&t->lock);
	return n;
}
