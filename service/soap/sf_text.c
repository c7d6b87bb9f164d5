/*
 * Checks on raw bytes, before and after gSOAP: UTF-8 and the field rules.
 * The markup gSOAP would skip or decode wrongly is sf_xmlcheck.c's.
 */
#include "sf_int.h"
#include "sf_server.h"

#include <stdint.h>
#include <string.h>

/*
 * UTF-8 per RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF. `field` also forbids every C0 control and DEL (a TAB or newline
 * in a username or password is an attack on logs, never a credential);
 * otherwise only what XML 1.0 forbids (C0 except TAB, LF, CR).
 */
const char *sf_utf8_check(const unsigned char *s, size_t len, bool field)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		uint32_t cp;
		size_t n;

		if (c < 0x80) {
			if (c == 0)
				return "NUL character";
			if (c == 0x7f && field)
				return "control character";
			if (c < 0x20 && (field || (c != '\t' && c != '\n' && c != '\r')))
				return "control character";
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return "invalid UTF-8";   /* 0x80..0xc1 lead or 0xf5..0xff */
		}
		if (len - i <= n)
			return "invalid UTF-8";
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return "invalid UTF-8";
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return "invalid UTF-8";
		if (field && cp >= 0x80 && cp <= 0x9f)
			return "control character";   /* C1, as hostile as C0 */
		i += n + 1;
	}
	return NULL;
}

int sf_field_check(const char *s, size_t len, size_t max, const char **error_r)
{
	const char *err;

	if (len > max) {
		*error_r = "field too long";
		return -1;
	}
	err = sf_utf8_check((const unsigned char *)s, len, true);
	if (err != NULL) {
		*error_r = err;
		return -1;
	}
	return 0;
}
