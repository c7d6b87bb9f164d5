/*
 * Checks on raw bytes, before and after gSOAP: UTF-8 and the field rules,
 * and the markup gSOAP would skip or decode wrongly in a request body.
 * Nothing here interprets XML structure; it looks for forbidden byte
 * sequences only.
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

static const char *find_bytes(const char *s, size_t len, const char *pat)
{
	return memmem(s, len, pat, strlen(pat));
}

/*
 * Markup gSOAP would skip silently. In well-formed XML a raw "<!" or "<?"
 * only starts a comment, CDATA section, DTD or processing instruction (or
 * sits inside a comment/CDATA, which Salesforce never sends), so refusing
 * every DTD-ish "<!" and every "<?" but a leading XML declaration needs no
 * parser and errs only towards refusing.
 */
static const char *markup_check(const char *body, size_t len)
{
	const char *p = body, *end = body + len;

	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;   /* a UTF-8 byte order mark may precede the declaration */
	if (end - p >= 6 && memcmp(p, "<?xml", 5) == 0 &&
	    (p[5] == ' ' || p[5] == '\t' || p[5] == '\r' || p[5] == '\n')) {
		const char *q = find_bytes(p, (size_t)(end - p), "?>");

		if (q == NULL)
			return "malformed XML";
		p = q + 2;
	}
	if (find_bytes(p, (size_t)(end - p), "<?") != NULL)
		return "processing instruction not allowed";
	for (const char *q = p; (q = find_bytes(q, (size_t)(end - q), "<!")) != NULL; q += 2) {
		size_t rest = (size_t)(end - q);

		if (!(rest >= 4 && memcmp(q, "<!--", 4) == 0) &&
		    !(rest >= 9 && memcmp(q, "<![CDATA[", 9) == 0))
			return "DTD not allowed";
	}
	return NULL;
}

/*
 * gSOAP 2.8's entity decoder reads at most 7 bytes after '&' and falls back
 * to 0 when the digits do not parse: "&#0;", "&#x;" or "&#zz;" become a NUL
 * that silently ends a char* field, and "&#x1F600;" leaves a stray ';'
 * behind. Neither shows in the decoded field, so refuse such references
 * here; a password must never reach a directory altered.
 */
static const char *charref_check(const char *body, size_t len)
{
	const char *end = body + len;

	for (const char *p = body; (p = memchr(p, '&', (size_t)(end - p))) != NULL; p++) {
		const char *semi = memchr(p, ';', (size_t)(end - p) < 8 ? (size_t)(end - p) : 8);
		unsigned long v = 0;
		const char *d;
		int base = 10;

		if (semi == NULL)
			return "unsupported character reference";
		if (p[1] != '#') {
			/* gSOAP also knows HTML's entities; XML has these five. */
			static const char *const xml_entities[] = {
				"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"
			};
			bool known = false;

			for (size_t i = 0; i < 5; i++)
				known |= (size_t)(semi - p + 1) == strlen(xml_entities[i]) &&
					 memcmp(p, xml_entities[i], strlen(xml_entities[i])) == 0;
			if (!known)
				return "unsupported entity reference";
			continue;
		}
		d = p + 2;
		if (*d == 'x' || *d == 'X') {
			base = 16;
			d++;
		}
		if (d == semi)
			return "NUL character";
		for (; d < semi; d++) {
			int digit = *d >= '0' && *d <= '9' ? *d - '0' :
				    base == 16 && *d >= 'a' && *d <= 'f' ? *d - 'a' + 10 :
				    base == 16 && *d >= 'A' && *d <= 'F' ? *d - 'A' + 10 : -1;

			if (digit < 0)
				return "NUL character";
			v = v * (unsigned long)base + (unsigned long)digit;
		}
		if (v == 0)
			return "NUL character";
	}
	return NULL;
}

const char *sf_body_check(const char *body, size_t len)
{
	const char *err = sf_utf8_check((const unsigned char *)body, len, false);

	if (err == NULL)
		err = markup_check(body, len);
	if (err == NULL)
		err = charref_check(body, len);
	return err;
}
