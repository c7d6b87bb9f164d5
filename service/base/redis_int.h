/*
 * Inside the Redis transport: what redis_conn.c (connections, pool, calls)
 * and redis_sentinel.c (sentinel URLs, master discovery) share. Nothing
 * outside service/base/redis_*.c includes this.
 */
#ifndef DAGATE_REDIS_INT_H
#define DAGATE_REDIS_INT_H

#include "redis_conn.h"

struct redis_conn {
	int fd;
	SSL *ssl;
	redisReader *reader;
	unsigned generation;       /* the pool's generation when opened */
	struct redis_conn *next;
};

void redis_conn_free(struct redis_conn *c);

/* A connection to HOST:PORT, with TLS, AUTH and SELECT as the pool says
 * (auth: whether to send the pool's AUTH and SELECT: not to a sentinel). */
struct redis_conn *redis_conn_open_at(struct redis_pool *pool, const char *host,
				      const char *port, bool auth, int64_t deadline_ms);

/* One command, one reply. NULL: the connection is broken (caller drops it). */
redisReply *redis_conn_command(struct redis_conn *c, int argc, const char **argv,
			       const size_t *argvlen, int64_t deadline_ms);

/* Store URLs (redis_url.c). Fill the pool's address fields; -1 and a
 * static *error_r on a malformed URL. */
bool redis_is_sentinel_url(const char *url);
int redis_parse_url(struct redis_pool *pool, const char *url, const char **error_r);
/* redis-sentinel://[USER@]HOST[:PORT][,HOST[:PORT]...]/MASTER[/DB] */
int redis_sentinel_parse_url(struct redis_pool *pool, const char *url, const char **error_r);

/* Before reusing a pooled connection (pooled_only), or when asked
 * (redis_pool_refresh): ask the sentinels again if the last time was more
 * than a second ago (a changed answer retires the pooled connections),
 * spending at most a third of what is left. */
void redis_sentinel_refresh(struct redis_pool *pool, int64_t deadline_ms, bool pooled_only);

/* A connection to the master the sentinels name, checked with ROLE. */
struct redis_conn *redis_sentinel_conn_open(struct redis_pool *pool, int64_t deadline_ms);

/* Whether an error reply says this node is no longer (or not yet) a usable
 * master: -READONLY, -MASTERDOWN. */
bool redis_reply_not_master(const redisReply *r);

#endif
