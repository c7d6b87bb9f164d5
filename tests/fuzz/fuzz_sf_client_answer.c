/*
 * The relay's reading of another DA service's answer (sf_client_answer):
 * whatever comes back, a refusal is never "true" and always has a reason.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sf_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool authenticated = true;
	const char *error = NULL;
	char *body = malloc(size > 0 ? size : 1);

	if (body == NULL)
		return 0;
	memcpy(body, data, size);
	if (sf_client_answer(body, size, &authenticated, &error) != 0 &&
	    (authenticated || error == NULL))
		abort();
	free(body);
	return 0;
}
