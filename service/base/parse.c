#include "parse.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1", NULL };
	static const char *const no[] = { "no", "false", "off", "0", NULL };

	for (size_t i = 0; yes[i] != NULL; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* Leading decimal digits of s into *out; returns the number consumed, or
 * -1 on overflow. No sign, no blanks. */
static int parse_digits(const char *s, int64_t *out)
{
	int64_t v = 0;
	int n = 0;

	for (; isdigit((unsigned char)s[n]); n++) {
		int d = s[n] - '0';

		if (v > (INT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return n;
}

int parse_uint(const char *s, int64_t *out)
{
	int64_t v;
	int n = parse_digits(s, &v);

	if (n <= 0 || s[n] != '\0')
		return -1;
	*out = v;
	return 0;
}

int parse_duration_ms(const char *s, int64_t *out)
{
	static const struct { const char *unit; int64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 },
		{ "h", 60 * 60 * 1000 }, { "d", 24 * 60 * 60 * 1000 },
	};
	int64_t v;
	int n = parse_digits(s, &v);

	if (n <= 0)
		return -1;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(s + n, units[i].unit) != 0)
			continue;
		if (v > INT64_MAX / units[i].ms)
			return -1;
		*out = v * units[i].ms;
		return 0;
	}
	return -1;
}

int parse_rate(const char *s, int64_t *count_r, int64_t *per_ms_r)
{
	const char *slash = strchr(s, '/');
	char count[24];
	int64_t n, per;

	if (slash == NULL || slash == s || (size_t)(slash - s) >= sizeof count)
		return -1;
	memcpy(count, s, (size_t)(slash - s));
	count[slash - s] = '\0';
	if (parse_uint(count, &n) < 0 || n < 1 ||
	    parse_duration_ms(slash + 1, &per) < 0 || per < 1)
		return -1;
	*count_r = n;
	*per_ms_r = per;
	return 0;
}
