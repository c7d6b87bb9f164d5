/*
 * Counters for GET /metrics (Prometheus text format 0.0.4). Recording is
 * lock-free on the request path; the set of (provider, outcome, answer)
 * series grows under a mutex, capped. Process-wide: survives reloads.
 */
#ifndef DAGATE_METRICS_H
#define DAGATE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* One Authenticate decision (the audit line's provider/outcome/answer). */
void metrics_record_decision(const char *provider, const char *outcome,
			     const char *answer, int64_t elapsed_ms);

/* Render everything, including gauges read from `gen` (queue depth,
 * provider use, TLS expiry) and the token store's counters. Returns a
 * malloc'd text, or NULL. */
char *metrics_render(const struct http_generation *gen, size_t *len_r);

#endif
