/*
 * Inside the SOAP codec: what its files share. Nothing outside service/soap
 * includes this; the codec's faces are sf_server.h (the endpoint and the
 * commands) and sf_client.h (the relay provider).
 *
 * Both faces read through the one namespace table (sf_context.c) and the
 * one envelope reader (sf_envelope.c), so the endpoint and the relay agree
 * on what a SOAP 1.1 Authenticate message is.
 */
#ifndef DAGATE_SF_INT_H
#define DAGATE_SF_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "soapH.h"              /* generated from wsdl/authentication.wsdl */

#define SF_NS "urn:authentication.soap.sforce.com"

/* In: UTF-8 passes through as bytes; strict: required fields present;
 * plain: no HTTP framing (libmicrohttpd and libcurl carry the HTTP).
 * Out: no xsi:type attributes. The relay writes and reads with this. */
#define SF_MODE_CLIENT (SOAP_C_UTFSTRING | SOAP_XML_STRICT | SOAP_ENC_PLAIN | SOAP_XML_NOTYPE)
/* The endpoint's answers also use a default xmlns="..." as PROTOCOL.md
 * shows them, and (canonical) only the namespaces actually used. */
#define SF_MODE_ENDPOINT (SF_MODE_CLIENT | SOAP_XML_DEFAULTNS | SOAP_XML_CANONICAL)

/* The calling thread's context (SF_MODE_ENDPOINT), created on first use and
 * freed when the thread exits; NULL when out of memory. */
struct soap *sf_thread_context(void);
/* Frees the calling thread's context now (the main thread never exits
 * through the key destructor). */
void sf_thread_context_free(void);

/* A context of the caller's own, with the namespace table; NULL when out of
 * memory. sf_context_free() wipes its buffer (a request it wrote or read
 * may hold a password), frees it and clears *soapp. */
struct soap *sf_context_new(soap_mode mode);
void sf_context_free(struct soap **soapp);

/* A message in memory, fed to gSOAP through frecv. */
struct sf_input {
	const char *p;
	size_t left;
};

/* Points `soap` at body[0..len) through `in`, which must outlive the read. */
void sf_input_attach(struct soap *soap, struct sf_input *in, const char *body, size_t len);
void sf_input_detach(struct soap *soap);

/* The envelope reader. sf_envelope_open() reads up to the first Body entry
 * and insists on a SOAP 1.1 Envelope; the caller reads that one entry with
 * its generated soap_in_*() (not soap_get_*(), which goes on to read and
 * drop further Body entries); sf_envelope_close() then insists that nothing
 * follows it in the Body, nothing follows the Body in the Envelope and only
 * whitespace follows the Envelope. Both return -1 with a fixed, short
 * *error_r (never input). */
int sf_envelope_open(struct soap *soap, const char **error_r);
int sf_envelope_close(struct soap *soap, const struct sf_input *in, const char **error_r);
/* The reason for a header with mustUnderstand="1" that nothing here
 * understands: sf_answer_fault() gives it SOAP 1.1's MustUnderstand code. */
#define SF_REASON_MUST_UNDERSTAND "unsupported SOAP header"
/* gSOAP's error after a failed stage, as a fixed phrase (`stage` when no
 * better one applies). */
const char *sf_soap_reason(const struct soap *soap, const char *stage);

/* Raw text check (sf_text.c): NULL when s[0..len) is UTF-8 without NUL
 * or XML-forbidden controls (with `field`, without any C0, DEL or C1
 * control), else the reason. */
const char *sf_utf8_check(const unsigned char *s, size_t len, bool field);

/* Limits of the well-formedness guard (sf_xmlcheck.c), far above any SOAP
 * stack's message and low enough that gSOAP, which runs on an HTTP event
 * thread, spends a few milliseconds at most on the largest max_body
 * (bench/soap_parse.c measures it). */
#define SF_XML_DEPTH_MAX 32    /* Salesforce's request is 4 deep; gSOAP reads unknown elements recursively */
#define SF_XML_ATTRS_MAX 16    /* gSOAP's attribute handling is quadratic in their number */
#define SF_XML_NS_MAX 32       /* declarations in scope: every prefix lookup walks them all */
#define SF_XML_ELEMENTS_MAX 256   /* Salesforce sends 6; gSOAP spends up to ~10 us on each */
#define SF_XML_TEXT_MAX 65536     /* character data and attribute values; the fields hold < 2 KB */
#define SF_XML_NAME_MAX 256       /* gSOAP keeps 1023 bytes of a name (SOAP_TAGLEN) and compares those */

/* The guard gSOAP's gaps require, over a whole body that sf_utf8_check()
 * passed: 0 when it is one well-formed XML document within the limits
 * above, without DTD, processing instruction (but the XML declaration,
 * which must say UTF-8 if it names an encoding), entity but XML's five,
 * SOAP-encoding id/href/ref attribute, or element inside an element whose
 * local name is in `leaves` (NULL-terminated; gSOAP reads those as strings
 * and would take markup inside as text). Writes the body to out[0..len)
 * with character references in a form gSOAP decodes right, its length to
 * *out_len_r (at most len). -1 with a fixed, short *error_r otherwise. */
int sf_xml_check(const char *body, size_t len, const char *const leaves[], char *out,
		 size_t *out_len_r, const char **error_r);

#endif
