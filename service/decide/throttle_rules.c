/*
 * The user rules of the throttle as pure arithmetic on one user's counts
 * (throttle_int.h struct thr_entry) and a clock value: budgets, the
 * unfamiliar budget, reservations and growing blocks. The memory tables
 * apply them under a shard lock; throttle_redis.c's scripts are the same
 * rules in Lua and must stay in step with this file.
 */
#include "throttle_int.h"

#include <string.h>

int64_t thr_block_ms(const struct thr_limits *l, uint32_t trips_before)
{
	int64_t step = l->nsteps == 0 ? 0 :
		       l->steps[trips_before < l->nsteps ? trips_before : l->nsteps - 1];

	/* Never shorter than the window: a block that ended while the
	 * directory still counts the failures would hand out a budget the
	 * directory cannot afford. */
	return step > l->window_ms ? step : l->window_ms;
}

void thr_user_expire(struct thr_entry *e, int64_t now)
{
	if (e->window_end <= now)
		e->failures = e->unfamiliar = 0;
	if (e->pending_end <= now)
		e->pending = e->upending = 0;
	if (e->trips_end <= now)
		e->trips = e->utrips = 0;
}

enum throttle_verdict thr_user_verdict(const struct thr_limits *l, const struct thr_entry *e,
				       int64_t now, bool unfamiliar)
{
	if (l->user_max == 0)
		return THROTTLE_ASK;
	if (e->block_end > now || e->failures >= l->user_max)
		return THROTTLE_USER_BUDGET;
	if (unfamiliar && (e->ublock_end > now || e->unfamiliar >= l->unfamiliar_max))
		return THROTTLE_UNFAMILIAR;
	/* The rest is held by logins in flight: wait for one to end. */
	if (e->failures + e->pending >= l->user_max ||
	    (unfamiliar && e->unfamiliar + e->upending >= l->unfamiliar_max))
		return THROTTLE_WAIT;
	return THROTTLE_ASK;
}

void thr_user_reserve(struct thr_entry *e, int64_t now, bool unfamiliar)
{
	e->pending++;
	if (unfamiliar)
		e->upending++;
	e->pending_end = now + THROTTLE_RESERVE_MS;
}

void thr_user_release(struct thr_entry *e, bool unfamiliar)
{
	if (e->pending > 0)
		e->pending--;
	if (unfamiliar && e->upending > 0)
		e->upending--;
}

static void trip(const struct thr_limits *l, uint32_t *trips, int64_t *block_end,
		 int64_t *trips_end, int64_t now)
{
	*block_end = now + thr_block_ms(l, *trips);
	(*trips)++;
	if (*trips_end < *block_end + THR_TRIPS_FORGET_MS)
		*trips_end = *block_end + THR_TRIPS_FORGET_MS;
}

unsigned thr_user_failed(const struct thr_limits *l, struct thr_entry *e, int64_t now,
			 bool unfamiliar)
{
	unsigned tripped = 0;

	if (l->user_max == 0)
		return 0;
	e->failures++;
	if (unfamiliar)
		e->unfamiliar++;
	e->window_end = now + l->window_ms;
	if (e->failures >= l->user_max && e->block_end <= now) {
		trip(l, &e->trips, &e->block_end, &e->trips_end, now);
		tripped |= THR_TRIPPED_USER;
	}
	if (unfamiliar && e->unfamiliar >= l->unfamiliar_max && e->ublock_end <= now) {
		trip(l, &e->utrips, &e->ublock_end, &e->trips_end, now);
		tripped |= THR_TRIPPED_UNFAMILIAR;
	}
	return tripped;
}

struct thr_familiarity thr_familiarity(const struct thr_familiar *fam, const uint8_t *net,
				      int64_t now)
{
	struct thr_familiarity f = { false, false };

	for (int k = 0; fam != NULL && net != NULL && k < THR_FAMILIAR_SLOTS; k++) {
		if (fam->end[k] <= now)
			continue;
		f.known = true;
		if (memcmp(fam->id[k], net, THR_ID_LEN) == 0)
			f.hit = true;
	}
	return f;
}

bool thr_unfamiliar(const struct thr_familiarity *f)
{
	return f->known && !f->hit;
}

void thr_familiar_add(struct thr_familiar *fam, const uint8_t *net, int64_t until, int64_t now)
{
	int slot = 0;

	for (int k = 0; k < THR_FAMILIAR_SLOTS; k++) {
		if (memcmp(fam->id[k], net, THR_ID_LEN) == 0 && fam->end[k] > now) {
			slot = k;
			break;
		}
		if (fam->end[k] < fam->end[slot])
			slot = k;     /* the one that lapses first (or already has) */
	}
	memcpy(fam->id[slot], net, THR_ID_LEN);
	fam->end[slot] = until;
}

void thr_user_succeeded(struct thr_entry *e)
{
	e->failures = e->unfamiliar = 0;
	e->trips = e->utrips = 0;
	e->block_end = e->ublock_end = e->trips_end = 0;
}
