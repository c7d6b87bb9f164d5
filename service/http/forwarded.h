/*
 * Who is the client? Behind a reverse proxy the TCP peer is the proxy; the
 * client is in X-Forwarded-For, which anyone can forge. It is believed only
 * from `trusted_proxies`, and read from the right: each proxy appends the
 * address it saw, so the rightmost hop that is not a trusted proxy is the
 * first one no trusted party vouches for — the client.
 */
#ifndef DAGATE_FORWARDED_H
#define DAGATE_FORWARDED_H

#include <stddef.h>

#include "netaddr.h"

/* `peer` is the TCP peer as text; `xff` every X-Forwarded-For value joined
 * with commas (or NULL). Writes the client address (IPv4-mapped IPv6 shown
 * as IPv4) to `out`. Returns -1 when a hop that must be read is not an IP
 * address: the caller refuses such a request. Pure function. */
int forwarded_client(const char *peer, const char *xff, const struct cidr_list *trusted,
		     char *out, size_t size);

#endif
