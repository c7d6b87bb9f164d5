/*
 * The WSDL served by GET {path}?wsdl: wsdl/authentication.wsdl, compiled in
 * by wsdl/embed.cmake so no data file is needed, with the public address in
 * place of its placeholder.
 */
#include "sf_int.h"
#include "sf_server.h"

#include <stdlib.h>
#include <string.h>

#define WSDL_PLACEHOLDER "@DAGATE_PUBLIC_URL@"

extern const unsigned char sf_wsdl_template[];
extern const size_t sf_wsdl_template_len;

/* The WSDL with public_url, XML-escaped, in place of the placeholder. */
static char *wsdl_build(const char *public_url, size_t *len_r)
{
	const char *tpl = (const char *)sf_wsdl_template;
	const char *at = memmem(tpl, sf_wsdl_template_len, WSDL_PLACEHOLDER, strlen(WSDL_PLACEHOLDER));
	size_t head, tail, url_max = strlen(public_url) * 6, n = 0;
	char *doc;

	if (at == NULL)
		return NULL;
	head = (size_t)(at - tpl);
	tail = sf_wsdl_template_len - head - strlen(WSDL_PLACEHOLDER);
	doc = malloc(head + url_max + tail + 1);
	if (doc == NULL)
		return NULL;
	memcpy(doc, tpl, head);
	n = head;
	for (const char *u = public_url; *u != '\0'; u++) {
		const char *esc = *u == '&' ? "&amp;" : *u == '<' ? "&lt;" : *u == '>' ? "&gt;" :
				  *u == '"' ? "&quot;" : NULL;

		if (esc != NULL) {
			memcpy(doc + n, esc, strlen(esc));
			n += strlen(esc);
		} else {
			doc[n++] = *u;
		}
	}
	memcpy(doc + n, at + strlen(WSDL_PLACEHOLDER), tail);
	n += tail;
	doc[n] = '\0';
	*len_r = n;
	return doc;
}

char *sf_wsdl_for(const char *public_url, size_t *len_r)
{
	if (public_url == NULL || *public_url == '\0' ||
	    sf_utf8_check((const unsigned char *)public_url, strlen(public_url), true) != NULL)
		return NULL;
	return wsdl_build(public_url, len_r);
}
