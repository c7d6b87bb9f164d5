/*
 * The Redis transport of the token store and the throttle (redis_conn.h): connections with
 * every wait bounded by a deadline, optional TLS, a small idle pool.
 */
#include "redis_conn.h"
#include "redis_int.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "netio.h"
#include "parse.h"

#define REDIS_POOL_IDLE_MAX 32     /* idle connections kept for reuse */
#define REDIS_READ_CHUNK 16384
#define WAIT_MARGIN_MIN_MS 10      /* of WAIT's own timeout, for its answer to come back */

void redis_conn_free(struct redis_conn *c)
{
	if (c == NULL)
		return;
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	if (c->reader != NULL)
		redisReaderFree(c->reader);
	free(c);
}

static int conn_write(struct redis_conn *c, const char *buf, size_t len, int64_t deadline_ms)
{
	enum netio_status st = c->ssl != NULL
		? netio_ssl_write_all(c->ssl, c->fd, buf, len, deadline_ms)
		: netio_write_all(c->fd, buf, len, deadline_ms);

	return st == NETIO_OK ? 0 : -1;
}

static ssize_t conn_read(struct redis_conn *c, char *buf, size_t size, int64_t deadline_ms)
{
	size_t n = 0;
	enum netio_status st = c->ssl != NULL
		? netio_ssl_read_some(c->ssl, c->fd, buf, size, &n, deadline_ms)
		: netio_read_some(c->fd, buf, size, &n, deadline_ms);

	return st == NETIO_OK ? (ssize_t)n : -1;
}

redisReply *redis_conn_command(struct redis_conn *c, int argc, const char **argv,
			       const size_t *argvlen, int64_t deadline_ms)
{
	char *cmd = NULL, buf[REDIS_READ_CHUNK];
	int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
	void *reply = NULL;

	if (len < 0)
		return NULL;
	if (conn_write(c, cmd, (size_t)len, deadline_ms) < 0) {
		redisFreeCommand(cmd);
		return NULL;
	}
	redisFreeCommand(cmd);
	for (;;) {
		ssize_t n;

		if (redisReaderGetReply(c->reader, &reply) != REDIS_OK)
			return NULL;
		if (reply != NULL)
			return reply;
		if ((n = conn_read(c, buf, sizeof buf, deadline_ms)) < 0 ||
		    redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK)
			return NULL;
	}
}

static bool reply_ok(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
}

static int conn_tls(struct redis_pool *st, struct redis_conn *c, const char *host,
		    int64_t deadline_ms)
{
	X509_VERIFY_PARAM *param;

	if ((c->ssl = SSL_new(st->ssl_ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		return -1;
	param = SSL_get0_param(c->ssl);
	if (X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1) {
		ERR_clear_error();
		if (SSL_set1_host(c->ssl, host) != 1 ||
		    SSL_set_tlsext_host_name(c->ssl, host) != 1)
			return -1;
	}
	if (netio_ssl_handshake(c->ssl, c->fd, deadline_ms) != NETIO_OK) {
		long v = SSL_get_verify_result(c->ssl);

		if (v != X509_V_OK)
			log_warnx("%s store (redis): TLS certificate of %s: %s", st->name,
				  host, X509_verify_cert_error_string(v));
		return -1;
	}
	return 0;
}

struct redis_conn *redis_conn_open_at(struct redis_pool *st, const char *host,
				      const char *port, bool auth, int64_t deadline_ms)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	struct redis_conn *c = calloc(1, sizeof *c);
	int one = 1;

	if (c == NULL)
		return NULL;
	c->fd = -1;
	if ((c->reader = redisReaderCreate()) == NULL ||
	    getaddrinfo(host, port, &hints, &res) != 0)
		goto fail;
	/* the next address after a failure; none after the deadline */
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if (netio_connect(ai, deadline_ms, &c->fd) != NETIO_FAILED)
			break;
	freeaddrinfo(res);
	if (c->fd < 0)
		goto fail;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (st->tls && conn_tls(st, c, host, deadline_ms) < 0)
		goto fail;
	if (!auth)
		return c;
	if (st->password != NULL) {
		const char *argv[3] = { "AUTH", st->user, st->password };
		redisReply *r;

		if (st->user[0] != '\0')
			r = redis_conn_command(c, 3, argv, (size_t[]){ 4, strlen(st->user),
								       strlen(st->password) },
					       deadline_ms);
		else
			r = redis_conn_command(c, 2, (const char *[]){ "AUTH", st->password },
					       (size_t[]){ 4, strlen(st->password) }, deadline_ms);
		if (!reply_ok(r)) {
			if (r != NULL)
				log_warnx("%s store (redis): AUTH refused by %s:%s", st->name,
					  host, port);
			freeReplyObject(r);
			goto fail;
		}
		freeReplyObject(r);
	}
	if (st->db != 0) {
		char db[16];
		int n = snprintf(db, sizeof db, "%d", st->db);
		redisReply *r = redis_conn_command(c, 2, (const char *[]){ "SELECT", db },
						   (size_t[]){ 6, (size_t)n }, deadline_ms);
		bool ok = reply_ok(r);

		freeReplyObject(r);
		if (!ok)
			goto fail;
	}
	return c;
fail:
	redis_conn_free(c);
	return NULL;
}

static struct redis_conn *conn_get(struct redis_pool *st, int64_t deadline_ms, bool *reused_r)
{
	struct redis_conn *c;

	if (st->sentinel)
		redis_sentinel_refresh(st, deadline_ms, true);
	pthread_mutex_lock(&st->lock);
	/* connections to a master the sentinels no longer name are dropped */
	while ((c = st->idle) != NULL) {
		st->idle = c->next;
		st->idle_count--;
		if (c->generation == st->generation)
			break;
		redis_conn_free(c);
	}
	pthread_mutex_unlock(&st->lock);
	*reused_r = c != NULL;
	if (c != NULL)
		return c;
	return st->sentinel ? redis_sentinel_conn_open(st, deadline_ms)
			    : redis_conn_open_at(st, st->host, st->port, true, deadline_ms);
}

/* Drop every idle connection: after one turned out dead (Redis restarted),
 * its siblings are dead too. */
static void pool_flush(struct redis_pool *st)
{
	struct redis_conn *c;

	pthread_mutex_lock(&st->lock);
	c = st->idle;
	st->idle = NULL;
	st->idle_count = 0;
	pthread_mutex_unlock(&st->lock);
	while (c != NULL) {
		struct redis_conn *next = c->next;

		redis_conn_free(c);
		c = next;
	}
}

static void conn_put(struct redis_pool *st, struct redis_conn *c, bool healthy)
{
	if (healthy) {
		pthread_mutex_lock(&st->lock);
		/* a connection to a master the sentinels no longer name goes */
		if (st->idle_count < REDIS_POOL_IDLE_MAX && c->generation == st->generation) {
			c->next = st->idle;
			st->idle = c;
			st->idle_count++;
			c = NULL;
		}
		pthread_mutex_unlock(&st->lock);
	}
	redis_conn_free(c);
}

static int64_t op_deadline(const struct redis_pool *st, int64_t deadline_ms)
{
	int64_t own = clock_now_ms() + st->timeout_ms;

	return own < deadline_ms ? own : deadline_ms;
}

/* WAIT 1 on c, leaving time for the answer to come back before dl:
 * how many replicas acknowledged the connection's writes; -1 when the
 * connection broke. */
static long long conn_wait_replica(struct redis_pool *st, struct redis_conn *c, int64_t dl)
{
	int64_t left = dl - clock_now_ms();
	int64_t margin = left / 10 > WAIT_MARGIN_MIN_MS ? left / 10 : WAIT_MARGIN_MIN_MS;
	long long acked = 0;
	char ms[24];
	int n;
	redisReply *r;

	if (left - margin < 1) {
		log_warnx("%s store (redis): no time left to wait for a replica", st->name);
		return 0;
	}
	n = snprintf(ms, sizeof ms, "%lld", (long long)(left - margin));
	r = redis_conn_command(c, 3, (const char *[]){ "WAIT", "1", ms },
			       (size_t[]){ 4, 1, (size_t)n }, dl);
	if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		acked = r->integer;
	else if (r != NULL && r->type == REDIS_REPLY_ERROR)
		log_errorx("%s store (redis): WAIT: %.200s", st->name, r->str);
	if (r == NULL) {
		log_warnx("%s store (redis): no answer to WAIT", st->name);
		return -1;
	}
	freeReplyObject(r);
	return acked;
}

/* A command on a pooled connection, and WAIT 1 after it when acked_r is
 * not NULL. NULL: unavailable. A pooled connection that fails is retried
 * once on a fresh one: it most likely died with a Redis restart. (If the
 * command did run, a retried GETDEL finds nothing: the token is burnt,
 * never accepted twice.) In a sentinel pool every failure, and a node that
 * answers it is no longer master, is retried once: the new connection asks
 * the sentinels where the master is now. */
static redisReply *pool_call(struct redis_pool *st, int argc, const char **argv,
			     const size_t *argvlen, int64_t deadline_ms, long long *acked_r)
{
	int64_t dl = op_deadline(st, deadline_ms);
	redisReply *r = NULL;
	struct redis_conn *c = NULL;

	for (int attempt = 0; attempt < 2 && r == NULL; attempt++) {
		bool reused = false, demoted;

		if ((c = conn_get(st, dl, &reused)) == NULL)
			return NULL;
		r = redis_conn_command(c, argc, argv, argvlen, dl);
		demoted = st->sentinel && redis_reply_not_master(r);
		if (r != NULL && !demoted)
			break;
		conn_put(st, c, false);
		c = NULL;
		if (demoted) {
			log_warnx("%s store (redis): %s: %.60s; asking the sentinels again",
				  st->name, argv[0], r->str);
			freeReplyObject(r);
			r = NULL;
		} else if (!reused && !st->sentinel) {
			break;
		}
		pool_flush(st);
	}
	if (r == NULL)
		return NULL;
	if (r->type == REDIS_REPLY_ERROR) {
		log_errorx("%s store (redis): %s: %.200s", st->name, argv[0], r->str);
		freeReplyObject(r);
		conn_put(st, c, true);
		return NULL;
	}
	if (acked_r != NULL && r->type != REDIS_REPLY_NIL &&
	    (*acked_r = conn_wait_replica(st, c, dl)) < 0) {
		*acked_r = 0;
		conn_put(st, c, false);
		return r;
	}
	conn_put(st, c, true);
	return r;
}

void redis_pool_refresh(struct redis_pool *st, int64_t deadline_ms)
{
	if (st->sentinel)
		redis_sentinel_refresh(st, op_deadline(st, deadline_ms), false);
}

redisReply *redis_pool_call(struct redis_pool *st, int argc, const char **argv,
			    const size_t *argvlen, int64_t deadline_ms)
{
	return pool_call(st, argc, argv, argvlen, deadline_ms, NULL);
}

redisReply *redis_pool_call_replicated(struct redis_pool *st, int argc, const char **argv,
				       const size_t *argvlen, int64_t deadline_ms,
				       long long *acked_r)
{
	*acked_r = 0;
	return pool_call(st, argc, argv, argvlen, deadline_ms, acked_r);
}

int redis_pool_init(struct redis_pool *st, const char *name, const char *url,
		    const char *password, const char *ca_file, int64_t timeout_ms,
		    const char **error_r)
{
	memset(st, 0, sizeof *st);
	pthread_mutex_init(&st->lock, NULL);
	st->name = name;
	st->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
	if ((redis_is_sentinel_url(url) ? redis_sentinel_parse_url(st, url, error_r)
				  : redis_parse_url(st, url, error_r)) < 0)
		return -1;
	if (password != NULL && (st->password = strdup(password)) == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	if (st->tls) {
		st->ssl_ctx = SSL_CTX_new(TLS_client_method());
		if (st->ssl_ctx == NULL ||
		    SSL_CTX_set_min_proto_version(st->ssl_ctx, TLS1_2_VERSION) != 1 ||
		    (ca_file != NULL
		     ? SSL_CTX_load_verify_locations(st->ssl_ctx, ca_file, NULL)
		     : SSL_CTX_set_default_verify_paths(st->ssl_ctx)) != 1) {
			*error_r = "cannot set up TLS for the store (ca_file?)";
			return -1;
		}
		SSL_CTX_set_verify(st->ssl_ctx, SSL_VERIFY_PEER, NULL);
		SSL_CTX_set_mode(st->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	}
	return 0;
}

void redis_pool_fini(struct redis_pool *st)
{
	pool_flush(st);
	if (st->password != NULL) {
		explicit_bzero(st->password, strlen(st->password));
		free(st->password);
		st->password = NULL;
	}
	if (st->ssl_ctx != NULL)
		SSL_CTX_free(st->ssl_ctx);
	st->ssl_ctx = NULL;
	pthread_mutex_destroy(&st->lock);
}
