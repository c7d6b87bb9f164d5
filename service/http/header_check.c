#include "header_check.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "conn.h"
#include "peer.h"
#include "refusal.h"
#include "respond.h"

/* The walk below relies on libmicrohttpd 0.9.75's in-place header parsing
 * (header_check.h); re-read its connection.c before allowing another. */
#if MHD_VERSION < 0x00097500 || MHD_VERSION >= 0x00097600
#error "header_check.c is written against libmicrohttpd 0.9.75"
#endif

struct head_walk {
	const char *start, *end;   /* the request head as received */
	const char *pos;           /* end of the last value, NULL before the first */
	unsigned content_length, transfer_encoding, host;
	bool chunked;              /* the Transfer-Encoding is exactly "chunked" */
	enum header_verdict verdict;
	const char *why;
};

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* A control byte other than HTAB (CR and LF included: MHD leaves a bare
 * CR inside a value). */
static bool has_ctl(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)p[i];

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return true;
	}
	return false;
}

/* Only the NULs MHD wrote over a line end: "\r\n" or "\n". */
static bool is_line_end(const char *p, const char *end, size_t min, size_t max)
{
	size_t len = (size_t)(end - p);

	if (end < p || len < min || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] != '\0')
			return false;
	return true;
}

static enum MHD_Result refuse(struct head_walk *w, enum header_verdict verdict, const char *why)
{
	w->verdict = verdict;
	w->why = why;
	return MHD_NO;
}

/* Where MHD put this header: its name at the start of a line that follows
 * the last one's end, then the NUL that was the colon, blanks, the value. */
static bool in_place(const struct head_walk *w, const char *key, size_t key_size,
		     const char *value, size_t value_size)
{
	if (key <= w->start || key + key_size >= value || value + value_size > w->end ||
	    (w->pos != NULL && !is_line_end(w->pos, key, 1, 2)) || key[key_size] != '\0')
		return false;
	for (const char *p = key + key_size + 1; p < value; p++)
		if (*p != ' ' && *p != '\t')
			return false;
	return true;
}

static bool name_is(const char *key, size_t key_size, const char *name)
{
	return key_size == strlen(name) && strncasecmp(key, name, key_size) == 0;
}

static enum MHD_Result check_one(void *cls, enum MHD_ValueKind kind, const char *key,
				 size_t key_size, const char *value, size_t value_size)
{
	struct head_walk *w = cls;

	(void)kind;
	if (key == NULL || value == NULL || !in_place(w, key, key_size, value, value_size))
		return refuse(w, HEADER_BAD_BYTES, "a NUL byte or a folded line in a header");
	if (key_size == 0)
		return refuse(w, HEADER_BAD_BYTES, "a header name that is no token");
	for (size_t i = 0; i < key_size; i++)
		if (!is_tchar((unsigned char)key[i]))
			return refuse(w, HEADER_BAD_BYTES, "a header name that is no token");
	if (has_ctl(value, value_size))
		return refuse(w, HEADER_BAD_BYTES, "a control byte in a header");
	w->pos = value + value_size;
	if (name_is(key, key_size, MHD_HTTP_HEADER_CONTENT_LENGTH))
		w->content_length++;
	else if (name_is(key, key_size, MHD_HTTP_HEADER_HOST))
		w->host++;
	else if (name_is(key, key_size, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
		w->transfer_encoding++;
		w->chunked = value_size == 7 && strncasecmp(value, "chunked", 7) == 0;
	}
	return MHD_YES;
}

static void check_framing(struct head_walk *w, const char *version)
{
	if (w->content_length > 1)
		refuse(w, HEADER_AMBIGUOUS, "more than one Content-Length");
	else if (w->host > 1)
		refuse(w, HEADER_AMBIGUOUS, "more than one Host");
	else if (w->transfer_encoding > 1)
		refuse(w, HEADER_AMBIGUOUS, "more than one Transfer-Encoding");
	else if (w->transfer_encoding == 1 && w->content_length == 1)
		refuse(w, HEADER_AMBIGUOUS, "Content-Length with Transfer-Encoding");
	else if (w->transfer_encoding == 1 && !w->chunked)
		refuse(w, HEADER_AMBIGUOUS, "a Transfer-Encoding other than chunked");
	else if (w->transfer_encoding == 1 && strcmp(version, MHD_HTTP_VERSION_1_0) == 0)
		refuse(w, HEADER_AMBIGUOUS, "Transfer-Encoding in HTTP/1.0");
}

enum header_verdict header_check(struct MHD_Connection *c, const char *method,
				 const char *version, const char **why_r)
{
	const union MHD_ConnectionInfo *size =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	struct head_walk w = { .verdict = HEADER_OK };

	*why_r = NULL;
	if (size == NULL || method == NULL || version == NULL) {
		*why_r = "no request head";
		return HEADER_BAD_BYTES;
	}
	w.start = method;
	w.end = method + size->header_size;
	MHD_get_connection_values_n(c, MHD_HEADER_KIND, check_one, &w);
	/* The last line's end, then the empty line's. */
	if (w.verdict == HEADER_OK && w.pos != NULL && !is_line_end(w.pos, w.end, 2, 4))
		refuse(&w, HEADER_BAD_BYTES, "a NUL byte or a folded line in a header");
	if (w.verdict == HEADER_OK)
		check_framing(&w, version);
	*why_r = w.why;
	return w.verdict;
}

bool header_check_passed(struct MHD_Connection *c, const char *method, const char *version,
			 enum MHD_Result *ret_r)
{
	static const char bad_request[] = "bad request\n";
	char peer[INET6_ADDRSTRLEN + 8];
	const char *why;
	enum header_verdict verdict = header_check(c, method, version, &why);

	if (verdict == HEADER_OK)
		return true;
	peer_text(c, peer, sizeof peer);
	http_refusal(verdict == HEADER_AMBIGUOUS ? HTTP_REFUSED_FRAMING : HTTP_REFUSED_HEADER_BYTES,
		     conn_listener(c), "refused a request from %s: %s", peer, why);
	*ret_r = respond(c, &(struct response){
		.status = MHD_HTTP_BAD_REQUEST, .content_type = "text/plain; charset=utf-8",
		.body = bad_request, .len = sizeof bad_request - 1,
		.mode = MHD_RESPMEM_PERSISTENT, .close = true,
	});
	return false;
}

const char *header_value(struct MHD_Connection *c, const char *name)
{
	const char *value = NULL;
	size_t len = 0;

	if (MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, name, strlen(name), &value,
					  &len) != MHD_YES || value == NULL ||
	    memchr(value, '\0', len) != NULL)
		return NULL;
	return value;
}
