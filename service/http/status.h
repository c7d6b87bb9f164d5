/*
 * GET /api/v1/status on the admin listener (and `dagate status`): what the
 * running server is -- version, uptime, configuration generation,
 * listeners, providers with their backends' state, the worker queue, the
 * throttle's and the token store's counters. Nothing secret, nothing per
 * user.
 */
#ifndef DAGATE_STATUS_H
#define DAGATE_STATUS_H

#include "http.h"

#define STATUS_API_PATH "/api/v1/status"

/* The JSON text (malloc'd), or NULL when out of memory. `inflight`: the
 * requests being answered now. */
char *status_json(const struct http_generation *gen, unsigned inflight);

#endif
