#include "usermap.h"
#include "utf8.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

int usermap_apply(const struct usermap_config *map, const char *username,
		  char *out, size_t size)
{
	size_t len = strlen(username);

	if (len >= size)
		return -1;
	memcpy(out, username, len + 1);
	if (map->lowercase)
		for (size_t i = 0; i < len; i++)
			out[i] = (char)tolower((unsigned char)out[i]);
	for (size_t i = 0; map->strip_suffix != NULL && map->strip_suffix[i] != NULL; i++) {
		size_t slen = strlen(map->strip_suffix[i]);

		/* Never strip the whole name: ".uat" alone stays ".uat". */
		if (slen < len && strcasecmp(out + len - slen, map->strip_suffix[i]) == 0) {
			out[len - slen] = '\0';
			break;
		}
	}
	return 0;
}

/* Unicode whitespace and invisible formatting characters: a name holding
 * one looks like another name to a person, and may be matched as another
 * by a directory. */
static bool invisible_or_space(uint32_t cp)
{
	return utf8_breaks_line(cp) || cp == 0xa0 || cp == 0xad || cp == 0x1680 ||
	       (cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) ||
	       (cp >= 0x205f && cp <= 0x206f) || cp == 0x3000;
}

int usermap_check(const char *username, const char **error_r)
{
	const unsigned char *s = (const unsigned char *)username;
	size_t len = strlen(username), at = len, ats = 0;

	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);

		if (n == 0) {
			*error_r = "not UTF-8";
			return -1;
		}
		if (cp <= 0x20 || cp == 0x7f || invisible_or_space(cp)) {
			*error_r = "whitespace or control character";
			return -1;
		}
		if (cp < 0x80 && strchr("\"(),:;<>[\\]", (int)cp) != NULL) {
			*error_r = "character not allowed in a Salesforce username";
			return -1;
		}
		if (cp == '@') {
			ats++;
			at = i;
		}
		i += n;
	}
	if (ats != 1 || at == 0 || at + 1 == len) {
		*error_r = "not of the form name@domain";
		return -1;
	}
	return 0;
}
