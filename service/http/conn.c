#include "conn.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "clock.h"
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
	int64_t phase_start_ms;         /* open, or end of the last request */
	int64_t first_data_ms;          /* first bytes of the next request, 0 */
	struct request_ctx *ctx;        /* request in progress (a reference) */
};

void conn_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
		 enum MHD_ConnectionNotificationCode toe)
{
	struct conn_table *table = &((struct http_server *)cls)->conns;
	struct conn_track *t = *socket_ctx;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		t = calloc(1, sizeof *t);
		if (t == NULL)
			return;
		t->conn = c;
		t->table = table;
		t->fd = info != NULL ? info->connect_fd : -1;
		t->phase_start_ms = clock_now_ms();
		pthread_mutex_lock(&table->lock);
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
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		table->tracks = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&table->lock);
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

void conn_request_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			    enum MHD_RequestTerminationCode toe)
{
	struct conn_table *table = &((struct http_server *)cls)->conns;
	struct request_ctx *ctx = *req_cls;
	struct conn_track *t = track_of(c);

	if (t != NULL) {
		pthread_mutex_lock(&table->lock);
		if (t->ctx == ctx)
			request_ctx_unref(&t->ctx);
		t->phase_start_ms = clock_now_ms();
		t->first_data_ms = 0;
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

static void track_cut(struct conn_track *t)
{
	/* MHD sees the EOF and closes the connection itself. */
	shutdown(t->fd, SHUT_RDWR);
	t->fd = -1;
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
				track_cut(t);   /* still sending its request */
			}
		} else if (t->fd >= 0) {
			track_note_first_data(t, now);
			if ((t->first_data_ms != 0 && now - t->first_data_ms >= deadline) ||
			    now - t->phase_start_ms >= CONN_IDLE_TIMEOUT_MS)
				track_cut(t);   /* idle too long, or a request line trickling */
		}
	}
	pthread_mutex_unlock(&table->lock);

	for (size_t i = 0; i < nlate; i++) {
		size_t len;
		char *fault = sf_answer_fault(false, "deadline reached", &len);

		if (fault != NULL)
			request_ctx_answer(late[i], false, fault, len);
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

void conn_table_init(struct conn_table *t, int64_t deadline_ms)
{
	pthread_mutex_init(&t->lock, NULL);
	t->deadline_ms = deadline_ms;
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
