/*
 * A live trace of one user in the running server (FreeRADIUS's
 * `raddebug -u`): `dagate trace USER` asks the admin listener to narrate
 * every step of that user's next decisions -- what arrived, the mapping,
 * the route, the throttle's verdict, each provider's steps, the answer --
 * with the milliseconds since the request's first byte. Never a password.
 * A trace stops by itself after its time; each step is also logged
 * (event=trace). At most TRACE_ACTIVE_MAX traces at once.
 *
 * Process-wide (a trace outlives a reload). Thread-safe.
 */
#ifndef DAGATE_TRACE_H
#define DAGATE_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "provider.h"

#define TRACE_API_PATH "/api/v1/trace"
#define TRACE_ACTIVE_MAX 4
#define TRACE_LINES_KEPT 512
#define TRACE_SECONDS_DEFAULT 60
#define TRACE_SECONDS_MAX 3600

/* Start tracing `mapped_user` (the username after [map]) for `seconds`.
 * 0 with the trace's id; -1 with *error_r (static text) when
 * TRACE_ACTIVE_MAX traces are running. */
int trace_start(const char *mapped_user, unsigned seconds, unsigned *id_r, const char **error_r);

/* One request's view of a trace, on its stack. */
struct trace_tap {
	unsigned id;
	const char *request_id;
	int64_t started_ms;       /* the request's first byte (clock.h) */
	struct auth_trace hook;   /* for auth_request.trace */
};

/* Whether `mapped_user` is being traced; if so, fills `tap` so that
 * &tap->hook can go in an auth_request. Cheap when nothing is traced. */
bool trace_tap_open(const char *mapped_user, const char *request_id, int64_t started_ms,
		    struct trace_tap *tap);
/* A step of the request, printf-style (never a password). */
void trace_note(struct trace_tap *tap, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The steps of trace `id` after sequence number `after`, as JSON
 * {"id", "user", "active", "seconds_left", "next", "steps": [{"seq",
 * "time", "request_id", "ms", "step"}]} (malloc'd); NULL with *status_r
 * 404 for an unknown id, 500 out of memory. */
char *trace_json(unsigned id, uint64_t after, int *status_r);

#endif
