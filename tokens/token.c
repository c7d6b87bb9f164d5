/*
 * The token itself: generation, form, keyed hash, fingerprint, key file,
 * the stored record's encoding. Pure except token_generate/token_key_load.
 */
#include "tokens.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hex.h"
#include "redis_conn.h"
#include "store.h"
#include "utf8.h"

/* Crockford's base32 alphabet in lower case: no i, l, o, u. */
static const char token_alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
#define TOKEN_RECORD_MAGIC 0xd1

static int token_digit_value(unsigned char c)
{
	const char *p = c != '\0' ? strchr(token_alphabet, c) : NULL;

	return p == NULL ? -1 : (int)(p - token_alphabet);
}

void token_encode(const uint8_t raw[TOKEN_RANDOM_BYTES], char *out)
{
	unsigned acc = 0, bits = 0;
	size_t n = 0;

	memcpy(out, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
	n = TOKEN_PREFIX_LEN;
	for (size_t i = 0; i < TOKEN_RANDOM_BYTES; i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 5) {
			out[n++] = token_alphabet[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[n++] = token_alphabet[(acc << (5 - bits)) & 31];
	out[n] = '\0';
	acc = 0;
}

int token_generate(char *out)
{
	uint8_t raw[TOKEN_RANDOM_BYTES];

	if (RAND_priv_bytes(raw, sizeof raw) != 1) {
		explicit_bzero(raw, sizeof raw);
		explicit_bzero(out, TOKEN_LEN + 1);
		return -1;
	}
	token_encode(raw, out);
	explicit_bzero(raw, sizeof raw);
	return 0;
}

bool token_has_form(const char *password, size_t len)
{
	/* 256 bits in 52 digits: the last digit carries one bit, four are zero. */
	const unsigned pad_mask = (1u << (TOKEN_BODY_LEN * 5 - TOKEN_RANDOM_BYTES * 8)) - 1;
	int last;

	if (password == NULL || len != TOKEN_LEN ||
	    memcmp(password, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0)
		return false;
	for (size_t i = TOKEN_PREFIX_LEN; i < len; i++)
		if (token_digit_value((unsigned char)password[i]) < 0)
			return false;
	last = token_digit_value((unsigned char)password[len - 1]);
	return ((unsigned)last & pad_mask) == 0;
}

bool token_user_valid(const char *user, size_t len)
{
	const unsigned char *s = (const unsigned char *)user;

	if (len == 0 || len > MAPPED_USER_MAX)
		return false;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);

		/* U+FFFD: what json-c makes of a lone surrogate escape. */
		if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 ||
		    cp == 0x2029 || cp == 0xfffd)
			return false;
		i += n;
	}
	return true;
}

int token_hash(const uint8_t key[TOKEN_KEY_LEN], const char *token, size_t len,
	       uint8_t out[TOKEN_HASH_LEN])
{
	unsigned out_len = 0;

	if (HMAC(EVP_sha256(), key, TOKEN_KEY_LEN, (const unsigned char *)token, len,
		 out, &out_len) == NULL || out_len != TOKEN_HASH_LEN)
		return -1;
	return 0;
}

void token_fingerprint(const uint8_t hash[TOKEN_HASH_LEN], char *out)
{
	hex_encode(hash, TOKEN_FINGERPRINT_LEN / 2, out);
}

static int token_key_create(const char *path, const char **error_r)
{
	uint8_t raw[TOKEN_KEY_LEN];
	char text[TOKEN_KEY_LEN * 2 + 1];
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, ret = -1;

	if (slash != NULL && slash != path && (size_t)(slash - path) < sizeof dir) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			*error_r = "cannot create the key file's directory";
			return -1;
		}
	}
	if (RAND_priv_bytes(raw, sizeof raw) != 1) {
		*error_r = "no randomness for a new key";
		return -1;
	}
	hex_encode(raw, sizeof raw, text);
	text[sizeof text - 1] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		/* Another process made it first: read theirs. */
		ret = errno == EEXIST ? 0 : -1;
		if (ret < 0)
			*error_r = "cannot create the key file";
		goto out;
	}
	if (write(fd, text, sizeof text) != (ssize_t)sizeof text || fsync(fd) < 0) {
		*error_r = "cannot write the key file";
		close(fd);
		unlink(path);
		goto out;
	}
	close(fd);
	ret = 0;
out:
	explicit_bzero(raw, sizeof raw);
	explicit_bzero(text, sizeof text);
	return ret;
}

int token_key_load(const char *path, bool create, uint8_t key[TOKEN_KEY_LEN],
		   const char **error_r)
{
	char *data = NULL;
	size_t len = 0;
	int ret = -1;

	if (create && access(path, F_OK) < 0 && errno == ENOENT &&
	    token_key_create(path, error_r) < 0)
		return -1;
	if (config_read_secret_file(path, &data, &len, error_r) < 0)
		return -1;
	if (len != TOKEN_KEY_LEN * 2 || hex_decode(data, key, TOKEN_KEY_LEN) < 0) {
		*error_r = "key file must hold 64 hex digits (32 bytes)";
		goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		explicit_bzero(key, TOKEN_KEY_LEN);
	explicit_bzero(data, len);
	free(data);
	return ret;
}

int token_parse_rate(const char *text, unsigned *count_r, int64_t *per_ms_r)
{
	int64_t n, per;

	if (parse_rate(text, &n, &per) < 0 || n > 1000000)
		return -1;
	*count_r = (unsigned)n;
	*per_ms_r = per;
	return 0;
}

void token_rfc3339(int64_t wall_ms, char *out, size_t size)
{
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;

	if (gmtime_r(&secs, &tm) == NULL ||
	    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "1970-01-01T00:00:00Z");
}

/* Records. */

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int put_str(uint8_t *buf, size_t size, size_t *pos, const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len > max || *pos + 2 + len > size)
		return -1;
	buf[(*pos)++] = (uint8_t)(len >> 8);
	buf[(*pos)++] = (uint8_t)len;
	memcpy(buf + *pos, s, len);
	*pos += len;
	return 0;
}

static int get_str(const uint8_t *buf, size_t len, size_t *pos, char *out, size_t max)
{
	size_t n;

	if (*pos + 2 > len)
		return -1;
	n = (size_t)buf[*pos] << 8 | buf[*pos + 1];
	*pos += 2;
	if (n > max || *pos + n > len || memchr(buf + *pos, '\0', n) != NULL)
		return -1;
	memcpy(out, buf + *pos, n);
	out[n] = '\0';
	*pos += n;
	return 0;
}

int token_record_encode(const struct token_record *rec, uint8_t *buf, size_t size)
{
	size_t pos = 0;

	if (size < 18)
		return -1;
	buf[pos++] = TOKEN_RECORD_MAGIC;
	buf[pos++] = 1; /* version */
	put_u64(buf + pos, (uint64_t)rec->issued_ms);
	pos += 8;
	put_u64(buf + pos, (uint64_t)rec->expires_ms);
	pos += 8;
	if (put_str(buf, size, &pos, rec->requester, TOKEN_REQUESTER_MAX) < 0 ||
	    put_str(buf, size, &pos, rec->user, MAPPED_USER_MAX) < 0 ||
	    put_str(buf, size, &pos, rec->source_ip, TOKEN_SOURCE_IP_MAX) < 0)
		return -1;
	return (int)pos;
}

int token_record_decode(const uint8_t *buf, size_t len, struct token_record *rec)
{
	size_t pos = 18;

	if (len < pos || buf[0] != TOKEN_RECORD_MAGIC || buf[1] != 1)
		return -1;
	rec->issued_ms = (int64_t)get_u64(buf + 2);
	rec->expires_ms = (int64_t)get_u64(buf + 10);
	if (get_str(buf, len, &pos, rec->requester, TOKEN_REQUESTER_MAX) < 0 ||
	    get_str(buf, len, &pos, rec->user, MAPPED_USER_MAX) < 0 ||
	    get_str(buf, len, &pos, rec->source_ip, TOKEN_SOURCE_IP_MAX) < 0 ||
	    pos != len)
		return -1;
	return 0;
}

/* Store dispatch. */

static const struct token_store_ops *token_store_find(const char *spec)
{
	if (strncmp(spec, "lmdb:", 5) == 0)
		return &token_store_lmdb_ops;
	if (redis_is_url(spec))
		return &token_store_redis_ops;
	return NULL;
}

bool token_store_spec_valid(const char *spec, const char **error_r)
{
	if (token_store_find(spec) == NULL) {
		*error_r = "store must be lmdb:DIR, redis://HOST[:PORT][/DB], rediss://... or "
			   "redis-sentinel://HOST[:PORT][,HOST[:PORT]...]/MASTER[/DB]";
		return false;
	}
	if (strncmp(spec, "lmdb:", 5) == 0 && spec[5] == '\0') {
		*error_r = "lmdb: needs a directory";
		return false;
	}
	if (redis_is_url(spec)) {
		struct redis_pool pool;
		int ret = redis_pool_init(&pool, "tokens", spec, NULL, NULL, 0, error_r);

		redis_pool_fini(&pool);
		return ret == 0;
	}
	return true;
}

int token_store_open(const char *spec, const struct token_store_options *opt,
		     struct token_store **store_r, const char **error_r)
{
	const struct token_store_ops *ops = token_store_find(spec);

	if (ops == NULL) {
		*error_r = "unknown store";
		return -1;
	}
	return ops->open(spec, opt, store_r, error_r);
}

void token_store_close(struct token_store **store)
{
	if (*store != NULL)
		(*store)->ops->close(*store);
	*store = NULL;
}
