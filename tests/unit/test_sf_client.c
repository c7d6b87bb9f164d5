/*
 * The relay's side of the SOAP codec (sf_client.h): the answers it counts
 * and refuses (strictly, but in every form Salesforce accepts), and the
 * request it sends: read back exactly by the endpoint, and in Salesforce's
 * own form so that services finding fields by pattern read it too.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sf_client.h"
#include "sf_server.h"
#include "unit.h"

#define NS "xmlns=\"urn:authentication.soap.sforce.com\""
#define OR_NULL(s) ((s) != NULL ? (s) : "(null)")

#define ANSWER_OPEN "<?xml version=\"1.0\" encoding=\"UTF-8\"?>" \
	"<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body>"
#define ANSWER_CLOSE "</soapenv:Body></soapenv:Envelope>"
#define RESULT(x) "<AuthenticateResult xmlns=\"urn:authentication.soap.sforce.com\">" x \
	"</AuthenticateResult>"

/* The relay reads another service's answer (sf_client.h) strictly: one
 * Envelope, one AuthenticateResult, one Authenticated, nothing else. */
static void test_client_answer(void)
{
	static const struct {
		const char *name, *body;
		int want;  /* 1 true, 0 false, -1 refused */
	} cases[] = {
		{ "true", ANSWER_OPEN RESULT("<Authenticated>true</Authenticated>") ANSWER_CLOSE, 1 },
		{ "false", ANSWER_OPEN RESULT("<Authenticated>false</Authenticated>") ANSWER_CLOSE, 0 },
		{ "xsd:boolean 1", ANSWER_OPEN RESULT("<Authenticated>1</Authenticated>") ANSWER_CLOSE, 1 },
		{ "prefixed + empty header",
		  "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" "
		  "xmlns:a=\"urn:authentication.soap.sforce.com\"><s:Header/><s:Body>"
		  "<a:AuthenticateResult><a:Authenticated>true</a:Authenticated>"
		  "</a:AuthenticateResult></s:Body></s:Envelope>\n", 1 },
		{ "two Authenticated", ANSWER_OPEN RESULT("<Authenticated>false</Authenticated>"
		  "<Authenticated>true</Authenticated>") ANSWER_CLOSE, -1 },
		{ "no Authenticated", ANSWER_OPEN RESULT("") ANSWER_CLOSE, -1 },
		{ "two results", ANSWER_OPEN RESULT("<Authenticated>false</Authenticated>")
		  RESULT("<Authenticated>true</Authenticated>") ANSWER_CLOSE, -1 },
		{ "extra child", ANSWER_OPEN RESULT("<Authenticated>false</Authenticated><x>true</x>")
		  ANSWER_CLOSE, -1 },
		{ "wrong namespace", ANSWER_OPEN "<AuthenticateResult xmlns=\"urn:other\">"
		  "<Authenticated>true</Authenticated></AuthenticateResult>" ANSWER_CLOSE, -1 },
		{ "not a boolean", ANSWER_OPEN RESULT("<Authenticated>yes</Authenticated>") ANSWER_CLOSE, -1 },
		{ "nested true", ANSWER_OPEN RESULT("<Authenticated>false<b>true</b></Authenticated>")
		  ANSWER_CLOSE, -1 },
		{ "fault", ANSWER_OPEN "<soapenv:Fault><faultcode>soapenv:Server</faultcode>"
		  "<faultstring>down</faultstring></soapenv:Fault>" ANSWER_CLOSE, -1 },
		{ "other element", ANSWER_OPEN "<Foo xmlns=\"urn:authentication.soap.sforce.com\">"
		  "<Authenticated>true</Authenticated></Foo>" ANSWER_CLOSE, -1 },
		{ "after body", "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">"
		  "<soapenv:Body>" RESULT("<Authenticated>false</Authenticated>") "</soapenv:Body>"
		  "<x>true</x></soapenv:Envelope>", -1 },
		{ "after envelope", ANSWER_OPEN RESULT("<Authenticated>false</Authenticated>") ANSWER_CLOSE
		  "<x>true</x>", -1 },
		{ "DTD entity", "<!DOCTYPE x [<!ENTITY a \"true\">]>" ANSWER_OPEN
		  RESULT("<Authenticated>&a;</Authenticated>") ANSWER_CLOSE, -1 },
		{ "HTML", "<html><body>Authenticated true</body></html>", -1 },
		{ "empty", "", -1 },
		{ "no envelope", RESULT("<Authenticated>true</Authenticated>"), -1 },
		{ "no envelope, text after", RESULT("<Authenticated>true</Authenticated>") ";", -1 },
		{ "SOAP 1.2", "<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\"><e:Body>"
		  RESULT("<Authenticated>true</Authenticated>") "</e:Body></e:Envelope>", -1 },
		{ "mustUnderstand header", "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">"
		  "<soapenv:Header><h xmlns=\"urn:x\" soapenv:mustUnderstand=\"1\"/></soapenv:Header>"
		  "<soapenv:Body>" RESULT("<Authenticated>true</Authenticated>") ANSWER_CLOSE, -1 },
		/* Identity Connect's form, which Salesforce accepts too. */
		{ "AuthenticateResponse (Identity Connect)", ANSWER_OPEN "<AuthenticateResponse " NS ">"
		  "<Authenticated>true</Authenticated></AuthenticateResponse>" ANSWER_CLOSE, 1 },
		{ "AuthenticateResponse false", ANSWER_OPEN "<AuthenticateResponse " NS ">"
		  "<Authenticated>false</Authenticated></AuthenticateResponse>" ANSWER_CLOSE, 0 },
		{ "prefixed AuthenticateResponse", ANSWER_OPEN "<a:AuthenticateResponse "
		  "xmlns:a=\"urn:authentication.soap.sforce.com\"><a:Authenticated>true"
		  "</a:Authenticated></a:AuthenticateResponse>" ANSWER_CLOSE, 1 },
		{ "AuthenticateResponse twice", ANSWER_OPEN "<AuthenticateResponse " NS ">"
		  "<Authenticated>false</Authenticated></AuthenticateResponse>"
		  "<AuthenticateResponse " NS "><Authenticated>true</Authenticated>"
		  "</AuthenticateResponse>" ANSWER_CLOSE, -1 },
		{ "Response then Result", ANSWER_OPEN "<AuthenticateResponse " NS ">"
		  "<Authenticated>false</Authenticated></AuthenticateResponse>"
		  "<AuthenticateResult " NS "><Authenticated>true</Authenticated>"
		  "</AuthenticateResult>" ANSWER_CLOSE, -1 },
		{ "AuthenticateResponse, two values", ANSWER_OPEN "<AuthenticateResponse " NS ">"
		  "<Authenticated>false</Authenticated><Authenticated>true</Authenticated>"
		  "</AuthenticateResponse>" ANSWER_CLOSE, -1 },
		{ "AuthenticateResponse, other namespace", ANSWER_OPEN "<AuthenticateResponse "
		  "xmlns=\"urn:other\"><Authenticated>true</Authenticated></AuthenticateResponse>"
		  ANSWER_CLOSE, -1 },
		{ "AuthenticateResponse outside the Body",
		  "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">"
		  "<soapenv:Body/><AuthenticateResponse " NS "><Authenticated>true</Authenticated>"
		  "</AuthenticateResponse></soapenv:Envelope>", -1 },
		{ "id and href (multi-ref)", ANSWER_OPEN "<AuthenticateResult " NS "><Authenticated href=\"#a\"/>"
		  "</AuthenticateResult><x id=\"a\">true</x>" ANSWER_CLOSE, -1 },
		{ "mismatched end tag", ANSWER_OPEN "<AuthenticateResult " NS "><Authenticated>true"
		  "</Authenticatd></AuthenticateResult>" ANSWER_CLOSE, -1 },
		{ "markup in the value", ANSWER_OPEN "<AuthenticateResult " NS "><Authenticated>tr<b/>ue"
		  "</Authenticated></AuthenticateResult>" ANSWER_CLOSE, -1 },
		{ "AuthenticateResult after an empty Body",
		  "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">"
		  "<soapenv:Body/><AuthenticateResult " NS "><Authenticated>true</Authenticated>"
		  "</AuthenticateResult></soapenv:Envelope>", -1 },
		{ "AuthenticateResult after the Body",
		  "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">"
		  "<soapenv:Body></soapenv:Body><AuthenticateResult " NS "><Authenticated>true"
		  "</Authenticated></AuthenticateResult></soapenv:Envelope>", -1 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		bool auth = true;
		const char *error = NULL;
		int ret = sf_client_answer(cases[i].body, strlen(cases[i].body), &auth, &error);

		if (cases[i].want < 0) {
			CHECK(ret < 0 && !auth && error != NULL, "%s must be refused", cases[i].name);
		} else {
			CHECK(ret == 0, "%s must parse (%s)", cases[i].name, error ? error : "");
			CHECK(auth == (cases[i].want == 1), "%s: wrong value", cases[i].name);
		}
	}
	{
		/* a NUL byte hides the rest from a C-string parser: refused */
		static const char body[] = ANSWER_OPEN RESULT("<Authenticated>true</Authenticated>")
			ANSWER_CLOSE "\0<x/>";
		bool auth = true;
		const char *error = NULL;

		CHECK(sf_client_answer(body, sizeof body - 1, &auth, &error) < 0 && !auth,
		      "embedded NUL must be refused");
	}
}

/* What the relay sends is what the endpoint reads, byte-exact. */
static void test_client_request(void)
{
	static const struct {
		const char *username, *password, *source_ip, *want_ip;
	} cases[] = {
		{ "joe@corp.example", "s3cret", "203.0.113.7", "203.0.113.7" },
		{ "j\xc3\xb6rg & <co>", "p\xc3\xa4\"ss'w<>&", "2001:db8::1", "2001:db8::1" },
		{ "u", "p", "::ffff:10.1.2.3", "::ffff:10.1.2.3" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *body = sf_client_request(cases[i].username, cases[i].password,
					       cases[i].source_ip);
		struct sf_authenticate req;
		const char *err = NULL;

		CHECK(body != NULL, "case %zu: no request", i);
		if (body == NULL)
			continue;
		CHECK(sf_request_parse(body, strlen(body), &req, &err) == 0, "case %zu: %s", i,
		      OR_NULL(err));
		if (req.username != NULL) {
			CHECK_STR(req.username, cases[i].username, "username");
			CHECK_STR(req.password, cases[i].password, "password");
			CHECK_STR(req.source_ip, cases[i].want_ip, "sourceIp");
		}
		sf_request_clear(&req);
		free(body);
	}
}

/* Salesforce's own form: a default namespace on Authenticate, and fields
 * without prefixes, so "<username>...</username>" is what a pattern finds. */
static void test_request_form(void)
{
	char *body = sf_client_request("joe@corp.example", "p&w<d", "203.0.113.7");

	CHECK(body != NULL, "a request");
	if (body == NULL)
		return;
	CHECK(strstr(body, "<Authenticate xmlns=\"urn:authentication.soap.sforce.com\">") != NULL,
	      "default namespace on Authenticate: %s", body);
	CHECK(strstr(body, "<username>joe@corp.example</username>") != NULL, "username: %s", body);
	CHECK(strstr(body, "<password>p&amp;w&lt;d</password>") != NULL, "password escaped");
	CHECK(strstr(body, "<sourceIp>203.0.113.7</sourceIp>") != NULL, "sourceIp: %s", body);
	CHECK(strstr(body, "sf:") == NULL, "no sf: prefix: %s", body);
	free(body);
}

int main(void)
{
	test_client_answer();
	test_client_request();
	test_request_form();
	return unit_done("test_sf_client");
}
