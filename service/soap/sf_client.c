/*
 * The client's side of Authenticate (see sf_client.h), with a gSOAP context
 * per call: a relay round trip is a network call, a context is cheap beside
 * it, and nothing of one login stays behind for the next.
 */
#include "sf_client.h"
#include "sf_int.h"

#include <stdlib.h>
#include <string.h>

char *sf_client_request(const char *username, const char *password, const char *source_ip)
{
	struct _sf__Authenticate a;
	/* Salesforce's own form (PROTOCOL.md): a default namespace on
	 * Authenticate and unprefixed fields, which services that find the
	 * fields by pattern rather than by namespace read as well. */
	struct soap *soap = sf_context_new(SF_MODE_CLIENT | SOAP_XML_DEFAULTNS);
	const char *out = NULL;
	char *copy = NULL;

	if (soap == NULL)
		return NULL;
	soap_default__sf__Authenticate(soap, &a);
	a.username = (char *)username;
	a.password = (char *)password;
	a.sourceIp = (char *)(source_ip != NULL ? source_ip : "");
	soap->os = &out;
	if (soap_begin_send(soap) == SOAP_OK &&
	    soap_envelope_begin_out(soap) == SOAP_OK &&
	    soap_body_begin_out(soap) == SOAP_OK &&
	    soap_put__sf__Authenticate(soap, &a, "sf:Authenticate", "") == SOAP_OK &&
	    soap_body_end_out(soap) == SOAP_OK &&
	    soap_envelope_end_out(soap) == SOAP_OK &&
	    soap_end_send(soap) == SOAP_OK && out != NULL)
		copy = strdup(out);
	if (out != NULL)
		explicit_bzero((char *)out, strlen(out));
	soap->os = NULL;
	sf_context_free(&soap);
	return copy;
}

/* The Body entry's name: AuthenticateResult as the WSDL has it, or
 * AuthenticateResponse as Identity Connect and other services answer (and
 * Salesforce accepts). Either way it is read by the one generated reader
 * (same namespace, same single Authenticated child). */
static const char *sf_client_result_tag(struct soap *soap)
{
	if (soap_peek_element(soap) == SOAP_OK &&
	    soap_match_tag(soap, soap->tag, "sf:AuthenticateResponse") == SOAP_OK)
		return "sf:AuthenticateResponse";
	return "sf:AuthenticateResult";
}

int sf_client_answer(const char *body, size_t len, bool *authenticated_r,
		     const char **error_r)
{
	static const char *const leaves[] = { "Authenticated", NULL };
	struct _sf__AuthenticateResult result;
	struct sf_input in;
	char *xml = NULL;
	size_t xml_len = 0;
	struct soap *soap;
	const char *err;
	int ret = -1;

	*authenticated_r = false;
	*error_r = "not an AuthenticateResult";
	if (memchr(body, '\0', len) != NULL)
		return -1;   /* a NUL would hide the rest from a C-string reader */
	/* The same guard as the endpoint's: well-formed, bounded, no id/href
	 * multi-ref machinery, no markup inside the one value. */
	if (sf_utf8_check((const unsigned char *)body, len, false) != NULL ||
	    (xml = malloc(len + 1)) == NULL ||
	    sf_xml_check(body, len, leaves, xml, &xml_len, &err) < 0) {
		free(xml);
		return -1;
	}
	soap = sf_context_new(SF_MODE_CLIENT);
	if (soap == NULL) {
		free(xml);
		*error_r = "out of memory";
		return -1;
	}
	soap_default__sf__AuthenticateResult(soap, &result);
	sf_input_attach(soap, &in, xml, xml_len);
	/* soap_end_recv() also resolves id/href references, which the
	 * endpoint skips for speed (sf_envelope_close): an answer leaning on
	 * one that is never defined is refused rather than read as false. */
	if (sf_envelope_open(soap, &err) == 0 &&
	    soap_in__sf__AuthenticateResult(soap, sf_client_result_tag(soap), &result, NULL) != NULL &&
	    sf_envelope_close(soap, &in, &err) == 0 &&
	    soap_end_recv(soap) == SOAP_OK) {
		*authenticated_r = result.Authenticated == xsd__boolean__true_;
		ret = 0;
	}
	sf_input_detach(soap);
	sf_context_free(&soap);
	free(xml);
	return ret;
}
