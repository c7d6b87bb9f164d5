/*
 * The line reader in front of inih. This inih is built without
 * INI_HANDLER_LINENO, so an ini_reader for ini_parse_stream counts lines;
 * it also takes section headers and comments itself ('#' and ';' at the
 * start of a line, or after a blank inline), left-trims every line so that
 * indentation never turns into a multi-line continuation, and keeps values
 * longer than inih's line buffer (200 bytes in Debian's build) whole.
 * inih is left to split "key=value".
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "config_internal.h"

struct reader {
	const char *path;
	conf_kind_lookup_fn *kind_lookup;
	void *kind_ctx;
	struct conf_errors *errors;
	FILE *f;
	char *raw;                        /* getline buffer */
	size_t raw_size;
	int lineno;
	int read_errno;
	/* the value of a line longer than inih's buffer, inside `raw` */
	const char *long_value;
	struct conf_section *sections;
	struct conf_section **tail;
	struct conf_section *current;     /* NULL: entries are dropped */
	bool rejected;                    /* the last header was bad */
};

static bool valid_name(const char *name)
{
	if (*name == '\0')
		return false;
	for (; *name != '\0'; name++)
		if (!isalnum((unsigned char)*name) && strchr("_.-", *name) == NULL)
			return false;
	return true;
}

char *conf_trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static void header(struct reader *rd, char *line)
{
	const char *path = rd->path;
	size_t len = strlen(line);
	int named;
	struct conf_section *s;
	char *kind, *name;

	rd->current = NULL;
	rd->rejected = true;
	if (len < 2 || line[len - 1] != ']') {
		conf_error_at(rd->errors, path, rd->lineno,
			      "bad section header '%s' (use [kind] or [kind name])",
			      line);
		return;
	}
	line[len - 1] = '\0';
	kind = conf_trim(line + 1);
	name = kind + strcspn(kind, " \t");
	if (*name != '\0')
		*name++ = '\0';
	name = conf_trim(name);
	named = rd->kind_lookup(rd->kind_ctx, kind);
	if (named < 0) {
		conf_error_at(rd->errors, path, rd->lineno, "unknown section [%s]",
			      kind);
		return;
	}
	if (named && *name == '\0') {
		conf_error_at(rd->errors, path, rd->lineno,
			      "section [%s] needs a name: [%s NAME]", kind, kind);
		return;
	}
	if (!named && *name != '\0') {
		conf_error_at(rd->errors, path, rd->lineno,
			      "section [%s] takes no name", kind);
		return;
	}
	if (named && !valid_name(name)) {
		conf_error_at(rd->errors, path, rd->lineno,
			      "bad name '%s' for [%s] (use letters, digits, '_', "
			      "'.' and '-')", name, kind);
		return;
	}
	for (s = rd->sections; s != NULL; s = s->next) {
		if (strcmp(s->kind, kind) != 0 ||
		    (named && strcmp(s->name, name) != 0))
			continue;
		if (named)
			conf_error_at(rd->errors, path, rd->lineno,
				      "duplicate section [%s %s] (first at line %d)",
				      kind, name, s->line);
		else
			conf_error_at(rd->errors, path, rd->lineno,
				      "duplicate section [%s] (first at line %d)",
				      kind, s->line);
		return;
	}
	s = calloc(1, sizeof *s);
	if (s == NULL || (s->kind = strdup(kind)) == NULL ||
	    (named && (s->name = strdup(name)) == NULL)) {
		if (s != NULL)
			free(s->kind);
		free(s);
		conf_error_at(rd->errors, path, rd->lineno, "out of memory");
		return;
	}
	s->file = path;
	s->line = rd->lineno;
	*rd->tail = s;
	rd->tail = &s->next;
	rd->current = s;
	rd->rejected = false;
}

/* Cut a '#' or ';' comment that follows a blank, then trailing blanks. */
static void strip_inline_comment(char *line)
{
	for (char *p = line + 1; *p != '\0'; p++) {
		if ((*p == '#' || *p == ';') && isspace((unsigned char)p[-1])) {
			*p = '\0';
			break;
		}
	}
	conf_trim(line);
}

/* "key=value\n" into inih's buffer; the caller checked that it fits. */
static void put_line(char *str, const char *key, size_t klen,
		     const char *value, size_t vlen)
{
	memcpy(str, key, klen);
	str[klen] = '=';
	memcpy(str + klen + 1, value, vlen);
	memcpy(str + klen + 1 + vlen, "\n", 2);
}

/* The ini_reader: hands inih one "key=value" line at a time. */
static char *read_line(char *str, int num, void *stream)
{
	struct reader *rd = stream;

	for (;;) {
		ssize_t n = getline(&rd->raw, &rd->raw_size, rd->f);
		char *line = rd->raw, *eq, *key;
		size_t klen, vlen;

		if (n < 0) {
			if (ferror(rd->f))
				rd->read_errno = errno != 0 ? errno : EIO;
			return NULL;
		}
		rd->lineno++;
		rd->long_value = NULL;
		if (rd->lineno == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0)
			line += 3;
		if (strlen(line) != (size_t)(n - (line - rd->raw))) {
			conf_error_at(rd->errors, rd->path, rd->lineno,
				      "NUL byte in line");
			continue;
		}
		line = conf_trim(line);
		if (*line == '\0' || *line == '#' || *line == ';')
			continue;
		strip_inline_comment(line);
		if (*line == '[') {
			header(rd, line);
			continue;
		}
		eq = strchr(line, '=');
		key = line;
		if (eq != NULL) {
			*eq = '\0';
			key = conf_trim(line);
		}
		if (eq == NULL || *key == '\0' || strchr(key, ':') != NULL ||
		    strchr(key, '[') != NULL) {
			if (eq != NULL)
				*eq = '=';
			conf_error_at(rd->errors, rd->path, rd->lineno,
				      "expected 'key = value' or '[section]', got '%s'",
				      line);
			continue;
		}
		if (rd->current == NULL) {
			/* under a rejected header, that header's error is enough */
			if (!rd->rejected)
				conf_error_at(rd->errors, rd->path, rd->lineno,
					      "'%s' outside any [section]", key);
			continue;
		}
		klen = strlen(key);
		vlen = strlen(eq + 1);
		if (num > 0 && klen + vlen + 3 <= (size_t)num) {
			put_line(str, key, klen, eq + 1, vlen);
			return str;
		}
		if (num > 0 && klen + 3 <= (size_t)num) {
			/* too long for inih's line buffer: pass the key alone */
			rd->long_value = conf_trim(eq + 1);
			put_line(str, key, klen, "", 0);
			return str;
		}
		conf_error_at(rd->errors, rd->path, rd->lineno, "line too long");
	}
}

static int on_entry(void *user, const char *section, const char *name,
		    const char *value)
{
	struct reader *rd = user;
	struct conf_entry *e, **tail;

	if (rd->current == NULL)
		return 1;
	e = calloc(1, sizeof *e);
	if (e == NULL || (e->key = strdup(name)) == NULL ||
	    (e->value = strdup(rd->long_value != NULL ? rd->long_value : value)) == NULL) {
		if (e != NULL)
			free(e->key);
		free(e);
		conf_error_at(rd->errors, rd->path, rd->lineno, "out of memory");
		return 1;
	}
	e->line = rd->lineno;
	for (tail = &rd->current->entries; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = e;
	return 1;
}

int conf_read_sections(const char *path, conf_kind_lookup_fn *kind_lookup, void *ctx,
		       struct conf_section **sections_r, int *lines_r,
		       struct conf_errors *errors)
{
	struct reader rd = {
		.path = path, .kind_lookup = kind_lookup, .kind_ctx = ctx, .errors = errors,
	};
	size_t before = errors->count;
	int ret;

	rd.tail = &rd.sections;
	*sections_r = NULL;
	*lines_r = 0;
	rd.f = fopen(path, "re");
	if (rd.f == NULL)
		return errno;
	ret = ini_parse_stream(read_line, &rd, on_entry, &rd);
	fclose(rd.f);
	free(rd.raw);
	if (rd.read_errno != 0) {
		conf_sections_free(&rd.sections);
		return rd.read_errno;
	}
	/* read_line hands inih only well-formed lines; this is a backstop */
	if (ret != 0 && errors->count == before)
		conf_error_at(errors, path, 0, "cannot parse (inih error %d)", ret);
	*sections_r = rd.sections;
	*lines_r = rd.lineno;
	return 0;
}

void conf_sections_free(struct conf_section **sections)
{
	struct conf_section *s, *next_s;

	for (s = *sections; s != NULL; s = next_s) {
		struct conf_entry *e, *next_e;

		next_s = s->next;
		for (e = s->entries; e != NULL; e = next_e) {
			next_e = e->next;
			free(e->key);
			free(e->value);
			free(e);
		}
		free(s->kind);
		free(s->name);
		free(s);
	}
	*sections = NULL;
}
