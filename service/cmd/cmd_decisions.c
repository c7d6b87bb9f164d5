/*
 * `dagate decisions`: the running server's recent decisions that were not
 * true (GET /api/v1/decisions on its [admin] listener), newest first, as a
 * table or as the JSON the server gave.
 */
#include "commands.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_client.h"
#include "decisions.h"

static const char usage[] =
	"usage: dagate decisions [--answer false|fault|any] [--limit N] [--json]\n"
	"                        [--admin HOST:PORT]\n"
	"The running server's last decisions that were not true, newest first\n"
	"(from its [admin] listener; --admin overrides the address).\n";

static int print_table(const char *json)
{
	json_object *top = json_tokener_parse(json), *list;

	if (top == NULL || !json_object_object_get_ex(top, "decisions", &list) ||
	    !json_object_is_type(list, json_type_array)) {
		fprintf(stderr, "dagate decisions: the server's answer is not what was expected\n");
		json_object_put(top);
		return 1;
	}
	printf("%-20s %-16s %-6s %-16s %-32s %-15s %-12s %s\n", "TIME", "REQUEST_ID", "ANSWER",
	       "OUTCOME", "USER", "SOURCE_IP", "PROVIDER", "DETAIL");
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *e = json_object_array_get_idx(list, i);
		bool unsent = admin_json_get(e, "sent") != NULL && !admin_json_flag(e, "sent");

		printf("%-20s %-16s %-6s %-16s %-32s %-15s %-12s %s%s\n", admin_json_text(e, "time"),
		       admin_json_text(e, "request_id"), admin_json_text(e, "answer"), admin_json_text(e, "outcome"),
		       admin_json_text(e, "user"), admin_json_text(e, "source_ip"), admin_json_text(e, "provider"),
		       admin_json_text(e, "detail"), unsent ? " (never sent)" : "");
	}
	json_object_put(top);
	return 0;
}

int cmd_decisions(const char *config_path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "answer", required_argument, NULL, 'a' },
		{ "limit", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "admin", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *answer = NULL, *limit = NULL, *admin = NULL, *error = NULL;
	enum decisions_filter filter;
	char path[128], *body = NULL;
	bool json = false;
	unsigned n;
	int opt, ret;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "a:n:jA:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'a': answer = optarg; break;
		case 'n': limit = optarg; break;
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
	/* The server checks them too; a typo is better told here. */
	if (decisions_parse_query(answer, limit, &filter, &n, &error) < 0) {
		fprintf(stderr, "dagate decisions: %s\n", error);
		return 2;
	}
	snprintf(path, sizeof path, "%s?answer=%s&limit=%u", DECISIONS_API_PATH,
		 answer != NULL ? answer : "any", n);
	ret = admin_get("decisions", config_path, admin, path, &body);
	if (ret != 0)
		return ret;
	ret = json ? printf("%s\n", body) < 0 : print_table(body);
	free(body);
	return ret;
}
