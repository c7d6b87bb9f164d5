#include "respond.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "sf_server.h"

#define SOAP_CONTENT_TYPE "text/xml; charset=utf-8"

static void wipe_free(void *body)
{
	explicit_bzero(body, strlen(body));
	free(body);
}

struct MHD_Response *response_create(const struct response *r, bool closing)
{
	struct MHD_Response *mr = r->wipe ?
		MHD_create_response_from_buffer_with_free_callback(r->len, (void *)r->body, wipe_free) :
		MHD_create_response_from_buffer(r->len, (void *)r->body, r->mode);

	if (mr == NULL)
		return NULL;
	if (r->csp != NULL) {
		MHD_add_response_header(mr, "Content-Security-Policy", r->csp);
		MHD_add_response_header(mr, "X-Frame-Options", "DENY");
		MHD_add_response_header(mr, "Referrer-Policy", "no-referrer");
	}
	if (r->content_type != NULL)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
	if (r->no_store)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (r->allow != NULL)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (r->www_authenticate != NULL)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					r->www_authenticate);
	for (size_t i = 0; i < sizeof r->www_authenticate_also / sizeof r->www_authenticate_also[0]; i++)
		if (r->www_authenticate_also[i] != NULL)
			MHD_add_response_header(mr, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
						r->www_authenticate_also[i]);
	if (r->retry_after_s != 0) {
		char seconds[16];

		snprintf(seconds, sizeof seconds, "%u", r->retry_after_s);
		MHD_add_response_header(mr, MHD_HTTP_HEADER_RETRY_AFTER, seconds);
	}
	if (closing)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
	return mr;
}

enum MHD_Result respond(struct MHD_Connection *c, const struct response *r)
{
	struct MHD_Response *mr = response_create(r, r->close || conn_closing(c));
	enum MHD_Result ret;

	if (mr == NULL)
		return MHD_NO;
	ret = MHD_queue_response(c, r->status, mr);
	MHD_destroy_response(mr);
	return ret;
}

enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status, const char *text)
{
	return respond(c, &(struct response){
		.status = status, .content_type = "text/plain; charset=utf-8",
		.body = text, .len = strlen(text), .mode = MHD_RESPMEM_PERSISTENT,
	});
}

enum MHD_Result respond_soap(struct MHD_Connection *c, unsigned status, const char *body,
			     size_t len, enum MHD_ResponseMemoryMode mode)
{
	return respond(c, &(struct response){
		.status = status, .content_type = SOAP_CONTENT_TYPE,
		.body = body, .len = len, .mode = mode,
	});
}

enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, const char *json,
			     unsigned retry_after_s)
{
	return respond(c, &(struct response){
		.status = status, .content_type = "application/json",
		.body = json, .len = strlen(json), .mode = MHD_RESPMEM_MUST_COPY,
		.no_store = true, .retry_after_s = retry_after_s,
		.www_authenticate = status == MHD_HTTP_UNAUTHORIZED ?
				    "Basic realm=\"dagate\"" : NULL,
	});
}

static struct response result_response(bool authenticated, enum MHD_ResponseMemoryMode mode)
{
	struct response r = {
		.status = MHD_HTTP_OK, .content_type = SOAP_CONTENT_TYPE, .mode = mode,
	};

	r.body = sf_answer_result(authenticated, &r.len);
	return r;
}

void canned_results_create(struct canned_results *canned)
{
	for (int closing = 0; closing < 2; closing++) {
		for (int yes = 0; yes < 2; yes++) {
			struct response r = result_response(yes, MHD_RESPMEM_MUST_COPY);

			canned->r[closing][yes] = response_create(&r, closing);
		}
	}
}

void canned_results_destroy(struct canned_results *canned)
{
	for (int closing = 0; closing < 2; closing++) {
		for (int yes = 0; yes < 2; yes++) {
			if (canned->r[closing][yes] != NULL)
				MHD_destroy_response(canned->r[closing][yes]);
			canned->r[closing][yes] = NULL;
		}
	}
}

enum MHD_Result respond_result(struct MHD_Connection *c, const struct canned_results *canned,
			       bool authenticated)
{
	struct MHD_Response *mr = canned->r[conn_closing(c)][authenticated];

	if (mr == NULL) {
		struct response r = result_response(authenticated, MHD_RESPMEM_PERSISTENT);

		return respond(c, &r);
	}
	return MHD_queue_response(c, MHD_HTTP_OK, mr);
}
