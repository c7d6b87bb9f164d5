#include "forwarded.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Normalise one hop: trim blanks, strip "[v6]" brackets (only around an
 * IPv6 address: "[10.1.2.3]" is no address); no ports (a proxy that adds
 * one writes "[v6]:port" or "v4:port", which is refused). */
static bool hop_to_address(const char *start, size_t len, char *out, size_t size)
{
	struct in6_addr a6;
	struct in_addr a4;
	char buf[INET6_ADDRSTRLEN + 4];
	bool bracketed = false;

	while (len > 0 && (*start == ' ' || *start == '\t')) {
		start++;
		len--;
	}
	while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t'))
		len--;
	if (len >= 2 && start[0] == '[' && start[len - 1] == ']') {
		start++;
		len -= 2;
		bracketed = true;
	}
	if (len == 0 || len >= sizeof buf)
		return false;
	memcpy(buf, start, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &a4) == 1)
		return !bracketed && inet_ntop(AF_INET, &a4, out, (socklen_t)size) != NULL;
	if (inet_pton(AF_INET6, buf, &a6) != 1)
		return false;
	if (IN6_IS_ADDR_V4MAPPED(&a6))
		return inet_ntop(AF_INET, &a6.s6_addr[12], out, (socklen_t)size) != NULL;
	return inet_ntop(AF_INET6, &a6, out, (socklen_t)size) != NULL;
}

int forwarded_client(const char *peer, const char *xff, const struct cidr_list *trusted,
		     char *out, size_t size)
{
	const char *end;

	if (!hop_to_address(peer, strlen(peer), out, size))
		return -1;
	if (trusted == NULL || trusted->count == 0 || xff == NULL ||
	    !cidr_list_contains_text(trusted, out))
		return 0;
	/* From the right: while the current hop is a trusted proxy, the hop
	 * before it (to the left) is who connected to that proxy. */
	end = xff + strlen(xff);
	while (end > xff) {
		const char *start = end;

		while (start > xff && start[-1] != ',')
			start--;
		if (!hop_to_address(start, (size_t)(end - start), out, size))
			return -1;
		if (!cidr_list_contains_text(trusted, out))
			return 0;
		end = start > xff ? start - 1 : xff;
	}
	return 0;  /* every hop is a trusted proxy: the leftmost is the client */
}
