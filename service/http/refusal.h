/*
 * Every connection or request the HTTP layer turns away before a decision,
 * and every connection it cuts, is counted (metrics.h) and logged. Logging
 * is bounded per reason, so that a flood of refused connections cannot
 * flood the log: past the burst a window's refusals are only counted, and
 * the next line logged says how many went unlogged.
 */
#ifndef DAGATE_HTTP_REFUSAL_H
#define DAGATE_HTTP_REFUSAL_H

#include "metrics.h"

/* Count one, and log `fmt` (no secrets: peers and reasons only) at warn,
 * or at info for the cuts (silent, slow), debug for idle keep-alive. */
void http_refusal(enum http_refusal why, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
