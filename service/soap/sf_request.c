/*
 * The Authenticate request the endpoint reads: gSOAP's generated
 * deserializer reads it through the shared envelope reader; the checks here
 * add the contract's rules that a schema cannot express (see sf_server.h).
 */
#include "sf_int.h"
#include "sf_server.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static void wipe_dom(struct soap_dom_element *elt)
{
	for (; elt != NULL; elt = elt->next) {
		if (elt->text != NULL)
			explicit_bzero((char *)elt->text, strlen(elt->text));
		wipe_dom(elt->elts);
	}
}

/* Everything gSOAP may still hold of the password: the receive buffer, the
 * look-aside buffer strings are assembled in, the strings themselves and
 * any catch-all element (a duplicated <password> lands there). */
static void wipe_soap(struct soap *soap, struct _sf__Authenticate *req, size_t body_len)
{
	/* The input refills soap->buf from its start: no more than the body
	 * (or the buffer) was ever written there. */
	explicit_bzero(soap->buf, body_len < sizeof(soap->buf) ? body_len : sizeof(soap->buf));
	if (soap->labbuf != NULL)
		explicit_bzero(soap->labbuf, soap->lablen);
	if (req == NULL)
		return;
	if (req->password != NULL)
		explicit_bzero(req->password, strlen(req->password));
	for (int i = 0; i < req->__size; i++) {
		if (req->__any[i].text != NULL)
			explicit_bzero((char *)req->__any[i].text, strlen(req->__any[i].text));
		wipe_dom(req->__any[i].elts);
	}
}

/* What the schema allows in the xsd:any but the contract does not: a
 * foreign or missing namespace, or a second copy of a known field. */
static const char *extras_check(const struct _sf__Authenticate *req)
{
	for (int i = 0; i < req->__size; i++) {
		const struct soap_dom_element *elt = &req->__any[i];

		if (elt->nstr == NULL || strcmp(elt->nstr, SF_NS) != 0)
			return "unexpected element";
		const char *local;

		if (elt->name == NULL)
			return "unexpected element";
		/* gSOAP keeps the prefix as written: "urn:username". */
		local = strchr(elt->name, ':');
		local = local != NULL ? local + 1 : elt->name;
		if (strcmp(local, "username") == 0 || strcmp(local, "password") == 0 ||
		    strcmp(local, "sourceIp") == 0)
			return "missing or duplicated field";
	}
	return NULL;
}

static const char *copy_field(const char *src, size_t max, char **dst_r, size_t *len_r)
{
	const char *err;
	size_t len = strlen(src);

	if (sf_field_check(src, len, max, &err) < 0)
		return err;
	*dst_r = malloc(len + 1);
	if (*dst_r == NULL)
		return "out of memory";
	memcpy(*dst_r, src, len + 1);
	if (len_r != NULL)
		*len_r = len;
	return NULL;
}

static const char *read_request(struct soap *soap, const struct sf_input *in,
				struct _sf__Authenticate **req_r)
{
	struct _sf__Authenticate *req;
	const char *err;

	*req_r = NULL;
	if (sf_envelope_open(soap, &err) < 0)
		return err;
	req = soap_in__sf__Authenticate(soap, "sf:Authenticate", NULL, NULL);
	*req_r = req;
	if (req == NULL)
		return sf_soap_reason(soap, "not an Authenticate request");
	if (sf_envelope_close(soap, in, &err) < 0)
		return err;
	if (req->username == NULL || req->password == NULL || req->sourceIp == NULL)
		return "missing or duplicated field";
	return extras_check(req);
}

/* sourceIp keys the per-source throttle and binds tokens: free text (or
 * nothing) would let a caller that reaches the endpoint directly rotate
 * it at will. Salesforce sends the address the login came from. */
bool sf_source_ip_valid(const char *s)
{
	unsigned char addr[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1;
}

/* The checked body through gSOAP into `out`. */
static const char *parse_checked(const char *xml, size_t len, struct sf_authenticate *out)
{
	struct _sf__Authenticate *req = NULL;
	struct sf_input in;
	struct soap *soap = sf_thread_context();
	const char *err;

	if (soap == NULL)
		return "out of memory";
	/* No soap_begin(): soap_begin_recv() resets the same state, and each
	 * reset clears gSOAP's hash tables, the largest cost of a parse. */
	sf_input_attach(soap, &in, xml, len);
	err = read_request(soap, &in, &req);
	if (err == NULL)
		err = copy_field(req->username, SF_USERNAME_MAX, &out->username, NULL);
	if (err == NULL)
		err = copy_field(req->password, SF_PASSWORD_MAX, &out->password, &out->password_len);
	if (err == NULL)
		err = copy_field(req->sourceIp, SF_SOURCE_IP_MAX, &out->source_ip, NULL);
	if (err == NULL && !sf_source_ip_valid(out->source_ip))
		err = "sourceIp is not an IP address";

	wipe_soap(soap, req, len);
	sf_input_detach(soap);
	soap_destroy(soap);
	/* Free what the parse allocated; the temporary tables are cleared
	 * by the next soap_begin_recv() (soap_end() would clear them twice). */
	soap_dealloc(soap, NULL);
	return err;
}

int sf_request_parse(const char *body, size_t len, struct sf_authenticate *out,
		    const char **error_r)
{
	/* gSOAP reads these as strings, markup inside them as text. */
	static const char *const fields[] = { "username", "password", "sourceIp", NULL };
	char *xml = NULL;
	size_t xml_len = 0;
	const char *err;

	memset(out, 0, sizeof(*out));
	err = sf_utf8_check((const unsigned char *)body, len, false);
	if (err == NULL && (xml = malloc(len + 1)) == NULL)
		err = "out of memory";
	if (err == NULL && sf_xml_check(body, len, fields, xml, &xml_len, &err) == 0)
		err = parse_checked(xml, xml_len, out);
	if (xml != NULL) {
		explicit_bzero(xml, len);   /* it holds the password */
		free(xml);
	}
	if (err != NULL) {
		sf_request_clear(out);
		*error_r = err;
		return -1;
	}
	return 0;
}

void sf_request_clear(struct sf_authenticate *req)
{
	if (req->password != NULL)
		explicit_bzero(req->password, req->password_len);
	free(req->username);
	free(req->password);
	free(req->source_ip);
	memset(req, 0, sizeof(*req));
}
