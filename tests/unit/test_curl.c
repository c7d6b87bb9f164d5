/*
 * The pure parts of the libcurl providers: login templates (template.h)
 * and the loop guard's header rule. (The relay's strict reading of an
 * AuthenticateResult is the SOAP codec's: tests/unit/test_soap.c.)
 */
#include <stdbool.h>
#include <string.h>

#include "clock.h"
#include "curl_common.h"
#include "provider.h"
#include "relay.h"
#include "template.h"
#include "unit.h"

extern const struct provider_type prov_smtp_type;
extern const struct provider_type prov_http_type;
extern const struct provider_type prov_relay_type;

static void test_login_expand(void)
{
	static const struct {
		const char *tmpl, *user, *want;  /* want NULL: error */
	} cases[] = {
		{ "%u", "joe@corp.example", "joe@corp.example" },
		{ "%l", "joe@corp.example", "joe" },
		{ "%d", "joe@corp.example", "corp.example" },
		{ "CORP\\%l", "joe@corp.example", "CORP\\joe" },
		{ "%l@mail.%d", "joe@corp.example", "joe@mail.corp.example" },
		{ "100%%-%l", "joe@x", "100%-joe" },
		{ "%l", "no-domain", "no-domain" },
		{ "%u", "no-domain", "no-domain" },
		{ "%d", "no-domain", NULL },
		{ "%d", "trailing@", NULL },
		{ "%l", "a@b@c.example", "a@b" },          /* last '@' splits */
		{ "%d", "a@b@c.example", "c.example" },
		{ "%x", "joe@x", NULL },                    /* unknown escape */
		{ "joe%", "joe@x", NULL },                  /* dangling % */
		{ "%l", "@x", NULL },                       /* empty result */
		{ "plain", "joe@x", "plain" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[64];
		const char *error = NULL;
		int ret = template_expand(cases[i].tmpl, cases[i].user, NULL, out, sizeof out,
					  &error);

		if (cases[i].want == NULL) {
			CHECK(ret < 0 && error != NULL, "%s on %s should fail", cases[i].tmpl,
			      cases[i].user);
			CHECK(out[0] == '\0', "%s on %s: nothing half-built is left",
			      cases[i].tmpl, cases[i].user);
		} else {
			CHECK(ret == 0, "%s on %s: %s", cases[i].tmpl, cases[i].user,
			      error ? error : "");
			CHECK_STR(out, cases[i].want, cases[i].tmpl);
		}
	}
}

/* %d without a domain: one error, whatever else the template holds. */
static void test_no_domain(void)
{
	static const char *const users[] = { "joe", "joe@", "a@b@" };
	static const char *const tmpls[] = { "%d", "%l@%d", "CORP\\%l%d", "%u%%%d" };

	for (size_t u = 0; u < sizeof users / sizeof users[0]; u++) {
		for (size_t t = 0; t < sizeof tmpls / sizeof tmpls[0]; t++) {
			char out[64] = "x";
			const char *error = NULL;

			CHECK(template_expand(tmpls[t], users[u], NULL, out, sizeof out,
					      &error) < 0, "%s on %s fails", tmpls[t], users[u]);
			CHECK(error == template_no_domain, "%s on %s: %s", tmpls[t], users[u],
			      error != NULL ? error : "");
			CHECK(out[0] == '\0', "%s on %s: nothing half-built", tmpls[t], users[u]);
		}
	}
}

static void test_login_limits(void)
{
	char user[600], out[CURLC_LOGIN_MAX];
	const char *error = NULL;

	memset(user, 'a', sizeof user - 1);
	user[sizeof user - 1] = '\0';
	CHECK(template_expand("%u", user, NULL, out, sizeof out, &error) == 0, "599 bytes fit");
	CHECK(template_expand("%u%u", user, NULL, out, sizeof out, &error) < 0,
	      "1198 bytes do not fit in %d", CURLC_LOGIN_MAX);
	CHECK(out[0] == '\0', "no partial login is left behind");
	CHECK(template_expand("%u", "abc", NULL, out, 4, &error) == 0, "exact fit");
	CHECK(template_expand("%u", "abcd", NULL, out, 4, &error) < 0, "one byte over");
	CHECK(template_check("%u", &error) == 0, "default template");
	CHECK(template_check("%l@%d", &error) == 0, "split template");
	CHECK(template_check("%q", &error) < 0, "bad template");
}

static void test_loop_guard(void)
{
	const char *id = relay_instance_id();

	CHECK(strlen(id) == 64, "instance id is 64 hex characters");
	CHECK(!relay_loop_detected(NULL, "joe", "pw", 2, "1.2.3.4"),
	      "no header (Salesforce itself): never a loop");
	CHECK(relay_loop_detected(id, "joe", "pw", 2, "1.2.3.4"),
	      "our own id coming back: a loop");
	CHECK(!relay_loop_detected("0123456789abcdef0123456789abcdef"
				   "0123456789abcdef0123456789abcdef", "joe", "pw", 2, "1.2.3.4"),
	      "another instance's id with no login in flight: not a loop");
	CHECK(!relay_loop_detected("", "joe", "pw", 2, ""), "empty header: not a loop");
}

static void test_failures(void)
{
	CHECK_STR(curlc_failure(CURLE_OPERATION_TIMEDOUT), "timeout", "timeout");
	CHECK_STR(curlc_failure(CURLE_PEER_FAILED_VERIFICATION), "certificate not trusted", "cert");
	CHECK_STR(curlc_failure(CURLE_COULDNT_CONNECT), "cannot connect", "connect");
	CHECK_STR(curlc_failure(CURLE_TOO_MANY_REDIRECTS), "transfer failed", "default");
}

/* The guards inside each provider, which answer before any connection
 * (the backends named here refuse connections, so reaching the network,
 * the http provider's negative control included, answers "unavailable"):
 * an empty password is a reject; %d of a username without a domain, in a
 * login template, is "unknown user" with the template's error. */
static void test_guards(void)
{
	static const struct {
		const struct provider_type *type;
		const char *key, *value;
		bool login;            /* the type has a login template */
	} cases[] = {
		{ &prov_smtp_type, "uri", "smtp://127.0.0.1:1", true },
		{ &prov_http_type, "url", "https://127.0.0.1:1/check", true },
		{ &prov_relay_type, "url", "https://127.0.0.1:1/Sso.asmx", false },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *name = cases[i].type->name;
		struct conf_entry type = { (char *)"type", (char *)name, 1, NULL };
		struct conf_entry login = { (char *)"login", (char *)"%l@%d", 2, &type };
		struct conf_entry target = { (char *)cases[i].key, (char *)cases[i].value, 3,
					     cases[i].login ? &login : &type };
		struct conf_section section = { (char *)"provider", (char *)"p", "test.conf", 1,
						&target, NULL };
		struct provider p = { .type = cases[i].type, .name = (char *)"p",
				      .timeout_ms = 500, .max_inflight = 1 };
		struct conf_errors errors = { 0 };
		struct auth_request req = {
			.username = "joe@corp.example", .password = "", .password_len = 0,
			.source_ip = "203.0.113.7", .request_id = "unit",
			.deadline_ms = clock_now_ms() + 500,
		};
		const char *detail = NULL;
		enum auth_result r;

		CHECK(cases[i].type->parse(&p, &section, &errors) == 0, "%s parse: %s", name,
		      errors.count ? errors.lines[0] : "");
		if (p.state == NULL)
			continue;
		CHECK(cases[i].type->authenticate(&p, &req, &detail) == AUTH_REJECT,
		      "%s: empty password must be a reject", name);
		CHECK_STR(detail, "empty password", name);

		req.password = "secret";
		req.password_len = 6;
		if (cases[i].login) {
			req.username = "joe";
			detail = NULL;
			r = cases[i].type->authenticate(&p, &req, &detail);
			CHECK(r == AUTH_UNKNOWN_USER, "%s: no domain for %%d: %s (%s)", name,
			      auth_result_name(r), detail ? detail : "");
			CHECK(detail == template_no_domain, "%s: detail %s", name,
			      detail ? detail : "");
		}

		/* past the guards the backend is asked */
		req.username = "joe@corp.example";
		req.deadline_ms = clock_now_ms() + 500;
		detail = NULL;
		r = cases[i].type->authenticate(&p, &req, &detail);
		CHECK(r == AUTH_UNAVAILABLE, "%s: no server: %s (%s)", name, auth_result_name(r),
		      detail ? detail : "");
		cases[i].type->fini(&p);
		conf_errors_clear(&errors);
	}
}

int main(void)
{
	test_login_expand();
	test_no_domain();
	test_login_limits();
	test_loop_guard();
	test_failures();
	test_guards();
	return unit_done("test_curl");
}
