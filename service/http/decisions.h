/*
 * The last decisions that were not `true`, in memory, for operators
 * (GET /api/v1/decisions on the admin listener, `dagate decisions`): the
 * view Salesforce's "Delegated Authentication Error History" gives, with
 * more than its 21 entries and with the request id that matches the audit
 * line. What the audit line holds and nothing more: never a password.
 *
 * One ring per process (it outlives reloads), DECISIONS_KEPT entries, the
 * oldest overwritten first. Thread-safe.
 */
#ifndef DAGATE_DECISIONS_H
#define DAGATE_DECISIONS_H

#include <stdbool.h>
#include <time.h>

#include "log.h"

#define DECISIONS_API_PATH "/api/v1/decisions"
#define DECISIONS_KEPT 1000
#define DECISIONS_DEFAULT_LIMIT 50

/* Keep `rec` when its answer is not "true" (an answer that was never
 * sent is kept whatever it was: Salesforce saw an error). */
void decisions_remember(const struct audit_record *rec, time_t when);

/* Which answers a query wants. */
enum decisions_filter {
	DECISIONS_NOT_TRUE,   /* false and fault (the default) */
	DECISIONS_FALSE,
	DECISIONS_FAULT,
};

/* The query of GET /api/v1/decisions: answer=false|fault|any (any: every
 * kept entry, i.e. not true), limit=1..DECISIONS_KEPT. NULL values take the
 * defaults. -1 with *error_r (static text) when a value is not one of
 * those. */
int decisions_parse_query(const char *answer, const char *limit,
			  enum decisions_filter *filter_r, unsigned *limit_r, const char **error_r);

/* {"kept": N, "capacity": DECISIONS_KEPT, "decisions": [newest first]}
 * (malloc'd), or NULL when out of memory. */
char *decisions_json(enum decisions_filter filter, unsigned limit);

/* For tests: forget everything. */
void decisions_reset(void);

#endif
