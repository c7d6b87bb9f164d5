/*
 * The pure rules of [sso]: principal -> username, the startURL filter,
 * HTML escaping and the two pages. No I/O; unit-tested (test_sso).
 */
#include "sso.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"

/* The one script of the sign-on page; its hash is in the CSP. */
static const char page_script[] = "document.forms[0].submit();";

int sso_user_pattern(const char *pattern, char **template_r, const char **error_r)
{
	size_t len = strlen(pattern);
	char *t = malloc(len + 1), *o = t;

	*template_r = NULL;
	if (t == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	for (const char *p = pattern; *p != '\0'; p++) {
		if (*p != '%') {
			*o++ = *p;
			continue;
		}
		switch (p[1]) {
		case 'l': case '%':
			*o++ = '%';
			*o++ = p[1];
			break;
		case 'r':
			*o++ = '%';
			*o++ = 'd';
			break;
		default:
			free(t);
			*error_r = "only %l (the principal's local part), %r (its realm, lower "
				   "case) and %% may follow '%'";
			return -1;
		}
		p++;
	}
	*o = '\0';
	if (strstr(pattern, "%l") == NULL) {
		free(t);
		*error_r = "the pattern must use %l: without it every user maps to the same name";
		return -1;
	}
	*template_r = t;
	return 0;
}

static const char *const outcome_names[SSO_OUTCOME_COUNT] = {
	[SSO_OK] = "sso_ok", [SSO_NO_TICKET] = "sso_no_ticket",
	[SSO_BAD_TICKET] = "sso_bad_ticket", [SSO_CLOCK_SKEW] = "sso_clock_skew",
	[SSO_REPLAY] = "sso_replay", [SSO_WRONG_SERVICE] = "sso_wrong_service",
	[SSO_REALM] = "sso_realm", [SSO_MAP] = "sso_map", [SSO_LOOKUP] = "sso_lookup",
	[SSO_TOKEN] = "sso_token", [SSO_REFUSED_PEER] = "sso_refused_peer",
	[SSO_BASIC_REFUSED] = "sso_basic_refused", [SSO_BASIC_UNAVAILABLE] = "sso_basic_unavailable",
	[SSO_NTLM_CHALLENGE] = "sso_ntlm_challenge", [SSO_NTLM_REFUSED] = "sso_ntlm_refused",
	[SSO_NTLM_UNAVAILABLE] = "sso_ntlm_unavailable",
};

const char *sso_outcome_name(enum sso_outcome o)
{
	return (unsigned)o < SSO_OUTCOME_COUNT ? outcome_names[o] : "sso_error";
}

const char *sso_outcome_advice(enum sso_outcome o)
{
	switch (o) {
	case SSO_OK:
		return "You are being signed in.";
	case SSO_NO_TICKET:
	case SSO_NTLM_CHALLENGE:
		return "Your browser did not sign you in with your Windows account. Use a PC joined "
		       "to the domain and make sure this address is in the browser's list of "
		       "intranet sites, or sign in at the Salesforce login page.";
	case SSO_CLOCK_SKEW:
		return "Your PC's clock is off. Let it synchronise its time with the domain (or ask "
		       "the help desk), then try again.";
	case SSO_REPLAY:
	case SSO_BAD_TICKET:
	case SSO_WRONG_SERVICE:
		return "Your Windows sign-on could not be checked. Close the browser, open it again "
		       "and retry; if it keeps happening, call the help desk.";
	case SSO_REALM:
		return "Your Windows account is not in a domain allowed to sign in to Salesforce "
		       "here. Call the help desk.";
	case SSO_MAP:
	case SSO_LOOKUP:
		return "Your Windows account is not allowed to sign in to Salesforce here (it has "
		       "no Salesforce user, or is not in the allowed group). Call the help desk.";
	case SSO_BASIC_REFUSED:
		return "The user name or password is not right, or the account may not sign in. Type "
		       "your Windows user name (jdoe, CORP\\jdoe or jdoe@corp.example) and password.";
	case SSO_NTLM_REFUSED:
		return "Your Windows user name or password was not accepted. Check the password you "
		       "typed (CORP\\jdoe and your Windows password), or use a PC joined to the "
		       "domain, then try again.";
	case SSO_BASIC_UNAVAILABLE:
	case SSO_NTLM_UNAVAILABLE:
	case SSO_TOKEN:
		return "Sign-on is unavailable right now. Try again in a minute, or sign in at the "
		       "Salesforce login page.";
	case SSO_REFUSED_PEER:
	case SSO_OUTCOME_COUNT:
		break;
	}
	return "You cannot sign in from this network.";
}

static bool realm_listed(char *const *realms, const char *realm)
{
	for (size_t i = 0; realms != NULL && realms[i] != NULL; i++)
		if (strcmp(realms[i], realm) == 0)
			return true;
	return false;
}

enum sso_outcome sso_principal_local(const struct sso_config *sso, const char *principal,
				     char *local, size_t size, const char **detail_r)
{
	const char *at = strrchr(principal, '@');
	size_t local_len;

	local[0] = '\0';
	if (at == NULL || at == principal || at[1] == '\0' ||
	    strlen(principal) > SSO_PRINCIPAL_MAX) {
		*detail_r = "principal is not local@REALM";
		return SSO_MAP;
	}
	local_len = (size_t)(at - principal);
	if (!realm_listed(sso->realms, at + 1)) {
		*detail_r = "realm not in realms";
		return SSO_REALM;
	}
	/* jdoe/admin@REALM is somebody else's second identity, never jdoe. */
	if (memchr(principal, '/', local_len) != NULL || local_len >= size) {
		*detail_r = "multi-component or over-long principal";
		return SSO_MAP;
	}
	memcpy(local, principal, local_len);
	local[local_len] = '\0';
	*detail_r = NULL;
	return SSO_OK;
}

enum sso_outcome sso_map_principal(const struct sso_config *sso, const char *principal,
				   char *out, size_t size, const char **detail_r)
{
	char id[SSO_PRINCIPAL_MAX + 1];
	const char *at = strrchr(principal, '@'), *bad;
	enum sso_outcome o;
	size_t n;

	out[0] = '\0';
	if ((o = sso_principal_local(sso, principal, id, sizeof id, detail_r)) != SSO_OK)
		return o;
	/* "local@realm in lower case": %l and %d of template.h */
	n = strlen(id);
	id[n++] = '@';
	for (const char *r = at + 1; *r != '\0' && n < sizeof id - 1; r++)
		id[n++] = (char)tolower((unsigned char)*r);
	id[n] = '\0';
	if (sso->user_template == NULL) {
		*detail_r = "no user pattern";
		return SSO_MAP;
	}
	if (template_expand(sso->user_template, id, NULL, out, size, detail_r) < 0)
		return SSO_MAP;
	if (usermap_check(out, &bad) < 0) {
		*detail_r = "mapped name is not a Salesforce username";
		out[0] = '\0';
		return SSO_MAP;
	}
	*detail_r = NULL;
	return SSO_OK;
}

int sso_basic_principal(const struct sso_config *sso, const char *login, char *out, size_t size)
{
	const char *local = strrchr(login, '\\'), *at;
	size_t len;

	local = local != NULL ? local + 1 : login;
	at = strchr(local, '@');
	len = at != NULL ? (size_t)(at - local) : strlen(local);
	if (len == 0 || sso->realms == NULL || sso->realms[0] == NULL ||
	    memchr(local, '/', len) != NULL ||
	    snprintf(out, size, "%.*s@%s", (int)len, local, sso->realms[0]) >= (int)size) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

bool sso_start_url_ok(const char *url)
{
	size_t len = strlen(url);

	if (len == 0 || len > SSO_START_URL_MAX || url[0] != '/' || url[1] == '/' ||
	    url[1] == '\\')
		return false;
	for (const char *p = url; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '\\')
			return false;
	return true;
}

int sso_html_escape(const char *in, char *out, size_t size)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p != '\0'; p++) {
		const char *rep = NULL;
		char one[2] = { (char)*p, '\0' };
		size_t rl;

		switch (*p) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default:
			rep = *p < 0x20 || *p == 0x7f ? "\xef\xbf\xbd" : one;
		}
		rl = strlen(rep);
		if (n + rl >= size)
			return -1;
		memcpy(out + n, rep, rl);
		n += rl;
	}
	if (n >= size)
		return -1;
	out[n] = '\0';
	return (int)n;
}

/* 'sha256-BASE64' of the page's script, for script-src. */
static int script_hash(char *out, size_t size)
{
	unsigned char md[32];
	unsigned int md_len = 0;
	unsigned char b64[64];

	if (EVP_Digest(page_script, strlen(page_script), md, &md_len, EVP_sha256(), NULL) != 1 ||
	    EVP_EncodeBlock(b64, md, (int)md_len) <= 0)
		return -1;
	return snprintf(out, size, "'sha256-%s'", b64) < (int)size ? 0 : -1;
}

/* Each value escaped into its own buffer, then the page put together. */
#define SSO_FIELD_MAX 4096
#define SSO_PAGE_MAX (6 * SSO_FIELD_MAX)

char *sso_page_build(const char *login_url, const char *username, const char *token,
		     const char *start_url, char *csp, size_t csp_size)
{
	char action[SSO_FIELD_MAX], user[SSO_FIELD_MAX], pw[SSO_FIELD_MAX];
	char start[SSO_FIELD_MAX] = "", start_field[SSO_FIELD_MAX + 80] = "", hash[96];
	char *page = malloc(SSO_PAGE_MAX);
	int n = -1;

	if (page != NULL && script_hash(hash, sizeof hash) == 0 &&
	    sso_html_escape(login_url, action, sizeof action) >= 0 &&
	    sso_html_escape(username, user, sizeof user) >= 0 &&
	    sso_html_escape(token, pw, sizeof pw) >= 0 &&
	    (start_url == NULL || sso_html_escape(start_url, start, sizeof start) >= 0)) {
		if (start_url != NULL)
			snprintf(start_field, sizeof start_field,
				 "<input type=\"hidden\" name=\"startURL\" value=\"%s\">\n", start);
		snprintf(csp, csp_size, "default-src 'none'; script-src %s; base-uri 'none'; "
			 "frame-ancestors 'none'", hash);
		n = snprintf(page, SSO_PAGE_MAX,
			     "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			     "<title>Signing in to Salesforce</title></head>\n<body>\n"
			     "<form method=\"post\" action=\"%s\">\n"
			     "<input type=\"hidden\" name=\"username\" value=\"%s\">\n"
			     "<input type=\"hidden\" name=\"pw\" value=\"%s\">\n%s"
			     "<p>Signing you in to Salesforce as %s.</p>\n"
			     "<button type=\"submit\">Continue to Salesforce</button>\n</form>\n"
			     "<script>%s</script>\n</body></html>\n",
			     action, user, pw, start_field, user, page_script);
	}
	explicit_bzero(pw, sizeof pw);
	if (n < 0 || n >= SSO_PAGE_MAX) {
		if (page != NULL)
			explicit_bzero(page, SSO_PAGE_MAX);
		free(page);
		return NULL;
	}
	return page;
}

char *sso_failure_page(enum sso_outcome o)
{
	char advice[1024], *page = NULL;

	if (sso_html_escape(sso_outcome_advice(o), advice, sizeof advice) < 0 ||
	    asprintf(&page, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		     "<title>Salesforce sign-on</title></head>\n<body>\n"
		     "<h1>Salesforce sign-on did not work</h1>\n<p>%s</p>\n"
		     "<p>Reference: %s</p>\n</body></html>\n", advice, sso_outcome_name(o)) < 0)
		return NULL;
	return page;
}
