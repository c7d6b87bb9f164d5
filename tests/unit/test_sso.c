/* [sso]'s pure rules: the user pattern, principal -> username, the
 * startURL filter, HTML escaping of every value on the page, and the
 * section's FILE:LINE errors. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sso.h"
#include "tokens.h"
#include "unit.h"

static void test_user_pattern(void)
{
	static const struct { const char *pattern, *want; } ok[] = {
		{ "%l@corp.example", "%l@corp.example" },
		{ "%l@%r", "%l@%d" },
		{ "%l@%r.uat", "%l@%d.uat" },
		{ "100%%-%l@x.example", "100%%-%l@x.example" },
	};
	static const char *const bad[] = {
		"%u", "%l@%d", "%x@corp", "%l%", "corp.example", "%r@%r",
	};
	const char *err;
	char *t;

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		CHECK(sso_user_pattern(ok[i].pattern, &t, &err) == 0, "%s refused", ok[i].pattern);
		CHECK_STR(t, ok[i].want, ok[i].pattern);
		free(t);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK(sso_user_pattern(bad[i], &t, &err) < 0 && t == NULL, "%s accepted", bad[i]);
	}
}

static void test_map(void)
{
	char *realms[] = { "CORP.EXAMPLE", "EU.CORP.EXAMPLE", NULL };
	struct sso_config sso = { .realms = realms };
	static const struct {
		const char *pattern, *principal;
		enum sso_outcome want;
		const char *user;
	} cases[] = {
		{ "%l@corp.example", "jdoe@CORP.EXAMPLE", SSO_OK, "jdoe@corp.example" },
		{ "%l@%r", "jdoe@EU.CORP.EXAMPLE", SSO_OK, "jdoe@eu.corp.example" },
		{ "%l@%r.uat", "Jdoe@CORP.EXAMPLE", SSO_OK, "Jdoe@corp.example.uat" },
		{ "%l@corp.example", "jdoe@OTHER.EXAMPLE", SSO_REALM, "" },
		{ "%l@corp.example", "jdoe@corp.example", SSO_REALM, "" },   /* realms are exact */
		{ "%l@corp.example", "jdoe/admin@CORP.EXAMPLE", SSO_MAP, "" },
		{ "%l@corp.example", "HTTP/web.corp.example@CORP.EXAMPLE", SSO_MAP, "" },
		{ "%l@corp.example", "@CORP.EXAMPLE", SSO_MAP, "" },
		{ "%l@corp.example", "jdoe@", SSO_MAP, "" },
		{ "%l@corp.example", "jdoe", SSO_MAP, "" },
		{ "%l@corp.example", "", SSO_MAP, "" },
		{ "%l@corp.example", "j doe@CORP.EXAMPLE", SSO_MAP, "" },  /* not a SF username */
		/* an enterprise name: the local part up to the realm's '@' */
		{ "%l", "jdoe@corp.example@CORP.EXAMPLE", SSO_OK, "jdoe@corp.example" },
	};
	char out[MAPPED_USER_MAX + 1];
	const char *detail, *err;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum sso_outcome o;

		CHECK(sso_user_pattern(cases[i].pattern, &sso.user_template, &err) == 0, "pattern");
		o = sso_map_principal(&sso, cases[i].principal, out, sizeof out, &detail);
		CHECK(o == cases[i].want, "%s: got %s, want %s", cases[i].principal,
		      sso_outcome_name(o), sso_outcome_name(cases[i].want));
		CHECK_STR(out, cases[i].user, cases[i].principal);
		CHECK(o == SSO_OK || detail != NULL, "%s: no detail", cases[i].principal);
		free(sso.user_template);
	}
}

static void test_basic_principal(void)
{
	char *realms[] = { "CORP.EXAMPLE", "EU.CORP.EXAMPLE", NULL };
	struct sso_config sso = { .realms = realms };
	static const struct { const char *login, *want; } ok[] = {
		{ "jdoe", "jdoe@CORP.EXAMPLE" },
		{ "CORP\\jdoe", "jdoe@CORP.EXAMPLE" },
		{ "jdoe@corp.example", "jdoe@CORP.EXAMPLE" },
		{ "jdoe@partner.example", "jdoe@CORP.EXAMPLE" },
	};
	static const char *const bad[] = { "", "CORP\\", "@corp.example", "jdoe/admin" };
	char out[64];

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		CHECK(sso_basic_principal(&sso, ok[i].login, out, sizeof out) == 0, "%s", ok[i].login);
		CHECK_STR(out, ok[i].want, ok[i].login);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(sso_basic_principal(&sso, bad[i], out, sizeof out) < 0, "%s accepted", bad[i]);
}

static void test_start_url(void)
{
	static const char *const pass[] = { "/001/o", "/", "/home/home.jsp?a=b&c=%2F", "/x:y" };
	static const char *const drop[] = {
		"", "//evil.example/", "https://evil.example/", "/\\evil.example", "\\\\evil",
		"evil.example/x", "javascript:alert(1)", "/a b", "/a\tb", "/a\nb", "/a\x7f",
		"/\xc3\xa9", "/a\\b", " /001/o",
	};
	char longer[SSO_START_URL_MAX + 2];

	for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++)
		CHECK(sso_start_url_ok(pass[i]), "%s dropped", pass[i]);
	for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
		CHECK(!sso_start_url_ok(drop[i]), "%s passed", drop[i]);
	memset(longer, 'a', sizeof longer - 1);
	longer[0] = '/';
	longer[sizeof longer - 1] = '\0';
	CHECK(!sso_start_url_ok(longer), "an over-long startURL passed");
	longer[SSO_START_URL_MAX] = '\0';
	CHECK(sso_start_url_ok(longer), "a startURL of the maximum length dropped");
}

static void test_escape(void)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "plain", "plain" },
		{ "a&b<c>d\"e'f", "a&amp;b&lt;c&gt;d&quot;e&#39;f" },
		{ "\"><script>alert(1)</script>", "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" },
		{ "x\x01y\x7fz", "x\xef\xbf\xbdy\xef\xbf\xbdz" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },
		{ "", "" },
	};
	char out[256], tiny[4];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CHECK(sso_html_escape(cases[i].in, out, sizeof out) >= 0, "%s", cases[i].in);
		CHECK_STR(out, cases[i].want, cases[i].in);
	}
	CHECK(sso_html_escape("&&&", tiny, sizeof tiny) < 0, "overflow not refused");
}

static void test_page(void)
{
	char csp[256];
	char *page = sso_page_build("https://login.example/?a=1&b=\"2\"", "o'brien<x>@corp.example",
				    "dgt1_<tok>", "/001/o?x=1&y=\"", csp, sizeof csp);

	CHECK(page != NULL, "no page");
	if (page == NULL)
		return;
	CHECK(strstr(page, "action=\"https://login.example/?a=1&amp;b=&quot;2&quot;\"") != NULL,
	      "action not escaped: %s", page);
	CHECK(strstr(page, "name=\"username\" value=\"o&#39;brien&lt;x&gt;@corp.example\"") != NULL,
	      "username not escaped");
	CHECK(strstr(page, "as o&#39;brien&lt;x&gt;@corp.example.") != NULL, "visible name not escaped");
	CHECK(strstr(page, "name=\"pw\" value=\"dgt1_&lt;tok&gt;\"") != NULL, "pw not escaped");
	CHECK(strstr(page, "name=\"startURL\" value=\"/001/o?x=1&amp;y=&quot;\"") != NULL,
	      "startURL not escaped");
	CHECK(strstr(page, "<o'brien") == NULL && strstr(page, "<tok>") == NULL, "raw value in page");
	CHECK(strstr(page, "<button type=\"submit\">") != NULL, "no visible button");
	CHECK(strncmp(csp, "default-src 'none'; script-src 'sha256-", 39) == 0, "csp: %s", csp);
	CHECK(strstr(csp, "frame-ancestors 'none'") != NULL, "csp allows framing: %s", csp);
	free(page);
	page = sso_page_build("https://login.example/", "a@b.example", "dgt1_x", NULL, csp, sizeof csp);
	CHECK(page != NULL && strstr(page, "startURL") == NULL, "startURL field without one");
	free(page);
	for (int o = SSO_NO_TICKET; o < SSO_OUTCOME_COUNT; o++) {
		page = sso_failure_page((enum sso_outcome)o);
		CHECK(page != NULL && strstr(page, sso_outcome_name((enum sso_outcome)o)) != NULL,
		      "failure page %d", o);
		free(page);
	}
}

/* The section through config_load: FILE:LINE errors. */
static const struct conf_section_kind *const kinds[] = {
	&sso_section_kind, &token_section_kind, &requester_section_kind, &provider_section_kind, NULL,
};

static void expect_error(const char *dir, const char *body, const char *want, int line)
{
	char path[512], wantl[600];
	struct conf_errors errors = { 0 };
	struct dagate_config *cfg = NULL;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof path, "%s/t.conf", dir);
	f = fopen(path, "w");
	fprintf(f, "[route]\nmatch = * -> x\n[provider x]\ntype = static\n%s", body);
	fclose(f);
	CHECK(config_load(path, kinds, &cfg, &errors) < 0, "accepted: %s", body);
	snprintf(wantl, sizeof wantl, "%s:%d: ", path, line);
	for (size_t i = 0; i < errors.count; i++)
		if (strncmp(errors.lines[i], wantl, strlen(wantl)) == 0 &&
		    strstr(errors.lines[i], want) != NULL)
			found = true;
	CHECK(found, "want %s%s; got %zu errors, first %s", wantl, want, errors.count,
	      errors.count > 0 ? errors.lines[0] : "-");
	conf_errors_clear(&errors);
	config_free(&cfg);
}

static void test_ntlm_message_type(void)
{
	static const struct { const char *b64; int want; } cases[] = {
		/* curl's type 1, a type 2, a type 3 head */
		{ "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==", 1 },
		{ "TlRMTVNTUAACAAAADAAMADAAAAA1goni", 2 },
		{ "TlRMTVNTUAADAAAAGAAYAEAAAAA=", 3 },
		{ "TlRMTVNTUAAEAAAAAAAAAAAAAAA=", 0 },          /* type 4 */
		{ "TlRMTVNTUAABAAABAAAAAAAAAAA=", 0 },          /* type 0x01000001 */
		{ "TlRMTVNTUQABAAAAAAAAAAAAAAA=", 0 },          /* NTLMSSQ */
		{ "YIIGhgYJKoZIhvcSAQICAQBuggZ1MIIGcaADAgEF", 0 }, /* Kerberos */
		{ "TlRMTVNTUAABAAAA", 0 },                      /* too short */
		{ "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw=", 0 },  /* length */
		{ "TlRMTVNTUAABAAAAB4II=gAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==", 0 }, /* inner = */
		{ "TlRMTVNTUAABAAAAB4II ogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw=", 0 }, /* blank */
		{ "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==\nKK x", 0 },
		{ "", 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		CHECK(sso_ntlm_message_type(cases[i].b64) == cases[i].want, "%s: %d, want %d",
		      cases[i].b64, sso_ntlm_message_type(cases[i].b64), cases[i].want);
}

static void test_ntlm_reply(void)
{
	static const struct {
		const char *line;
		enum sso_ntlm_reply want;
		const char *arg;
	} cases[] = {
		{ "TT TlRMTVNTUAACAAAA", SSO_NTLM_TT, "TlRMTVNTUAACAAAA" },
		{ "AF CORP\\alice", SSO_NTLM_AF, "CORP\\alice" },
		{ "NA Logon failure (0xc000006d)", SSO_NTLM_NA, "Logon failure (0xc000006d)" },
		{ "NA", SSO_NTLM_NA, "" },
		{ "BH NT_STATUS_ACCESS_DENIED", SSO_NTLM_BH, "NT_STATUS_ACCESS_DENIED" },
		{ "TT", SSO_NTLM_GARBLED, "" },
		{ "AF ", SSO_NTLM_GARBLED, "" },
		{ "AFX alice", SSO_NTLM_GARBLED, "" },
		{ "OK", SSO_NTLM_GARBLED, "" },
		{ "tt abc", SSO_NTLM_GARBLED, "" },
		{ "", SSO_NTLM_GARBLED, "" },
	};
	const char *arg;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum sso_ntlm_reply r = sso_ntlm_reply_parse(cases[i].line, &arg);

		CHECK(r == cases[i].want, "%s: %d, want %d", cases[i].line, r, cases[i].want);
		if (r != SSO_NTLM_GARBLED)
			CHECK_STR(arg, cases[i].arg, cases[i].line);
	}
}

static void test_ntlm_principal(void)
{
	static const struct { const char *af, *want; } cases[] = {
		{ "CORP\\alice", "alice@CORP" },
		{ "corp\\Alice", "Alice@CORP" },
		{ "EU-CORP\\j.doe", "j.doe@EU-CORP" },
		{ "alice", NULL },
		{ "\\alice", NULL },
		{ "CORP\\", NULL },
		{ "CORP\\a@b", NULL },
		{ "CORP\\a/b", NULL },
		{ "CORP\\a\\b", NULL },
		{ "CO@RP\\alice", NULL },
	};
	char out[64], tiny[8];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int r = sso_ntlm_principal(cases[i].af, out, sizeof out);

		if (cases[i].want == NULL)
			CHECK(r < 0 && out[0] == '\0', "%s accepted as %s", cases[i].af, out);
		else {
			CHECK(r == 0, "%s refused", cases[i].af);
			CHECK_STR(out, cases[i].want, cases[i].af);
		}
	}
	CHECK(sso_ntlm_principal("CORP\\alice", tiny, sizeof tiny) < 0, "over-long accepted");
	/* the map then takes the principal like a Kerberos one */
	{
		char *realms[] = { "CORP.EXAMPLE", "CORP", NULL };
		struct sso_config sso = { .realms = realms };
		const char *detail;

		if (sso_user_pattern("%l@%r.example", &sso.user_template, &detail) == 0) {
			CHECK(sso_map_principal(&sso, "alice@CORP", out, sizeof out, &detail) == SSO_OK,
			      "alice@CORP not mapped");
			CHECK_STR(out, "alice@corp.example", "alice@CORP");
			free(sso.user_template);
		}
	}
}

static void test_config(void)
{
	char dir[] = "/tmp/test_sso.XXXXXX", kt[600], body[2048];
	int fd;

	if (mkdtemp(dir) == NULL)
		return;
	snprintf(kt, sizeof kt, "%s/http.keytab", dir);
	fd = open(kt, O_CREAT | O_WRONLY, 0600);
	close(fd);
#define HEAD "[tokens]\nstore = lmdb:%s/tokens\nkey_file = %s/key\n[sso]\nlisten = 127.0.0.1:0\n" \
	"keytab = %s\nprincipal = HTTP/sso.corp.example@CORP.EXAMPLE\n"
	/* lines: 1-4 route/provider, 5-7 tokens, 8 [sso], 9 listen, 10 keytab, 11 principal */
#define BODY(rest) (snprintf(body, sizeof body, HEAD, dir, dir, kt), \
		    strncat(body, rest, sizeof body - strlen(body) - 1), body)
	expect_error(dir, BODY("login_url = http://login.example/\nuser = %l@corp.example\n"),
		     "https://", 12);
	expect_error(dir, BODY("login_url = https://login.example/\nuser = %u\n"), "only %l", 13);
	expect_error(dir, BODY("login_url = https://login.example/\nuser = %l\npath = x\n"),
		     "'path' must start with '/'", 14);
	expect_error(dir, BODY("login_url = https://login.example/\nuser = %l\nfallback = basic\n"),
		     "passwords never cross plain HTTP", 14);
	expect_error(dir, BODY("login_url = https://login.example/\nuser = %l\nfallback = ntlm\n"
			       "ntlm_auth = /nonexistent/ntlm_auth\n"),
		     "ntlm_auth /nonexistent/ntlm_auth cannot be run", 15);
	expect_error(dir, BODY("login_url = https://login.example/\nuser = %l\nfallback = ntlm\n"
			       "ntlm_auth = ntlm_auth\n"), "absolute path", 15);
	/* the default helper missing: said at the fallback line */
	if (access("/usr/bin/ntlm_auth", X_OK) < 0)
		expect_error(dir, BODY("login_url = https://login.example/\nuser = %l\n"
				       "fallback = ntlm\n"), "/usr/bin/ntlm_auth cannot be run", 14);
	expect_error(dir, BODY("login_url = https://login.example/\nuser = %l\nfallback = ntlm\n"
			       "ntlm_auth = /bin/true\nntlm_auth_config = /nonexistent/smb.conf\n"),
		     "cannot read ntlm_auth_config", 16);
	expect_error(dir, BODY("login_url = https://login.example/\nuser = %l\nfallback = digest\n"),
		     "none, basic or ntlm", 14);
	expect_error(dir, BODY("login_url = https://login.example/\nuser = %l\nttl = 5s\n"),
		     "ttl", 14);
	expect_error(dir, BODY("login_url = https://login.example/\nuser = %l\n"
			       "[requester sso]\nsecret_file = /nonexistent\nusers = *\n"),
		     "token identity of [sso]", 14);
	snprintf(body, sizeof body, "[sso]\nlisten = 127.0.0.1:0\nkeytab = %s\nrealms = CORP\n"
		 "login_url = https://x.example/\nuser = %%l\n", kt);
	expect_error(dir, body, "needs a [tokens] section", 5);
	snprintf(body, sizeof body, "[sso]\nlisten = 127.0.0.1:0\nkeytab = %s\n"
		 "login_url = http://127.0.0.1:9/\nuser = %%l\n[tokens]\nstore = lmdb:%s/t\n", kt, dir);
	expect_error(dir, body, "needs 'realms'", 5);
	expect_error(dir, BODY("login_url = https://login.example/\n"), "one of 'user'", 8);
	expect_error(dir, BODY("login_url = https://login.example/\nuser = %l\nlookup = x mail\n"),
		     "one of 'user'", 8);
	expect_error(dir, BODY("login_url = https://login.example/\nlookup = nobody mail\n"),
		     "no [provider nobody]", 13);
	expect_error(dir, BODY("login_url = https://login.example/\nlookup = x mail\n"),
		     "cannot look users up", 13);
	expect_error(dir, BODY("login_url = https://login.example/\nlookup = x\n"),
		     "PROVIDER ATTRIBUTE", 13);
	chmod(kt, 0644);
	expect_error(dir, BODY("login_url = https://login.example/\nuser = %l\n"), "chmod", 10);
	unlink(kt);
	snprintf(body, sizeof body, "rm -rf %s", dir);
	if (system(body) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
#undef BODY
#undef HEAD
}

int main(void)
{
	test_user_pattern();
	test_map();
	test_basic_principal();
	test_start_url();
	test_escape();
	test_page();
	test_ntlm_message_type();
	test_ntlm_reply();
	test_ntlm_principal();
	test_config();
	return unit_done("test_sso");
}
