/*
 * The relay's side of the SOAP codec (sf_client.h) against the forms other
 * Delegated Authentication services write and read: answers Salesforce
 * accepts besides the WSDL's own, and a request whose fields a pattern can
 * find. (The strict refusals are in test_soap.c.)
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sf_client.h"
#include "unit.h"

#define OPEN "<?xml version=\"1.0\" encoding=\"UTF-8\"?>" \
	"<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body>"
#define CLOSE "</soapenv:Body></soapenv:Envelope>"
#define NS "xmlns=\"urn:authentication.soap.sforce.com\""

static void test_answer_forms(void)
{
	static const struct {
		const char *name, *body;
		int want;  /* 1 true, 0 false, -1 refused */
	} cases[] = {
		{ "AuthenticateResponse (Identity Connect)", OPEN "<AuthenticateResponse " NS ">"
		  "<Authenticated>true</Authenticated></AuthenticateResponse>" CLOSE, 1 },
		{ "AuthenticateResponse false", OPEN "<AuthenticateResponse " NS ">"
		  "<Authenticated>false</Authenticated></AuthenticateResponse>" CLOSE, 0 },
		{ "prefixed AuthenticateResponse", OPEN "<a:AuthenticateResponse "
		  "xmlns:a=\"urn:authentication.soap.sforce.com\"><a:Authenticated>true"
		  "</a:Authenticated></a:AuthenticateResponse>" CLOSE, 1 },
		{ "AuthenticateResponse twice", OPEN "<AuthenticateResponse " NS ">"
		  "<Authenticated>false</Authenticated></AuthenticateResponse>"
		  "<AuthenticateResponse " NS "><Authenticated>true</Authenticated>"
		  "</AuthenticateResponse>" CLOSE, -1 },
		{ "Response then Result", OPEN "<AuthenticateResponse " NS ">"
		  "<Authenticated>false</Authenticated></AuthenticateResponse>"
		  "<AuthenticateResult " NS "><Authenticated>true</Authenticated>"
		  "</AuthenticateResult>" CLOSE, -1 },
		{ "AuthenticateResponse, two values", OPEN "<AuthenticateResponse " NS ">"
		  "<Authenticated>false</Authenticated><Authenticated>true</Authenticated>"
		  "</AuthenticateResponse>" CLOSE, -1 },
		{ "AuthenticateResponse, other namespace", OPEN "<AuthenticateResponse "
		  "xmlns=\"urn:other\"><Authenticated>true</Authenticated></AuthenticateResponse>"
		  CLOSE, -1 },
		{ "AuthenticateResponse outside the Body",
		  "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">"
		  "<soapenv:Body/><AuthenticateResponse " NS "><Authenticated>true</Authenticated>"
		  "</AuthenticateResponse></soapenv:Envelope>", -1 },
		{ "id and href (multi-ref)", OPEN "<AuthenticateResult " NS "><Authenticated href=\"#a\"/>"
		  "</AuthenticateResult><x id=\"a\">true</x>" CLOSE, -1 },
		{ "mismatched end tag", OPEN "<AuthenticateResult " NS "><Authenticated>true"
		  "</Authenticatd></AuthenticateResult>" CLOSE, -1 },
		{ "markup in the value", OPEN "<AuthenticateResult " NS "><Authenticated>tr<b/>ue"
		  "</Authenticated></AuthenticateResult>" CLOSE, -1 },
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
	test_answer_forms();
	test_request_form();
	return unit_done("test_sf_client");
}
