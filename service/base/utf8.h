/*
 * UTF-8, strictly: one decoder for everything that must tell characters
 * apart in untrusted text (log escaping, username checks).
 */
#ifndef DAGATE_UTF8_H
#define DAGATE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The code point of the well-formed UTF-8 sequence at `s` (at most `left`
 * bytes readable) and its length in bytes, or 0 when the bytes there are
 * not one: a stray continuation byte, a truncated sequence, an overlong
 * form, a UTF-16 surrogate or a value above U+10FFFF. ASCII is length 1. */
size_t utf8_decode(const unsigned char *s, size_t left, uint32_t *cp_r);

/* Characters that end or reorder a line in some reader though they are not
 * C0 controls: C1 controls (U+0085 is NEL), U+2028/U+2029 (line and
 * paragraph separators), the bidirectional marks, overrides and isolates
 * (which can make a forged field look like the real one) and U+FEFF. */
bool utf8_breaks_line(uint32_t cp);

#endif
