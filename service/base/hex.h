/*
 * Lower-case hexadecimal, the one codec for keys, fingerprints, hashed
 * throttle ids and relay loop marks. Pure.
 */
#ifndef DAGATE_HEX_H
#define DAGATE_HEX_H

#include <stddef.h>
#include <stdint.h>

/* `len` bytes as 2*len lower-case hex digits and a NUL (out: 2*len+1). */
void hex_encode(const uint8_t *in, size_t len, char *out);
/* Exactly 2*len hex digits (either case) of `in` into `len` bytes.
 * Returns -1 on any other character (out is then wiped). */
int hex_decode(const char *in, uint8_t *out, size_t len);

#endif
