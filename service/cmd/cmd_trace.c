/*
 * `dagate trace USER [--for DURATION]`: ask the running server to narrate
 * USER's next decisions (POST /api/v1/trace on its [admin] listener) and
 * print each step as it comes (GET /api/v1/trace/ID), until the trace
 * ends by itself. Interrupting this command does not stop the trace: it
 * ends on the server at its time.
 */
#include "commands.h"

#include <curl/curl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin_client.h"
#include "parse.h"
#include "trace.h"

#define TRACE_POLL_MS 300

static const char usage[] =
	"usage: dagate trace USER [--for DURATION] [--admin HOST:PORT]\n"
	"Print every step of USER's next decisions in the running server (mapping,\n"
	"route, throttle, provider steps, answer; never a password) for DURATION\n"
	"(default 60s, at most 1h).\n";

/* Prints the steps of one answer; returns its "next" and whether the
 * trace is still active, or -1 when the answer is not one. */
static int print_steps(const char *body, long long *next_r, bool *active_r)
{
	json_object *top = json_tokener_parse(body), *steps = admin_json_get(top, "steps");

	if (top == NULL || steps == NULL || admin_json_get(top, "next") == NULL) {
		json_object_put(top);
		return -1;
	}
	for (size_t i = 0; i < json_object_array_length(steps); i++) {
		json_object *s = json_object_array_get_idx(steps, i);

		printf("%s %s %+6lldms  %s\n", admin_json_text(s, "time"),
		       admin_json_text(s, "request_id"), admin_json_num(s, "ms"),
		       admin_json_text(s, "step"));
	}
	fflush(stdout);
	*next_r = admin_json_num(top, "next");
	*active_r = admin_json_flag(top, "active");
	json_object_put(top);
	return 0;
}

int cmd_trace(const char *config_path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "for", required_argument, NULL, 'f' },
		{ "admin", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *admin = NULL, *user;
	char address[300], path[512], *body = NULL, *escaped;
	int64_t for_ms = TRACE_SECONDS_DEFAULT * 1000;
	long long id, next = 0;
	bool active = true;
	int opt, ret;
	json_object *started;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "f:A:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			if (parse_duration_ms(optarg, &for_ms) < 0 || for_ms < 1000 ||
			    for_ms > TRACE_SECONDS_MAX * 1000LL) {
				fprintf(stderr, "dagate trace: --for must be a duration from 1s to 1h\n");
				return 2;
			}
			break;
		case 'A': admin = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fputs(usage, stderr);
		return 2;
	}
	user = argv[optind];
	ret = admin_address("trace", config_path, admin, address, sizeof address);
	if (ret != 0)
		return ret;
	escaped = curl_easy_escape(NULL, user, 0);   /* libcurl >= 7.82: no handle needed */
	if (escaped == NULL)
		return 1;
	snprintf(path, sizeof path, "%s?user=%s&for=%lld", TRACE_API_PATH, escaped,
		 (long long)(for_ms / 1000));
	curl_free(escaped);
	ret = admin_call("trace", config_path, address, "POST", path, &body);
	if (ret != 0)
		return ret;
	started = json_tokener_parse(body);
	id = admin_json_num(started, "id");
	if (id > 0)
		printf("tracing %s (as mapped) for %llds: trace %lld; steps appear as logins arrive\n",
		       admin_json_text(started, "user"), (long long)(for_ms / 1000), id);
	json_object_put(started);
	free(body);
	if (id <= 0) {
		fprintf(stderr, "dagate trace: the server's answer is not what was expected\n");
		return 1;
	}
	while (active) {
		struct timespec pause = { 0, TRACE_POLL_MS * 1000000L };

		snprintf(path, sizeof path, "%s/%lld?after=%lld", TRACE_API_PATH, id, next);
		ret = admin_call("trace", config_path, address, "GET", path, &body);
		if (ret != 0)
			return ret;
		ret = print_steps(body, &next, &active);
		free(body);
		if (ret < 0) {
			fprintf(stderr, "dagate trace: the server's answer is not what was expected\n");
			return 1;
		}
		if (active)
			nanosleep(&pause, NULL);
	}
	printf("trace %lld ended\n", id);
	return 0;
}
