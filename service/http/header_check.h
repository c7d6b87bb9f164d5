/*
 * The request head, checked before anything reads a header, as nginx
 * checks it: a header with a NUL or other control byte, a header name that
 * is no token, an obs-fold continuation line, or framing two parsers could
 * read differently (two Content-Length or Transfer-Encoding or Host
 * headers, Content-Length with Transfer-Encoding, a transfer coding other
 * than chunked) is refused with 400 and the connection closed.
 *
 * libmicrohttpd 0.9.75 cannot say so itself: it cuts a header value at a
 * NUL byte and hands back the shorter value (so "10.1.2.3<NUL>, 8.8.8.8"
 * reads as "10.1.2.3"), and it glues a folded line to the header's name.
 * It parses the head in place, though: every name and value points into
 * the bytes it received, which span MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE
 * bytes from the request's method. header_check() walks that span and
 * requires each header line to end where its value ends (the line end MHD
 * overwrote with NULs, nothing else); bytes MHD dropped, or a name moved
 * elsewhere by folding, break the walk. Anything that does not fit that
 * layout is refused: a libmicrohttpd that laid headers out differently
 * would be refused too (fail closed), hence the version check in the .c.
 */
#ifndef DAGATE_HTTP_HEADER_CHECK_H
#define DAGATE_HTTP_HEADER_CHECK_H

#include <microhttpd.h>
#include <stdbool.h>

enum header_verdict {
	HEADER_OK,
	HEADER_BAD_BYTES,      /* NUL or control bytes, a name that is no token, obs-fold */
	HEADER_AMBIGUOUS,      /* framing that two parsers may read differently */
};

/* On the first handler call; `method` and `version` as the handler got
 * them. *why_r: static text for the log (never echoes the request). */
enum header_verdict header_check(struct MHD_Connection *c, const char *method,
				 const char *version, const char **why_r);

/* header_check(), and on a refusal: log it, count it, queue 400 with
 * Connection: close, and return false with *ret_r what the handler
 * returns. */
bool header_check_passed(struct MHD_Connection *c, const char *method, const char *version,
			 enum MHD_Result *ret_r);

/* A header's value (NULL if absent), looked up with its length: once
 * header_check() passed, no value holds a NUL, so the text is all of it. */
const char *header_value(struct MHD_Connection *c, const char *name);

#endif
