/*
 * The Redis transport of the token store and the throttle (redis_conn.h): connections with
 * every wait bounded by a deadline, optional TLS, a small idle pool.
 */
#include "redis_conn.h"

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

struct redis_conn {
	int fd;
	SSL *ssl;
	redisReader *reader;
	struct redis_conn *next;
};

static void conn_free(struct redis_conn *c)
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

/* One command, one reply. NULL: the connection is broken (caller drops it). */
static redisReply *conn_command(struct redis_conn *c, int argc, const char **argv,
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

static int conn_tls(struct redis_pool *st, struct redis_conn *c, int64_t deadline_ms)
{
	X509_VERIFY_PARAM *param;

	if ((c->ssl = SSL_new(st->ssl_ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		return -1;
	param = SSL_get0_param(c->ssl);
	if (X509_VERIFY_PARAM_set1_ip_asc(param, st->host) != 1) {
		ERR_clear_error();
		if (SSL_set1_host(c->ssl, st->host) != 1 ||
		    SSL_set_tlsext_host_name(c->ssl, st->host) != 1)
			return -1;
	}
	if (netio_ssl_handshake(c->ssl, c->fd, deadline_ms) != NETIO_OK) {
		long v = SSL_get_verify_result(c->ssl);

		if (v != X509_V_OK)
			log_warnx("token store (redis): TLS certificate of %s: %s",
				  st->host, X509_verify_cert_error_string(v));
		return -1;
	}
	return 0;
}

static struct redis_conn *conn_open(struct redis_pool *st, int64_t deadline_ms)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	struct redis_conn *c = calloc(1, sizeof *c);
	int one = 1;

	if (c == NULL)
		return NULL;
	c->fd = -1;
	if ((c->reader = redisReaderCreate()) == NULL ||
	    getaddrinfo(st->host, st->port, &hints, &res) != 0)
		goto fail;
	/* the next address after a failure; none after the deadline */
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if (netio_connect(ai, deadline_ms, &c->fd) != NETIO_FAILED)
			break;
	freeaddrinfo(res);
	if (c->fd < 0)
		goto fail;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (st->tls && conn_tls(st, c, deadline_ms) < 0)
		goto fail;
	if (st->password != NULL) {
		const char *argv[3] = { "AUTH", st->user, st->password };
		redisReply *r;

		if (st->user[0] != '\0')
			r = conn_command(c, 3, argv, (size_t[]){ 4, strlen(st->user),
								 strlen(st->password) }, deadline_ms);
		else
			r = conn_command(c, 2, (const char *[]){ "AUTH", st->password },
					 (size_t[]){ 4, strlen(st->password) }, deadline_ms);
		if (!reply_ok(r)) {
			if (r != NULL)
				log_warnx("token store (redis): AUTH refused");
			freeReplyObject(r);
			goto fail;
		}
		freeReplyObject(r);
	}
	if (st->db != 0) {
		char db[16];
		int n = snprintf(db, sizeof db, "%d", st->db);
		redisReply *r = conn_command(c, 2, (const char *[]){ "SELECT", db },
					     (size_t[]){ 6, (size_t)n }, deadline_ms);
		bool ok = reply_ok(r);

		freeReplyObject(r);
		if (!ok)
			goto fail;
	}
	return c;
fail:
	conn_free(c);
	return NULL;
}

static struct redis_conn *conn_get(struct redis_pool *st, int64_t deadline_ms, bool *reused_r)
{
	struct redis_conn *c;

	pthread_mutex_lock(&st->lock);
	c = st->idle;
	if (c != NULL) {
		st->idle = c->next;
		st->idle_count--;
	}
	pthread_mutex_unlock(&st->lock);
	*reused_r = c != NULL;
	return c != NULL ? c : conn_open(st, deadline_ms);
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

		conn_free(c);
		c = next;
	}
}

static void conn_put(struct redis_pool *st, struct redis_conn *c, bool healthy)
{
	if (healthy) {
		pthread_mutex_lock(&st->lock);
		if (st->idle_count < REDIS_POOL_IDLE_MAX) {
			c->next = st->idle;
			st->idle = c;
			st->idle_count++;
			c = NULL;
		}
		pthread_mutex_unlock(&st->lock);
	}
	conn_free(c);
}

static int64_t op_deadline(const struct redis_pool *st, int64_t deadline_ms)
{
	int64_t own = clock_now_ms() + st->timeout_ms;

	return own < deadline_ms ? own : deadline_ms;
}

/* A single command on a pooled connection. NULL: unavailable. A pooled
 * connection that fails is retried once on a fresh one: it most likely
 * died with a Redis restart. (If the command did run, a retried GETDEL
 * finds nothing: the token is burnt, never accepted twice.) */
redisReply *redis_pool_call(struct redis_pool *st, int argc, const char **argv,
			      const size_t *argvlen, int64_t deadline_ms)
{
	int64_t dl = op_deadline(st, deadline_ms);
	redisReply *r = NULL;

	for (int attempt = 0; attempt < 2 && r == NULL; attempt++) {
		bool reused = false;
		struct redis_conn *c = conn_get(st, dl, &reused);

		if (c == NULL)
			return NULL;
		r = conn_command(c, argc, argv, argvlen, dl);
		conn_put(st, c, r != NULL);
		if (r == NULL && !reused)
			break;
		if (r == NULL)
			pool_flush(st);
	}
	if (r != NULL && r->type == REDIS_REPLY_ERROR) {
		log_errorx("token store (redis): %s: %.200s", argv[0], r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* redis[s]://[USER@]HOST[:PORT][/DB]; HOST may be [v6]. */
static int redis_parse_url(struct redis_pool *st, const char *spec, const char **error_r)
{
	const char *p = strstr(spec, "://") + 3, *at, *end, *colon;
	size_t hlen;

	st->tls = strncmp(spec, "rediss://", 9) == 0;
	snprintf(st->port, sizeof st->port, "6379");
	at = strchr(p, '@');
	if (at != NULL && (size_t)(at - p) < sizeof st->user && at < p + strcspn(p, "/")) {
		if (memchr(p, ':', (size_t)(at - p)) != NULL) {
			*error_r = "no password in the store URL: use password_file";
			return -1;
		}
		memcpy(st->user, p, (size_t)(at - p));
		st->user[at - p] = '\0';
		p = at + 1;
	}
	end = p + strcspn(p, "/");
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));

		if (rb == NULL)
			goto bad;
		hlen = (size_t)(rb - p - 1);
		if (hlen == 0 || hlen >= sizeof st->host)
			goto bad;
		memcpy(st->host, p + 1, hlen);
		st->host[hlen] = '\0';
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
		if (colon == NULL && rb + 1 != end)
			goto bad;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		hlen = (size_t)((colon != NULL ? colon : end) - p);
		if (hlen == 0 || hlen >= sizeof st->host)
			goto bad;
		memcpy(st->host, p, hlen);
		st->host[hlen] = '\0';
	}
	if (colon != NULL) {
		size_t plen = (size_t)(end - colon - 1);
		int64_t port;
		char tmp[8];

		if (plen == 0 || plen >= sizeof tmp)
			goto bad;
		memcpy(tmp, colon + 1, plen);
		tmp[plen] = '\0';
		if (parse_uint(tmp, &port) < 0 || port < 1 || port > 65535)
			goto bad;
		snprintf(st->port, sizeof st->port, "%d", (int)port);
	}
	if (*end == '/' && end[1] != '\0') {
		int64_t db;

		if (parse_uint(end + 1, &db) < 0 || db > 1000)
			goto bad;
		st->db = (int)db;
	}
	return 0;
bad:
	*error_r = "store URL must be redis[s]://[USER@]HOST[:PORT][/DB]";
	return -1;
}

bool redis_is_url(const char *v)
{
	return strncmp(v, "redis://", 8) == 0 || strncmp(v, "rediss://", 9) == 0;
}

int redis_pool_init(struct redis_pool *st, const char *url, const char *password,
		    const char *ca_file, int64_t timeout_ms, const char **error_r)
{
	memset(st, 0, sizeof *st);
	pthread_mutex_init(&st->lock, NULL);
	st->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
	if (redis_parse_url(st, url, error_r) < 0)
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
