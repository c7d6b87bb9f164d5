#include "restart_only.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Section kinds read once at start-up (cmd_serve.c: what outlives a
 * generation). */
static const char *const restart_only_kinds[] = { "tokens", "requester", "throttle" };
#define RESTART_ONLY_KINDS (sizeof restart_only_kinds / sizeof restart_only_kinds[0])

static bool is_restart_only(const char *kind)
{
	for (size_t k = 0; k < RESTART_ONLY_KINDS; k++)
		if (strcmp(kind, restart_only_kinds[k]) == 0)
			return true;
	return false;
}

static bool same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* `user` unset and `user =` (empty) both mean "stay who you are". */
static const char *server_user(const struct dagate_config *cfg)
{
	const char *user = cfg->server.user;

	return user != NULL && user[0] != '\0' ? user : NULL;
}

static void sections_free(struct conf_section **sp)
{
	struct conf_section *s = *sp;

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
	*sp = NULL;
}

/* A copy of `from`'s kind, name and entries (not its file and lines). */
static struct conf_section *section_copy(const struct conf_section *from)
{
	struct conf_section *s = calloc(1, sizeof *s);
	struct conf_entry **tail;

	if (s == NULL)
		return NULL;
	s->kind = strdup(from->kind);
	s->name = from->name != NULL ? strdup(from->name) : NULL;
	if (s->kind == NULL || (from->name != NULL && s->name == NULL))
		goto fail;
	tail = &s->entries;
	for (const struct conf_entry *e = from->entries; e != NULL; e = e->next) {
		struct conf_entry *c = calloc(1, sizeof *c);

		if (c == NULL)
			goto fail;
		*tail = c;
		tail = &c->next;
		c->key = strdup(e->key);
		c->value = strdup(e->value);
		if (c->key == NULL || c->value == NULL)
			goto fail;
	}
	return s;
fail:
	sections_free(&s);
	return NULL;
}

int restart_only_save(const struct dagate_config *cfg, struct restart_only *ro)
{
	struct conf_section **tail;
	const char *user = server_user(cfg);

	memset(ro, 0, sizeof *ro);
	tail = &ro->sections;
	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next) {
		if (!is_restart_only(s->kind))
			continue;
		if ((*tail = section_copy(s)) == NULL)
			goto fail;
		tail = &(*tail)->next;
	}
	if (user != NULL && (ro->user = strdup(user)) == NULL)
		goto fail;
	return 0;
fail:
	restart_only_clear(ro);
	return -1;
}

void restart_only_clear(struct restart_only *ro)
{
	sections_free(&ro->sections);
	free(ro->user);
	ro->user = NULL;
}

static const struct conf_section *section_find(const struct conf_section *list,
					       const char *kind, const char *name)
{
	for (const struct conf_section *s = list; s != NULL; s = s->next)
		if (strcmp(s->kind, kind) == 0 && same_text(s->name, name))
			return s;
	return NULL;
}

static bool same_entries(const struct conf_section *a, const struct conf_section *b)
{
	const struct conf_entry *x = a->entries, *y = b->entries;

	for (; x != NULL && y != NULL; x = x->next, y = y->next)
		if (strcmp(x->key, y->key) != 0 || strcmp(x->value, y->value) != 0)
			return false;
	return x == NULL && y == NULL;
}

struct change_list {
	char *out;
	size_t size, len, count;
};

/* Append "[kind name]" (or "[kind]"), then `suffix`. */
static void change_add(struct change_list *c, const char *kind, const char *name,
		       const char *suffix)
{
	int n = 0;

	if (c->len < c->size)
		n = snprintf(c->out + c->len, c->size - c->len, "%s[%s%s%s]%s",
			     c->count > 0 ? ", " : "", kind, name != NULL ? " " : "",
			     name != NULL ? name : "", suffix);
	if (n > 0)
		c->len += (size_t)n < c->size - c->len ? (size_t)n : c->size - c->len - 1;
	c->count++;
}

/* Sections of `kind` in `from` that `to` lacks or has otherwise; with
 * `missing_only`, only those `to` lacks (the second pass, the other way). */
static void diff_kind(struct change_list *c, const char *kind, const struct conf_section *from,
		      const struct conf_section *to, bool missing_only)
{
	for (const struct conf_section *s = from; s != NULL; s = s->next) {
		const struct conf_section *t;

		if (strcmp(s->kind, kind) != 0)
			continue;
		t = section_find(to, kind, s->name);
		if (t == NULL || (!missing_only && !same_entries(s, t)))
			change_add(c, kind, s->name, "");
	}
}

size_t restart_only_changes(const struct restart_only *ro, const struct dagate_config *loaded,
			    char *out, size_t size)
{
	struct change_list c = { .out = out, .size = size };

	if (size > 0)
		out[0] = '\0';
	for (size_t k = 0; k < RESTART_ONLY_KINDS; k++) {
		diff_kind(&c, restart_only_kinds[k], ro->sections, loaded->sections, false);
		diff_kind(&c, restart_only_kinds[k], loaded->sections, ro->sections, true);
	}
	if (!same_text(ro->user, server_user(loaded)))
		change_add(&c, "server", NULL, " user");
	return c.count;
}
