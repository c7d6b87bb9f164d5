/*
 * Pure helpers of the ldap provider: the URI list and user_filter
 * templates. Escaping is libldap's (ldap_bv2escaped_filter_value).
 */
#include "ldap_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

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
	for (const char *p = tmpl; *p != '\0'; p++) {
		if (*p == '(') {
			depth++;
		} else if (*p == ')' && --depth == 0 && p[1] != '\0') {
			*error_r = "user_filter must be one filter: wrap several in (&...) or (|...)";
			return -1;
		}
		if (*p != '%')
			continue;
		p++;
		if (*p != 'u' && *p != 'l' && *p != 'd' && *p != '%') {
			*error_r = "user_filter: only %u, %l, %d and %% may follow %";
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

/* Escape `len` bytes at `value` with libldap's RFC 4515 escaping. */
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

char *prov_ldap_filter_expand(const char *tmpl, const char *username)
{
	const char *at = strrchr(username, '@');
	size_t local_len = at != NULL ? (size_t)(at - username) : strlen(username);
	char *u = escape_n(username, strlen(username));
	char *l = escape_n(username, local_len);
	char *d = escape_n(at != NULL ? at + 1 : "", at != NULL ? strlen(at + 1) : 0);
	char *out = NULL;
	size_t used = 0, cap = 0;

	if (u == NULL || l == NULL || d == NULL)
		goto done;
	cap = strlen(tmpl) + 1;
	for (const char *p = tmpl; *p != '\0'; p++)
		if (p[0] == '%' && p[1] != '\0')
			cap += strlen(u) + strlen(l) + strlen(d);
	if (cap > PROV_LDAP_FILTER_MAX || (out = malloc(cap)) == NULL)
		goto done;
	for (const char *p = tmpl; *p != '\0'; p++) {
		const char *piece = NULL;

		if (*p == '%' && p[1] != '\0') {
			p++;
			switch (*p) {
			case 'u': piece = u; break;
			case 'l': piece = l; break;
			case 'd': piece = d; break;
			case '%': piece = "%"; break;
			default:  /* prov_ldap_filter_check refused it */
				free(out);
				out = NULL;
				goto done;
			}
			memcpy(out + used, piece, strlen(piece));
			used += strlen(piece);
		} else {
			out[used++] = *p;
		}
	}
	out[used] = '\0';
done:
	free(u);
	free(l);
	free(d);
	return out;
}
