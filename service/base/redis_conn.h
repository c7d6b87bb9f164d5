/*
 * The Redis transport of the token store. Debian 12's hiredis (0.14) has
 * no TLS and only whole-call timeouts, so the transport is ours: a
 * non-blocking socket, optionally wrapped in OpenSSL (certificate and host
 * name verified), every wait bounded by the deadline with poll. hiredis
 * does what it is good at: formatting commands and parsing replies (RESP).
 *
 * Connections: an idle pool under a mutex; a call takes one, a failed call
 * closes it (and, when a pooled one failed, every idle one: Redis probably
 * restarted) and is retried once on a fresh connection, so recovery after
 * Redis returns is automatic. The host name is resolved with getaddrinfo,
 * which has no timeout: use an address or a name in /etc/hosts.
 */
#ifndef DAGATE_REDIS_CONN_H
#define DAGATE_REDIS_CONN_H

#include <hiredis/hiredis.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct redis_conn;

struct redis_pool {
	char host[256], port[8], user[128];
	char *password;            /* AUTH, or NULL */
	int db;                    /* SELECT, 0 = default */
	bool tls;                  /* rediss:// */
	SSL_CTX *ssl_ctx;
	int64_t timeout_ms;        /* per call, further bounded by its deadline */
	pthread_mutex_t lock;
	struct redis_conn *idle;   /* under lock */
	unsigned idle_count;       /* under lock */
};

/* Whether `v` names a Redis server (redis:// or rediss://). */
bool redis_is_url(const char *v);

/* redis[s]://[USER@]HOST[:PORT][/DB]; HOST may be [v6]. Does not connect
 * (Redis may come up after dagate). On -1, call redis_pool_fini. */
int redis_pool_init(struct redis_pool *pool, const char *url, const char *password,
		    const char *ca_file, int64_t timeout_ms, const char **error_r);
void redis_pool_fini(struct redis_pool *pool);

/* One command; the reply (free with freeReplyObject), or NULL when Redis
 * could not answer in time or answered an error (logged). Thread-safe. */
redisReply *redis_pool_call(struct redis_pool *pool, int argc, const char **argv,
			    const size_t *argvlen, int64_t deadline_ms);

#endif
