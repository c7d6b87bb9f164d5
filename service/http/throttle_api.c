/*
 * The throttle on the admin listener: see and lift one user's or one
 * source's block (throttle.h throttle_state).
 *   GET    /api/v1/throttle/users/NAME     NAME as Salesforce sends it ([map] applies);
 *                                          ?source=IP: is its network familiar to NAME
 *   DELETE /api/v1/throttle/users/NAME     lift (audited as a security event)
 *   GET    /api/v1/throttle/sources/IP
 *   DELETE /api/v1/throttle/sources/IP
 */
#include "throttle_api.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "peer.h"
#include "respond.h"
#include "sf_server.h"
#include "throttle.h"
#include "usermap.h"

#define THROTTLE_API_DEADLINE_MS 2000

static atomic_ullong lifts;

unsigned long long throttle_api_lifts(void)
{
	return atomic_load(&lifts);
}

static enum MHD_Result error(struct MHD_Connection *c, unsigned status, const char *text)
{
	char body[200];

	snprintf(body, sizeof body, "{\"error\":\"%s\"}", text);
	return respond_json(c, status, body, 0);
}

enum MHD_Result throttle_api_handle(struct MHD_Connection *c, const struct http_generation *gen,
				    const char *url, const char *method)
{
	const char *rest = url + strlen(THROTTLE_API_PREFIX);
	bool lift = strcmp(method, "DELETE") == 0;
	char name[MAPPED_USER_MAX + 1], peer[INET6_ADDRSTRLEN + 8];
	const char *why = NULL, *source = NULL;
	struct throttle_state st;
	enum MHD_Result ret;
	json_object *o;
	char kind;

	if (!lift && strcmp(method, "GET") != 0)
		return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (gen->throttle == NULL)
		return error(c, MHD_HTTP_NOT_FOUND, "throttling is off");
	if (strncmp(rest, "users/", 6) == 0) {
		kind = 'u';
		rest += 6;
		if (usermap_check(rest, &why) < 0 ||
		    usermap_apply(&gen->cfg->map, rest, name, sizeof name) < 0)
			return error(c, MHD_HTTP_BAD_REQUEST, "not a username Salesforce could send");
		source = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "source");
		if (source != NULL && !sf_source_ip_valid(source))
			return error(c, MHD_HTTP_BAD_REQUEST, "source: not an IPv4 or IPv6 address");
	} else if (strncmp(rest, "sources/", 8) == 0) {
		kind = 's';
		rest += 8;
		if (!sf_source_ip_valid(rest))
			return error(c, MHD_HTTP_BAD_REQUEST, "not an IPv4 or IPv6 address");
		snprintf(name, sizeof name, "%s", rest);
	} else {
		return error(c, MHD_HTTP_NOT_FOUND, "use /api/v1/throttle/users/NAME or /sources/IP");
	}
	if (throttle_state(gen->throttle, kind, name, source, lift,
			   clock_now_ms() + THROTTLE_API_DEADLINE_MS, &st) < 0)
		return error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "throttle unavailable");
	if (lift) {
		atomic_fetch_add(&lifts, 1);
		peer_text(c, peer, sizeof peer);
		log_security("throttle_lift", kind == 'u' ? "user" : "source", name,
			     "peer", peer, "shared", st.shared ? "yes" : "no", NULL);
	}
	o = json_object_new_object();
	json_object_object_add(o, "kind", json_object_new_string(kind == 'u' ? "user" : "source"));
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "failures", json_object_new_int64(st.failures));
	json_object_object_add(o, "in_flight", json_object_new_int64(st.in_flight));
	json_object_object_add(o, "budget", json_object_new_int64(st.budget));
	json_object_object_add(o, "blocked", json_object_new_boolean(st.blocked));
	json_object_object_add(o, "lapses_in_seconds",
			       json_object_new_int64((st.lapses_in_ms + 999) / 1000));
	json_object_object_add(o, "block_ends_in_seconds",
			       json_object_new_int64((st.block_ms + 999) / 1000));
	json_object_object_add(o, "blocks", json_object_new_int64(st.blocks));
	if (kind == 'u') {
		json_object_object_add(o, "familiar_networks",
				       json_object_new_int64(st.familiar_networks));
		json_object_object_add(o, "unfamiliar_failures",
				       json_object_new_int64(st.unfamiliar_failures));
		json_object_object_add(o, "unfamiliar_budget",
				       json_object_new_int64(st.unfamiliar_budget));
		json_object_object_add(o, "unfamiliar_blocked",
				       json_object_new_boolean(st.unfamiliar_blocked));
		json_object_object_add(o, "unfamiliar_block_ends_in_seconds",
				       json_object_new_int64((st.unfamiliar_block_ms + 999) / 1000));
		if (source != NULL) {
			json_object_object_add(o, "source", json_object_new_string(source));
			json_object_object_add(o, "source_familiar",
					       json_object_new_boolean(st.source_familiar));
		}
	}
	json_object_object_add(o, "shared", json_object_new_boolean(st.shared));
	json_object_object_add(o, "lifted", json_object_new_boolean(lift));
	ret = respond_json(c, MHD_HTTP_OK, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
									     JSON_C_TO_STRING_NOSLASHESCAPE), 0);
	json_object_put(o);
	return ret;
}
