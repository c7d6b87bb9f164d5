/*
 * The listening sockets, owned by `serve` rather than by libmicrohttpd, so
 * that they are bound once (as root when needed, before dropping
 * privileges) and handed from one configuration generation to the next on
 * SIGHUP without ever being closed: connections wait in the kernel's
 * backlog while the listeners change hands.
 */
#ifndef DAGATE_LISTENERS_H
#define DAGATE_LISTENERS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Which section a listening socket serves. */
enum listener_kind { LISTENER_SERVER, LISTENER_ADMIN, LISTENER_SSO, LISTENER_KINDS };

struct listener {
	char *host;
	unsigned port;        /* as configured; 0 = ephemeral */
	unsigned bound_port;  /* what the kernel gave */
	enum listener_kind kind;
	bool v6;
	int fd;
	bool in_use;          /* wanted by the current configuration */
};

struct listener_set {
	struct listener *items;
	size_t count;
	/* Set by listeners_update: the listener of each [server] / [admin] /
	 * [sso] listen line of that config, by index into `items`. */
	size_t *index[LISTENER_KINDS];
	size_t index_count[LISTENER_KINDS];
};

/* Make every [server] and [admin] listen address of `cfg`, and the
 * `sso_count` addresses of `sso` ([sso], built by its own module),
 * available in `set`: sockets already bound for the same address and kind are kept,
 * others are bound now. Sockets no longer wanted stay open (in_use false)
 * until listeners_close_unused(). -1 with *error_r (the address that
 * failed is logged) when a socket cannot be bound. */
int listeners_update(struct listener_set *set, const struct dagate_config *cfg,
		     const struct listen_addr *sso, size_t sso_count, const char **error_r);
/* The socket for the i-th listen line of `kind` given to the last
 * listeners_update(). */
struct listener *listeners_at(struct listener_set *set, size_t i, enum listener_kind kind);
void listeners_close_unused(struct listener_set *set);
void listeners_close_all(struct listener_set *set);

#endif
