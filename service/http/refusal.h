/*
 * Every connection or request the HTTP layer turns away before a decision,
 * and every connection it cuts, is counted (metrics.h) and logged. Logging
 * is bounded per reason, so that a flood of refused connections cannot
 * flood the log: past the burst a window's refusals are only counted, and
 * the next line logged says how many went unlogged.
 */
#ifndef DAGATE_HTTP_REFUSAL_H
#define DAGATE_HTTP_REFUSAL_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "metrics.h"

/* Count one for `listener` ("HOST:PORT"), and log `fmt` (no secrets: peers
 * and reasons only) at warn, or at info for the cuts (silent, slow), debug
 * for idle keep-alive. */
void http_refusal(enum http_refusal why, const char *listener, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Where a listener's allow list came from, for a refusal's log line:
 * "[admin] allow", "[server] allow", "[server] allow_file PATH" or
 * "[server] allow and allow_file PATH". */
#define HTTP_ALLOW_SOURCE_MAX 512
void http_allow_source(const struct dagate_config *cfg, bool admin, char *out, size_t size);

#endif
