/*
 * The providers' %u/%l/%d expander (template.h). Input: a mode byte, an
 * output size byte, then the template, a NUL, the username. Mode bit 1:
 * through the ldap provider's filter expansion (RFC 4515 escaping); else
 * template_expand into a buffer of that size, checked against the header's
 * promises and a plain reading of the rules.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ldap_int.h"
#include "template.h"

/* The expected expansion without escaping; -1 where expand must fail. */
static int reference(const char *tmpl, const char *user, char *out, size_t size)
{
	const char *at = strrchr(user, '@');
	size_t pos = 0;

	for (const char *p = tmpl; *p != '\0'; p++) {
		const char *v = p;
		size_t n = 1;

		if (*p == '%') {
			switch (*++p) {
			case 'u': v = user; n = strlen(user); break;
			case 'l': v = user; n = at != NULL ? (size_t)(at - user) : strlen(user); break;
			case 'd':
				v = at != NULL ? at + 1 : "";
				n = strlen(v);
				if (n == 0)
					return -1;
				break;
			case '%': v = "%"; n = 1; break;
			default: return -1;
			}
		}
		if (n >= size - pos)
			return -1;
		memcpy(out + pos, v, n);
		pos += n;
	}
	out[pos] = '\0';
	return pos > 0 ? 0 : -1;
}

/* The ldap provider's user_filter: what comes out is a whole filter. */
static void fuzz_ldap(const char *tmpl, const char *user)
{
	const char *error = NULL;
	char *filter = prov_ldap_filter_expand(tmpl, user, &error);

	if (filter == NULL ? error == NULL : (filter[0] == '\0' || template_check(tmpl, &error) != 0))
		abort();
	free(filter);
}

static void fuzz_plain(const char *tmpl, const char *user, size_t out_size)
{
	char *out = malloc(out_size), *want = malloc(out_size);
	const char *error = NULL;
	int ret;

	if (out == NULL || want == NULL)
		goto done;
	ret = template_expand(tmpl, user, NULL, out, out_size, &error);
	if (ret == 0 && (out[0] == '\0' || strlen(out) >= out_size ||
			 template_check(tmpl, &error) != 0))
		abort();
	if (ret != 0 && (out[0] != '\0' || error == NULL))
		abort();
	if ((reference(tmpl, user, want, out_size) == 0) != (ret == 0) ||
	    (ret == 0 && strcmp(out, want) != 0))
		abort();
done:
	free(out);
	free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *input, *user;

	if (size < 2 || (input = malloc(size - 1)) == NULL)
		return 0;
	memcpy(input, data + 2, size - 2);
	input[size - 2] = '\0';
	/* the username follows the template's NUL; none: "" */
	user = input + strlen(input);
	if (user < input + size - 2)
		user++;
	if (data[0] & 2)
		fuzz_ldap(input, user);
	else
		fuzz_plain(input, user, data[1] + 1u);
	free(input);
	return 0;
}
