/*
 * The operators' listener ([admin]): GET /healthz and the token API
 * (POST /api/v1/tokens); /metrics plugs in here. Never exposed to
 * Salesforce.
 */
#include "http_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "tokens.h"

/* Every token API answer: JSON, never cached. */
static enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status,
				    const char *json)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (http_connection_closing(c))
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Basic realm=\"dagate\"");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result respond_token_api(struct request_ctx *ctx, struct MHD_Connection *c,
					 const char *url, const char *method)
{
	struct token_issuer *ti = http_server_services(ctx->srv)->tokens;
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const char *authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
								MHD_HTTP_HEADER_AUTHORIZATION);
	enum MHD_Result ret;
	char *json = NULL;
	int status = 500;

	if (token_api_handle(ti, &http_server_services(ctx->srv)->cfg->map, method, url,
			     authorization,
			     info != NULL ? info->client_addr : NULL,
			     ctx->body != NULL ? ctx->body : "", ctx->body_len,
			     &status, &json) < 0)
		json = NULL;
	if (ctx->body != NULL)
		explicit_bzero(ctx->body, ctx->body_used);
	ret = respond_json(c, (unsigned)status, json != NULL ? json : "{}");
	if (json != NULL) {
		explicit_bzero(json, strlen(json));  /* a 201 body holds a token */
		free(json);
	}
	return ret;
}

enum MHD_Result admin_handle(HTTP_HANDLER_ARGS)
{
	struct http_server *srv = cls;
	const struct http_services *svc = http_server_services(srv);
	struct request_ctx *ctx = *req_cls;
	const char *length;
	bool token_api = strcmp(url, TOKEN_API_PATH) == 0 ||
			 strncmp(url, TOKEN_API_PATH "/", strlen(TOKEN_API_PATH) + 1) == 0;

	if (ctx == NULL)
		return MHD_NO;   /* the URI callback always makes one */
	if (!ctx->headers_checked) {
		ctx->headers_checked = true;
		if (!http_peer_allowed(c, &svc->cfg->admin.allow)) {
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
		if (strcmp(url, "/metrics") == 0) {
			size_t len;
			char *text;

			if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
				return http_respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
							 "method not allowed\n");
			text = metrics_render(svc, &len);
			if (text == NULL)
				return MHD_NO;
			return http_respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
					    text, len, MHD_RESPMEM_MUST_FREE);
		}
		if (!token_api || svc->tokens == NULL)
			return http_respond_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
		length = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (length != NULL && strtoull(length, NULL, 10) > TOKEN_API_MAX_BODY)
			return respond_json(c, MHD_HTTP_CONTENT_TOO_LARGE,
					    "{\"error\":\"body too large\"}");
		ctx->body_cap = TOKEN_API_MAX_BODY;
		ctx->body = malloc(ctx->body_cap + 1);
		return ctx->body != NULL ? MHD_YES : MHD_NO;
	}
	if (*upload_data_size > 0) {
		if (ctx->too_large || *upload_data_size > ctx->body_cap - ctx->body_len) {
			ctx->too_large = true;
			ctx->discarded += *upload_data_size;
			*upload_data_size = 0;
			return ctx->discarded > 16 * TOKEN_API_MAX_BODY ? MHD_NO : MHD_YES;
		}
		memcpy(ctx->body + ctx->body_len, upload_data, *upload_data_size);
		ctx->body_len += *upload_data_size;
		ctx->body_used = ctx->body_len;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (ctx->too_large)
		return respond_json(c, MHD_HTTP_CONTENT_TOO_LARGE, "{\"error\":\"body too large\"}");
	return respond_token_api(ctx, c, url, method);
}
