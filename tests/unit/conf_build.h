/*
 * Hand-built configuration sections for unit tests of modules that read
 * their own sections from cfg->sections (tokens, throttle), without going
 * through a config file.
 */
#ifndef DAGATE_CONF_BUILD_H
#define DAGATE_CONF_BUILD_H

#include <stdlib.h>
#include <string.h>

#include "config.h"

struct kv { const char *key, *value; };

/* [kind name] at `line`, its entries on the following lines. */
static struct conf_section *section(const char *kind, const char *name, int line,
				    const struct kv *kvs)
{
	struct conf_section *s = calloc(1, sizeof *s);
	struct conf_entry **tail = &s->entries;

	s->kind = strdup(kind);
	s->name = name != NULL ? strdup(name) : NULL;
	s->file = "test.conf";
	s->line = line;
	for (size_t i = 0; kvs != NULL && kvs[i].key != NULL; i++) {
		struct conf_entry *e = calloc(1, sizeof *e);

		e->key = strdup(kvs[i].key);
		e->value = strdup(kvs[i].value);
		e->line = line + 1 + (int)i;
		*tail = e;
		tail = &e->next;
	}
	return s;
}

/* Frees a list made of section() results. */
static void sections_free(struct conf_section *s)
{
	while (s != NULL) {
		struct conf_section *next = s->next;

		while (s->entries != NULL) {
			struct conf_entry *e = s->entries;

			s->entries = e->next;
			free(e->key);
			free(e->value);
			free(e);
		}
		free(s->kind);
		free(s->name);
		free(s);
		s = next;
	}
}

#endif
