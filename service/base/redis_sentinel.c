/*
 * Sentinel pools (redis_conn.h): where the master is, asked of the
 * sentinels for each new connection, and checked on the node itself.
 *
 * The sentinels are asked in turn, starting with the one that answered
 * last; each gets an equal share of what is left of the deadline, so a
 * black-holed sentinel cannot eat the whole budget. The node they name must
 * say ROLE master: a demoted master that has not heard yet says slave, and
 * the sentinels are asked once more.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "redis_int.h"

#define SENTINEL_SHARE_MIN_MS 50   /* the least a sentinel gets, time permitting */
#define MASTER_TRIES 2             /* discoveries per new connection */
#define REFRESH_MS 1000            /* asked again at most this often (pooled) */

/* Master changes per pool name ("tokens", "throttle"): few names, so a
 * small table of counters that the metrics page reads. */
#define CHANGE_NAMES_MAX 4

static struct {
	const char *_Atomic name;
	atomic_uint_fast64_t count;
} master_changes[CHANGE_NAMES_MAX];

static void master_change_count(const char *name)
{
	for (size_t i = 0; i < CHANGE_NAMES_MAX; i++) {
		const char *expected = NULL;

		if (atomic_compare_exchange_strong(&master_changes[i].name, &expected, name) ||
		    strcmp(expected, name) == 0) {
			atomic_fetch_add(&master_changes[i].count, 1);
			return;
		}
	}
}

uint64_t redis_master_changes(const char *name)
{
	for (size_t i = 0; i < CHANGE_NAMES_MAX; i++) {
		const char *n = atomic_load(&master_changes[i].name);

		if (n != NULL && strcmp(n, name) == 0)
			return atomic_load(&master_changes[i].count);
	}
	return 0;
}

unsigned redis_pool_generation(struct redis_pool *st)
{
	unsigned gen;

	pthread_mutex_lock(&st->lock);
	gen = st->generation;
	pthread_mutex_unlock(&st->lock);
	return gen;
}

bool redis_reply_not_master(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_ERROR &&
	       (strncmp(r->str, "READONLY", 8) == 0 || strncmp(r->str, "MASTERDOWN", 10) == 0);
}

/* One sentinel's answer: 0 and the address; -1. */
static int sentinel_ask(struct redis_pool *st, const struct redis_addr *s,
			int64_t deadline_ms, struct redis_addr *master)
{
	struct redis_conn *c = redis_conn_open_at(st, s->host, s->port, false, deadline_ms);
	redisReply *r;
	int ret = -1;

	if (c == NULL) {
		log_warnx("%s store (redis): sentinel %s:%s did not answer", st->name, s->host,
			  s->port);
		return -1;
	}
	r = redis_conn_command(c, 3, (const char *[]){ "SENTINEL", "get-master-addr-by-name",
						   st->master_name },
			       (size_t[]){ 8, 23, strlen(st->master_name) }, deadline_ms);
	if (r == NULL)
		log_warnx("%s store (redis): sentinel %s:%s did not answer", st->name, s->host,
			  s->port);
	else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		 r->element[0]->type == REDIS_REPLY_STRING &&
		 r->element[1]->type == REDIS_REPLY_STRING &&
		 r->element[0]->len > 0 && r->element[0]->len < sizeof master->host &&
		 r->element[1]->len > 0 && r->element[1]->len < sizeof master->port) {
		memcpy(master->host, r->element[0]->str, r->element[0]->len + 1);
		memcpy(master->port, r->element[1]->str, r->element[1]->len + 1);
		ret = 0;
	} else if (r->type == REDIS_REPLY_NIL) {
		log_warnx("%s store (redis): sentinel %s:%s knows no master named %s", st->name,
			  s->host, s->port, st->master_name);
	} else {
		log_warnx("%s store (redis): sentinel %s:%s: unexpected answer to "
			  "get-master-addr-by-name%s%.200s", st->name, s->host, s->port,
			  r->type == REDIS_REPLY_ERROR ? ": " : "",
			  r->type == REDIS_REPLY_ERROR ? r->str : "");
	}
	freeReplyObject(r);
	redis_conn_free(c);
	return ret;
}

/* The master's address from the first sentinel that answers. */
static int sentinels_ask(struct redis_pool *st, int64_t deadline_ms, struct redis_addr *master)
{
	unsigned first, n = st->sentinel_count;

	pthread_mutex_lock(&st->lock);
	first = st->sentinel_first;
	pthread_mutex_unlock(&st->lock);
	for (unsigned k = 0; k < n; k++) {
		unsigned i = (first + k) % n;
		int64_t now = clock_now_ms(), left = deadline_ms - now, share = left / (n - k);

		if (left <= 0)
			break;
		if (share < SENTINEL_SHARE_MIN_MS)
			share = left < SENTINEL_SHARE_MIN_MS ? left : SENTINEL_SHARE_MIN_MS;
		if (sentinel_ask(st, &st->sentinels[i], now + share, master) == 0) {
			pthread_mutex_lock(&st->lock);
			st->sentinel_first = i;
			st->asked_ms = clock_now_ms();
			pthread_mutex_unlock(&st->lock);
			return 0;
		}
	}
	log_errorx("%s store (redis): no sentinel named the master of %s in time", st->name,
		   st->master_name);
	return -1;
}

/* Remember the address; a change is logged, counted, and retires the
 * pooled connections (by generation). The generation to open with. */
static unsigned master_note(struct redis_pool *st, const struct redis_addr *master)
{
	struct redis_addr old;
	bool changed;
	unsigned gen;

	pthread_mutex_lock(&st->lock);
	old = st->master;
	changed = strcmp(old.host, master->host) != 0 || strcmp(old.port, master->port) != 0;
	if (changed) {
		st->master = *master;
		if (old.host[0] != '\0')
			st->generation++;
	}
	gen = st->generation;
	pthread_mutex_unlock(&st->lock);
	if (changed && old.host[0] == '\0') {
		log_info("%s store (redis): master %s is %s:%s", st->name, st->master_name,
			 master->host, master->port);
	} else if (changed) {
		log_warnx("%s store (redis): master %s moved from %s:%s to %s:%s", st->name,
			  st->master_name, old.host, old.port, master->host, master->port);
		master_change_count(st->name);
	}
	return gen;
}

/* Whether the node says ROLE master. */
static bool conn_is_master(struct redis_pool *st, struct redis_conn *c,
			   const struct redis_addr *addr, int64_t deadline_ms)
{
	redisReply *r = redis_conn_command(c, 1, (const char *[]){ "ROLE" }, (size_t[]){ 4 },
					   deadline_ms);
	bool master = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
		      r->element[0]->type == REDIS_REPLY_STRING &&
		      strcmp(r->element[0]->str, "master") == 0;

	if (!master)
		log_warnx("%s store (redis): %s:%s, named master of %s, %s", st->name,
			  addr->host, addr->port, st->master_name,
			  r == NULL ? "did not answer ROLE" : "says it is not the master");
	freeReplyObject(r);
	return master;
}

void redis_sentinel_refresh(struct redis_pool *st, int64_t deadline_ms, bool pooled_only)
{
	int64_t now = clock_now_ms();
	struct redis_addr master;
	bool due;

	pthread_mutex_lock(&st->lock);
	due = (st->idle != NULL || !pooled_only) && now - st->asked_ms >= REFRESH_MS;
	if (due)
		st->asked_ms = now;
	pthread_mutex_unlock(&st->lock);
	if (due && deadline_ms > now && sentinels_ask(st, now + (deadline_ms - now) / 3, &master) == 0)
		master_note(st, &master);
}

struct redis_conn *redis_sentinel_conn_open(struct redis_pool *st, int64_t deadline_ms)
{
	for (int attempt = 0; attempt < MASTER_TRIES; attempt++) {
		struct redis_addr master;
		struct redis_conn *c;
		unsigned gen;

		if (sentinels_ask(st, deadline_ms, &master) < 0)
			return NULL;
		gen = master_note(st, &master);
		c = redis_conn_open_at(st, master.host, master.port, true, deadline_ms);
		if (c == NULL) {
			log_warnx("%s store (redis): cannot reach master %s at %s:%s", st->name,
				  st->master_name, master.host, master.port);
			continue;
		}
		if (conn_is_master(st, c, &master, deadline_ms)) {
			c->generation = gen;
			return c;
		}
		redis_conn_free(c);
	}
	return NULL;
}
