/*
 * The value syntaxes of dagate.conf and of command-line options, parsed in
 * one place. Pure; each returns 0, or -1 (nothing stored) when `s` is not
 * exactly of that form.
 */
#ifndef DAGATE_PARSE_H
#define DAGATE_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/* yes/no, true/false, on/off, 1/0 (any case). */
int parse_bool(const char *s, bool *out);
/* Decimal digits only: no sign, no blanks, no overflow. */
int parse_uint(const char *s, int64_t *out);
/* "500ms", "5s", "15m", "24h", "30d" into milliseconds. */
int parse_duration_ms(const char *s, int64_t *out);
/* "N/DURATION" (a count per time, as in rate = 100/1m): N >= 1 and a
 * duration >= 1 ms. Callers apply their own bounds. */
int parse_rate(const char *s, int64_t *count_r, int64_t *per_ms_r);

#endif
