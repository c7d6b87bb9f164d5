/*
 * The answers the endpoint writes: the two canned AuthenticateResults and
 * faults, serialized by gSOAP's own writer (so escaping is gSOAP's).
 */
#include "sf_int.h"
#include "sf_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

static char *result_true, *result_false;
static size_t result_true_len, result_false_len;

/* One response element inside a SOAP 1.1 Envelope/Body, as a malloc'd
 * string. */
static char *serialize(bool fault, const void *data, size_t *len_r)
{
	struct soap *soap = sf_thread_context();
	const char *text = NULL;
	char *copy = NULL;
	int rc;

	if (soap == NULL)
		return NULL;
	soap_begin(soap);
	soap->os = &text;
	soap->encodingStyle = NULL;   /* document/literal */
	/* A fault keeps the prefixed SOAP-ENV:Envelope: under a default
	 * namespace its unqualified faultcode and faultstring need xmlns="",
	 * which some SOAP stacks (zeep) do not read. */
	if (fault)
		soap_clr_omode(soap, SOAP_XML_DEFAULTNS);
	rc = soap_begin_send(soap) || soap_envelope_begin_out(soap) ||
	     soap_body_begin_out(soap) ||
	     (fault ? soap_put_SOAP_ENV__Fault(soap, data, "SOAP-ENV:Fault", "")
		    : soap_put__sf__AuthenticateResult(soap, data, "sf:AuthenticateResult", "")) ||
	     soap_body_end_out(soap) || soap_envelope_end_out(soap) || soap_end_send(soap);
	soap->os = NULL;
	soap_set_omode(soap, SOAP_XML_DEFAULTNS);
	/* Canonical output has no XML declaration; PROTOCOL.md's answer does. */
	if (rc == 0 && text != NULL && (copy = malloc(strlen(XML_DECL) + strlen(text) + 1)) != NULL) {
		*len_r = strlen(XML_DECL) + strlen(text);
		memcpy(copy, XML_DECL, strlen(XML_DECL));
		memcpy(copy + strlen(XML_DECL), text, strlen(text) + 1);
	}
	soap_destroy(soap);
	soap_end(soap);
	return copy;
}

static char *result_body(bool authenticated, size_t *len_r)
{
	struct _sf__AuthenticateResult r;

	r.Authenticated = authenticated ? xsd__boolean__true_ : xsd__boolean__false_;
	return serialize(false, &r, len_r);
}

int sf_server_init(const char **error_r)
{
	sf_server_deinit();
	result_true = result_body(true, &result_true_len);
	result_false = result_body(false, &result_false_len);
	if (result_true == NULL || result_false == NULL) {
		sf_server_deinit();
		*error_r = "cannot build the SOAP responses";
		return -1;
	}
	return 0;
}

void sf_server_deinit(void)
{
	free(result_true);
	free(result_false);
	result_true = result_false = NULL;
	result_true_len = result_false_len = 0;
	/* Worker threads free theirs at exit; this frees the caller's. */
	sf_thread_context_free();
}

const char *sf_answer_result(bool authenticated, size_t *len_r)
{
	*len_r = authenticated ? result_true_len : result_false_len;
	return authenticated ? result_true : result_false;
}

char *sf_answer_fault(bool client, const char *reason, const char *request_id, size_t *len_r)
{
	struct SOAP_ENV__Fault f;
	struct soap *soap = sf_thread_context();
	char text[SF_FAULT_STRING_MAX];

	if (soap == NULL)
		return NULL;
	soap_default_SOAP_ENV__Fault(soap, &f);
	if (reason == NULL)
		reason = "internal error";
	/* SOAP 1.1 section 4.4.1: a header not understood has its own code. */
	f.faultcode = !client ? "SOAP-ENV:Server" :
		      strcmp(reason, SF_REASON_MUST_UNDERSTAND) == 0 ? "SOAP-ENV:MustUnderstand" :
		      "SOAP-ENV:Client";
	if (request_id != NULL) {
		snprintf(text, sizeof text, "%s " SF_FAULT_REQUEST_ID "%s]", reason, request_id);
		f.faultstring = text;
	} else {
		f.faultstring = (char *)reason;
	}
	return serialize(true, &f, len_r);
}
