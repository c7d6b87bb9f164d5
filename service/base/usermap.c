#include "usermap.h"

#include <ctype.h>
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
