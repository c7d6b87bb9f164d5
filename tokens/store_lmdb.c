/*
 * lmdb:DIR — the default store. One environment, one database keyed by the
 * 32-byte HMAC. LMDB's lock file (in DIR) serialises writers across
 * processes, so `dagate token ...` may write while `serve` runs; no
 * MDB_NOLOCK. Every commit is synced: a consumed token stays consumed
 * after a crash. Expiry is the stored wall-clock time, checked here.
 *
 * Deadlines: LMDB has no timeouts; a write transaction waits for the
 * current writer, and every writer here holds the lock for one short,
 * local transaction. Only the outstanding-count scan in put is O(tokens);
 * max_outstanding bounds it.
 */
#include "store.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

/* Sparse file: room for ~1M records; only used pages take disk space. */
#define LMDB_MAP_SIZE (1024UL * 1024 * 1024)
/* serve's worker threads + CLI: LMDB's default of 126 readers is ample,
 * but each thread holds a slot only while it reads. */
#define LMDB_MAX_READERS 512

struct lmdb_store {
	struct token_store base;
	MDB_env *env;
	MDB_dbi dbi;
};

static enum token_store_status lmdb_fail(const char *what, int rc)
{
	log_errorx("token store (lmdb): %s: %s", what, mdb_strerror(rc));
	return TS_UNAVAILABLE;
}

static int lmdb_mkdirs(const char *dir)
{
	char path[4096];
	size_t len = strlen(dir);

	if (len >= sizeof path)
		return -1;
	memcpy(path, dir, len + 1);
	for (char *p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(path, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static void lmdb_close(struct token_store *base)
{
	struct lmdb_store *st = (struct lmdb_store *)base;

	if (st->env != NULL)
		mdb_env_close(st->env);
	free(st);
}

static int lmdb_open(const char *spec, const struct token_store_options *opt,
		     struct token_store **store_r, const char **error_r)
{
	const char *dir = spec + strlen("lmdb:");
	struct lmdb_store *st = calloc(1, sizeof *st);
	MDB_txn *txn = NULL;
	int rc, dead = 0;

	if (st == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	st->base.ops = &token_store_lmdb_ops;
	if (lmdb_mkdirs(dir) < 0) {
		*error_r = "cannot create the LMDB directory";
		goto fail;
	}
	if ((rc = mdb_env_create(&st->env)) != 0 ||
	    (rc = mdb_env_set_mapsize(st->env, LMDB_MAP_SIZE)) != 0 ||
	    (rc = mdb_env_set_maxreaders(st->env, LMDB_MAX_READERS)) != 0 ||
	    (rc = mdb_env_set_maxdbs(st->env, 1)) != 0 ||
	    (rc = mdb_env_open(st->env, dir, MDB_NOTLS, 0600)) != 0) {
		*error_r = mdb_strerror(rc);
		goto fail;
	}
	/* Reader slots of processes that died (e.g. SIGKILL) are freed here. */
	mdb_reader_check(st->env, &dead);
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "tokens", MDB_CREATE, &st->dbi)) != 0 ||
	    (rc = mdb_txn_commit(txn)) != 0) {
		if (txn != NULL && rc != 0)
			mdb_txn_abort(txn);
		*error_r = mdb_strerror(rc);
		goto fail;
	}
	*store_r = &st->base;
	return 0;
fail:
	lmdb_close(&st->base);
	return -1;
}

/* Peek at the requester and expiry without decoding the whole record. */
static int lmdb_peek(const MDB_val *val, struct token_record *rec)
{
	return token_record_decode(val->mv_data, val->mv_size, rec);
}

static enum token_store_status lmdb_put(struct token_store *base, const uint8_t *hash,
					const struct token_record *rec, unsigned max_outstanding,
					int64_t now_ms, int64_t deadline_ms)
{
	struct lmdb_store *st = (struct lmdb_store *)base;
	uint8_t buf[TOKEN_RECORD_MAX];
	struct token_record *other = malloc(sizeof *other);
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	unsigned mine = 0;
	int len = token_record_encode(rec, buf, sizeof buf), rc;
	enum token_store_status ret = TS_UNAVAILABLE;

	if (len < 0 || other == NULL) {
		free(other);
		return TS_UNAVAILABLE;
	}
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0) {
		ret = lmdb_fail("begin", rc);
		goto out;
	}
	if ((rc = mdb_cursor_open(txn, st->dbi, &cur)) != 0) {
		ret = lmdb_fail("cursor", rc);
		goto out;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (lmdb_peek(&v, other) < 0 || other->expires_ms <= now_ms) {
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				break;
			continue;
		}
		if (strcmp(other->requester, rec->requester) == 0)
			mine++;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	if (rc != 0 && rc != MDB_NOTFOUND) {
		ret = lmdb_fail("scan", rc);
		goto out;
	}
	if (max_outstanding > 0 && mine >= max_outstanding) {
		ret = TS_FULL;
		goto out;
	}
	k.mv_data = (void *)hash;
	k.mv_size = TOKEN_HASH_LEN;
	v.mv_data = buf;
	v.mv_size = (size_t)len;
	if ((rc = mdb_put(txn, st->dbi, &k, &v, MDB_NOOVERWRITE)) != 0) {
		ret = lmdb_fail("put", rc);
		goto out;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	ret = rc == 0 ? TS_OK : lmdb_fail("commit", rc);
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	free(other);
	return ret;
}

static enum token_store_status lmdb_consume(struct token_store *base, const uint8_t *hash,
					    int64_t now_ms, int64_t deadline_ms,
					    struct token_record *rec_r)
{
	struct lmdb_store *st = (struct lmdb_store *)base;
	MDB_txn *txn = NULL;
	MDB_val k = { TOKEN_HASH_LEN, (void *)hash }, v;
	int rc, bad;

	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
		return lmdb_fail("begin", rc);
	rc = mdb_get(txn, st->dbi, &k, &v);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return TS_NOT_FOUND;
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return lmdb_fail("get", rc);
	}
	/* Decode before the delete: v points into the map until commit. */
	bad = token_record_decode(v.mv_data, v.mv_size, rec_r);
	if ((rc = mdb_del(txn, st->dbi, &k, NULL)) != 0) {
		mdb_txn_abort(txn);
		return lmdb_fail("del", rc);
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return lmdb_fail("commit", rc);
	if (bad < 0) {
		log_errorx("token store (lmdb): undecodable record removed");
		return TS_NOT_FOUND;
	}
	return rec_r->expires_ms <= now_ms ? TS_EXPIRED : TS_OK;
}

static enum token_store_status lmdb_revoke(struct token_store *base, const char *user,
					   const char *requester, int64_t now_ms,
					   int64_t deadline_ms, size_t *count_r)
{
	struct lmdb_store *st = (struct lmdb_store *)base;
	struct token_record *rec = malloc(sizeof *rec);
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	enum token_store_status ret = TS_UNAVAILABLE;
	int rc;

	*count_r = 0;
	if (rec == NULL)
		return TS_UNAVAILABLE;
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_cursor_open(txn, st->dbi, &cur)) != 0) {
		ret = lmdb_fail("begin", rc);
		goto out;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		bool expired = lmdb_peek(&v, rec) < 0 || rec->expires_ms <= now_ms;
		bool match = (user == NULL || strcmp(rec->user, user) == 0) &&
			     (requester == NULL || strcmp(rec->requester, requester) == 0);

		if (!expired && !match)
			continue;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		if (!expired)
			(*count_r)++;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND) {
		ret = lmdb_fail("revoke", rc);
		goto out;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	ret = rc == 0 ? TS_OK : lmdb_fail("commit", rc);
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	free(rec);
	return ret;
}

static enum token_store_status lmdb_list(struct token_store *base, int64_t now_ms,
					 int64_t deadline_ms,
					 void (*fn)(void *ctx, const uint8_t *hash,
						    const struct token_record *rec),
					 void *ctx)
{
	struct lmdb_store *st = (struct lmdb_store *)base;
	struct token_record *rec = malloc(sizeof *rec);
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	if (rec == NULL)
		return TS_UNAVAILABLE;
	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0 ||
	    (rc = mdb_cursor_open(txn, st->dbi, &cur)) != 0) {
		if (txn != NULL)
			mdb_txn_abort(txn);
		free(rec);
		return lmdb_fail("begin", rc);
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if (k.mv_size == TOKEN_HASH_LEN && lmdb_peek(&v, rec) == 0 &&
		    rec->expires_ms > now_ms)
			fn(ctx, k.mv_data, rec);
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	free(rec);
	return rc == MDB_NOTFOUND ? TS_OK : lmdb_fail("list", rc);
}

const struct token_store_ops token_store_lmdb_ops = {
	.scheme = "lmdb",
	.open = lmdb_open,
	.put = lmdb_put,
	.consume = lmdb_consume,
	.revoke = lmdb_revoke,
	.list = lmdb_list,
	.close = lmdb_close,
};
