/*
 * Authenticate over SOAP: gSOAP's generated deserializers read the
 * envelope; the checks here add the contract's rules that a schema cannot
 * express (see soap_glue.h). Nothing in this file interprets XML structure:
 * the pre-checks look for forbidden byte sequences, the post-checks look at
 * what gSOAP produced.
 */
#include "soap_glue.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "soapH.h"              /* generated from wsdl/authentication.wsdl */

#define SF_NS "urn:authentication.soap.sforce.com"
#define WSDL_PLACEHOLDER "@DAGATE_PUBLIC_URL@"

/* wsdl/embed.cmake: the WSDL bytes, compiled in so no data file is needed. */
extern const unsigned char soap_glue_wsdl_template[];
extern const size_t soap_glue_wsdl_template_len;

/*
 * The table libgsoap refers to by name. Unlike the generated .nsmap it has
 * no wildcard patterns: the Envelope must be SOAP 1.1 exactly, and a SOAP
 * 1.2 (or any other) envelope namespace must not match.
 */
SOAP_NMAC struct Namespace namespaces[] = {
	{ "SOAP-ENV", "http://schemas.xmlsoap.org/soap/envelope/", NULL, NULL },
	{ "SOAP-ENC", "http://schemas.xmlsoap.org/soap/encoding/", NULL, NULL },
	{ "xsi", "http://www.w3.org/2001/XMLSchema-instance", NULL, NULL },
	{ "xsd", "http://www.w3.org/2001/XMLSchema", NULL, NULL },
	{ "sf", SF_NS, NULL, NULL },
	{ NULL, NULL, NULL, NULL }
};

/* In: UTF-8 passes through as bytes; strict: required fields present;
 * plain: no HTTP framing (the HTTP server is libmicrohttpd). Out: default
 * xmlns="..." as PROTOCOL.md shows the answer, and (canonical) only the
 * namespaces actually used. */
#define SOAP_GLUE_MODE (SOAP_C_UTFSTRING | SOAP_XML_STRICT | SOAP_ENC_PLAIN | \
			SOAP_XML_DEFAULTNS | SOAP_XML_CANONICAL | SOAP_XML_NOTYPE)
#define XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

static char *result_true, *result_false;
static size_t result_true_len, result_false_len;

static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;
static pthread_key_t ctx_key;
static __thread struct soap *ctx_tls;

struct mem_input {
	const char *p;
	size_t left;
};

static void ctx_free(void *p)
{
	struct soap *soap = p;

	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
}

static void ctx_key_create(void)
{
	/* The destructor frees a worker's context when the thread exits. */
	if (pthread_key_create(&ctx_key, ctx_free) != 0)
		abort();
}

static struct soap *ctx_get(void)
{
	if (ctx_tls == NULL) {
		pthread_once(&ctx_once, ctx_key_create);
		ctx_tls = soap_new1(SOAP_GLUE_MODE);
		if (ctx_tls == NULL)
			return NULL;
		soap_set_namespaces(ctx_tls, namespaces);
		pthread_setspecific(ctx_key, ctx_tls);
	}
	return ctx_tls;
}

static size_t mem_recv(struct soap *soap, char *buf, size_t len)
{
	struct mem_input *in = soap->user;
	size_t n = len < in->left ? len : in->left;

	memcpy(buf, in->p, n);
	in->p += n;
	in->left -= n;
	return n;
}

/*
 * UTF-8 per RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF. `field` also forbids every C0 control and DEL (a TAB or newline
 * in a username or password is an attack on logs, never a credential);
 * otherwise only what XML 1.0 forbids (C0 except TAB, LF, CR).
 */
static const char *utf8_check(const unsigned char *s, size_t len, bool field)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		uint32_t cp;
		size_t n;

		if (c < 0x80) {
			if (c == 0)
				return "NUL character";
			if (c == 0x7f && field)
				return "control character";
			if (c < 0x20 && (field || (c != '\t' && c != '\n' && c != '\r')))
				return "control character";
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return "invalid UTF-8";   /* 0x80..0xc1 lead or 0xf5..0xff */
		}
		if (len - i <= n)
			return "invalid UTF-8";
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return "invalid UTF-8";
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return "invalid UTF-8";
		if (field && cp >= 0x80 && cp <= 0x9f)
			return "control character";   /* C1, as hostile as C0 */
		i += n + 1;
	}
	return NULL;
}

int sf_field_check(const char *s, size_t len, size_t max, const char **error_r)
{
	const char *err;

	if (len > max) {
		*error_r = "field too long";
		return -1;
	}
	err = utf8_check((const unsigned char *)s, len, true);
	if (err != NULL) {
		*error_r = err;
		return -1;
	}
	return 0;
}

static const char *find_bytes(const char *s, size_t len, const char *pat)
{
	return memmem(s, len, pat, strlen(pat));
}

/*
 * Markup gSOAP would skip silently. In well-formed XML a raw "<!" or "<?"
 * only starts a comment, CDATA section, DTD or processing instruction (or
 * sits inside a comment/CDATA, which Salesforce never sends), so refusing
 * every DTD-ish "<!" and every "<?" but a leading XML declaration needs no
 * parser and errs only towards refusing.
 */
static const char *markup_check(const char *body, size_t len)
{
	const char *p = body, *end = body + len;

	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;   /* a UTF-8 byte order mark may precede the declaration */
	if (end - p >= 6 && memcmp(p, "<?xml", 5) == 0 &&
	    (p[5] == ' ' || p[5] == '\t' || p[5] == '\r' || p[5] == '\n')) {
		const char *q = find_bytes(p, (size_t)(end - p), "?>");

		if (q == NULL)
			return "malformed XML";
		p = q + 2;
	}
	if (find_bytes(p, (size_t)(end - p), "<?") != NULL)
		return "processing instruction not allowed";
	for (const char *q = p; (q = find_bytes(q, (size_t)(end - q), "<!")) != NULL; q += 2) {
		size_t rest = (size_t)(end - q);

		if (!(rest >= 4 && memcmp(q, "<!--", 4) == 0) &&
		    !(rest >= 9 && memcmp(q, "<![CDATA[", 9) == 0))
			return "DTD not allowed";
	}
	return NULL;
}

/*
 * gSOAP 2.8's entity decoder reads at most 7 bytes after '&' and falls back
 * to 0 when the digits do not parse: "&#0;", "&#x;" or "&#zz;" become a NUL
 * that silently ends a char* field, and "&#x1F600;" leaves a stray ';'
 * behind. Neither shows in the decoded field, so refuse such references
 * here; a password must never reach a directory altered.
 */
static const char *charref_check(const char *body, size_t len)
{
	const char *end = body + len;

	for (const char *p = body; (p = memchr(p, '&', (size_t)(end - p))) != NULL; p++) {
		const char *semi = memchr(p, ';', (size_t)(end - p) < 8 ? (size_t)(end - p) : 8);
		unsigned long v = 0;
		const char *d;
		int base = 10;

		if (semi == NULL)
			return "unsupported character reference";
		if (p[1] != '#') {
			/* gSOAP also knows HTML's entities; XML has these five. */
			static const char *const xml_entities[] = {
				"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"
			};
			bool known = false;

			for (size_t i = 0; i < 5; i++)
				known |= (size_t)(semi - p + 1) == strlen(xml_entities[i]) &&
					 memcmp(p, xml_entities[i], strlen(xml_entities[i])) == 0;
			if (!known)
				return "unsupported entity reference";
			continue;
		}
		d = p + 2;
		if (*d == 'x' || *d == 'X') {
			base = 16;
			d++;
		}
		if (d == semi)
			return "NUL character";
		for (; d < semi; d++) {
			int digit = *d >= '0' && *d <= '9' ? *d - '0' :
				    base == 16 && *d >= 'a' && *d <= 'f' ? *d - 'a' + 10 :
				    base == 16 && *d >= 'A' && *d <= 'F' ? *d - 'A' + 10 : -1;

			if (digit < 0)
				return "NUL character";
			v = v * (unsigned long)base + (unsigned long)digit;
		}
		if (v == 0)
			return "NUL character";
	}
	return NULL;
}

/* After the root element only whitespace may follow: gSOAP stops reading
 * at </Envelope> and would not notice anything behind it. */
static bool rest_is_blank(const struct soap *soap, const struct mem_input *in)
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
	/* mem_recv() refills soap->buf from its start: no more than the body
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

/* gSOAP's error after a failed stage, as a fixed phrase. */
static const char *soap_reason(const struct soap *soap, const char *stage)
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
		return "unsupported SOAP header";
	default:
		return stage;
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

static const char *parse_envelope(struct soap *soap, const struct mem_input *in,
				  struct _sf__Authenticate **req_r)
{
	struct _sf__Authenticate *req;

	*req_r = NULL;
	if (soap_begin_recv(soap) || soap_envelope_begin_in(soap))
		return soap_reason(soap, "not a SOAP 1.1 envelope");
	/* gSOAP lets a bare (REST) XML payload through without an Envelope;
	 * version 1 says a SOAP 1.1 Envelope was really there. */
	if (soap->version != 1)
		return "not a SOAP 1.1 envelope";
	if (soap_recv_header(soap) || soap_body_begin_in(soap))
		return soap_reason(soap, "malformed SOAP envelope");
	/* soap_in, not soap_get: soap_get goes on to read (and drop) any
	 * further Body entries as SOAP-encoded multi-refs. */
	req = soap_in__sf__Authenticate(soap, "sf:Authenticate", NULL, NULL);
	*req_r = req;
	if (req == NULL)
		return soap_reason(soap, "not an Authenticate request");
	/* A second Body entry, or an element after the Body, is not ours. */
	if (soap_peek_element(soap) == SOAP_OK)
		return "unexpected element";
	if (soap_body_end_in(soap))
		return soap_reason(soap, "malformed SOAP envelope");
	if (soap_peek_element(soap) == SOAP_OK)
		return "unexpected element";
	if (soap_envelope_end_in(soap))
		return soap_reason(soap, "malformed SOAP envelope");
	if (!rest_is_blank(soap, in))
		return "content after the envelope";
	/* No soap_end_recv(): it resolves SOAP-encoded id/href references
	 * (a walk over gSOAP's whole id table, the largest cost of a parse)
	 * and finishes attachments; a document/literal Authenticate has
	 * neither, and rest_is_blank() already proved the message ended. */
	if (req->username == NULL || req->password == NULL || req->sourceIp == NULL)
		return "missing or duplicated field";
	return extras_check(req);
}

int soap_glue_parse(const char *body, size_t len, struct sf_authenticate *out,
		    const char **error_r)
{
	struct soap *soap;
	struct _sf__Authenticate *req = NULL;
	struct mem_input in = { body, len };
	const char *err;

	memset(out, 0, sizeof(*out));
	err = utf8_check((const unsigned char *)body, len, false);
	if (err == NULL)
		err = markup_check(body, len);
	if (err == NULL)
		err = charref_check(body, len);
	if (err != NULL) {
		*error_r = err;
		return -1;
	}
	soap = ctx_get();
	if (soap == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	/* No soap_begin(): soap_begin_recv() resets the same state, and each
	 * reset clears gSOAP's hash tables, the largest cost of a parse. */
	soap->user = &in;
	soap->frecv = mem_recv;
	soap->socket = SOAP_INVALID_SOCKET;
	soap->recvfd = -1;
	soap->is = NULL;

	err = parse_envelope(soap, &in, &req);
	if (err == NULL)
		err = copy_field(req->username, SF_USERNAME_MAX, &out->username, NULL);
	if (err == NULL)
		err = copy_field(req->password, SF_PASSWORD_MAX, &out->password, &out->password_len);
	if (err == NULL)
		err = copy_field(req->sourceIp, SF_SOURCE_IP_MAX, &out->source_ip, NULL);

	wipe_soap(soap, req, len);
	soap->user = NULL;
	soap_destroy(soap);
	/* Free what the parse allocated; the temporary tables are cleared
	 * by the next soap_begin_recv() (soap_end() would clear them twice). */
	soap_dealloc(soap, NULL);
	if (err != NULL) {
		soap_glue_request_clear(out);
		*error_r = err;
		return -1;
	}
	return 0;
}

void soap_glue_request_clear(struct sf_authenticate *req)
{
	if (req->password != NULL)
		explicit_bzero(req->password, req->password_len);
	free(req->username);
	free(req->password);
	free(req->source_ip);
	memset(req, 0, sizeof(*req));
}

/* Serialize one response element inside a SOAP 1.1 Envelope/Body into a
 * malloc'd string, with gSOAP's own writer (so escaping is gSOAP's). */
static char *serialize(bool fault, const void *data, size_t *len_r)
{
	struct soap *soap = ctx_get();
	const char *text = NULL;
	char *copy = NULL;
	int rc;

	if (soap == NULL)
		return NULL;
	soap_begin(soap);
	soap->os = &text;
	soap->encodingStyle = NULL;   /* document/literal */
	rc = soap_begin_send(soap) || soap_envelope_begin_out(soap) ||
	     soap_body_begin_out(soap) ||
	     (fault ? soap_put_SOAP_ENV__Fault(soap, data, "SOAP-ENV:Fault", "")
		    : soap_put__sf__AuthenticateResult(soap, data, "sf:AuthenticateResult", "")) ||
	     soap_body_end_out(soap) || soap_envelope_end_out(soap) || soap_end_send(soap);
	soap->os = NULL;
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

/* The WSDL with public_url, XML-escaped, in place of the placeholder. */
static char *wsdl_build(const char *public_url, size_t *len_r)
{
	const char *tpl = (const char *)soap_glue_wsdl_template;
	const char *at = find_bytes(tpl, soap_glue_wsdl_template_len, WSDL_PLACEHOLDER);
	size_t head, tail, url_max = strlen(public_url) * 6, n = 0;
	char *doc;

	if (at == NULL)
		return NULL;
	head = (size_t)(at - tpl);
	tail = soap_glue_wsdl_template_len - head - strlen(WSDL_PLACEHOLDER);
	doc = malloc(head + url_max + tail + 1);
	if (doc == NULL)
		return NULL;
	memcpy(doc, tpl, head);
	n = head;
	for (const char *u = public_url; *u != '\0'; u++) {
		const char *esc = *u == '&' ? "&amp;" : *u == '<' ? "&lt;" : *u == '>' ? "&gt;" :
				  *u == '"' ? "&quot;" : NULL;

		if (esc != NULL) {
			memcpy(doc + n, esc, strlen(esc));
			n += strlen(esc);
		} else {
			doc[n++] = *u;
		}
	}
	memcpy(doc + n, at + strlen(WSDL_PLACEHOLDER), tail);
	n += tail;
	doc[n] = '\0';
	*len_r = n;
	return doc;
}

int soap_glue_init(const char **error_r)
{
	soap_glue_deinit();
	result_true = result_body(true, &result_true_len);
	result_false = result_body(false, &result_false_len);
	if (result_true == NULL || result_false == NULL) {
		soap_glue_deinit();
		*error_r = "cannot build the SOAP responses";
		return -1;
	}
	return 0;
}

void soap_glue_deinit(void)
{
	free(result_true);
	free(result_false);
	result_true = result_false = NULL;
	result_true_len = result_false_len = 0;
	/* Worker threads free theirs at exit; this frees the caller's. */
	if (ctx_tls != NULL) {
		pthread_setspecific(ctx_key, NULL);
		ctx_free(ctx_tls);
		ctx_tls = NULL;
	}
}

const char *soap_glue_result(bool authenticated, size_t *len_r)
{
	*len_r = authenticated ? result_true_len : result_false_len;
	return authenticated ? result_true : result_false;
}

char *soap_glue_fault(bool client, const char *reason, size_t *len_r)
{
	struct SOAP_ENV__Fault f;
	struct soap *soap = ctx_get();

	if (soap == NULL)
		return NULL;
	soap_default_SOAP_ENV__Fault(soap, &f);
	f.faultcode = client ? "SOAP-ENV:Client" : "SOAP-ENV:Server";
	f.faultstring = (char *)(reason != NULL ? reason : "internal error");
	return serialize(true, &f, len_r);
}

char *soap_glue_wsdl_for(const char *public_url, size_t *len_r)
{
	if (public_url == NULL || *public_url == '\0' ||
	    utf8_check((const unsigned char *)public_url, strlen(public_url), true) != NULL)
		return NULL;
	return wsdl_build(public_url, len_r);
}
