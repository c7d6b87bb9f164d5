/*
 * Store URLs of the Redis transport (redis_conn.h): redis://, rediss://
 * and redis-sentinel://. Parsing only; nothing here connects.
 */
#include <stdio.h>
#include <string.h>

#include "parse.h"
#include "redis_int.h"

/* [USER@] at *p: no password in it (password_file). */
static int parse_user(struct redis_pool *st, const char **p, const char **error_r)
{
	const char *at = strchr(*p, '@');

	if (at == NULL || (size_t)(at - *p) >= sizeof st->user || at >= *p + strcspn(*p, "/"))
		return 0;
	if (memchr(*p, ':', (size_t)(at - *p)) != NULL) {
		*error_r = "no password in the store URL: use password_file";
		return -1;
	}
	memcpy(st->user, *p, (size_t)(at - *p));
	st->user[at - *p] = '\0';
	*p = at + 1;
	return 0;
}

static int redis_parse_hostport(const char *p, const char *end, const char *default_port,
				struct redis_addr *addr)
{
	const char *colon;
	size_t hlen;

	snprintf(addr->port, sizeof addr->port, "%s", default_port);
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));

		if (rb == NULL)
			return -1;
		hlen = (size_t)(rb - p - 1);
		if (hlen == 0 || hlen >= sizeof addr->host)
			return -1;
		memcpy(addr->host, p + 1, hlen);
		addr->host[hlen] = '\0';
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
		if (colon == NULL && rb + 1 != end)
			return -1;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		hlen = (size_t)((colon != NULL ? colon : end) - p);
		if (hlen == 0 || hlen >= sizeof addr->host)
			return -1;
		memcpy(addr->host, p, hlen);
		addr->host[hlen] = '\0';
	}
	if (colon != NULL) {
		size_t plen = (size_t)(end - colon - 1);
		int64_t port;
		char tmp[8];

		if (plen == 0 || plen >= sizeof tmp)
			return -1;
		memcpy(tmp, colon + 1, plen);
		tmp[plen] = '\0';
		if (parse_uint(tmp, &port) < 0 || port < 1 || port > 65535)
			return -1;
		snprintf(addr->port, sizeof addr->port, "%d", (int)port);
	}
	return 0;
}

/* "/DB" (or "" or "/"): the database number. */
static int parse_db(struct redis_pool *st, const char *p)
{
	int64_t db;

	if (*p == '\0' || strcmp(p, "/") == 0)
		return 0;
	if (*p != '/' || parse_uint(p + 1, &db) < 0 || db > 1000)
		return -1;
	st->db = (int)db;
	return 0;
}

/* redis[s]://[USER@]HOST[:PORT][/DB]; HOST may be [v6]. */
int redis_parse_url(struct redis_pool *st, const char *spec, const char **error_r)
{
	const char *p = strstr(spec, "://") + 3, *end;
	struct redis_addr addr;

	st->tls = strncmp(spec, "rediss://", 9) == 0;
	if (parse_user(st, &p, error_r) < 0)
		return -1;
	end = p + strcspn(p, "/");
	if (redis_parse_hostport(p, end, "6379", &addr) < 0 || parse_db(st, end) < 0) {
		*error_r = "store URL must be redis[s]://[USER@]HOST[:PORT][/DB]";
		return -1;
	}
	memcpy(st->host, addr.host, sizeof st->host);
	memcpy(st->port, addr.port, sizeof st->port);
	return 0;
}

int redis_sentinel_parse_url(struct redis_pool *st, const char *spec, const char **error_r)
{
	const char *p = strstr(spec, "://") + 3, *hosts_end, *name, *name_end;
	size_t name_len;

	if (strncmp(spec, "rediss-sentinel://", 18) == 0) {
		*error_r = "rediss-sentinel:// (TLS) is not supported: use redis-sentinel:// "
			   "on a trusted network, or rediss:// to one server";
		return -1;
	}
	st->sentinel = true;
	if (parse_user(st, &p, error_r) < 0)
		return -1;
	hosts_end = p + strcspn(p, "/");
	while (p < hosts_end) {
		const char *comma = memchr(p, ',', (size_t)(hosts_end - p));
		const char *host_end = comma != NULL ? comma : hosts_end;

		if (st->sentinel_count == REDIS_SENTINELS_MAX) {
			*error_r = "at most 8 sentinels in a redis-sentinel:// URL";
			return -1;
		}
		if (redis_parse_hostport(p, host_end, "26379",
					 &st->sentinels[st->sentinel_count++]) < 0)
			goto bad;
		p = comma != NULL ? comma + 1 : hosts_end;
		if (comma != NULL && p == hosts_end)
			goto bad;
	}
	if (st->sentinel_count == 0 || *hosts_end != '/')
		goto bad;
	name = hosts_end + 1;
	name_end = name + strcspn(name, "/");
	name_len = (size_t)(name_end - name);
	if (name_len == 0 || name_len > REDIS_MASTER_NAME_MAX ||
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
	    < name_len)
		goto bad;
	memcpy(st->master_name, name, name_len);
	st->master_name[name_len] = '\0';
	if (parse_db(st, name_end) < 0)
		goto bad;
	return 0;
bad:
	*error_r = "store URL must be redis-sentinel://[USER@]HOST[:PORT][,HOST[:PORT]...]/MASTER[/DB]";
	return -1;
}

bool redis_is_sentinel_url(const char *v)
{
	return strncmp(v, "redis-sentinel://", 17) == 0 ||
	       strncmp(v, "rediss-sentinel://", 18) == 0;
}

bool redis_is_url(const char *v)
{
	return strncmp(v, "redis://", 8) == 0 || strncmp(v, "rediss://", 9) == 0 ||
	       redis_is_sentinel_url(v);
}
