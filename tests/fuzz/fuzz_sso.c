/*
 * What the sign-on listener reads from a browser or from Samba's helper,
 * and what it writes into the page: the startURL filter, the HTML
 * escaping, the sign-on page itself, an NTLM blob's type, the helper's
 * reply lines and its "DOMAIN\user". Input: up to four newline-separated
 * fields. Properties: an accepted startURL is a path that starts with a
 * single '/'; escaped text holds none of & < > " ' as raw characters
 * except in references; the page never holds a raw '<' from the input.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sso.h"

#define FIELDS 4

static void check_start_url(const char *url)
{
	if (!sso_start_url_ok(url))
		return;
	if (url[0] != '/' || url[1] == '/' || url[1] == '\\')
		abort();
	for (const char *p = url; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f || *p == '\\')
			abort();
}

static void check_escape(const char *in)
{
	size_t size = 6 * strlen(in) + 1;
	char *out = malloc(size);
	int n;

	if (out == NULL)
		return;
	n = sso_html_escape(in, out, size);
	if (n < 0 || (size_t)n != strlen(out))
		abort();
	for (const char *p = out; *p != '\0'; p++)
		if (*p == '<' || *p == '>' || *p == '"' || *p == '\'' ||
		    (*p == '&' && p[1] != '#' && strncmp(p, "&amp;", 5) != 0 &&
		     strncmp(p, "&lt;", 4) != 0 && strncmp(p, "&gt;", 4) != 0 &&
		     strncmp(p, "&quot;", 6) != 0))
			abort();
	free(out);
}

static void check_page(const char *user, const char *start)
{
	char csp[256];
	char *page = sso_page_build("https://login.salesforce.com/", user, "dgt1_token", start,
				    csp, sizeof csp);

	if (page == NULL)
		return;
	/* The input's '<' may only appear escaped: count the page's tags
	 * against a page built from harmless values. */
	{
		char *plain = sso_page_build("https://login.salesforce.com/", "u@x", "dgt1_token",
					     start != NULL ? "/" : NULL, csp, sizeof csp);
		size_t a = 0, b = 0;

		for (const char *p = page; *p != '\0'; p++)
			a += *p == '<';
		for (const char *p = plain != NULL ? plain : ""; *p != '\0'; p++)
			b += *p == '<';
		if (plain != NULL && a != b)
			abort();
		free(plain);
	}
	free(page);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *field[FIELDS] = { NULL };
	const char *arg = NULL;
	char principal[256];
	int n = 0;

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	field[n++] = copy;
	for (char *p = copy; *p != '\0' && n < FIELDS; p++)
		if (*p == '\n') {
			*p = '\0';
			field[n++] = p + 1;
		}
	check_start_url(field[0]);
	check_escape(field[0]);
	if (n > 1)
		check_page(field[1], sso_start_url_ok(field[0]) ? field[0] : NULL);
	if (n > 2)
		(void)sso_ntlm_message_type(field[2]);
	if (n > 3) {
		(void)sso_ntlm_reply_parse(field[3], &arg);
		if (sso_ntlm_principal(field[3], principal, sizeof principal) == 0 &&
		    strchr(principal, '@') == NULL)
			abort();
	}
	free(copy);
	return 0;
}
