/*
 * A tiny table-driven test helper: CHECK() records a failure with its
 * location and goes on; unit_done() prints a summary and returns the exit
 * status for main().
 */
#ifndef DAGATE_UNIT_H
#define DAGATE_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_checks, unit_failures;

#define CHECK(cond, ...) do { \
	unit_checks++; \
	if (!(cond)) { \
		unit_failures++; \
		fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
	} \
} while (0)

#define CHECK_STR(got, want, ctx) do { \
	const char *got_ = (got); \
	CHECK(got_ != NULL && strcmp(got_, (want)) == 0, "%s: got \"%s\", want \"%s\"", \
	      (ctx), got_ ? got_ : "(null)", (want)); \
} while (0)

static inline int unit_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, unit_checks, unit_failures);
	return unit_failures == 0 ? 0 : 1;
}

#endif
