/*
 * `dagate probe` for an ldap provider: what a login needs, checked URI by
 * URI without a user: connection, TLS and certificate, the service bind,
 * the search base, and the required group's entry (a wrong `group` DN
 * would otherwise fault every login).
 */
#include "ldap_int.h"

#include <stdio.h>

#include "clock.h"

/* The group entry exists: a base search of it (its DN only). */
static int group_present(LDAP *ld, const char *group, int64_t until, const char **why_r)
{
	LDAPMessage *res = NULL;
	int rc = prov_ldap_search(ld, group, LDAP_SCOPE_BASE, "(objectClass=*)", 1, until, &res);
	int count = rc == LDAP_SUCCESS ? ldap_count_entries(ld, res) : 0;

	ldap_msgfree(res);
	if (rc == LDAP_NO_SUCH_OBJECT || (rc == LDAP_SUCCESS && count == 0)) {
		*why_r = "does not exist (or is not visible to the service account)";
		return -1;
	}
	if (rc != LDAP_SUCCESS) {
		*why_r = ldap_err2string(rc);
		return -1;
	}
	return 0;
}

/* One URI: `line` says what was found. */
static int probe_uri(const struct prov_ldap_conf *c, size_t i, int64_t until,
		     char *line, size_t size)
{
	struct prov_ldap_bind_result br = { .answered = false };
	const char *uri = c->uris[i].text, *why;
	LDAPMessage *res = NULL;
	LDAP *ld = NULL;
	int rc, ret = -1;

	if (prov_ldap_connect_uri(c, i, until, NULL, &ld, line, size) < 0)
		return -1;
	if (c->bind_dn != NULL &&
	    (prov_ldap_simple_bind(ld, c->bind_dn, c->bind_password, c->bind_password_len,
				   false, until, &br) < 0 ||
	     !br.answered || br.rc != LDAP_SUCCESS)) {
		snprintf(line, size, "%s: TLS ok, service bind failed: %s", uri, br.detail);
	} else if ((rc = prov_ldap_search(ld, c->base, LDAP_SCOPE_BASE, "(objectClass=*)", 1,
					  until, &res)) != LDAP_SUCCESS) {
		snprintf(line, size, "%s: %s, base %s not readable: %s", uri,
			 c->bind_dn != NULL ? "bound" : "anonymous", c->base, ldap_err2string(rc));
	} else if (c->group != NULL && group_present(ld, c->group, until, &why) < 0) {
		snprintf(line, size, "%s: base readable, group %s %s", uri, c->group, why);
	} else {
		snprintf(line, size, "%s: %s, %s, base readable%s", uri,
			 c->uris[i].ldaps || c->starttls ?
			 (c->insecure_tls ? "TLS (certificate NOT verified)" :
			  "TLS with verified certificate") : "NO TLS",
			 c->bind_dn != NULL ? "service bind ok" : "anonymous",
			 c->group != NULL ? ", group present" : "");
		ret = 0;
	}
	ldap_msgfree(res);
	prov_ldap_close(&ld);
	return ret;
}

int prov_ldap_probe(const struct prov_ldap_conf *c, int64_t deadline_ms, char *out,
		    size_t size)
{
	size_t used = 0;
	int failed = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->uri_count; i++) {
		int64_t share = clock_left_ms(deadline_ms) / (int64_t)(c->uri_count - i);
		char line[PROV_LDAP_MSG_MAX];
		int n;

		if (probe_uri(c, i, clock_now_ms() + share, line, sizeof line) < 0)
			failed++;
		n = snprintf(out + used, size - used, "%s%s", i > 0 ? "; " : "", line);
		if (n > 0)   /* when full, the later URIs are probed, not shown */
			used += (size_t)n < size - used ? (size_t)n : size - used - 1;
	}
	return failed > 0 ? -1 : 0;
}
