/*
 * The operators' listener ([admin]): GET /healthz (alive), GET /readyz
 * (every route has a backend up), GET /metrics, what
 * the server is (GET /api/v1/status), the recent non-true decisions
 * (GET /api/v1/decisions), live traces of one user (/api/v1/trace) and
 * the token API
 * (POST /api/v1/tokens). Never exposed to Salesforce.
 */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decisions.h"
#include "header_check.h"
#include "metrics.h"
#include "peer.h"
#include "refusal.h"
#include "request.h"
#include "router.h"
#include "server.h"
#include "status.h"
#include "throttle_api.h"
#include "trace.h"
#include "tokens.h"

/* A token API body past TOKEN_API_MAX_BODY is skipped up to this before
 * the connection is cut. */
#define ADMIN_DISCARD_MAX (16 * TOKEN_API_MAX_BODY)

static enum MHD_Result respond_token_api(struct request_ctx *ctx, struct MHD_Connection *c,
					 const char *url, const char *method)
{
	const struct http_generation *gen = &ctx->srv->gen;
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const char *authorization = header_value(c, MHD_HTTP_HEADER_AUTHORIZATION);
	enum MHD_Result ret;
	char *json = NULL;
	unsigned retry_after_s = 0;
	int status = 500;

	if (token_api_handle(gen->tokens, &gen->cfg->map, method, url, authorization,
			     info != NULL ? info->client_addr : NULL,
			     ctx->body.data != NULL ? ctx->body.data : "", ctx->body.len,
			     &status, &json, &retry_after_s) < 0)
		json = NULL;
	request_body_wipe(ctx);
	ret = respond_json(c, (unsigned)status, json != NULL ? json : "{}", retry_after_s);
	if (json != NULL) {
		explicit_bzero(json, strlen(json));  /* a 201 body holds a token */
		free(json);
	}
	return ret;
}

/* GET or HEAD only. */
static bool is_read(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* GET /api/v1/decisions?answer=false|fault|any&limit=N */
static enum MHD_Result respond_decisions(struct MHD_Connection *c, const char *method)
{
	const char *answer = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "answer");
	const char *limit_text = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	enum decisions_filter filter;
	const char *error = NULL;
	unsigned limit;
	char *json;
	enum MHD_Result ret;

	if (!is_read(method))
		return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (decisions_parse_query(answer, limit_text, &filter, &limit, &error) < 0) {
		char text[128];

		snprintf(text, sizeof text, "{\"error\":\"%s\"}", error);
		return respond_json(c, MHD_HTTP_BAD_REQUEST, text, 0);
	}
	json = decisions_json(filter, limit);
	if (json == NULL)
		return MHD_NO;
	ret = respond_json(c, MHD_HTTP_OK, json, 0);
	free(json);
	return ret;
}

/* GET /readyz: 200 when every route has a provider whose backend was up
 * at its last answer or probe; else 503 naming the routes that have none.
 * For load balancers: no backend is contacted here. */
static enum MHD_Result respond_ready(struct MHD_Connection *c, const struct http_generation *gen)
{
	char down[512];
	json_object *o;
	enum MHD_Result ret;

	if (router_ready(gen->router, down, sizeof down))
		return respond_json(c, MHD_HTTP_OK, "{\"ready\":true}", 0);
	o = json_object_new_object();
	json_object_object_add(o, "ready", json_object_new_boolean(false));
	json_object_object_add(o, "down", json_object_new_string(down));
	ret = respond_json(c, MHD_HTTP_SERVICE_UNAVAILABLE,
			   json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), 0);
	json_object_put(o);
	return ret;
}

/* GET /api/v1/status */
static enum MHD_Result respond_status(struct request_ctx *ctx, struct MHD_Connection *c,
				      const char *method)
{
	enum MHD_Result ret;
	char *json;

	if (!is_read(method))
		return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	/* Less this request's own context. */
	json = status_json(&ctx->srv->gen, http_server_inflight(ctx->srv) - 1);
	if (json == NULL)
		return MHD_NO;
	ret = respond_json(c, MHD_HTTP_OK, json, 0);
	free(json);
	return ret;
}

/* POST /api/v1/trace?user=NAME[&for=SECONDS]: start a trace of NAME as
 * [map] makes it; GET /api/v1/trace/ID[?after=SEQ]: its steps. */
static enum MHD_Result respond_trace(struct request_ctx *ctx, struct MHD_Connection *c,
				     const char *url, const char *method)
{
	const struct dagate_config *cfg = ctx->srv->gen.cfg;
	char mapped[MAPPED_USER_MAX + 1], text[MAPPED_USER_MAX + 128];
	const char *error = NULL, *arg;
	enum MHD_Result ret;
	int64_t n = TRACE_SECONDS_DEFAULT, after = 0, id;
	unsigned trace_id;
	int status;
	char *json;

	if (strcmp(url, TRACE_API_PATH) == 0) {
		const char *user = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "user");

		if (strcmp(method, "POST") != 0)
			return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
		arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "for");
		if (arg != NULL && (parse_uint(arg, &n) < 0 || n < 1 || n > TRACE_SECONDS_MAX))
			return respond_json(c, MHD_HTTP_BAD_REQUEST,
					    "{\"error\":\"for must be 1 to 3600 seconds\"}", 0);
		if (user == NULL || usermap_check(user, &error) < 0 ||
		    usermap_apply(&cfg->map, user, mapped, sizeof mapped) < 0)
			return respond_json(c, MHD_HTTP_BAD_REQUEST,
					    "{\"error\":\"user must be a username Salesforce could send\"}", 0);
		if (trace_start(mapped, (unsigned)n, &trace_id, &error) < 0) {
			snprintf(text, sizeof text, "{\"error\":\"%s\"}", error);
			return respond_json(c, MHD_HTTP_SERVICE_UNAVAILABLE, text, 0);
		}
		json = trace_json(trace_id, 0, &status);
		if (json == NULL)
			return MHD_NO;
		ret = respond_json(c, MHD_HTTP_CREATED, json, 0);
		free(json);
		return ret;
	}
	if (!is_read(method))
		return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "after");
	if (parse_uint(url + strlen(TRACE_API_PATH "/"), &id) < 0 || id < 1 || id > UINT32_MAX ||
	    (arg != NULL && parse_uint(arg, &after) < 0))
		return respond_json(c, MHD_HTTP_BAD_REQUEST, "{\"error\":\"bad trace id or after\"}", 0);
	json = trace_json((unsigned)id, (uint64_t)after, &status);
	if (json == NULL)
		return status == 404 ? respond_json(c, MHD_HTTP_NOT_FOUND, "{\"error\":\"no such trace\"}", 0)
				     : MHD_NO;
	ret = respond_json(c, MHD_HTTP_OK, json, 0);
	free(json);
	return ret;
}

/* First call: everything but the token API's body. */
static enum MHD_Result check_headers(struct request_ctx *ctx, struct MHD_Connection *c,
				     const char *url, const char *method, const char *version)
{
	const struct http_generation *gen = &ctx->srv->gen;
	bool token_api = strcmp(url, TOKEN_API_PATH) == 0 ||
			 strncmp(url, TOKEN_API_PATH "/", strlen(TOKEN_API_PATH) + 1) == 0;
	enum MHD_Result ret;

	if (!header_check_passed(c, method, version, &ret))
		return ret;

	/* Checked at accept already; kept here as the last word. */
	if (!peer_allowed(c, &gen->cfg->admin.allow)) {
		char peer[INET6_ADDRSTRLEN + 8];

		peer_text(c, peer, sizeof peer);
		http_refusal(HTTP_REFUSED_PEER, conn_listener(c),
			     "refused an admin request from %s: not in [admin] allow", peer);
		return respond_text(c, MHD_HTTP_FORBIDDEN, "forbidden\n");
	}
	if (strcmp(url, "/readyz") == 0) {
		if (!is_read(method))
			return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
		return respond_ready(c, gen);
	}
	if (strcmp(url, "/healthz") == 0) {
		if (!is_read(method))
			return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
		return respond_text(c, MHD_HTTP_OK, "ok\n");
	}
	if (strcmp(url, "/metrics") == 0) {
		size_t len;
		char *text;

		if (!is_read(method))
			return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
		text = metrics_render(gen, &len);
		if (text == NULL)
			return MHD_NO;
		return respond(c, &(struct response){
			.status = MHD_HTTP_OK,
			.content_type = "text/plain; version=0.0.4; charset=utf-8",
			.body = text, .len = len, .mode = MHD_RESPMEM_MUST_FREE,
		});
	}
	if (strcmp(url, DECISIONS_API_PATH) == 0)
		return respond_decisions(c, method);
	if (strcmp(url, STATUS_API_PATH) == 0)
		return respond_status(ctx, c, method);
	if (strncmp(url, THROTTLE_API_PREFIX, strlen(THROTTLE_API_PREFIX)) == 0)
		return throttle_api_handle(c, gen, url, method);
	if (strcmp(url, TRACE_API_PATH) == 0 ||
	    strncmp(url, TRACE_API_PATH "/", strlen(TRACE_API_PATH) + 1) == 0)
		return respond_trace(ctx, c, url, method);
	if (!token_api || gen->tokens == NULL)
		return respond_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
	switch (request_body_open(ctx, c, TOKEN_API_MAX_BODY, ADMIN_DISCARD_MAX)) {
	case BODY_ANNOUNCED_TOO_LARGE:
		return respond_json(c, MHD_HTTP_CONTENT_TOO_LARGE,
				    "{\"error\":\"body too large\"}", 0);
	case BODY_NO_MEMORY:
		return MHD_NO;
	case BODY_OPEN:
		break;
	}
	return MHD_YES;
}

enum MHD_Result admin_handle(HTTP_HANDLER_ARGS)
{
	struct request_ctx *ctx = *req_cls;

	if (ctx == NULL)
		return MHD_NO;   /* the URI callback always makes one */
	if (!ctx->headers_checked) {
		ctx->headers_checked = true;
		return check_headers(ctx, c, url, method, version);
	}
	if (*upload_data_size > 0)
		return request_body_take(ctx, upload_data, upload_data_size);
	if (ctx->body.too_large)
		return respond_json(c, MHD_HTTP_CONTENT_TOO_LARGE,
				    "{\"error\":\"body too large\"}", 0);
	return respond_token_api(ctx, c, url, method);
}
