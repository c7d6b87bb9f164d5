/*
 * lmdb:DIR — the default store. One environment, one database keyed by the
 * 32-byte HMAC. LMDB's lock file (in DIR) serialises writers across
 * processes, so `dagate token ...` may write while `serve` runs; no
 * MDB_NOLOCK. Every commit is synced: a consumed token stays consumed
 * after a crash. Expiry is the stored wall-clock time, checked here.
 *
 * Three databases, kept consistent inside each write transaction:
 *   tokens   HMAC -> record
 *   expiry   expires_ms (8 bytes, big-endian) + HMAC -> requester: purging
 *            expired records is a range walk from the start
 *   counts   requester -> number of its records (max_outstanding)
 * so put and consume are O(log n) whatever the number of tokens.
 *
 * Deadlines: LMDB has no timeouts; a write transaction waits for the
 * current writer, and every writer here holds the lock for one short,
 * local transaction (revoke walks every record, but only the CLI calls it).
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
	MDB_dbi dbi, expiry, counts;
};

#define LMDB_EXPIRY_KEY_LEN (8 + TOKEN_HASH_LEN)

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
	    (rc = mdb_env_set_maxdbs(st->env, 3)) != 0 ||
	    (rc = mdb_env_open(st->env, dir, MDB_NOTLS, 0600)) != 0) {
		*error_r = mdb_strerror(rc);
		goto fail;
	}
	/* Reader slots of processes that died (e.g. SIGKILL) are freed here. */
	mdb_reader_check(st->env, &dead);
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "tokens", MDB_CREATE, &st->dbi)) != 0 ||
	    (rc = mdb_dbi_open(txn, "expiry", MDB_CREATE, &st->expiry)) != 0 ||
	    (rc = mdb_dbi_open(txn, "counts", MDB_CREATE, &st->counts)) != 0 ||
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

static void expiry_key(uint8_t *key, int64_t expires_ms, const uint8_t *hash)
{
	uint64_t v = (uint64_t)expires_ms;

	for (int i = 7; i >= 0; i--, v >>= 8)
		key[i] = (uint8_t)v;
	memcpy(key + 8, hash, TOKEN_HASH_LEN);
}

static int64_t expiry_of(const uint8_t *key)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | key[i];
	return (int64_t)v;
}

/* counts[requester] += delta (never below 0); 0 or an LMDB error. */
static int count_add(struct lmdb_store *st, MDB_txn *txn, const char *requester, int delta,
		     uint32_t *now_r)
{
	MDB_val k = { strlen(requester), (void *)requester }, v;
	uint32_t n = 0;
	int rc = mdb_get(txn, st->counts, &k, &v);

	if (rc == 0 && v.mv_size == sizeof n)
		memcpy(&n, v.mv_data, sizeof n);
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	n = delta < 0 && n < (uint32_t)-delta ? 0 : n + (uint32_t)delta;
	if (now_r != NULL)
		*now_r = n;
	if (delta == 0)
		return 0;
	if (n == 0)
		return (rc = mdb_del(txn, st->counts, &k, NULL)) == MDB_NOTFOUND ? 0 : rc;
	v.mv_size = sizeof n;
	v.mv_data = &n;
	return mdb_put(txn, st->counts, &k, &v, 0);
}

/* Delete one record with its index entry and count. */
static int record_del(struct lmdb_store *st, MDB_txn *txn, const uint8_t *hash,
		      const struct token_record *rec)
{
	uint8_t ek[LMDB_EXPIRY_KEY_LEN];
	MDB_val k = { TOKEN_HASH_LEN, (void *)hash }, e = { sizeof ek, ek };
	int rc;

	expiry_key(ek, rec->expires_ms, hash);
	if ((rc = mdb_del(txn, st->dbi, &k, NULL)) != 0 && rc != MDB_NOTFOUND)
		return rc;
	if ((rc = mdb_del(txn, st->expiry, &e, NULL)) != 0 && rc != MDB_NOTFOUND)
		return rc;
	return count_add(st, txn, rec->requester, -1, NULL);
}

/* Remove every record that expired by now_ms: a walk from the index start. */
static int purge_expired(struct lmdb_store *st, MDB_txn *txn, int64_t now_ms)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_cursor_open(txn, st->expiry, &cur)) != 0)
		return rc;
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
		char requester[TOKEN_REQUESTER_MAX + 1];
		MDB_val tk;

		if (k.mv_size != LMDB_EXPIRY_KEY_LEN || expiry_of(k.mv_data) > now_ms)
			break;
		snprintf(requester, sizeof requester, "%.*s", (int)v.mv_size, (char *)v.mv_data);
		tk.mv_size = TOKEN_HASH_LEN;
		tk.mv_data = (uint8_t *)k.mv_data + 8;
		if ((rc = mdb_del(txn, st->dbi, &tk, NULL)) != 0 && rc != MDB_NOTFOUND)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0 ||
		    (rc = count_add(st, txn, requester, -1, NULL)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static enum token_store_status lmdb_put(struct token_store *base, const uint8_t *hash,
					const struct token_record *rec, unsigned max_outstanding,
					int64_t now_ms, int64_t deadline_ms)
{
	struct lmdb_store *st = (struct lmdb_store *)base;
	uint8_t buf[TOKEN_RECORD_MAX], ek[LMDB_EXPIRY_KEY_LEN];
	MDB_txn *txn = NULL;
	MDB_val k = { TOKEN_HASH_LEN, (void *)hash }, v, e = { sizeof ek, ek };
	MDB_val r = { strlen(rec->requester), (void *)rec->requester };
	uint32_t mine = 0;
	int len = token_record_encode(rec, buf, sizeof buf), rc;
	enum token_store_status ret = TS_UNAVAILABLE;

	if (len < 0)
		return TS_UNAVAILABLE;
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
		return lmdb_fail("begin", rc);
	if ((rc = purge_expired(st, txn, now_ms)) != 0 ||
	    (rc = count_add(st, txn, rec->requester, 0, &mine)) != 0) {
		ret = lmdb_fail("purge", rc);
		goto out;
	}
	if (max_outstanding > 0 && mine >= max_outstanding) {
		ret = TS_FULL;
		goto out;
	}
	v.mv_data = buf;
	v.mv_size = (size_t)len;
	expiry_key(ek, rec->expires_ms, hash);
	if ((rc = mdb_put(txn, st->dbi, &k, &v, MDB_NOOVERWRITE)) != 0 ||
	    (rc = mdb_put(txn, st->expiry, &e, &r, 0)) != 0 ||
	    (rc = count_add(st, txn, rec->requester, 1, NULL)) != 0) {
		ret = lmdb_fail("put", rc);
		goto out;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	ret = rc == 0 ? TS_OK : lmdb_fail("commit", rc);
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
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
	rc = bad < 0 ? mdb_del(txn, st->dbi, &k, NULL) : record_del(st, txn, hash, rec_r);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return lmdb_fail("del", rc);
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return lmdb_fail("commit", rc);
	if (bad < 0) {
		memset(rec_r, 0, sizeof *rec_r);
		log_errorx("token store (lmdb): undecodable record removed");
		return TS_NOT_FOUND;
	}
	return rec_r->expires_ms <= now_ms ? TS_EXPIRED : TS_OK;
}

struct revoke_item {
	uint8_t hash[TOKEN_HASH_LEN];
	int64_t expires_ms;
	char requester[TOKEN_REQUESTER_MAX + 1];
};

static enum token_store_status lmdb_revoke(struct token_store *base, const char *user,
					   const char *requester, int64_t now_ms,
					   int64_t deadline_ms, size_t *count_r)
{
	struct lmdb_store *st = (struct lmdb_store *)base;
	struct token_record *rec = malloc(sizeof *rec);
	struct revoke_item *items = NULL;
	size_t n = 0, cap = 0;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	enum token_store_status ret = TS_UNAVAILABLE;
	int rc;

	*count_r = 0;
	if (rec == NULL)
		return TS_UNAVAILABLE;
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0 ||
	    (rc = purge_expired(st, txn, now_ms)) != 0 ||
	    (rc = mdb_cursor_open(txn, st->dbi, &cur)) != 0) {
		ret = lmdb_fail("revoke", rc);
		goto out;
	}
	/* Collect first, delete after: no deletes under a walking cursor. */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != TOKEN_HASH_LEN ||
		    token_record_decode(v.mv_data, v.mv_size, rec) < 0 ||
		    (user != NULL && strcmp(rec->user, user) != 0) ||
		    (requester != NULL && strcmp(rec->requester, requester) != 0))
			continue;
		if (n == cap) {
			struct revoke_item *more = realloc(items, (cap = cap ? cap * 2 : 64) *
								  sizeof *items);

			if (more == NULL) {
				rc = ENOMEM;
				break;
			}
			items = more;
		}
		memcpy(items[n].hash, k.mv_data, TOKEN_HASH_LEN);
		items[n].expires_ms = rec->expires_ms;
		memcpy(items[n].requester, rec->requester, sizeof items[n].requester);
		n++;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND) {
		ret = lmdb_fail("revoke", rc);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		rec->expires_ms = items[i].expires_ms;
		memcpy(rec->requester, items[i].requester, sizeof rec->requester);
		if ((rc = record_del(st, txn, items[i].hash, rec)) != 0) {
			ret = lmdb_fail("revoke", rc);
			goto out;
		}
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	ret = rc == 0 ? TS_OK : lmdb_fail("commit", rc);
	if (ret == TS_OK)
		*count_r = n;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	free(items);
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
		if (k.mv_size == TOKEN_HASH_LEN &&
		    token_record_decode(v.mv_data, v.mv_size, rec) == 0 &&
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
