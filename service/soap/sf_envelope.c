/*
 * The envelope reader shared by the endpoint (Authenticate) and the relay
 * (AuthenticateResult): gSOAP reads the XML; these steps hold it to one
 * SOAP 1.1 Envelope with exactly one Body entry and nothing after it.
 */
#include "sf_int.h"

#include <string.h>

static size_t input_recv(struct soap *soap, char *buf, size_t len)
{
	struct sf_input *in = soap->user;
	size_t n = len < in->left ? len : in->left;

	memcpy(buf, in->p, n);
	in->p += n;
	in->left -= n;
	return n;
}

void sf_input_attach(struct soap *soap, struct sf_input *in, const char *body, size_t len)
{
	in->p = body;
	in->left = len;
	soap->user = in;
	soap->frecv = input_recv;
	soap->socket = SOAP_INVALID_SOCKET;
	soap->recvfd = -1;
	soap->is = NULL;
}

void sf_input_detach(struct soap *soap)
{
	soap->user = NULL;
}

const char *sf_soap_reason(const struct soap *soap, const char *stage)
{
	switch (soap->error) {
	case SOAP_UTF_ERROR:
		return "invalid UTF-8";
	case SOAP_OCCURS:
		return "missing or duplicated field";
	case SOAP_EOF:
	case SOAP_SYNTAX_ERROR:
		return "malformed XML";
	case SOAP_MUSTUNDERSTAND:
		return SF_REASON_MUST_UNDERSTAND;
	default:
		return stage;
	}
}

int sf_envelope_open(struct soap *soap, const char **error_r)
{
	if (soap_begin_recv(soap) || soap_envelope_begin_in(soap)) {
		*error_r = sf_soap_reason(soap, "not a SOAP 1.1 envelope");
		return -1;
	}
	/* gSOAP lets a bare (REST) XML payload through without an Envelope;
	 * version 1 says a SOAP 1.1 Envelope was really there. */
	if (soap->version != 1) {
		*error_r = "not a SOAP 1.1 envelope";
		return -1;
	}
	if (soap_recv_header(soap) || soap_body_begin_in(soap)) {
		*error_r = sf_soap_reason(soap, "malformed SOAP envelope");
		return -1;
	}
	/* An empty <Body/> ends the Body at once: whatever element follows
	 * is outside it, and must not be read as its entry. */
	if (!soap->body) {
		*error_r = "empty SOAP Body";
		return -1;
	}
	return 0;
}

/* Reads the end tag `end_in` expects, which must come next: an element
 * before it (a second Body entry, an element after the Body) is not part of
 * the message. When the peek fails on broken XML, the end tag's reader
 * names the reason, and the message fails even if that reader got past. */
static int end_tag(struct soap *soap, int (*end_in)(struct soap *), const char **error_r)
{
	int peek = soap_peek_element(soap);

	if (peek == SOAP_OK) {
		*error_r = "unexpected element";
		return -1;
	}
	if (end_in(soap) != SOAP_OK) {
		*error_r = sf_soap_reason(soap, "malformed SOAP envelope");
		return -1;
	}
	if (peek != SOAP_NO_TAG) {
		*error_r = "malformed XML";
		return -1;
	}
	return 0;
}

/* After the root element only whitespace may follow: gSOAP stops reading
 * at </Envelope> and would not notice anything behind it. */
static bool rest_is_blank(const struct soap *soap, const struct sf_input *in)
{
	const char *p = soap->buf + soap->bufidx;
	size_t n = soap->buflen > soap->bufidx ? soap->buflen - soap->bufidx : 0;

	if (soap->ahead != 0 && !(soap->ahead == ' ' || soap->ahead == '\t' ||
				  soap->ahead == '\r' || soap->ahead == '\n'))
		return false;
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < n; i++)
			if (!(p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
				return false;
		p = in->p;
		n = in->left;
	}
	return true;
}

int sf_envelope_close(struct soap *soap, const struct sf_input *in, const char **error_r)
{
	if (end_tag(soap, soap_body_end_in, error_r) < 0 ||
	    end_tag(soap, soap_envelope_end_in, error_r) < 0)
		return -1;
	if (!rest_is_blank(soap, in)) {
		*error_r = "content after the envelope";
		return -1;
	}
	/* No soap_end_recv() here: it resolves SOAP-encoded id/href references
	 * (a walk over gSOAP's whole id table, the largest cost of a parse)
	 * and finishes attachments; a document/literal message has neither,
	 * and rest_is_blank() already proved the message ended. */
	return 0;
}
