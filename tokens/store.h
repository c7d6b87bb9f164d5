/*
 * Token stores: where outstanding tokens live, keyed by HMAC(key, token).
 *
 *   lmdb:DIR        one LMDB environment in DIR (created 0700), shared by
 *                   every process on the machine (`serve` and the CLI);
 *                   expiry is the stored wall-clock time, checked here.
 *   redis://[USER@]HOST[:PORT][/DB]   rediss://... for TLS
 *   redis-sentinel://[USER@]HOST[:PORT][,HOST[:PORT]...]/MASTER[/DB]
 *                   several instances share it; expiry is the key's PX,
 *                   on Redis's clock.
 *
 * Every operation is atomic in the store: consume is one delete-and-return
 * (an LMDB write transaction; Redis GETDEL), so of any number of concurrent
 * consumers of one hash across processes, at most one gets TS_OK.
 *
 * Threads: a store is used by many threads at once. Deadlines are absolute
 * on the monotonic clock (clock.h). `now_ms` is wall-clock ms since the
 * epoch (injectable by tests).
 */
#ifndef DAGATE_TOKEN_STORE_H
#define DAGATE_TOKEN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "usermap.h"
#include "tokens.h"

#define TOKEN_REQUESTER_MAX 64      /* [requester NAME]: a short name */
#define TOKEN_SOURCE_IP_MAX 1024    /* the source_ip list as text */
/* An encoded record: header + three length-prefixed strings. */
#define TOKEN_RECORD_MAX (32 + TOKEN_REQUESTER_MAX + MAPPED_USER_MAX + TOKEN_SOURCE_IP_MAX)

struct token_record {
	int64_t issued_ms;                       /* wall clock, ms */
	int64_t expires_ms;                      /* wall clock, ms */
	char requester[TOKEN_REQUESTER_MAX + 1];
	char user[MAPPED_USER_MAX + 1];          /* mapped */
	char source_ip[TOKEN_SOURCE_IP_MAX + 1]; /* CIDR list text, "" = any */
};

/* Binary, versioned, for both stores. encode returns the length or -1. */
int token_record_encode(const struct token_record *rec, uint8_t *buf, size_t size);
int token_record_decode(const uint8_t *buf, size_t len, struct token_record *rec);

enum token_store_status {
	TS_OK = 0,
	TS_NOT_FOUND,       /* consume: never issued, used or revoked */
	TS_EXPIRED,         /* consume: found past its expiry (and deleted) */
	TS_FULL,            /* put: the requester has max_outstanding tokens */
	TS_UNAVAILABLE,     /* the store could not answer in time */
	TS_NOT_REPLICATED,  /* consume: found and deleted, but no replica
			     * acknowledged the delete in time (sentinel
			     * stores): refuse, a failover could undo it */
};

struct token_store_options {
	int64_t timeout_ms;          /* per operation, further bounded by deadlines */
	const char *password;        /* Redis AUTH, or NULL */
	const char *ca_file;         /* rediss:// trust anchors, NULL = system */
	bool accept_replay_after_crash;   /* [tokens]: warn instead of refusing */
};

/* check_durability's answers. */
enum token_store_durability {
	TD_DURABLE = 0,     /* a crash cannot bring a consumed token back */
	TD_ACCEPTED,        /* it can, and the operator accepted it (warned) */
	TD_NOT_DURABLE,     /* it can, or the store will not say: refuse */
	TD_NO_ANSWER,       /* the store did not answer (asked again later) */
};

struct token_store;

struct token_store_ops {
	const char *scheme;
	int (*open)(const char *spec, const struct token_store_options *opt,
		    struct token_store **store_r, const char **error_r);
	/* Store a new record unless the requester already has `max_outstanding`
	 * unexpired tokens (TS_FULL). Expired records are purged on the way. */
	enum token_store_status (*put)(struct token_store *st, const uint8_t *hash,
				       const struct token_record *rec, unsigned max_outstanding,
				       int64_t now_ms, int64_t deadline_ms);
	enum token_store_status (*consume)(struct token_store *st, const uint8_t *hash,
					   int64_t now_ms, int64_t deadline_ms,
					   struct token_record *rec_r);
	/* Delete every record matching user and/or requester (NULL = any). */
	enum token_store_status (*revoke)(struct token_store *st, const char *user,
					  const char *requester, int64_t now_ms,
					  int64_t deadline_ms, size_t *count_r);
	/* Call `fn` for every unexpired record (order unspecified). */
	enum token_store_status (*list)(struct token_store *st, int64_t now_ms, int64_t deadline_ms,
					void (*fn)(void *ctx, const uint8_t *hash,
						   const struct token_record *rec),
					void *ctx);
	void (*close)(struct token_store *st);
	/* Can a crash of the store bring a consumed token back? Asked at
	 * start-up; *reason_r (static) says why for TD_ACCEPTED and
	 * TD_NOT_DURABLE. A store that did not answer asks itself before its
	 * first put or consume, which fail (TS_UNAVAILABLE) while the answer
	 * is TD_NOT_DURABLE. NULL: always durable (LMDB syncs every commit). */
	enum token_store_durability (*check_durability)(struct token_store *st,
							int64_t deadline_ms,
							const char **reason_r);
};

struct token_store {
	const struct token_store_ops *ops;
};

extern const struct token_store_ops token_store_lmdb_ops;
extern const struct token_store_ops token_store_redis_ops;

/* Pick the implementation by the spec's scheme and open it. */
int token_store_open(const char *spec, const struct token_store_options *opt,
		     struct token_store **store_r, const char **error_r);
void token_store_close(struct token_store **store);
/* Is `spec` a store spec we know (for config validation)? */
bool token_store_spec_valid(const char *spec, const char **error_r);

#endif
