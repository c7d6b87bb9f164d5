/*
 * `dagate throttle status|unblock (USER | --source IP)`: what the running
 * server's throttle holds for one user or one source, and lifting its
 * block (admin API /api/v1/throttle/...; the server audits each lift).
 */
#include "commands.h"

#include <curl/curl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_client.h"

static const char usage[] =
	"usage: dagate throttle status (USER | --source IP) [--admin HOST:PORT]\n"
	"       dagate throttle unblock (USER | --source IP) [--admin HOST:PORT]\n"
	"status   the running server's count for USER (as Salesforce sends it) or a sourceIp\n"
	"unblock  forget that count: the block is lifted (audited by the server)\n";

static int print_state(const char *body)
{
	json_object *o = json_tokener_parse(body), *name = NULL;

	if (o == NULL || !json_object_object_get_ex(o, "name", &name)) {
		fprintf(stderr, "dagate throttle: the server's answer is not what was expected\n");
		json_object_put(o);
		return 1;
	}
	printf("%s: %s%lld failures", json_object_get_string(name),
	       admin_json_flag(o, "lifted") ? "lifted; now " : "", admin_json_num(o, "failures"));
	if (admin_json_num(o, "budget") > 0)
		printf(" of %lld", admin_json_num(o, "budget"));
	else
		printf(" (no budget)");
	if (admin_json_num(o, "in_flight") > 0)
		printf(", %lld in flight", admin_json_num(o, "in_flight"));
	if (admin_json_num(o, "failures") > 0)
		printf(", lapses in %llds", admin_json_num(o, "lapses_in_seconds"));
	if (admin_json_flag(o, "blocked"))
		printf(": BLOCKED%s", admin_json_num(o, "block_ends_in_seconds") > 0 ? "" : " (budget spent)");
	if (admin_json_num(o, "block_ends_in_seconds") > 0)
		printf(" for %llds", admin_json_num(o, "block_ends_in_seconds"));
	printf(" (%s)\n", admin_json_flag(o, "shared") ? "shared store" : "this instance's memory");
	if (admin_json_get(o, "familiar_networks") != NULL) {
		printf("  %lld familiar networks", admin_json_num(o, "familiar_networks"));
		if (admin_json_num(o, "familiar_networks") > 0 && admin_json_num(o, "unfamiliar_budget") > 0)
			printf("; from elsewhere %lld failures of %lld%s",
			       admin_json_num(o, "unfamiliar_failures"), admin_json_num(o, "unfamiliar_budget"),
			       admin_json_flag(o, "unfamiliar_blocked") ? ": UNFAMILIAR NETWORKS BLOCKED" : "");
		if (admin_json_num(o, "unfamiliar_block_ends_in_seconds") > 0)
			printf(" for %llds", admin_json_num(o, "unfamiliar_block_ends_in_seconds"));
		printf("; %lld blocks so far\n", admin_json_num(o, "blocks"));
	}
	json_object_put(o);
	return 0;
}

int cmd_throttle(const char *config_path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "source", required_argument, NULL, 's' },
		{ "admin", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *source = NULL, *admin = NULL, *what, *name;
	char path[1024], *body = NULL, *escaped;
	int opt, ret;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "s:A:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': source = optarg; break;
		case 'A': admin = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind >= argc || (strcmp(argv[optind], "status") != 0 &&
			       strcmp(argv[optind], "unblock") != 0) ||
	    argc - optind != (source != NULL ? 1 : 2)) {
		fputs(usage, stderr);
		return 2;
	}
	what = argv[optind];
	name = source != NULL ? source : argv[optind + 1];
	escaped = curl_easy_escape(NULL, name, 0);   /* libcurl >= 7.82: no handle needed */
	if (escaped == NULL)
		return 1;
	snprintf(path, sizeof path, "/api/v1/throttle/%s/%s", source != NULL ? "sources" : "users",
		 escaped);
	curl_free(escaped);
	ret = admin_call("throttle", config_path, admin,
			 strcmp(what, "unblock") == 0 ? "DELETE" : "GET", path, &body);
	if (ret != 0)
		return ret;
	ret = print_state(body);
	free(body);
	return ret;
}
