/*
 * `dagate config dump`: the effective configuration, like `nginx -T`.
 * Printed as a config file that check-config accepts: what the file sets,
 * and each default that applies as a comment, so that "what is dagate
 * really using?" has one answer.
 */
#include "config.h"

#include <string.h>

/* A value with any password inside a URL (scheme://user:PASSWORD@host)
 * replaced by <hidden>. Secrets themselves are never in the file (they
 * are *_file keys), but a URL can carry one. */
static void put_value(FILE *out, const char *value)
{
	const char *scheme = strstr(value, "://");
	const char *at, *colon;

	if (scheme != NULL) {
		const char *auth = scheme + 3;
		size_t host_end = strcspn(auth, "/?#");

		at = memchr(auth, '@', host_end);
		colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
		if (colon != NULL) {
			fprintf(out, "%.*s<hidden>%s", (int)(colon + 1 - value), value, at);
			return;
		}
	}
	fputs(value, out);
}

/* The tables of section `s` of a registered kind, or of a built-in one. */
static size_t tables_for(const struct conf_section *s, const struct conf_section_kind *rk,
			 const struct conf_key **out)
{
	const struct conf_key *const *t = rk != NULL ? rk->tables : config_builtin_tables(s->kind);
	size_t n = 0;

	if (rk != NULL && rk->tables_of != NULL)
		return rk->tables_of(s, out);
	for (; t != NULL && t[n] != NULL && n < CONF_TABLES_MAX - 1; n++)
		out[n] = t[n];
	out[n] = NULL;
	return n;
}

static const struct conf_section_kind *registered(const struct conf_section_kind *const *kinds,
						  const char *kind)
{
	for (size_t i = 0; kinds != NULL && kinds[i] != NULL; i++)
		if (strcmp(kinds[i]->kind, kind) == 0)
			return kinds[i];
	return NULL;
}

/* One section: the file's entries of each key in table order (repeated
 * keys in file order), then defaults that apply. `s` may be an empty
 * stand-in for an absent section. */
static void dump_section(FILE *out, const struct conf_section *s,
			 const struct conf_section_kind *rk, bool present)
{
	const struct conf_key *tables[CONF_TABLES_MAX];

	if (s->name != NULL)
		fprintf(out, "[%s %s]", s->kind, s->name);
	else
		fprintf(out, "[%s]", s->kind);
	if (present)
		fprintf(out, "    # %s:%d\n", s->file, s->line);
	else
		fputs("    # not in the file: these defaults apply\n", out);
	tables_for(s, rk, tables);
	for (size_t t = 0; tables[t] != NULL; t++) {
		for (const struct conf_key *k = tables[t]; k->name != NULL; k++) {
			bool set = false;

			for (const struct conf_entry *e = s->entries; e != NULL; e = e->next) {
				if (strcmp(e->key, k->name) != 0)
					continue;
				fprintf(out, "%s = ", k->name);
				put_value(out, e->value);
				fputc('\n', out);
				set = true;
			}
			if (!set && k->default_value != NULL)
				fprintf(out, "%s = %s    # (default)\n", k->name, k->default_value);
		}
	}
	fputc('\n', out);
}

static bool present(const struct dagate_config *cfg, const char *kind)
{
	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next)
		if (strcmp(s->kind, kind) == 0)
			return true;
	return false;
}

void config_dump(FILE *out, const struct dagate_config *cfg,
		 const struct conf_section_kind *const *kinds)
{
	fprintf(out, "# dagate config dump of %s: what the file sets, and each default that\n"
		     "# applies marked (default). Sections absent from the file come last.\n\n",
		cfg->path);
	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next)
		dump_section(out, s, registered(kinds, s->kind), true);
	for (size_t i = 0; config_builtin_kinds[i] != NULL; i++) {
		const char *kind = config_builtin_kinds[i];
		struct conf_section blank = { .kind = (char *)kind, .file = cfg->path };

		/* [route] and [admin] without the file mean none: no defaults. */
		if (!present(cfg, kind) && strcmp(kind, "route") != 0 && strcmp(kind, "admin") != 0)
			dump_section(out, &blank, NULL, false);
	}
	for (size_t i = 0; kinds != NULL && kinds[i] != NULL; i++) {
		struct conf_section blank = { .kind = (char *)kinds[i]->kind, .file = cfg->path };

		if (kinds[i]->absent_means_defaults && !present(cfg, kinds[i]->kind))
			dump_section(out, &blank, kinds[i], false);
	}
}
