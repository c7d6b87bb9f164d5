#include "peer.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "forwarded.h"

/* Every X-Forwarded-For line of a request, joined with commas. */
struct xff_collect {
	char buf[1024];
	size_t len;
	bool overflow;
};

void peer_text(struct MHD_Connection *c, char *out, size_t size)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	if (info == NULL || info->client_addr == NULL)
		snprintf(out, size, "unknown");
	else
		sockaddr_to_text(info->client_addr, out, size);
}

bool peer_allowed(struct MHD_Connection *c, const struct cidr_list *allow)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	return info != NULL && info->client_addr != NULL &&
	       cidr_list_contains_sockaddr(allow, info->client_addr);
}

static enum MHD_Result collect_xff(void *cls, enum MHD_ValueKind kind, const char *key,
				   size_t key_size, const char *value, size_t value_size)
{
	struct xff_collect *x = cls;

	(void)kind;
	if (key_size != strlen("X-Forwarded-For") ||
	    strncasecmp(key, "X-Forwarded-For", key_size) != 0 || value == NULL)
		return MHD_YES;
	/* A NUL would end the text early: never read a value as a C string. */
	if (x->len + value_size + 2 > sizeof x->buf || memchr(value, '\0', value_size) != NULL) {
		x->overflow = true;
		return MHD_NO;
	}
	if (x->len > 0)
		x->buf[x->len++] = ',';
	memcpy(x->buf + x->len, value, value_size);
	x->len += value_size;
	x->buf[x->len] = '\0';
	return MHD_YES;
}

int peer_client_address(struct MHD_Connection *c, const char *peer,
			const struct cidr_list *trusted, char *out, size_t size)
{
	struct xff_collect x = { .len = 0 };

	x.buf[0] = '\0';
	if (trusted->count > 0)
		MHD_get_connection_values_n(c, MHD_HEADER_KIND, collect_xff, &x);
	if (x.overflow)
		return -1;
	return forwarded_client(peer, x.len > 0 ? x.buf : NULL, trusted, out, size);
}
