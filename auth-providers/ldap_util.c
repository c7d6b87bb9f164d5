/*
 * Pure helpers of the ldap provider: the URI list and user_filter
 * templates (expanded by template.h; escaping is libldap's
 * ldap_bv2escaped_filter_value).
 */
#include "ldap_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "template.h"

/* Longest expanded filter: a username is at most a few hundred bytes and
 * escaping triples it at worst; anything longer is not a login. */
#define PROV_LDAP_FILTER_MAX 8192

void prov_ldap_uris_free(struct prov_ldap_uri **urisp, size_t count)
{
	struct prov_ldap_uri *uris = *urisp;

	if (uris == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		free(uris[i].text);
	free(uris);
	*urisp = NULL;
}

/* libldap reads "host:0" as "no port given" (the default port): an
 * explicit port 0 is a typo, not a wish for 389 or 636. */
static bool explicit_port_zero(const char *text)
{
	const char *host = strstr(text, "://") + 3;
	size_t len = strcspn(host, "/?");
	const char *colon = NULL;

	for (const char *p = host; p < host + len; p++)
		if (*p == ':')
			colon = p;
		else if (*p == ']')
			colon = NULL;   /* the colons of an IPv6 address */
	if (colon == NULL || colon + 1 == host + len)
		return false;
	for (const char *p = colon + 1; p < host + len; p++)
		if (*p != '0')
			return false;
	return true;
}

static int uri_check(const char *text, bool *ldaps_r, const char **error_r)
{
	LDAPURLDesc *lud = NULL;
	int ok = 0;

	if (strncasecmp(text, "ldap://", 7) != 0 && strncasecmp(text, "ldaps://", 8) != 0) {
		*error_r = "URIs must start with ldap:// or ldaps://";
		return -1;
	}
	if (ldap_url_parse(text, &lud) != LDAP_URL_SUCCESS) {
		*error_r = "not a valid LDAP URI";
		return -1;
	}
	if (explicit_port_zero(text)) {
		ldap_free_urldesc(lud);
		*error_r = "port 0 in a URI: give the directory's port, or none for 389/636";
		return -1;
	}
	if (lud->lud_host == NULL || lud->lud_host[0] == '\0') {
		*error_r = "the URI must name a host";
		ok = -1;
	} else if ((lud->lud_dn != NULL && lud->lud_dn[0] != '\0') ||
		   lud->lud_attrs != NULL || lud->lud_filter != NULL ||
		   lud->lud_exts != NULL || strchr(text + 8, '?') != NULL) {
		*error_r = "the URI must name only scheme, host and port (base and filter are separate keys)";
		ok = -1;
	}
	*ldaps_r = strcasecmp(lud->lud_scheme, "ldaps") == 0;
	ldap_free_urldesc(lud);
	return ok;
}

int prov_ldap_uris_parse(const char *text, struct prov_ldap_uri **uris_r,
			 size_t *count_r, const char **error_r)
{
	char **words = conf_split_list(text);
	struct prov_ldap_uri *uris = NULL;
	size_t n = 0;

	*uris_r = NULL;
	*count_r = 0;
	if (words == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	while (words[n] != NULL)
		n++;
	if (n == 0) {
		*error_r = "no URI given";
		goto fail;
	}
	uris = calloc(n, sizeof *uris);
	if (uris == NULL) {
		*error_r = "out of memory";
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		if (uri_check(words[i], &uris[i].ldaps, error_r) < 0)
			goto fail;
		uris[i].text = strdup(words[i]);
		if (uris[i].text == NULL) {
			*error_r = "out of memory";
			goto fail;
		}
		atomic_init(&uris[i].down_until_ms, 0);
	}
	conf_strv_free(&words);
	*uris_r = uris;
	*count_r = n;
	return 0;
fail:
	prov_ldap_uris_free(&uris, n);
	conf_strv_free(&words);
	return -1;
}

int prov_ldap_filter_check(const char *tmpl, const char **error_r)
{
	size_t len = strlen(tmpl);
	int depth = 0;

	if (len < 3 || tmpl[0] != '(' || tmpl[len - 1] != ')') {
		*error_r = "user_filter must be an LDAP filter in parentheses";
		return -1;
	}
	if (template_check(tmpl, error_r) < 0) {
		*error_r = "user_filter: only %u, %l, %d and %% may follow %";
		return -1;
	}
	for (const char *p = tmpl; *p != '\0'; p++) {
		if (*p == '%') {
			p++;    /* "%(" is not a parenthesis; template_check saw *p */
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')' && --depth == 0 && p[1] != '\0') {
			*error_r = "user_filter must be one filter: wrap several in (&...) or (|...)";
			return -1;
		}
	}
	if (depth != 0) {
		*error_r = "user_filter: unbalanced parentheses";
		return -1;
	}
	if (strstr(tmpl, "%u") == NULL && strstr(tmpl, "%l") == NULL) {
		*error_r = "user_filter must contain %u or %l";
		return -1;
	}
	return 0;
}

/* RFC 4515-escape `len` bytes at `value` (a template_escape_fn). */
static char *escape_n(const char *value, size_t len)
{
	struct berval in = { len, (char *)value }, out = { 0, NULL };
	char *copy;

	if (ldap_bv2escaped_filter_value(&in, &out) != 0)
		return NULL;
	copy = strndup(out.bv_val != NULL ? out.bv_val : "", out.bv_len);
	ber_memfree(out.bv_val);
	return copy;
}

char *prov_ldap_escape(const char *value)
{
	return escape_n(value, strlen(value));
}

char *prov_ldap_filter_expand(const char *tmpl, const char *username, const char **error_r)
{
	char *out = malloc(PROV_LDAP_FILTER_MAX);

	if (out == NULL) {
		*error_r = "out of memory";
		return NULL;
	}
	if (template_expand(tmpl, username, escape_n, out, PROV_LDAP_FILTER_MAX, error_r) < 0) {
		free(out);
		return NULL;
	}
	return out;
}
