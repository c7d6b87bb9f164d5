/*
 * A well-formedness guard in front of gSOAP. gSOAP remains the parser (it
 * alone builds the request, STYLE.md's rule against hand-written parsers
 * stands); this scanner exists only for gSOAP's gaps, found by attacking
 * it: it reads markup inside a string field as text, skips unknown
 * elements without matching their end tags, accepts undeclared prefixes,
 * '<' in attribute values and "]]>" in text, resolves SOAP-encoding id/href
 * references (overlapping strncpy on a repeated id), spends quadratic time
 * on attributes, and mis-decodes character references longer than 7 bytes.
 *
 * One linear pass that builds no tree: tags balanced, attributes
 * well-formed, unique and bounded, prefixes declared, references valid,
 * depth, elements and text bounded (limits in sf_int.h). It copies the body
 * as it goes, with numeric character references in a form gSOAP decodes
 * correctly (raw UTF-8, or a short decimal reference for markup and control
 * characters), never longer than the original.
 */
#include "sf_int.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#define XML_NS_URI "http://www.w3.org/XML/1998/namespace"

struct xml_name {
	const char *p;
	size_t len;
	size_t prefix_len;        /* 0: no prefix */
};

struct xml_ns {
	const char *prefix, *uri;
	size_t prefix_len, uri_len;   /* prefix_len 0: the default namespace */
};

struct xml_open {
	struct xml_name name;
	unsigned ns_mark;         /* declarations in scope outside this element */
	bool leaf;
};

struct xml_attr {
	struct xml_name name;
	const char *uri;          /* NULL: no namespace (or a declaration) */
	size_t uri_len;
};

struct xml_scan {
	const char *p, *end;
	const char *copied;       /* input before this is already in out */
	char *out;
	const char *const *leaves;
	unsigned depth, nns, elements;
	size_t text;              /* bytes of character data and attribute values */
	bool root_done;
	struct xml_open open[SF_XML_DEPTH_MAX];
	struct xml_ns ns[SF_XML_NS_MAX];
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* XML's name characters, with every non-ASCII character allowed (the body
 * is valid UTF-8 already; erring there only ever lets gSOAP decide). */
static bool is_name_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool is_name_char(unsigned char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static bool starts(const struct xml_scan *s, const char *p, const char *lit)
{
	size_t n = strlen(lit);

	return (size_t)(s->end - p) >= n && memcmp(p, lit, n) == 0;
}

static bool name_is(const struct xml_name *n, const char *lit)
{
	return n->len == strlen(lit) && memcmp(n->p, lit, n->len) == 0;
}

static const char *local_part(const struct xml_name *n, size_t *len_r)
{
	size_t skip = n->prefix_len > 0 ? n->prefix_len + 1 : 0;

	*len_r = n->len - skip;
	return n->p + skip;
}

/* A QName at s->p: NCName or NCName:NCName. */
static int read_name(struct xml_scan *s, struct xml_name *n)
{
	const char *p = s->p;

	n->p = p;
	n->prefix_len = 0;
	if (p == s->end || !is_name_start((unsigned char)*p))
		return -1;
	while (++p < s->end && (is_name_char((unsigned char)*p) || *p == ':')) {
		if (*p != ':')
			continue;
		if (n->prefix_len > 0 || p + 1 == s->end || !is_name_start((unsigned char)p[1]))
			return -1;
		n->prefix_len = (size_t)(p - n->p);
	}
	n->len = (size_t)(p - n->p);
	s->p = p;
	return n->len <= SF_XML_NAME_MAX ? 0 : -1;
}

/* The namespace bound to a prefix (NULL len 0: the default one), innermost
 * first; *uri_r NULL when none is. */
static bool ns_lookup(const struct xml_scan *s, const char *prefix, size_t len,
		      const char **uri_r, size_t *uri_len_r)
{
	for (unsigned i = s->nns; i-- > 0;) {
		if (s->ns[i].prefix_len == len && memcmp(s->ns[i].prefix, prefix, len) == 0) {
			*uri_r = s->ns[i].uri;
			*uri_len_r = s->ns[i].uri_len;
			return true;
		}
	}
	if (len == 3 && memcmp(prefix, "xml", 3) == 0) {
		*uri_r = XML_NS_URI;
		*uri_len_r = strlen(XML_NS_URI);
		return true;
	}
	*uri_r = NULL;
	*uri_len_r = 0;
	return len == 0;   /* no default namespace is not an error */
}

static bool text_add(struct xml_scan *s, size_t n)
{
	s->text += n;
	return s->text <= SF_XML_TEXT_MAX;
}

static void flush(struct xml_scan *s, const char *upto)
{
	memcpy(s->out, s->copied, (size_t)(upto - s->copied));
	s->out += upto - s->copied;
	s->copied = upto;
}

/* The character reference's code point written back in a form gSOAP reads
 * right: raw UTF-8, or "&#N;" for ASCII (markup characters among them must
 * stay references). Never longer than the reference it replaces. */
static void put_char(struct xml_scan *s, uint32_t cp)
{
	char *o = s->out;

	if (cp < 0x80) {
		o += cp >= 100 ? 6 : cp >= 10 ? 5 : 4;
		s->out = o;
		*--o = ';';
		do
			*--o = (char)('0' + cp % 10);
		while ((cp /= 10) > 0);
		*--o = '#';
		*--o = '&';
		return;
	}
	if (cp < 0x800) {
		*o++ = (char)(0xc0 | (cp >> 6));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xe0 | (cp >> 12));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
	} else {
		*o++ = (char)(0xf0 | (cp >> 18));
		*o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
	}
	*o++ = (char)(0x80 | (cp & 0x3f));
	s->out = o;
}

static const char *char_reference(struct xml_scan *s)
{
	const char *start = s->p, *p = s->p + 2;
	uint32_t cp = 0;
	unsigned base = 10;
	size_t digits = 0;

	if (p < s->end && *p == 'x') {
		base = 16;
		p++;
	}
	for (; p < s->end && *p != ';'; p++, digits++) {
		unsigned char c = (unsigned char)*p;
		unsigned d = c >= '0' && c <= '9' ? c - '0' + 0u :
			     base == 16 && c >= 'a' && c <= 'f' ? c - 'a' + 10u :
			     base == 16 && c >= 'A' && c <= 'F' ? c - 'A' + 10u : 99;

		if (d >= base)
			return "malformed XML";
		cp = cp > 0x10ffff ? cp : cp * base + d;   /* saturates past the range */
	}
	if (p == s->end)
		return "malformed XML";
	/* gSOAP reads an empty reference as 0, which would cut a field. */
	if (digits == 0 || cp == 0)
		return "NUL character";
	if (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r')
		return "control character";
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff || cp > 0x10ffff)
		return "unsupported character reference";
	flush(s, start);
	put_char(s, cp);
	s->p = s->copied = p + 1;
	return NULL;
}

/* A reference at s->p ('&'): one of XML's five entities (gSOAP would also
 * take HTML's) or a character reference. */
static const char *reference(struct xml_scan *s)
{
	static const char *const entities[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;" };
	const char *p = s->p + 1;

	if (p < s->end && *p == '#')
		return char_reference(s);
	while (p < s->end && is_name_char((unsigned char)*p))
		p++;
	if (p == s->end || *p != ';' || p == s->p + 1)
		return "unsupported character reference";
	for (size_t i = 0; i < sizeof(entities) / sizeof(entities[0]); i++) {
		if ((size_t)(p + 1 - s->p) == strlen(entities[i]) &&
		    memcmp(s->p, entities[i], strlen(entities[i])) == 0) {
			s->p = p + 1;
			return NULL;
		}
	}
	return "unsupported entity reference";
}

/* Character data up to the next '<'. Outside the root element only
 * whitespace may stand, but its references are checked first, as they
 * would be anywhere. */
static const char *text(struct xml_scan *s)
{
	const char *run = s->p, *err;
	bool blank = true;

	while (s->p < s->end && *s->p != '<') {
		if (*s->p == '&') {
			if ((err = reference(s)) != NULL)
				return err;
			blank = false;
			continue;
		}
		if (*s->p == '>' && s->p - run >= 2 && s->p[-1] == ']' && s->p[-2] == ']')
			return "malformed XML";   /* "]]>" outside a CDATA section */
		blank &= is_space(*s->p);
		s->p++;
	}
	if (s->depth == 0 && !blank)
		return s->root_done ? "content after the envelope" : "not a SOAP 1.1 envelope";
	if (s->depth > 0 && !text_add(s, (size_t)(s->p - run)))
		return "too much text";
	return NULL;
}

/* A quoted attribute value; `decl` (a namespace name) may hold no
 * reference, so the scanner reads it exactly as gSOAP will. */
static const char *attr_value(struct xml_scan *s, bool decl, const char **v_r, size_t *len_r)
{
	char quote;
	const char *err;

	if (s->p == s->end || (*s->p != '"' && *s->p != '\''))
		return "malformed XML";
	quote = *s->p++;
	*v_r = s->p;
	while (s->p < s->end && *s->p != quote) {
		if (*s->p == '<')
			return "malformed XML";
		if (*s->p == '&') {
			if (decl)
				return "unsupported namespace name";
			if ((err = reference(s)) != NULL)
				return err;
			continue;
		}
		s->p++;
	}
	if (s->p == s->end)
		return "malformed XML";
	*len_r = (size_t)(s->p - *v_r);
	s->p++;
	return text_add(s, *len_r) ? NULL : "too much text";
}

static void skip_space(struct xml_scan *s)
{
	while (s->p < s->end && is_space(*s->p))
		s->p++;
}

/* A namespace declaration (xmlns or xmlns:p), brought into scope. */
static const char *declare(struct xml_scan *s, const struct xml_name *n, const char *uri, size_t len)
{
	size_t plen;
	const char *prefix = local_part(n, &plen);

	if (n->prefix_len == 0)
		plen = 0;   /* xmlns="..." */
	if (plen > 0 && len == 0)
		return "malformed XML";   /* xmlns:p="" undeclares nothing in XML 1.0 */
	if ((plen == 5 && memcmp(prefix, "xmlns", 5) == 0) ||
	    ((plen == 3 && memcmp(prefix, "xml", 3) == 0) !=
	     (len == strlen(XML_NS_URI) && memcmp(uri, XML_NS_URI, len) == 0)))
		return "malformed XML";
	if (s->nns == SF_XML_NS_MAX)
		return "too many namespace declarations";
	s->ns[s->nns++] = (struct xml_ns){ prefix, uri, plen, len };
	return NULL;
}

static bool is_leaf(const struct xml_scan *s, const struct xml_name *n)
{
	size_t len;
	const char *local = local_part(n, &len);

	for (const char *const *l = s->leaves; l != NULL && *l != NULL; l++)
		if (strlen(*l) == len && memcmp(*l, local, len) == 0)
			return true;
	return false;
}

/* Prefixes resolved once the element's own declarations are in scope;
 * then no attribute twice, by name or by namespace and local name. */
static const char *resolve(struct xml_scan *s, const struct xml_name *elt, struct xml_attr *a,
			   unsigned na)
{
	const char *uri;
	size_t len;

	if (!ns_lookup(s, elt->p, elt->prefix_len, &uri, &len))
		return "undeclared namespace prefix";
	for (unsigned i = 0; i < na; i++) {
		if (a[i].name.prefix_len == 0 || name_is(&a[i].name, "xmlns") ||
		    (a[i].name.prefix_len == 5 && memcmp(a[i].name.p, "xmlns", 5) == 0))
			continue;
		if (!ns_lookup(s, a[i].name.p, a[i].name.prefix_len, &a[i].uri, &a[i].uri_len))
			return "undeclared namespace prefix";
	}
	for (unsigned i = 0; i < na; i++) {
		for (unsigned j = 0; j < i; j++) {
			size_t li, lj;
			const char *pi = local_part(&a[i].name, &li), *pj = local_part(&a[j].name, &lj);

			if ((a[i].name.len == a[j].name.len &&
			     memcmp(a[i].name.p, a[j].name.p, a[i].name.len) == 0) ||
			    (a[i].uri != NULL && a[j].uri != NULL && li == lj &&
			     memcmp(pi, pj, li) == 0 && a[i].uri_len == a[j].uri_len &&
			     memcmp(a[i].uri, a[j].uri, a[i].uri_len) == 0))
				return "malformed XML";
		}
	}
	return NULL;
}

/* SOAP-encoding multi-reference attributes: no part of a document/literal
 * contract, and gSOAP's resolution of them is where it misbehaves. */
static bool is_multi_ref(const struct xml_name *n)
{
	size_t len;
	const char *local = local_part(n, &len);

	return (len == 2 && memcmp(local, "id", 2) == 0) ||
	       (len == 4 && memcmp(local, "href", 4) == 0) ||
	       (len == 3 && memcmp(local, "ref", 3) == 0);
}

static const char *attributes(struct xml_scan *s, struct xml_attr *a, unsigned *na_r)
{
	unsigned na = 0;
	const char *err, *v;
	size_t vlen;

	for (;;) {
		const char *before = s->p;
		bool decl;

		skip_space(s);
		if (s->p == s->end)
			return "malformed XML";
		if (*s->p == '>' || *s->p == '/')
			break;
		if (s->p == before)
			return "malformed XML";   /* attributes are separated by space */
		if (na == SF_XML_ATTRS_MAX)
			return "too many attributes";
		if (read_name(s, &a[na].name) < 0)
			return "malformed XML";
		decl = name_is(&a[na].name, "xmlns") ||
		       (a[na].name.prefix_len == 5 && memcmp(a[na].name.p, "xmlns", 5) == 0);
		if (!decl && is_multi_ref(&a[na].name))
			return "multi-reference attribute not allowed";
		skip_space(s);
		if (s->p == s->end || *s->p != '=')
			return "malformed XML";
		s->p++;
		skip_space(s);
		if ((err = attr_value(s, decl, &v, &vlen)) != NULL)
			return err;
		if (decl && (err = declare(s, &a[na].name, v, vlen)) != NULL)
			return err;
		a[na].uri = NULL;
		a[na].uri_len = 0;
		na++;
	}
	*na_r = na;
	return NULL;
}

static const char *start_tag(struct xml_scan *s)
{
	struct xml_attr a[SF_XML_ATTRS_MAX];
	struct xml_name n;
	unsigned na, mark = s->nns;
	const char *err;

	if (s->root_done)
		return "content after the envelope";
	if (s->depth > 0 && s->open[s->depth - 1].leaf)
		return "element inside a field";
	if (s->depth == SF_XML_DEPTH_MAX)
		return "elements nested too deeply";
	if (++s->elements > SF_XML_ELEMENTS_MAX)
		return "too many elements";
	s->p++;
	if (read_name(s, &n) < 0)
		return "malformed XML";
	if ((err = attributes(s, a, &na)) != NULL || (err = resolve(s, &n, a, na)) != NULL)
		return err;
	if (*s->p == '/') {
		if (++s->p == s->end || *s->p != '>')
			return "malformed XML";
		s->p++;
		s->nns = mark;
		s->root_done = s->depth == 0;
		return NULL;
	}
	s->p++;
	s->open[s->depth++] = (struct xml_open){ n, mark, is_leaf(s, &n) };
	return NULL;
}

static const char *end_tag(struct xml_scan *s)
{
	struct xml_name n;
	const struct xml_open *o;

	if (s->depth == 0)
		return "malformed XML";
	o = &s->open[s->depth - 1];
	s->p += 2;
	if (read_name(s, &n) < 0 || n.len != o->name.len || memcmp(n.p, o->name.p, n.len) != 0)
		return "malformed XML";
	skip_space(s);
	if (s->p == s->end || *s->p != '>')
		return "malformed XML";
	s->p++;
	s->nns = o->ns_mark;
	s->root_done = --s->depth == 0;
	return NULL;
}

/* "<!--" ... "-->", with no "--" inside. */
static const char *comment(struct xml_scan *s)
{
	const char *q = memmem(s->p + 4, (size_t)(s->end - s->p - 4), "--", 2);

	if (q == NULL || q + 2 == s->end || q[2] != '>')
		return "malformed XML";
	s->p = q + 3;
	return NULL;
}

static const char *cdata(struct xml_scan *s)
{
	const char *q;

	if (s->depth == 0)
		return "malformed XML";
	q = memmem(s->p + 9, (size_t)(s->end - s->p - 9), "]]>", 3);
	if (q == NULL)
		return "malformed XML";
	if (!text_add(s, (size_t)(q - (s->p + 9))))
		return "too much text";
	s->p = q + 3;
	return NULL;
}

static const char *markup(struct xml_scan *s)
{
	if (starts(s, s->p, "<!--"))
		return comment(s);
	if (starts(s, s->p, "<![CDATA["))
		return cdata(s);
	if (starts(s, s->p, "<!"))
		return "DTD not allowed";
	if (starts(s, s->p, "<?"))
		return "processing instruction not allowed";
	if (starts(s, s->p, "</"))
		return end_tag(s);
	return start_tag(s);
}

/* Pseudo-attribute `name` = quoted value of the declaration, after space;
 * false (and s->p unmoved) when another name stands there. */
static bool decl_attr(struct xml_scan *s, const char *name, const char **v_r, size_t *len_r)
{
	const char *p = s->p, *v;
	char quote;

	while (p < s->end && is_space(*p))
		p++;
	if (p == s->p || !starts(s, p, name))
		return false;
	p += strlen(name);
	while (p < s->end && is_space(*p))
		p++;
	if (p == s->end || *p++ != '=')
		return false;
	while (p < s->end && is_space(*p))
		p++;
	if (p == s->end || (*p != '"' && *p != '\''))
		return false;
	quote = *p++;
	v = p;
	while (p < s->end && *p != quote && *p != '<' && *p != '?')
		p++;
	if (p == s->end || *p != quote)
		return false;
	*v_r = v;
	*len_r = (size_t)(p - v);
	s->p = p + 1;
	return true;
}

/* <?xml version="1.0" [encoding="UTF-8"] [standalone="yes|no"]?>: the
 * body is UTF-8, and gSOAP would transcode from any other name given. */
static const char *xml_declaration(struct xml_scan *s)
{
	const char *v;
	size_t len;

	s->p += 5;
	if (!decl_attr(s, "version", &v, &len) || len != 3 || memcmp(v, "1.0", 3) != 0)
		return "malformed XML declaration";
	if (decl_attr(s, "encoding", &v, &len) && (len != 5 || strncasecmp(v, "UTF-8", 5) != 0))
		return "unsupported encoding";
	if (decl_attr(s, "standalone", &v, &len) &&
	    !(len == 3 && memcmp(v, "yes", 3) == 0) && !(len == 2 && memcmp(v, "no", 2) == 0))
		return "malformed XML declaration";
	skip_space(s);
	if (!starts(s, s->p, "?>"))
		return "malformed XML declaration";
	s->p += 2;
	return NULL;
}

int sf_xml_check(const char *body, size_t len, const char *const leaves[], char *out,
		 size_t *out_len_r, const char **error_r)
{
	struct xml_scan s;
	const char *err = NULL;

	memset(&s, 0, sizeof(s));
	s.p = s.copied = body;
	s.end = body + len;
	s.out = out;
	s.leaves = leaves;
	if (starts(&s, s.p, "\xef\xbb\xbf"))
		s.p += 3;   /* a UTF-8 byte order mark may precede the declaration */
	if (starts(&s, s.p, "<?xml") && s.end - s.p > 5 && is_space(s.p[5]))
		err = xml_declaration(&s);
	while (err == NULL && s.p < s.end)
		err = *s.p == '<' ? markup(&s) : text(&s);
	if (err == NULL && (s.depth > 0 || !s.root_done))
		err = "malformed XML";
	if (err != NULL) {
		*error_r = err;
		return -1;
	}
	flush(&s, s.end);
	*out_len_r = (size_t)(s.out - out);
	return 0;
}
