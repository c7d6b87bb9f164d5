#include "listeners.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

/* Connections the kernel queues while a listener changes hands or the
 * event threads are busy; SOMAXCONN caps it anyway. */
#define LISTEN_BACKLOG 1024

static int bind_one(struct listener *l, const char **error_r)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int one = 1, fd;

	memset(&ss, 0, sizeof ss);
	if (inet_pton(AF_INET, l->host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)l->port);
		len = sizeof *sin;
		l->v6 = false;
	} else if (inet_pton(AF_INET6, l->host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)l->port);
		len = sizeof *sin6;
		l->v6 = true;
	} else {
		*error_r = "listen address is not an IP address";
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (l->v6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		*error_r = strerror(errno);
		close(fd);
		return -1;
	}
	len = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &len);
	l->bound_port = ntohs(l->v6 ? sin6->sin6_port : sin->sin_port);
	l->fd = fd;
	return 0;
}

/* A socket bound earlier for the same address and kind and not yet claimed
 * by this update: several "port 0" lines each get their own. */
static struct listener *find_unclaimed(struct listener_set *set, const char *host,
				       unsigned port, enum listener_kind kind)
{
	for (size_t i = 0; i < set->count; i++) {
		struct listener *l = &set->items[i];

		if (!l->in_use && l->kind == kind && l->port == port &&
		    strcmp(l->host, host) == 0)
			return l;
	}
	return NULL;
}

struct listener *listeners_at(struct listener_set *set, size_t i, enum listener_kind kind)
{
	size_t *index = set->index[kind];

	return index != NULL && i < set->index_count[kind] ? &set->items[index[i]] : NULL;
}

static int want(struct listener_set *set, const struct listen_addr *la, enum listener_kind kind,
		size_t *index_r, const char **error_r)
{
	struct listener *l = find_unclaimed(set, la->host, la->port, kind), *items;

	if (l != NULL) {
		l->in_use = true;
		*index_r = (size_t)(l - set->items);
		return 0;
	}
	items = realloc(set->items, (set->count + 1) * sizeof *items);
	if (items == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	set->items = items;
	l = &items[set->count];
	memset(l, 0, sizeof *l);
	l->host = strdup(la->host);
	l->port = la->port;
	l->kind = kind;
	l->fd = -1;
	if (l->host == NULL || bind_one(l, error_r) < 0) {
		log_errorx("cannot listen on %s: %s", la->text, *error_r);
		free(l->host);
		return -1;
	}
	l->in_use = true;
	*index_r = set->count++;
	return 0;
}

int listeners_update(struct listener_set *set, const struct dagate_config *cfg,
		     const struct listen_addr *sso, size_t sso_count, const char **error_r)
{
	const struct listen_addr *addrs[LISTENER_KINDS] = {
		cfg->server.listen, cfg->admin.listen, sso,
	};
	size_t counts[LISTENER_KINDS] = { cfg->server.listen_count, cfg->admin.listen_count, sso_count };
	size_t *index[LISTENER_KINDS] = { NULL };
	int k;

	for (k = 0; k < LISTENER_KINDS; k++)
		if ((index[k] = calloc(counts[k] + 1, sizeof *index[k])) == NULL) {
			*error_r = "out of memory";
			goto fail;
		}
	for (size_t i = 0; i < set->count; i++)
		set->items[i].in_use = false;
	for (k = 0; k < LISTENER_KINDS; k++)
		for (size_t i = 0; i < counts[k]; i++)
			if (want(set, &addrs[k][i], (enum listener_kind)k, &index[k][i], error_r) < 0)
				goto fail;
	for (k = 0; k < LISTENER_KINDS; k++) {
		free(set->index[k]);
		set->index[k] = index[k];
		set->index_count[k] = counts[k];
	}
	return 0;
fail:
	for (k = 0; k < LISTENER_KINDS; k++)
		free(index[k]);
	return -1;
}

void listeners_close_unused(struct listener_set *set)
{
	size_t kept = 0;

	for (size_t i = 0; i < set->count; i++) {
		struct listener *l = &set->items[i];

		if (!l->in_use) {
			close(l->fd);
			free(l->host);
			continue;
		}
		/* The index of the last update follows its sockets. */
		for (int k = 0; k < LISTENER_KINDS; k++)
			for (size_t j = 0; j < set->index_count[k]; j++)
				if (set->index[k][j] == i)
					set->index[k][j] = kept;
		set->items[kept++] = *l;
	}
	set->count = kept;
}

void listeners_close_all(struct listener_set *set)
{
	for (size_t i = 0; i < set->count; i++)
		set->items[i].in_use = false;
	listeners_close_unused(set);
	free(set->items);
	for (int k = 0; k < LISTENER_KINDS; k++)
		free(set->index[k]);
	memset(set, 0, sizeof *set);
}
