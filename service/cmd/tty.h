/*
 * Reading a secret typed by an operator.
 */
#ifndef DAGATE_TTY_H
#define DAGATE_TTY_H

#include <stddef.h>
#include <sys/types.h>

/* Read a secret from stdin into `buf` (NUL-terminated): no echo on a
 * terminal (the prompt goes to stderr), one trailing newline (and CR)
 * removed, nothing else trimmed. Returns its length, or -1 when it does
 * not fit (then `buf` is wiped). */
ssize_t tty_read_secret(const char *prompt, char *buf, size_t size);

#endif
