/*
 * The token API's parsers (tokens.h): the JSON body and, on the admin
 * listener before any credential is checked, the Basic Authorization
 * header. The first input byte chooses which; the rest is the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokens.h"

/* token_api_handle's own bound on the header (api.c: API_AUTH_MAX). */
#define FUZZ_AUTH_MAX 1024

static void fuzz_body(const char *body, size_t len)
{
	char *user = NULL;
	int64_t ttl_ms = -1;
	const char *error = NULL;

	if (token_api_parse_body(body, len, &user, &ttl_ms, &error) != 0) {
		if (user != NULL || error == NULL)
			abort();
		return;
	}
	if (user == NULL ||
	    (ttl_ms != 0 && (ttl_ms < TOKEN_TTL_MIN_MS || ttl_ms > TOKEN_TTL_MAX_MS)))
		abort();
	free(user);
}

static void fuzz_basic(const char *data, size_t len)
{
	char header[FUZZ_AUTH_MAX], buf[FUZZ_AUTH_MAX];
	const char *name = NULL, *secret = NULL;
	size_t secret_len = 0;

	/* as the API gets it: a C string shorter than its buffer */
	if (len >= sizeof header)
		return;
	memcpy(header, data, len);
	header[len] = '\0';
	if (token_api_parse_basic(header, buf, sizeof buf, &name, &secret, &secret_len) != 0)
		return;
	if (name < buf || name >= buf + sizeof buf || *name == '\0' ||
	    secret < buf || secret + secret_len >= buf + sizeof buf ||
	    strlen(secret) != secret_len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy;

	if (size == 0)
		return 0;
	if ((copy = malloc(size - 1 > 0 ? size - 1 : 1)) == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);
	if (data[0] & 1)
		fuzz_basic(copy, size - 1);
	else if (size - 1 <= TOKEN_API_MAX_BODY)
		fuzz_body(copy, size - 1);
	free(copy);
	return 0;
}
