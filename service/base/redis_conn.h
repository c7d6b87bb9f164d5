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
 *
 * Sentinel pools (redis-sentinel://, redis_sentinel.c): a new connection
 * first asks the sentinels, in turn, for the master's address
 * (SENTINEL get-master-addr-by-name), each try bounded by its share of the
 * remaining deadline, then checks with ROLE that the node it reached is the
 * master. A failed call, or a -READONLY / -MASTERDOWN reply (a demoted
 * master), drops the pooled connections and asks again, within the same
 * call's deadline. A changed master address is logged and counted
 * (redis_master_changes); connections to the old one are not reused. The
 * sentinels are also asked again at most once a second before a pooled
 * connection is reused, so that after a failover the old master, were it
 * still up and still saying master (split brain), is left within a second.
 */
#ifndef DAGATE_REDIS_CONN_H
#define DAGATE_REDIS_CONN_H

#include <hiredis/hiredis.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct redis_conn;

#define REDIS_SENTINELS_MAX 8
#define REDIS_MASTER_NAME_MAX 64

struct redis_addr {
	char host[256], port[8];
};

struct redis_pool {
	const char *name;          /* "tokens" or "throttle": logs and metrics */
	char host[256], port[8], user[128];
	char *password;            /* AUTH, or NULL */
	int db;                    /* SELECT, 0 = default */
	bool tls;                  /* rediss:// */
	SSL_CTX *ssl_ctx;
	int64_t timeout_ms;        /* per call, further bounded by its deadline */
	pthread_mutex_t lock;
	struct redis_conn *idle;   /* under lock */
	unsigned idle_count;       /* under lock */
	/* redis-sentinel:// only (host and port above are unused) */
	bool sentinel;
	char master_name[REDIS_MASTER_NAME_MAX + 1];
	struct redis_addr sentinels[REDIS_SENTINELS_MAX];
	unsigned sentinel_count;
	unsigned sentinel_first;   /* under lock: the one that answered last */
	struct redis_addr master;  /* under lock: last discovered, "" before */
	unsigned generation;       /* under lock: +1 per master change */
	int64_t asked_ms;          /* under lock: when the sentinels were last asked */
};

/* Whether `v` names a Redis server (redis://, rediss://, redis-sentinel://;
 * also rediss-sentinel://, which redis_pool_init refuses). */
bool redis_is_url(const char *v);

/* redis[s]://[USER@]HOST[:PORT][/DB]; HOST may be [v6]; or
 * redis-sentinel://[USER@]HOST[:PORT][,HOST[:PORT]...]/MASTER[/DB] (sentinel
 * port 26379 by default; USER, password and DB are the master's). `name`
 * (static) labels logs and metrics. Does not connect (Redis may come up
 * after dagate). On -1, call redis_pool_fini. */
int redis_pool_init(struct redis_pool *pool, const char *name, const char *url,
		    const char *password, const char *ca_file, int64_t timeout_ms,
		    const char **error_r);
void redis_pool_fini(struct redis_pool *pool);

/* One command; the reply (free with freeReplyObject), or NULL when Redis
 * could not answer in time or answered an error (logged). Thread-safe. */
redisReply *redis_pool_call(struct redis_pool *pool, int argc, const char **argv,
			    const size_t *argvlen, int64_t deadline_ms);

/* As redis_pool_call, then, when the reply is neither nil nor an error,
 * WAIT 1 on the same connection: *acked_r is how many replicas
 * acknowledged the write before the deadline (0 when there was no time
 * left, or WAIT failed). */
redisReply *redis_pool_call_replicated(struct redis_pool *pool, int argc, const char **argv,
				       const size_t *argvlen, int64_t deadline_ms,
				       long long *acked_r);

/* Sentinel pools: ask the sentinels where the master is, unless that was
 * done in the last second (a change bumps the generation). Otherwise
 * nothing. */
void redis_pool_refresh(struct redis_pool *pool, int64_t deadline_ms);

/* +1 at each master change of a sentinel pool (always 0 otherwise):
 * for what has to be checked again per node. Thread-safe. */
unsigned redis_pool_generation(struct redis_pool *pool);

/* Master address changes seen by sentinel pools named `name`. */
uint64_t redis_master_changes(const char *name);

#endif
