/* The throttle on the admin listener (throttle_api.c). */
#ifndef DAGATE_THROTTLE_API_H
#define DAGATE_THROTTLE_API_H

#include "http.h"
#include "server.h"

#define THROTTLE_API_PREFIX "/api/v1/throttle/"

enum MHD_Result throttle_api_handle(struct MHD_Connection *c, const struct http_generation *gen,
				    const char *url, const char *method);
/* Lifts so far, for /metrics. */
unsigned long long throttle_api_lifts(void);

#endif
