/*
 * Who is asking: the TCP peer of a connection, and the client a trusted
 * proxy names in X-Forwarded-For (forwarded.h).
 */
#ifndef DAGATE_HTTP_PEER_H
#define DAGATE_HTTP_PEER_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "netaddr.h"

/* The peer as text ("unknown" if MHD cannot say). */
void peer_text(struct MHD_Connection *c, char *out, size_t size);
bool peer_allowed(struct MHD_Connection *c, const struct cidr_list *allow);
/* The client address from the peer text and the request's X-Forwarded-For
 * headers (read only when `trusted` is not empty), taken with their
 * lengths. -1: refuse the request (an unreadable or oversized header). */
int peer_client_address(struct MHD_Connection *c, const char *peer,
			const struct cidr_list *trusted, char *out, size_t size);

#endif
