/*
 * Shared between conf/config.c and conf/config_load.c; not an interface
 * for the rest of dagate (use config.h).
 */
#ifndef DAGATE_CONFIG_INTERNAL_H
#define DAGATE_CONFIG_INTERNAL_H

#include "config.h"

/* Append a preformatted "FILE:LINE: message" (copied). */
void conf_error_add(struct conf_errors *errors, const char *line);
/* "[server]" or "[provider corp-ad]" */
void conf_section_title(const struct conf_section *s, char *buf, size_t size);
/* "9s", "100ms": for messages about duration bounds. */
void conf_format_duration(int64_t ms, char *buf, size_t size);
/* "127.0.0.1:8080" or "[::1]:8443" with a numeric address; port 0..65535. */
int conf_parse_listen(const char *text, char *host, size_t host_size,
		      uint16_t *port_r);

/* Section kinds for the reader: -1 unknown, 0 [kind], 1 [kind NAME]. */
typedef int conf_kind_lookup_fn(void *ctx, const char *kind);

/* Read `path` into sections (file order; s->file points at `path`, which
 * must outlive them). Syntax and header errors go to `errors`. Returns 0,
 * or an errno value when the file cannot be read (then nothing is added).
 * *lines_r: the number of lines read. */
int conf_read_sections(const char *path, conf_kind_lookup_fn *kind_lookup, void *ctx,
		       struct conf_section **sections_r, int *lines_r,
		       struct conf_errors *errors);
void conf_sections_free(struct conf_section **sections);
/* Trim blanks at both ends in place; returns the new start. */
char *conf_trim(char *s);

#endif
