/*
 * %u/%l/%d templates (see template.h).
 */
#include "template.h"

#include <stdlib.h>
#include <string.h>

static const char template_bad_escape[] = "unknown % escape (use %u, %l, %d or %%)";
const char template_no_domain[] = "username has no domain for %d";

int template_check(const char *tmpl, const char **error_r)
{
	for (const char *p = tmpl; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		p++;
		if (*p != 'u' && *p != 'l' && *p != 'd' && *p != '%') {
			*error_r = template_bad_escape;
			return -1;
		}
	}
	return 0;
}

/* Append `n` bytes of `value`, escaped when asked. */
static int template_append(char *out, size_t size, size_t *pos, const char *value,
			   size_t n, template_escape_fn *escape, const char **error_r)
{
	char *escaped = NULL;
	int ret = 0;

	if (escape != NULL) {
		if ((escaped = escape(value, n)) == NULL) {
			*error_r = "cannot escape the username";
			return -1;
		}
		value = escaped;
		n = strlen(escaped);
	}
	if (n >= size - *pos) {
		*error_r = "expansion too long";
		ret = -1;
	} else {
		memcpy(out + *pos, value, n);
		*pos += n;
		out[*pos] = '\0';
	}
	free(escaped);
	return ret;
}

int template_expand(const char *tmpl, const char *username,
		    template_escape_fn *escape, char *out, size_t size,
		    const char **error_r)
{
	const char *at = strrchr(username, '@');
	size_t local_len = at != NULL ? (size_t)(at - username) : strlen(username);
	const char *domain = at != NULL ? at + 1 : "";
	size_t pos = 0;
	int ret = 0;

	if (size == 0) {
		*error_r = "no room";
		return -1;
	}
	out[0] = '\0';
	for (const char *p = tmpl; ret == 0 && *p != '\0'; p++) {
		if (*p != '%') {
			ret = template_append(out, size, &pos, p, 1, NULL, error_r);
			continue;
		}
		switch (*++p) {
		case 'u':
			ret = template_append(out, size, &pos, username, strlen(username),
					      escape, error_r);
			break;
		case 'l':
			ret = template_append(out, size, &pos, username, local_len, escape, error_r);
			break;
		case 'd':
			if (domain[0] == '\0') {
				*error_r = template_no_domain;
				ret = -1;
				break;
			}
			ret = template_append(out, size, &pos, domain, strlen(domain), escape,
					      error_r);
			break;
		case '%':
			ret = template_append(out, size, &pos, "%", 1, NULL, error_r);
			break;
		default:
			*error_r = template_bad_escape;
			ret = -1;
			break;
		}
	}
	if (ret == 0 && pos == 0) {
		*error_r = "expansion is empty";
		ret = -1;
	}
	if (ret < 0)
		out[0] = '\0';
	return ret;
}
