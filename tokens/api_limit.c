/*
 * The token API's failed-login limit (api_limit.h).
 */
#include "api_limit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"

struct login_slot {
	struct cidr net;
	int64_t window_start_ms;     /* monotonic; 0: free */
	unsigned failures;
};

struct token_login_limit {
	pthread_mutex_t lock;
	struct login_slot slots[TOKEN_LOGIN_SLOTS];
};

struct token_login_limit *token_login_limit_new(void)
{
	struct token_login_limit *limit = calloc(1, sizeof *limit);

	if (limit != NULL)
		pthread_mutex_init(&limit->lock, NULL);
	return limit;
}

void token_login_limit_free(struct token_login_limit **limit)
{
	if (*limit == NULL)
		return;
	pthread_mutex_destroy(&(*limit)->lock);
	free(*limit);
	*limit = NULL;
}

static void login_net(const struct sockaddr *peer, struct cidr *net)
{
	if (sockaddr_network(peer, TOKEN_LOGIN_V6_PREFIX, net) < 0)
		memset(net, 0, sizeof *net);
}

/* FNV-1a: the table only needs spread; a collision shares a probe run,
 * never a count. */
static size_t login_hash(const struct cidr *net)
{
	uint32_t h = 2166136261u;

	h = (h ^ (uint32_t)net->family) * 16777619u;
	for (size_t i = 0; i < sizeof net->addr; i++)
		h = (h ^ net->addr[i]) * 16777619u;
	return h % TOKEN_LOGIN_SLOTS;
}

static bool slot_live(const struct login_slot *s, int64_t now_ms)
{
	return s->window_start_ms != 0 && now_ms - s->window_start_ms < TOKEN_LOGIN_WINDOW_MS;
}

/* The slot of `net` (live), or NULL; with `claim`, a free, expired or the
 * oldest slot of its run, reset for `net`. Under the lock. */
static struct login_slot *login_slot(struct token_login_limit *limit, const struct cidr *net,
				     int64_t now_ms, bool claim)
{
	size_t start = login_hash(net);
	struct login_slot *spare = NULL;

	for (size_t i = 0; i < TOKEN_LOGIN_PROBE; i++) {
		struct login_slot *s = &limit->slots[(start + i) % TOKEN_LOGIN_SLOTS];

		if (!slot_live(s, now_ms)) {
			if (spare == NULL || slot_live(spare, now_ms))
				spare = s;
			continue;
		}
		if (cidr_equal(&s->net, net))
			return s;
		if (spare == NULL || (slot_live(spare, now_ms) &&
				      s->window_start_ms < spare->window_start_ms))
			spare = s;
	}
	if (!claim)
		return NULL;
	spare->net = *net;
	spare->window_start_ms = now_ms != 0 ? now_ms : 1;
	spare->failures = 0;
	return spare;
}

int64_t token_login_limit_wait(struct token_login_limit *limit, const struct sockaddr *peer,
			       int64_t now_ms)
{
	struct login_slot *s;
	struct cidr net;
	int64_t wait = 0;

	login_net(peer, &net);
	pthread_mutex_lock(&limit->lock);
	s = login_slot(limit, &net, now_ms, false);
	if (s != NULL && s->failures >= TOKEN_LOGIN_FAILURES)
		wait = s->window_start_ms + TOKEN_LOGIN_WINDOW_MS - now_ms;
	pthread_mutex_unlock(&limit->lock);
	return wait > 0 ? wait : 0;
}

bool token_login_limit_failed(struct token_login_limit *limit, const struct sockaddr *peer,
			      int64_t now_ms)
{
	struct login_slot *s;
	struct cidr net;
	bool reached;

	login_net(peer, &net);
	pthread_mutex_lock(&limit->lock);
	s = login_slot(limit, &net, now_ms, true);
	reached = ++s->failures == TOKEN_LOGIN_FAILURES;
	pthread_mutex_unlock(&limit->lock);
	return reached;
}
