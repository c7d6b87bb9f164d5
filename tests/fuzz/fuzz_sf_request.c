/*
 * The endpoint's request parse (sf_request_parse), the first code that
 * reads what an unauthenticated caller sends. Beyond crashes, checks the
 * contract of sf_server.h: a refusal leaves nothing behind and gives a
 * reason; an accepted request has three fields that pass sf_field_check,
 * and the relay's own envelope for them (sf_client_request) reads back
 * byte-exact.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sf_client.h"
#include "sf_server.h"

static void check_field(const char *s, size_t len, size_t max)
{
	const char *error = NULL;

	if (s == NULL || strlen(s) != len || sf_field_check(s, len, max, &error) != 0)
		abort();
}

/* What the relay would send for these fields, the endpoint reads back. */
static void check_round_trip(const struct sf_authenticate *req)
{
	struct sf_authenticate again;
	const char *error = NULL;
	char *body = sf_client_request(req->username, req->password, req->source_ip);

	if (body == NULL)
		abort();
	if (sf_request_parse(body, strlen(body), &again, &error) != 0 ||
	    strcmp(again.username, req->username) != 0 ||
	    again.password_len != req->password_len ||
	    memcmp(again.password, req->password, req->password_len) != 0 ||
	    strcmp(again.source_ip, req->source_ip) != 0)
		abort();
	sf_request_clear(&again);
	free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sf_authenticate req;
	const char *error = NULL;
	/* an exact-size copy, so that a read past the body is caught */
	char *body = malloc(size > 0 ? size : 1);

	if (body == NULL)
		return 0;
	memcpy(body, data, size);
	if (sf_request_parse(body, size, &req, &error) != 0) {
		if (error == NULL || req.username != NULL || req.password != NULL ||
		    req.source_ip != NULL)
			abort();
	} else {
		check_field(req.username, strlen(req.username), SF_USERNAME_MAX);
		check_field(req.password, req.password_len, SF_PASSWORD_MAX);
		check_field(req.source_ip, strlen(req.source_ip), SF_SOURCE_IP_MAX);
		check_round_trip(&req);
	}
	sf_request_clear(&req);
	free(body);
	return 0;
}
