/*
 * The X-Forwarded-For reader (forwarded_client), behind a fixed set of
 * trusted proxies. Input: the TCP peer as text, a newline, then the joined
 * header. Whatever it returns as the client must be an IP address.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forwarded.h"
#include "netaddr.h"

/* peer.c passes a buffer of this size for the answer */
#define FUZZ_OUT_SIZE 64

static struct cidr_list trusted;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char error[128];

	if (cidr_list_parse("10.0.0.0/8, 127.0.0.0/8, 192.168.0.0/16, ::1, 2001:db8::/32",
			    &trusted, error, sizeof error) != 0)
		abort();
	return 0;
}

static bool is_address(const char *text)
{
	unsigned char a[16];

	return inet_pton(AF_INET, text, a) == 1 || inet_pton(AF_INET6, text, a) == 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *peer = malloc(size + 1), *xff, *out = malloc(FUZZ_OUT_SIZE);

	if (peer == NULL || out == NULL)
		goto done;
	memcpy(peer, data, size);
	peer[size] = '\0';
	xff = memchr(peer, '\n', size);
	if (xff != NULL)
		*xff++ = '\0';
	if (forwarded_client(peer, xff, &trusted, out, FUZZ_OUT_SIZE) == 0 &&
	    (memchr(out, '\0', FUZZ_OUT_SIZE) == NULL || !is_address(out)))
		abort();
done:
	free(peer);
	free(out);
	return 0;
}
