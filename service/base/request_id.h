/*
 * Request ids: 16 hex digits, unique within a process run and unlikely to
 * repeat across runs. Every Authenticate (its audit line, its fault) and
 * every token API call (its security events) gets one.
 */
#ifndef DAGATE_REQUEST_ID_H
#define DAGATE_REQUEST_ID_H

#include <stddef.h>

#define REQUEST_ID_SIZE 17   /* 16 hex digits and the NUL */

/* Writes the next id into `out` (nothing when size < REQUEST_ID_SIZE). */
void request_id_next(char *out, size_t size);

#endif
