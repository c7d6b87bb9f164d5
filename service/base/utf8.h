/*
 * UTF-8, strictly: one decoder for everything that must tell characters
 * apart in untrusted text (log escaping, username checks).
 */
#ifndef DAGATE_UTF8_H
#define DAGATE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The code point of the well-formed UTF-8 sequence at `s` (at most `left`
 * bytes readable) and its length in bytes, or 0 when the bytes there are
 * not one: a stray continuation byte, a truncated sequence, an overlong
 * form, a UTF-16 surrogate or a value above U+10FFFF. ASCII is length 1. */
size_t utf8_decode(const unsigned char *s, size_t left, uint32_t *cp_r);

#endif
