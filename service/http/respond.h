/*
 * The one response builder of both listeners. Every answer says
 * X-Content-Type-Options: nosniff, and Connection: close once the server
 * is quiesced (conn.h), so that a draining generation's clients go away.
 */
#ifndef DAGATE_HTTP_RESPOND_H
#define DAGATE_HTTP_RESPOND_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

struct response {
	unsigned status;
	const char *content_type;          /* NULL: no Content-Type */
	const char *body;
	size_t len;
	enum MHD_ResponseMemoryMode mode;  /* who owns `body`, as in libmicrohttpd */
	const char *allow;                 /* Allow (a 405), or NULL */
	const char *www_authenticate;      /* the challenge of a 401, or NULL */
	const char *www_authenticate_also[2]; /* more challenge headers, or NULL */
	unsigned retry_after_s;            /* Retry-After (a 429), 0 = none */
	bool no_store;                     /* Cache-Control: no-store */
	/* A page for browsers: its Content-Security-Policy, sent with
	 * X-Frame-Options: DENY and Referrer-Policy: no-referrer; or NULL. */
	const char *csp;
	/* `body` is malloc'd, NUL-terminated and secret: MHD wipes and frees
	 * it once sent (`mode` is then ignored). */
	bool wipe;
	bool close;                        /* Connection: close (a request not to read on from) */
};

/* NULL when out of memory (a MUST_FREE body is then still the caller's). */
struct MHD_Response *response_create(const struct response *r, bool closing);
enum MHD_Result respond(struct MHD_Connection *c, const struct response *r);
/* A fixed text/plain answer. */
enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status, const char *text);
/* A SOAP message (text/xml): a fault, or the WSDL. */
enum MHD_Result respond_soap(struct MHD_Connection *c, unsigned status, const char *body,
			     size_t len, enum MHD_ResponseMemoryMode mode);
/* A token API answer: JSON (copied), never cached; 401 carries the Basic
 * challenge; retry_after_s non-zero adds Retry-After. */
enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, const char *json,
			     unsigned retry_after_s);

/* The two answers almost every request gets, built once per server and
 * shared by its connections (libmicrohttpd responses are
 * reference-counted): [closing][authenticated]. Each holds its own copy of
 * sf_answer_result()'s body, so nothing another init frees can pull it
 * away; the server destroys them after its daemons stop. An entry left
 * NULL (out of memory) is built per request instead. */
struct canned_results {
	struct MHD_Response *r[2][2];
};

void canned_results_create(struct canned_results *canned);
void canned_results_destroy(struct canned_results *canned);
/* 200 with the AuthenticateResult. */
enum MHD_Result respond_result(struct MHD_Connection *c, const struct canned_results *canned,
			       bool authenticated);

#endif
