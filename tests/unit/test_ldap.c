/*
 * The ldap provider's pure parts: user_filter templates and RFC 4515
 * escaping, the URI list, AD / ppolicy / result-code mapping, the config
 * checks of parse, and the guards that must answer before any connection
 * is tried (an empty password, %d of a username without a domain).
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ldap_int.h"
#include "template.h"
#include "unit.h"

extern const struct provider_type prov_ldap_type;

static void test_filter_expand(void)
{
	static const struct {
		const char *tmpl, *user, *want;  /* want NULL: not expanded */
	} cases[] = {
		{ "(uid=%u)", "joe", "(uid=joe)" },
		{ "(uid=%u)", "*", "(uid=\\2A)" },
		{ "(uid=%u)", "*)(uid=*", "(uid=\\2A\\29\\28uid=\\2A)" },
		{ "(uid=%u)", ")(|(uid=*", "(uid=\\29\\28|\\28uid=\\2A)" },
		{ "(uid=%u)", "a\\b", "(uid=a\\5Cb)" },
		{ "(uid=%u)", "\\2A", "(uid=\\5C2A)" },
		{ "(&(uid=%l)(dc=%d))", "joe@corp.example", "(&(uid=joe)(dc=corp.example))" },
		{ "(&(uid=%l)(dc=%d))", "joe", NULL },      /* no domain: never "(dc=)" */
		{ "(&(uid=%l)(dc=%d))", "joe@", NULL },
		{ "(&(uid=%l)(dc=%d))", "a@b@c", "(&(uid=a@b)(dc=c))" },
		{ "(&(uid=%l)(dc=%d))", "*@*", "(&(uid=\\2A)(dc=\\2A))" },
		{ "(|(mail=%u)(userPrincipalName=%u))", "j@x", "(|(mail=j@x)(userPrincipalName=j@x))" },
		{ "(cn=100%%)(uid=%u)", "x", "(cn=100%)(uid=x)" },
		{ "(uid=%u)", "", "(uid=)" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *error = NULL;
		char *got = prov_ldap_filter_expand(cases[i].tmpl, cases[i].user, &error);

		if (cases[i].want == NULL) {
			CHECK(got == NULL, "%s on %s: not expanded (%s)", cases[i].tmpl,
			      cases[i].user, got);
			CHECK(error == template_no_domain, "%s on %s: %s", cases[i].tmpl,
			      cases[i].user, error != NULL ? error : "");
		} else {
			CHECK_STR(got, cases[i].want, cases[i].user);
		}
		free(got);
	}
}

static void test_filter_limits(void)
{
	char *big = malloc(5001), *got;
	const char *error = NULL;

	memset(big, '*', 5000);
	big[5000] = '\0';
	got = prov_ldap_filter_expand("(uid=%u)", big, &error);
	CHECK(got == NULL, "a 5000-byte username escapes past the filter limit");
	CHECK(error != NULL, "and says so");
	free(got);
	free(big);
}

static void test_filter_check(void)
{
	static const struct {
		const char *tmpl;
		int want;
	} cases[] = {
		{ "(uid=%u)", 0 },
		{ "(&(objectClass=user)(|(userPrincipalName=%u)(mail=%u)))", 0 },
		{ "(sAMAccountName=%l)", 0 },
		{ "(cn=100%%)(uid=%u)", -1 },  /* two filters, not one */
		{ "(&(cn=100%%)(uid=%u))", 0 },
		{ "uid=%u", -1 },
		{ "(uid=%s)", -1 },
		{ "(uid=%u", -1 },
		{ "(uid=%u))", -1 },
		{ "(objectClass=*)", -1 },     /* no user in it */
		{ "(dc=%d)", -1 },
		{ "(uid=%)", -1 },
		{ "", -1 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *error = NULL;
		int got = prov_ldap_filter_check(cases[i].tmpl, &error);

		CHECK(got == cases[i].want, "filter_check(%s) = %d (%s)", cases[i].tmpl, got,
		      error != NULL ? error : "");
	}
}

static void test_uris(void)
{
	static const struct {
		const char *text;
		int want;
		size_t count;
		bool first_ldaps;
	} cases[] = {
		{ "ldaps://dc1.corp.example ldaps://dc2.corp.example", 0, 2, true },
		{ "ldap://127.0.0.1:3389,ldaps://127.0.0.1:3636", 0, 2, false },
		{ "ldap://a, ldap://b  ldap://c", 0, 3, false },
		{ "LDAPS://DC1:636", 0, 1, true },
		{ "ldaps://[::1]:636", 0, 1, true },
		{ "ldaps://dc1:636/", 0, 1, true },
		{ "", -1, 0, false },
		{ "http://dc1", -1, 0, false },
		{ "ldapi://%2Frun%2Fslapd", -1, 0, false },
		{ "ldap:///dc=example", -1, 0, false },
		{ "ldap://dc1/dc=example", -1, 0, false },
		{ "ldap://dc1/??sub?(uid=x)", -1, 0, false },
		{ "ldaps://dc1 garbage", -1, 0, false },
		{ "ldaps://dc1:0", -1, 0, false },
		{ "ldap://127.0.0.1:00/", -1, 0, false },
		{ "ldaps://[::1]:0", -1, 0, false },
		{ "ldaps://dc1:636 ldaps://dc2:0", -1, 0, false },
		{ "ldaps://dc1:10", 0, 1, true },
		{ "ldaps://[::1]", 0, 1, true },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct prov_ldap_uri *uris = NULL;
		size_t count = 0;
		const char *error = NULL;
		int got = prov_ldap_uris_parse(cases[i].text, &uris, &count, &error);

		CHECK(got == cases[i].want, "uris_parse(%s) = %d (%s)", cases[i].text, got,
		      error != NULL ? error : "");
		if (got == 0 && cases[i].want == 0) {
			CHECK(count == cases[i].count, "%s: %zu URIs", cases[i].text, count);
			CHECK(uris[0].ldaps == cases[i].first_ldaps, "%s: ldaps flag", cases[i].text);
		}
		prov_ldap_uris_free(&uris, count);
		CHECK(uris == NULL, "freed list cleared");
	}
}

static void test_ad_codes(void)
{
	static const struct {
		const char *diag;
		long code;
	} cases[] = {
		{ "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563", 0x52e },
		{ "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 775, v1db1", 0x775 },
		{ "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 773, v4f7c", 0x773 },
		{ "... error, data 533, v893", 0x533 },
		{ "... error, data 701, v4563", 0x701 },
		{ "data 52e", 0x52e },
		{ "", -1 },
		{ "Invalid credentials", -1 },
		{ "metadata 52e, v1", -1 },
		{ "data xyz, data 533, v1", 0x533 },
		{ "data 52e1234567, v1", -1 },
	};
	static const struct {
		long code;
		enum auth_result want;
		const char *detail;
	} outcomes[] = {
		{ 0x52e, AUTH_REJECT, "ad:52e bad password" },
		{ 0x533, AUTH_LOCKED, "ad:533 account disabled" },
		{ 0x701, AUTH_LOCKED, "ad:701 account expired" },
		{ 0x773, AUTH_LOCKED, "ad:773 must change password" },
		{ 0x775, AUTH_LOCKED, "ad:775 account locked" },
		{ 0x532, AUTH_LOCKED, "ad:532 password expired" },
		{ 0x525, AUTH_UNKNOWN_USER, "ad:525 no such user" },
		{ -1, AUTH_REJECT, "invalid credentials" },
		{ 0x999, AUTH_REJECT, "ad: invalid credentials (other data code)" },
	};

	CHECK(prov_ldap_ad_data_code(NULL) == -1, "NULL diagnostic");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		long got = prov_ldap_ad_data_code(cases[i].diag);

		CHECK(got == cases[i].code, "ad_data_code(%s) = %lx", cases[i].diag, got);
	}
	for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++) {
		const char *detail = NULL;
		enum auth_result got = prov_ldap_ad_outcome(outcomes[i].code, &detail);

		CHECK(got == outcomes[i].want, "ad_outcome(%lx) = %s", outcomes[i].code,
		      auth_result_name(got));
		CHECK_STR(detail, outcomes[i].detail, "ad detail");
	}
}

static void test_result_codes(void)
{
	static const struct {
		int rc;
		enum auth_result want;
	} cases[] = {
		{ LDAP_SUCCESS, AUTH_OK },
		{ LDAP_INVALID_CREDENTIALS, AUTH_REJECT },
		{ LDAP_UNWILLING_TO_PERFORM, AUTH_REJECT },
		{ LDAP_INAPPROPRIATE_AUTH, AUTH_REJECT },
		{ LDAP_BUSY, AUTH_UNAVAILABLE },
		{ LDAP_UNAVAILABLE, AUTH_UNAVAILABLE },
		{ LDAP_SERVER_DOWN, AUTH_UNAVAILABLE },
		{ LDAP_TIMEOUT, AUTH_UNAVAILABLE },
		{ LDAP_STRONG_AUTH_REQUIRED, AUTH_ERROR },
		{ LDAP_CONFIDENTIALITY_REQUIRED, AUTH_ERROR },
		{ LDAP_PROTOCOL_ERROR, AUTH_ERROR },
	};
	static const struct {
		int pp;
		enum auth_result want;
	} pp_cases[] = {
		{ PP_passwordExpired, AUTH_LOCKED },
		{ PP_accountLocked, AUTH_LOCKED },
		{ PP_changeAfterReset, AUTH_LOCKED },
		{ PP_passwordTooShort, AUTH_OK },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *detail = NULL;
		enum auth_result got = prov_ldap_bind_rc_outcome(cases[i].rc, &detail);

		CHECK(got == cases[i].want, "bind rc %d -> %s", cases[i].rc, auth_result_name(got));
	}
	for (size_t i = 0; i < sizeof pp_cases / sizeof pp_cases[0]; i++) {
		const char *detail = NULL;
		enum auth_result got = prov_ldap_ppolicy_outcome(pp_cases[i].pp, &detail);

		CHECK(got == pp_cases[i].want, "ppolicy %d -> %s", pp_cases[i].pp,
		      auth_result_name(got));
	}
}

/* A hand-built [provider dir] section, for parse and the guards. */
struct section_builder {
	struct conf_section s;
	struct conf_entry e[16];
	int n;
};

static void add(struct section_builder *b, const char *key, const char *value)
{
	struct conf_entry *e = &b->e[b->n];

	e->key = (char *)key;
	e->value = (char *)value;
	e->line = 10 + b->n;
	e->next = b->s.entries;
	b->s.entries = e;
	b->n++;
}

static void section(struct section_builder *b)
{
	memset(b, 0, sizeof *b);
	b->s.kind = "provider";
	b->s.name = "dir";
	b->s.file = "test.conf";
	b->s.line = 9;
	add(b, "type", "ldap");
}

static int try_parse(struct section_builder *b, struct provider *p, struct conf_errors *errors)
{
	memset(p, 0, sizeof *p);
	p->type = &prov_ldap_type;
	p->name = "dir";
	p->timeout_ms = 1000;
	p->max_inflight = 4;
	return prov_ldap_type.parse(p, &b->s, errors);
}

static void expect_parse_error(struct section_builder *b, const char *needle, const char *what)
{
	struct conf_errors errors = { 0 };
	struct provider p;
	bool found = false;

	CHECK(try_parse(b, &p, &errors) == -1, "%s: parse refused", what);
	for (size_t i = 0; i < errors.count; i++)
		if (strstr(errors.lines[i], needle) != NULL)
			found = true;
	CHECK(found, "%s: an error mentions \"%s\" (%zu errors, first: %s)", what, needle,
	      errors.count, errors.count > 0 ? errors.lines[0] : "-");
	conf_errors_clear(&errors);
}

static void test_parse_errors(void)
{
	struct section_builder b;

	section(&b);
	add(&b, "uri", "ldap://127.0.0.1:1");
	add(&b, "base", "dc=example");
	expect_parse_error(&b, "without TLS", "plain ldap:// without starttls/insecure");

	section(&b);
	add(&b, "uri", "ldaps://127.0.0.1:1");
	add(&b, "base", "dc=example");
	add(&b, "bind_dn", "cn=svc,dc=example");
	expect_parse_error(&b, "bind_password_file", "bind_dn without a password file");

	section(&b);
	add(&b, "uri", "ldaps://127.0.0.1:1");
	add(&b, "base", "dc=example");
	add(&b, "user_filter", "(uid=%s)");
	expect_parse_error(&b, "user_filter", "unknown % sequence");

	section(&b);
	add(&b, "uri", "ldaps://127.0.0.1:1/dc=example");
	add(&b, "base", "dc=example");
	expect_parse_error(&b, "scheme, host and port", "URI with a DN");

	section(&b);
	add(&b, "uri", "ldaps://127.0.0.1:1");
	add(&b, "base", "dc=example");
	add(&b, "ca_file", "/nonexistent/ca.pem");
	expect_parse_error(&b, "ca_file", "unreadable ca_file");

	section(&b);
	add(&b, "uri", "ldaps://127.0.0.1:0");
	add(&b, "base", "dc=example");
	expect_parse_error(&b, "port 0", "port 0 in the URI");

	section(&b);
	add(&b, "uri", "ldaps://127.0.0.1:1 ldaps://127.0.0.2:1");
	add(&b, "base", "dc=example");
	add(&b, "starttls", "yes");
	expect_parse_error(&b, "every URI is ldaps://", "starttls with only ldaps:// URIs");
}

/* The guards that answer before any connection: an empty password is a
 * reject; %d of a username without a domain is "unknown user", never a
 * search for "(dc=)". */
static void test_guards(void)
{
	struct section_builder b;
	struct conf_errors errors = { 0 };
	struct provider p;
	struct auth_request req = {
		.username = "joe", .password = "", .password_len = 0,
		.source_ip = "", .request_id = "t",
	};
	const char *detail = NULL;
	char room[AUTH_DETAIL_MAX];
	enum auth_result r;
	int64_t start;

	/* Port 1 on loopback: nothing listens, so any network step fails fast
	 * with "unavailable"; the guards must answer before that. */
	section(&b);
	add(&b, "uri", "ldap://127.0.0.1:1");
	add(&b, "insecure", "yes");
	add(&b, "base", "dc=example");
	add(&b, "user_filter", "(&(uid=%l)(dc=%d))");
	CHECK(try_parse(&b, &p, &errors) == 0, "parse: %s", errors.count ? errors.lines[0] : "");
	if (p.state == NULL)
		return;
	CHECK(prov_ldap_type.start(&p, &detail) == 0, "start: %s", detail ? detail : "");

	start = clock_now_ms();
	req.deadline_ms = start + 1000;
	r = prov_ldap_type.authenticate(&p, &req, &detail);
	CHECK(r == AUTH_REJECT, "empty password: %s", auth_result_name(r));
	CHECK_STR(detail, "empty password", "guard detail");

	req.password = "secret";
	req.password_len = 6;
	detail = NULL;
	r = prov_ldap_type.authenticate(&p, &req, &detail);
	CHECK(r == AUTH_UNKNOWN_USER, "no domain for %%d: %s (%s)", auth_result_name(r),
	      detail ? detail : "");
	CHECK(detail == template_no_domain, "no domain detail: %s", detail ? detail : "");

	req.username = "joe@corp.example";
	detail = NULL;
	r = prov_ldap_type.authenticate(&p, &req, &detail);
	CHECK(r == AUTH_UNAVAILABLE, "non-empty password, no server: %s (%s)",
	      auth_result_name(r), detail ? detail : "");
	CHECK(clock_now_ms() - start < 1100, "answered within the deadline");

	/* libldap's words go into the caller's buffer, not a hidden one. */
	req.detail_buf = room;
	req.detail_size = sizeof room;
	req.deadline_ms = clock_now_ms() + 1000;
	detail = NULL;
	r = prov_ldap_type.authenticate(&p, &req, &detail);
	CHECK(r == AUTH_UNAVAILABLE && detail == room &&
	      strncmp(room, "ldap://127.0.0.1:1: ", 20) == 0,
	      "detail in the caller's buffer: %s", detail ? detail : "");

	req.password = "\0hidden";
	req.password_len = 7;
	detail = NULL;
	r = prov_ldap_type.authenticate(&p, &req, &detail);
	CHECK(r == AUTH_REJECT, "password starting with NUL: %s", auth_result_name(r));

	prov_ldap_type.fini(&p);
	CHECK(p.state == NULL, "fini clears the state");
}

/* [sso] lookup reads the account's state without a bind. */
static void test_account_state(void)
{
	const int64_t now = 1767225600000LL;                 /* 2026-01-01 */
	const long long now_ft = 116444736000000000LL + now * 10000;
	static const long long never = 0x7fffffffffffffffLL;
	const struct {
		long long uac, computed, expires;
		bool ppolicy_locked;
		enum auth_result want;
		const char *detail;
	} cases[] = {
		{ 512, 0, 0, false, AUTH_OK, NULL },
		{ 512, 0, never, false, AUTH_OK, NULL },
		{ -1, -1, -1, false, AUTH_OK, NULL },              /* OpenLDAP: nothing of AD's */
		{ 514, 0, 0, false, AUTH_LOCKED, "account disabled" },
		{ 512, 0x10, 0, false, AUTH_LOCKED, "account locked" },
		{ -1, -1, -1, true, AUTH_LOCKED, "account locked" },
		{ 512, 0, now_ft - 10000000, false, AUTH_LOCKED, "account expired" },
		{ 512, 0, now_ft + 864000000000LL, false, AUTH_OK, NULL },
		{ 512, 0x800000, 0, false, AUTH_LOCKED, "password expired" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *detail = "x";
		enum auth_result r = prov_ldap_account_state(cases[i].uac, cases[i].computed,
							     cases[i].expires, cases[i].ppolicy_locked,
							     now, &detail);

		CHECK(r == cases[i].want, "case %zu: %s", i, auth_result_name(r));
		CHECK((detail == NULL && cases[i].detail == NULL) ||
		      (detail != NULL && cases[i].detail != NULL && strcmp(detail, cases[i].detail) == 0),
		      "case %zu: detail %s", i, detail != NULL ? detail : "(null)");
	}
}

int main(void)
{
	test_account_state();
	test_filter_expand();
	test_filter_limits();
	test_filter_check();
	test_uris();
	test_ad_codes();
	test_result_codes();
	test_parse_errors();
	test_guards();
	return unit_done("test_ldap");
}
