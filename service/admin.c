/*
 * The operators' listener ([admin]): GET /healthz now; the token API and
 * /metrics plug in here. Never exposed to Salesforce.
 */
#include "http_internal.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

enum MHD_Result admin_handle(HTTP_HANDLER_ARGS)
{
	struct http_server *srv = cls;
	const struct dagate_config *cfg = http_server_services(srv)->cfg;
	struct request_ctx *ctx = *req_cls;

	if (ctx != NULL && ctx->headers_checked && *upload_data_size > 0) {
		/* No admin endpoint takes a body yet. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (ctx != NULL && ctx->headers_checked)
		return MHD_YES;
	if (ctx != NULL)
		ctx->headers_checked = true;
	if (!http_peer_allowed(c, &cfg->admin.allow)) {
		char peer[INET6_ADDRSTRLEN + 8];

		http_peer_text(c, peer, sizeof peer);
		log_warnx("refused an admin request from %s: not in [admin] allow", peer);
		return http_respond_text(c, MHD_HTTP_FORBIDDEN, "forbidden\n");
	}
	if (strcmp(url, "/healthz") == 0) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return http_respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
						 "method not allowed\n");
		return http_respond_text(c, MHD_HTTP_OK, "ok\n");
	}
	return http_respond_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}
