/*
 * Configuration building blocks: the error list, the pure value parsers,
 * secret files, typed lookups and the table-driven section validator.
 * Reading the file and the section kinds live in config_load.c.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_internal.h"

/* Secrets are passwords and keys, not documents. */
#define SECRET_FILE_MAX (64 * 1024)

/* Errors. */

void conf_error_add(struct conf_errors *errors, const char *line)
{
	char *copy = strdup(line);

	if (copy == NULL)
		return;
	if (errors->count == errors->cap) {
		size_t cap = errors->cap == 0 ? 8 : errors->cap * 2;
		char **lines = realloc(errors->lines, cap * sizeof *lines);

		if (lines == NULL) {
			free(copy);
			return;
		}
		errors->lines = lines;
		errors->cap = cap;
	}
	errors->lines[errors->count++] = copy;
}

void conf_error_at(struct conf_errors *errors, const char *file, int line,
		   const char *fmt, ...)
{
	char msg[1024], full[1400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(full, sizeof full, "%s:%d: %s", file, line, msg);
	else
		snprintf(full, sizeof full, "%s: %s", file, msg);
	conf_error_add(errors, full);
}

void conf_error_text(struct conf_errors *errors, const char *text)
{
	conf_error_add(errors, text);
}

void conf_errors_clear(struct conf_errors *errors)
{
	for (size_t i = 0; i < errors->count; i++)
		free(errors->lines[i]);
	free(errors->lines);
	errors->lines = NULL;
	errors->count = errors->cap = 0;
}

/* Pure parsers. */

char **conf_split_list(const char *s)
{
	size_t count = 0, i = 0;
	const char *p;
	char **v;

	for (p = s;;) {
		p += strspn(p, ", \t\r\n\v\f");
		if (*p == '\0')
			break;
		count++;
		p += strcspn(p, ", \t\r\n\v\f");
	}
	v = calloc(count + 1, sizeof *v);
	if (v == NULL)
		return NULL;
	for (p = s; i < count; i++) {
		size_t n;

		p += strspn(p, ", \t\r\n\v\f");
		n = strcspn(p, ", \t\r\n\v\f");
		v[i] = strndup(p, n);
		if (v[i] == NULL) {
			conf_strv_free(&v);
			return NULL;
		}
		p += n;
	}
	return v;
}

void conf_strv_free(char ***strv)
{
	if (*strv == NULL)
		return;
	for (size_t i = 0; (*strv)[i] != NULL; i++)
		free((*strv)[i]);
	free(*strv);
	*strv = NULL;
}

/* "9s", "100ms", "24h": the largest unit that divides ms exactly. */
void conf_format_duration(int64_t ms, char *buf, size_t size)
{
	if (ms != 0 && ms % (60 * 60 * 1000) == 0)
		snprintf(buf, size, "%lldh", (long long)(ms / (60 * 60 * 1000)));
	else if (ms != 0 && ms % (60 * 1000) == 0)
		snprintf(buf, size, "%lldm", (long long)(ms / (60 * 1000)));
	else if (ms != 0 && ms % 1000 == 0)
		snprintf(buf, size, "%llds", (long long)(ms / 1000));
	else
		snprintf(buf, size, "%lldms", (long long)ms);
}

/* Secret files. */

void conf_secret_error_at(struct conf_errors *errors, const char *file, int line,
			  const char *path, const char *error)
{
	if (strncmp(error, "is ", 3) == 0)
		conf_error_at(errors, file, line, "secret file %s %s", path, error);
	else
		conf_error_at(errors, file, line, "cannot read secret file %s: %s", path, error);
}

/* Open without blocking on a FIFO, then judge the opened file itself (no
 * window between check and use). Symlinks are followed, as certbot's
 * live/ keys are links: what must be private is the file they lead to. */
static int secret_open(const char *path, struct stat *st, const char **error_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	if (fstat(fd, st) < 0) {
		*error_r = strerror(errno);
		goto fail;
	}
	if (!S_ISREG(st->st_mode)) {
		*error_r = "is not a regular file";
		goto fail;
	}
	if ((st->st_mode & 044) != 0) {
		*error_r = "is readable by group or others "
				     "(chmod 600)";
		goto fail;
	}
	if ((st->st_mode & 077) != 0) {
		*error_r = "is accessible by group or others "
				     "(chmod 600)";
		goto fail;
	}
	if (st->st_size > SECRET_FILE_MAX) {
		*error_r = "is too large";
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int config_check_secret_file(const char *path, const char **error_r)
{
	struct stat st;
	int fd = secret_open(path, &st, error_r);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int config_read_secret_file(const char *path, char **data_r, size_t *len_r,
			    const char **error_r)
{
	struct stat st;
	char *buf;
	size_t len = 0;
	int fd = secret_open(path, &st, error_r);

	*data_r = NULL;
	*len_r = 0;
	if (fd < 0)
		return -1;
	/* one byte over the cap tells "too large" from "exactly the cap" */
	buf = malloc(SECRET_FILE_MAX + 2);
	if (buf == NULL) {
		close(fd);
		*error_r = "out of memory";
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, SECRET_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = strerror(errno);
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > SECRET_FILE_MAX) {
			*error_r = "is too large";
			goto fail;
		}
	}
	close(fd);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	*data_r = buf;
	*len_r = len;
	return 0;
fail:
	close(fd);
	explicit_bzero(buf, SECRET_FILE_MAX + 2);
	free(buf);
	return -1;
}

/* Lookups. */

const struct conf_entry *conf_find(const struct conf_section *s, const char *key)
{
	const struct conf_entry *found = NULL;

	for (const struct conf_entry *e = s->entries; e != NULL; e = e->next)
		if (strcmp(e->key, key) == 0)
			found = e;
	return found;
}

static const struct conf_key *key_lookup(const struct conf_key *keys,
					 const char *name)
{
	for (; keys != NULL && keys->name != NULL; keys++)
		if (strcmp(keys->name, name) == 0)
			return keys;
	return NULL;
}

/* An empty value of a CONF_EMPTY_OK key means "unset": NULL, no default.
 * Any other empty value was reported as an error; the default stands in so
 * that building a rejected config never trips on it. */
const char *conf_get(const struct conf_section *s, const struct conf_key *keys,
		     const char *key)
{
	const struct conf_entry *e = s != NULL ? conf_find(s, key) : NULL;
	const struct conf_key *k = key_lookup(keys, key);

	if (e != NULL && e->value[0] != '\0')
		return e->value;
	if (e != NULL && (k == NULL || (k->flags & CONF_EMPTY_OK) != 0))
		return NULL;
	return k != NULL ? k->default_value : NULL;
}

static bool conf_get_bool(const struct conf_section *s, const struct conf_key *keys,
			  const char *key)
{
	const char *v = conf_get(s, keys, key);
	bool b = false;

	if (v == NULL || parse_bool(v, &b) < 0)
		return false;
	return b;
}

/* CONF_UINT and CONF_DURATION (ms); values were validated by the loader. */
static int64_t conf_get_int(const struct conf_section *s, const struct conf_key *keys,
			    const char *key)
{
	const struct conf_key *k = key_lookup(keys, key);
	const char *v = conf_get(s, keys, key);
	int64_t n = 0;
	int ret;

	if (v == NULL)
		return 0;
	if (k != NULL && k->type == CONF_DURATION)
		ret = parse_duration_ms(v, &n);
	else
		ret = parse_uint(v, &n);
	return ret == 0 ? n : 0;
}

static int enum_choice(const char *const *choices, const char *v)
{
	for (int i = 0; v != NULL && choices != NULL && choices[i] != NULL; i++)
		if (strcmp(choices[i], v) == 0)
			return i;
	return 0;  /* validated: only an absent default gets here */
}

void conf_bind(const struct conf_section *s, const struct conf_key *keys, void *obj)
{
	for (const struct conf_key *k = keys; k->name != NULL; k++) {
		void *field = (char *)obj + k->at - 1;
		const char *v;
		char err[256];

		if (k->at == 0)
			continue;
		v = conf_get(s, keys, k->name);
		switch (k->type) {
		case CONF_STRING:
		case CONF_PATH:
		case CONF_SECRET_FILE:
			*(const char **)field = v;
			break;
		case CONF_BOOL:
			*(bool *)field = conf_get_bool(s, keys, k->name);
			break;
		case CONF_UINT:
			*(unsigned *)field = (unsigned)conf_get_int(s, keys, k->name);
			break;
		case CONF_DURATION:
			*(int64_t *)field = conf_get_int(s, keys, k->name);
			break;
		case CONF_ENUM:
			*(int *)field = enum_choice(k->choices, v);
			break;
		case CONF_CIDR_LIST:
			if (v != NULL)
				cidr_list_parse(v, field, err, sizeof err);
			break;
		case CONF_LISTEN:
			break;
		}
	}
}

int conf_line(const struct conf_section *s, const char *key)
{
	const struct conf_entry *e = conf_find(s, key);

	return e != NULL ? e->line : s->line;
}

/* Validation. */

void conf_section_title(const struct conf_section *s, char *buf, size_t size)
{
	if (s->name != NULL)
		snprintf(buf, size, "[%s %s]", s->kind, s->name);
	else
		snprintf(buf, size, "[%s]", s->kind);
}

static void choices_text(const char *const *choices, char *buf, size_t size)
{
	size_t n = 0, used = 0;

	while (choices[n] != NULL)
		n++;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
		int w = snprintf(buf + used, size - used, "%s%s", sep, choices[i]);

		if (w < 0 || (size_t)w >= size - used)
			break;
		used += (size_t)w;
	}
}

int conf_parse_listen(const char *text, char *host, size_t host_size,
		      uint16_t *port_r)
{
	const char *colon, *hstart, *hend;
	unsigned char addr[16];
	int64_t port;
	size_t hlen;
	int family;

	if (text[0] == '[') {
		hstart = text + 1;
		hend = strchr(hstart, ']');
		if (hend == NULL || hend[1] != ':')
			return -1;
		colon = hend + 1;
		family = AF_INET6;
	} else {
		hstart = text;
		colon = strrchr(text, ':');
		if (colon == NULL)
			return -1;
		hend = colon;
		family = AF_INET;
	}
	hlen = (size_t)(hend - hstart);
	if (hlen == 0 || hlen >= host_size)
		return -1;
	memcpy(host, hstart, hlen);
	host[hlen] = '\0';
	if (inet_pton(family, host, addr) != 1)
		return -1;
	if (parse_uint(colon + 1, &port) < 0 || port > 65535)
		return -1;
	*port_r = (uint16_t)port;
	return 0;
}

static void check_value(const struct conf_section *s, const struct conf_key *k,
			const struct conf_entry *e, struct conf_errors *errors)
{
	const char *v = e->value;
	char buf[256], lim[32];
	int64_t n;
	bool b;

	if (v[0] == '\0') {
		if ((k->flags & CONF_EMPTY_OK) == 0)
			conf_error_at(errors, s->file, e->line,
				      "'%s' needs a value", k->name);
		return;
	}
	switch (k->type) {
	case CONF_STRING:
	case CONF_PATH:
		break;
	case CONF_BOOL:
		if (parse_bool(v, &b) < 0)
			conf_error_at(errors, s->file, e->line,
				      "bad boolean '%s' for '%s' (use yes or no)",
				      v, k->name);
		break;
	case CONF_UINT:
		if (parse_uint(v, &n) < 0)
			conf_error_at(errors, s->file, e->line,
				      "bad number '%s' for '%s'", v, k->name);
		else if (n < k->min)
			conf_error_at(errors, s->file, e->line,
				      "'%s' must be at least %lld", k->name,
				      (long long)k->min);
		else if (k->max > 0 && n > k->max)
			conf_error_at(errors, s->file, e->line,
				      "'%s' must be at most %lld", k->name,
				      (long long)k->max);
		break;
	case CONF_DURATION:
		if (parse_duration_ms(v, &n) < 0) {
			conf_error_at(errors, s->file, e->line,
				      "bad duration '%s' for '%s' (use 500ms, 5s, "
				      "15m, 24h)", v, k->name);
		} else if (n < k->min) {
			conf_format_duration(k->min, lim, sizeof lim);
			conf_error_at(errors, s->file, e->line,
				      "'%s' must be at least %s", k->name, lim);
		} else if (k->max > 0 && n > k->max) {
			conf_format_duration(k->max, lim, sizeof lim);
			conf_error_at(errors, s->file, e->line,
				      "'%s' must be at most %s", k->name, lim);
		}
		break;
	case CONF_ENUM:
		for (size_t i = 0; k->choices != NULL && k->choices[i] != NULL; i++)
			if (strcmp(v, k->choices[i]) == 0)
				return;
		if (k->choices != NULL)
			choices_text(k->choices, buf, sizeof buf);
		else
			buf[0] = '\0';
		conf_error_at(errors, s->file, e->line,
			      "bad value '%s' for '%s' (use %s)", v, k->name, buf);
		break;
	case CONF_SECRET_FILE: {
		const char *err;

		if (config_check_secret_file(v, &err) < 0)
			conf_secret_error_at(errors, s->file, e->line, v, err);
		break;
	}
	case CONF_CIDR_LIST: {
		struct cidr_list tmp = { NULL, 0 };

		if (cidr_list_parse(v, &tmp, buf, sizeof buf) < 0)
			conf_error_at(errors, s->file, e->line, "'%s': %s",
				      k->name, buf);
		cidr_list_clear(&tmp);
		break;
	}
	case CONF_LISTEN: {
		char host[64];
		uint16_t port;

		if (conf_parse_listen(v, host, sizeof host, &port) < 0)
			conf_error_at(errors, s->file, e->line,
				      "bad listen address '%s' (use 127.0.0.1:8080 "
				      "or [::1]:8443)", v);
		break;
	}
	}
}

int conf_validate_section(const struct conf_section *s,
			  const struct conf_key *const *key_tables,
			  struct conf_errors *errors)
{
	size_t before = errors->count;
	char title[160];

	conf_section_title(s, title, sizeof title);
	for (struct conf_entry *e = s->entries; e != NULL; e = e->next) {
		const struct conf_key *k = NULL;

		for (size_t t = 0; k == NULL && key_tables[t] != NULL; t++)
			k = key_lookup(key_tables[t], e->key);
		e->is_file = k != NULL && (k->type == CONF_PATH || k->type == CONF_SECRET_FILE);
		if (k == NULL) {
			conf_error_at(errors, s->file, e->line,
				      "unknown key '%s' in %s", e->key, title);
			continue;
		}
		if ((k->flags & CONF_REPEATABLE) == 0) {
			const struct conf_entry *first = s->entries;

			while (first != e && strcmp(first->key, e->key) != 0)
				first = first->next;
			if (first != e) {
				conf_error_at(errors, s->file, e->line,
					      "'%s' given twice in %s (first at "
					      "line %d)", e->key, title, first->line);
				continue;
			}
		}
		check_value(s, k, e, errors);
	}
	for (size_t t = 0; key_tables[t] != NULL; t++) {
		for (const struct conf_key *k = key_tables[t]; k->name != NULL; k++) {
			bool shadowed = false;

			/* a key listed in an earlier table is that table's */
			for (size_t u = 0; u < t && !shadowed; u++)
				shadowed = key_lookup(key_tables[u], k->name) != NULL;
			if (!shadowed && (k->flags & CONF_REQUIRED) != 0 &&
			    conf_find(s, k->name) == NULL)
				conf_error_at(errors, s->file, s->line,
					      "missing required key '%s' in %s",
					      k->name, title);
		}
	}
	return (int)(errors->count - before);
}
