/*
 * Counters for GET /metrics (Prometheus text format 0.0.4). Recording is
 * lock-free on the request path; the set of (provider, outcome, answer)
 * series grows under a mutex, capped. Process-wide: survives reloads.
 */
#ifndef DAGATE_METRICS_H
#define DAGATE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* One Authenticate decision (the audit line's provider/outcome/answer). */
void metrics_record_decision(const char *provider, const char *outcome,
			     const char *answer, int64_t elapsed_ms);

/* A decision whose answer was not sent (the audit line's sent=no). */
void metrics_record_unsent(const char *answer);

/* Why the HTTP layer turned a connection or request away, or cut a
 * connection: each is also logged where it happens. */
enum http_refusal {
	HTTP_REFUSED_PEER,           /* connection from outside allow: closed at accept */
	HTTP_REFUSED_NETWORK_LIMIT,  /* max_connections_per_ip reached for its network */
	HTTP_REFUSED_CLIENT,         /* 403: the client a trusted proxy names is not allowed */
	HTTP_REFUSED_FORWARDED,      /* 403: unreadable X-Forwarded-For */
	HTTP_REFUSED_HEADER_BYTES,   /* 400: NUL or control bytes, or a header name that is no token */
	HTTP_REFUSED_FRAMING,        /* 400: ambiguous framing (Content-Length, Transfer-Encoding, obs-fold) */
	HTTP_REFUSED_MALFORMED,      /* answered by libmicrohttpd itself (400, 413, 414, 431) */
	HTTP_CUT_SILENT,             /* a new connection that sent nothing */
	HTTP_CUT_SLOW,               /* a request (or TLS handshake) not in by the deadline */
	HTTP_CUT_IDLE,               /* a keep-alive connection idle too long */
	HTTP_REFUSAL_COUNT
};
/* Count one for `listener` ("HOST:PORT"; metrics_add_listener() makes its
 * series exist, at 0, before the first). */
void metrics_record_refusal(enum http_refusal why, const char *listener);
void metrics_add_listener(const char *listener);

/* A signal `serve` received ("SIGUSR1", ...), and whether a reopen of the
 * log files (log_reopen) worked. */
void metrics_record_signal(const char *name);
void metrics_record_log_reopen(bool ok);
/* One request of the [sso] listener, by its enum sso_outcome. */
void metrics_record_sso(int outcome);
/* `serve` calls it once, first: dagate_process_start_time_seconds. */
void metrics_set_start_time(void);
/* A SIGHUP's result: applied; applied but a section changed that only a
 * restart applies ([tokens], [requester], [throttle]); refused. */
enum metrics_reload { METRICS_RELOAD_OK, METRICS_RELOAD_PARTIAL, METRICS_RELOAD_REFUSED,
		      METRICS_RELOAD_RESULTS };
void metrics_record_reload(enum metrics_reload result);
/* For GET /api/v1/status: when serve started (Unix seconds), and the
 * reloads of each result so far. */
double metrics_start_time(void);
unsigned long long metrics_reloads(enum metrics_reload result);
/* Render everything, including gauges read from `gen` (queue depth,
 * provider use, TLS expiry) and the token store's counters. Returns a
 * malloc'd text, or NULL. */
char *metrics_render(const struct http_generation *gen, size_t *len_r);

#endif
