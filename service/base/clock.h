/*
 * Time for deadlines: milliseconds on CLOCK_MONOTONIC. Every wait in dagate
 * is bounded by an absolute deadline on this clock.
 */
#ifndef DAGATE_CLOCK_H
#define DAGATE_CLOCK_H

#include <stdint.h>

int64_t clock_now_ms(void);
/* Milliseconds left until `deadline_ms`, never negative. */
int64_t clock_left_ms(int64_t deadline_ms);
/* Sleep until `until_ms` or return early; never past it. */
void clock_sleep_until(int64_t until_ms);
/* Wall-clock time in milliseconds since the Unix epoch (expiry dates a
 * directory stores; never for deadlines). */
int64_t clock_wall_ms(void);
/* Wall-clock time as RFC 3339 UTC with milliseconds, for logs. */
void clock_rfc3339(char *out, unsigned size);

#endif
