/*
 * `dagate status`: what the running server reports about itself
 * (GET /api/v1/status on its [admin] listener), for a person: version,
 * uptime, configuration generation, listeners, providers and their
 * backends, the queue, the throttle and token counters.
 */
#include "commands.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_client.h"
#include "status.h"

static const char usage[] =
	"usage: dagate status [--json] [--admin HOST:PORT]\n"
	"What the running server reports: version, uptime, generation, listeners,\n"
	"providers and their backends, queue, throttle and tokens (from its [admin]\n"
	"listener; --admin overrides the address).\n";

static void print_providers(json_object *list)
{
	printf("providers:\n");
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *p = json_object_array_get_idx(list, i), *servers = admin_json_get(p, "servers");

		printf("  %-20s %-8s %-5s in flight %lld of %lld\n", admin_json_text(p, "name"), admin_json_text(p, "type"),
		       admin_json_flag(p, "backend_up") ? "up" : "DOWN",
		       admin_json_num(p, "inflight"), admin_json_num(p, "concurrency"));
		for (size_t j = 0; servers != NULL && j < json_object_array_length(servers); j++) {
			json_object *s = json_object_array_get_idx(servers, j);

			printf("    %-40s %s\n", admin_json_text(s, "server"),
			       admin_json_flag(s, "up") ? "up" : "DOWN");
		}
	}
}

static int print_status(const char *body)
{
	json_object *top = json_tokener_parse(body), *list, *q, *t;

	if (top == NULL || (list = admin_json_get(top, "listeners")) == NULL || (q = admin_json_get(top, "queue")) == NULL) {
		fprintf(stderr, "dagate status: the server's answer is not what was expected\n");
		json_object_put(top);
		return 1;
	}
	printf("dagate %s, up %llds (since %s), configuration %s, generation %lld",
	       admin_json_text(top, "version"), admin_json_num(top, "uptime_seconds"), admin_json_text(top, "started"),
	       admin_json_text(top, "config"), admin_json_num(top, "generation"));
	if (admin_json_num(top, "reloads_refused") > 0)
		printf(" (%lld reloads refused)", admin_json_num(top, "reloads_refused"));
	printf("\nlisteners:\n");
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *l = json_object_array_get_idx(list, i);

		printf("  %-6s %s%s\n", admin_json_text(l, "kind"), admin_json_text(l, "address"),
		       admin_json_flag(l, "tls") ? " (TLS)" : "");
	}
	print_providers(admin_json_get(top, "providers"));
	printf("queue: %lld in flight, %lld waiting of %lld; %lld workers, at most %lld per backend\n",
	       admin_json_num(q, "inflight"), admin_json_num(q, "waiting"), admin_json_num(q, "capacity"), admin_json_num(q, "workers"),
	       admin_json_num(q, "lane_limit"));
	if ((t = admin_json_get(top, "throttle")) != NULL)
		printf("throttle: %lld refused by user budget, %lld by unfamiliar budget, %lld by "
		       "source budget, %lld repeats; %lld blocks (%lld unfamiliar), %lld logins from "
		       "familiar networks, %lld shared-state failures\n",
		       admin_json_num(t, "throttled_user"), admin_json_num(t, "throttled_unfamiliar"),
		       admin_json_num(t, "throttled_source"), admin_json_num(t, "repeats"),
		       admin_json_num(t, "blocks_user") + admin_json_num(t, "blocks_unfamiliar"),
		       admin_json_num(t, "blocks_unfamiliar"), admin_json_num(t, "familiar_hits"),
		       admin_json_num(t, "redis_failures"));
	if ((t = admin_json_get(top, "tokens")) != NULL)
		printf("tokens: %lld issued, %lld redeemed, %lld rejected, %lld store unavailable\n",
		       admin_json_num(t, "issued"), admin_json_num(t, "redeemed"), admin_json_num(t, "rejected"), admin_json_num(t, "unavailable"));
	json_object_put(top);
	return 0;
}

int cmd_status(const char *config_path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "admin", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *admin = NULL;
	bool json = false;
	char *body = NULL;
	int opt, ret;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "jA:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 'A': admin = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	ret = admin_get("status", config_path, admin, STATUS_API_PATH, &body);
	if (ret != 0)
		return ret;
	ret = json ? printf("%s\n", body) < 0 : print_status(body);
	free(body);
	return ret;
}
