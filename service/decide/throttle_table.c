/*
 * The throttle's in-memory tables: sharded hash tables of fixed capacity,
 * entries kept in recency order so that the least recently failed go first
 * when a shard is full.
 */
#include "throttle_int.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

int thr_table_init(struct thr_table *t, uint32_t cap_total, bool users)
{
	uint32_t cap = (cap_total + THR_SHARDS - 1) / THR_SHARDS, nb = 1;

	while (nb < cap * 2)
		nb <<= 1;
	for (int i = 0; i < THR_SHARDS; i++) {
		struct thr_shard *sh = &t->shard[i];

		pthread_mutex_init(&sh->lock, NULL);
		sh->cap = cap;
		sh->mask = nb - 1;
		sh->free_head = sh->head = sh->tail = THR_NIL;
		/* calloc: pages are only touched as entries are used. */
		sh->e = calloc(cap, sizeof *sh->e);
		sh->bucket = malloc(nb * sizeof *sh->bucket);
		sh->rep = users ? calloc(cap, sizeof *sh->rep) : NULL;
		sh->fam = users ? calloc(cap, sizeof *sh->fam) : NULL;
		if (sh->e == NULL || sh->bucket == NULL ||
		    (users && (sh->rep == NULL || sh->fam == NULL)))
			return -1;
		memset(sh->bucket, 0xff, nb * sizeof *sh->bucket);
	}
	return 0;
}

void thr_table_fini(struct thr_table *t)
{
	for (int i = 0; i < THR_SHARDS; i++) {
		struct thr_shard *sh = &t->shard[i];

		if (sh->e == NULL && sh->bucket == NULL)
			continue;
		if (sh->rep != NULL)
			explicit_bzero(sh->rep, (size_t)sh->cap * sizeof *sh->rep);
		free(sh->e);
		free(sh->rep);
		free(sh->fam);
		free(sh->bucket);
		pthread_mutex_destroy(&sh->lock);
		memset(sh, 0, sizeof *sh);
	}
}

struct thr_shard *thr_shard_of(struct thr_table *t, const uint8_t *id)
{
	return &t->shard[id[0] % THR_SHARDS];
}

static uint32_t thr_bucket_of(const struct thr_shard *sh, const uint8_t *id)
{
	uint32_t h;

	memcpy(&h, id + 4, sizeof h);
	return h & sh->mask;
}

uint32_t thr_entry_find(struct thr_shard *sh, const uint8_t *id)
{
	for (uint32_t i = sh->bucket[thr_bucket_of(sh, id)]; i != THR_NIL; i = sh->e[i].hnext)
		if (memcmp(sh->e[i].id, id, THR_ID_LEN) == 0)
			return i;
	return THR_NIL;
}

static void thr_recency_unlink(struct thr_shard *sh, uint32_t i)
{
	struct thr_entry *e = &sh->e[i];

	if (e->prev != THR_NIL)
		sh->e[e->prev].next = e->next;
	else
		sh->head = e->next;
	if (e->next != THR_NIL)
		sh->e[e->next].prev = e->prev;
	else
		sh->tail = e->prev;
	e->prev = e->next = THR_NIL;
}

static void thr_recency_push(struct thr_shard *sh, uint32_t i)
{
	struct thr_entry *e = &sh->e[i];

	e->prev = THR_NIL;
	e->next = sh->head;
	if (sh->head != THR_NIL)
		sh->e[sh->head].prev = i;
	sh->head = i;
	if (sh->tail == THR_NIL)
		sh->tail = i;
}

void thr_recency_touch(struct thr_shard *sh, uint32_t i)
{
	if (sh->head != i) {
		thr_recency_unlink(sh, i);
		thr_recency_push(sh, i);
	}
}

/* Holds something that still counts: failures, reservations, blocks, repeats. */
static bool thr_entry_counts(const struct thr_shard *sh, uint32_t i, int64_t now)
{
	const struct thr_entry *e = &sh->e[i];

	if ((e->failures > 0 && e->window_end > now) || (e->pending > 0 && e->pending_end > now) ||
	    e->block_end > now || e->ublock_end > now || (e->trips > 0 && e->trips_end > now))
		return true;
	for (int k = 0; sh->rep != NULL && k < THR_REPEAT_SLOTS; k++)
		if (sh->rep[i].end[k] > now)
			return true;
	return false;
}

bool thr_entry_live(const struct thr_shard *sh, uint32_t i, int64_t now)
{
	if (thr_entry_counts(sh, i, now))
		return true;
	for (int k = 0; sh->fam != NULL && k < THR_FAMILIAR_SLOTS; k++)
		if (sh->fam[i].end[k] > now)
			return true;
	return false;
}

/* Forget counts and reservations whose time is up. */
void thr_entry_expire(struct thr_entry *e, int64_t now)
{
	if (e->window_end <= now)
		e->failures = 0;
	if (e->pending_end <= now)
		e->pending = 0;
}

void thr_entry_release(struct thr_shard *sh, uint32_t i)
{
	uint32_t *p = &sh->bucket[thr_bucket_of(sh, sh->e[i].id)];

	while (*p != i)
		p = &sh->e[*p].hnext;
	*p = sh->e[i].hnext;
	thr_recency_unlink(sh, i);
	memset(&sh->e[i], 0, sizeof sh->e[i]);
	if (sh->rep != NULL)
		explicit_bzero(&sh->rep[i], sizeof sh->rep[i]);
	if (sh->fam != NULL)
		memset(&sh->fam[i], 0, sizeof sh->fam[i]);
	sh->e[i].hnext = sh->free_head;
	sh->free_head = i;
}

static void thr_evicted_live(struct throttle *t, int64_t now)
{
	long long last = atomic_load(&t->evict_logged_at);

	atomic_fetch_add(&t->evictions, 1);
	if ((last == 0 || now - last >= THR_EVICT_LOG_MS) &&
	    atomic_compare_exchange_strong(&t->evict_logged_at, &last, now))
		log_warnx("throttle: table full, forgetting failures that still count "
			  "(many users or sourceIps failing at once; raise [throttle] max_tracked)");
}

/* A new entry for `id` (not present): a free one, else the least recent. */
uint32_t thr_entry_new(struct throttle *t, struct thr_shard *sh, const uint8_t *id,
			  int64_t now)
{
	uint32_t i, b;

	if (sh->free_head != THR_NIL) {
		i = sh->free_head;
		sh->free_head = sh->e[i].hnext;
	} else if (sh->fresh < sh->cap) {
		i = sh->fresh++;
	} else {
		/* A user remembered only for familiar networks goes quietly:
		 * it falls back to the protection of a user with none. */
		i = sh->tail;
		if (thr_entry_counts(sh, i, now))
			thr_evicted_live(t, now);
		thr_entry_release(sh, i);
		i = sh->free_head;
		sh->free_head = sh->e[i].hnext;
	}
	memset(&sh->e[i], 0, sizeof sh->e[i]);
	memcpy(sh->e[i].id, id, THR_ID_LEN);
	b = thr_bucket_of(sh, id);
	sh->e[i].hnext = sh->bucket[b];
	sh->bucket[b] = i;
	sh->e[i].prev = sh->e[i].next = THR_NIL;
	thr_recency_push(sh, i);
	return i;
}

