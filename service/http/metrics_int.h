/*
 * Inside the metrics module: the text being rendered, shared by the files
 * that render one part each.
 */
#ifndef DAGATE_HTTP_METRICS_INT_H
#define DAGATE_HTTP_METRICS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct metrics_out {
	char *buf;
	size_t len, cap;
	bool failed;      /* out of memory: the render is thrown away */
};

void metrics_put(struct metrics_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* # HELP and # TYPE lines. */
void metrics_head(struct metrics_out *o, const char *name, const char *type, const char *help);

/* metrics_process.c: signals, log reopens, reloads, build and start time. */
void metrics_render_process(struct metrics_out *o);
/* metrics_latency.c: decision latency by provider. */
void metrics_record_provider_latency(const char *provider, int64_t elapsed_ms);
void metrics_render_latency(struct metrics_out *o);

#endif
