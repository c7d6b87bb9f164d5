/*
 * `dagate decisions`: the running server's recent decisions that were not
 * true (GET /api/v1/decisions on its [admin] listener), newest first, as a
 * table or as the JSON the server gave.
 */
#include "commands.h"

#include <curl/curl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decider.h"
#include "decisions.h"

#define ADMIN_CALL_TIMEOUT_MS 5000
#define ADMIN_ANSWER_MAX (4 * 1024 * 1024)

static const char usage[] =
	"usage: dagate decisions [--answer false|fault|any] [--limit N] [--json]\n"
	"                        [--admin HOST:PORT]\n"
	"The running server's last decisions that were not true, newest first\n"
	"(from its [admin] listener; --admin overrides the address).\n";

struct fetched {
	char *data;
	size_t len;
};

static size_t take(char *ptr, size_t size, size_t n, void *arg)
{
	struct fetched *a = arg;
	size_t more = size * n;
	char *grown;

	if (a->len + more > ADMIN_ANSWER_MAX)
		return 0;
	grown = realloc(a->data, a->len + more + 1);
	if (grown == NULL)
		return 0;
	memcpy(grown + a->len, ptr, more);
	a->data = grown;
	a->len += more;
	a->data[a->len] = '\0';
	return more;
}

/* The [admin] listener's first address, as a URL authority: a wildcard
 * address is asked on loopback. */
static int admin_authority(const struct dagate_config *cfg, char *out, size_t size)
{
	const struct listen_addr *l;
	const char *host;

	if (cfg->admin.listen_count == 0)
		return -1;
	l = &cfg->admin.listen[0];
	host = l->host;
	if (strcmp(host, "0.0.0.0") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	snprintf(out, size, strchr(host, ':') != NULL ? "[%s]:%u" : "%s:%u", host,
		 (unsigned)l->port);
	return 0;
}

static int fetch(const char *url, struct fetched *a, long *status_r)
{
	CURL *h = curl_easy_init();
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;

	if (h == NULL)
		return -1;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)ADMIN_CALL_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, take);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status_r);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK) {
		fprintf(stderr, "dagate decisions: %s: %s\n", url,
			errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

static const char *field(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "-";
}

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
		json_object *sent;
		bool unsent = json_object_object_get_ex(e, "sent", &sent) &&
			      !json_object_get_boolean(sent);

		printf("%-20s %-16s %-6s %-16s %-32s %-15s %-12s %s%s\n", field(e, "time"),
		       field(e, "request_id"), field(e, "answer"), field(e, "outcome"),
		       field(e, "user"), field(e, "source_ip"), field(e, "provider"),
		       field(e, "detail"), unsent ? " (never sent)" : "");
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
	struct fetched a = { 0 };
	char authority[300], url[512];
	bool json = false;
	unsigned n;
	long status = 0;
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
	if (admin != NULL) {
		snprintf(authority, sizeof authority, "%s", admin);
	} else {
		struct conf_errors errors = { 0 };
		struct dagate_config *cfg = NULL;

		if (decider_config_load(config_path, &cfg, &errors) < 0) {
			for (size_t i = 0; i < errors.count; i++)
				fprintf(stderr, "%s\n", errors.lines[i]);
			conf_errors_clear(&errors);
			return 2;
		}
		conf_errors_clear(&errors);
		ret = admin_authority(cfg, authority, sizeof authority);
		config_free(&cfg);
		if (ret < 0) {
			fprintf(stderr, "dagate decisions: %s has no [admin] listen (or give --admin)\n",
				config_path);
			return 2;
		}
	}
	snprintf(url, sizeof url, "http://%s%s?answer=%s&limit=%u", authority, DECISIONS_API_PATH,
		 answer != NULL ? answer : "any", n);
	if (fetch(url, &a, &status) < 0) {
		free(a.data);
		return 1;
	}
	if (status != 200) {
		fprintf(stderr, "dagate decisions: %s answered %ld: %s\n", url, status,
			a.data != NULL ? a.data : "");
		free(a.data);
		return 1;
	}
	if (json)
		ret = printf("%s\n", a.data != NULL ? a.data : "") < 0;
	else
		ret = print_table(a.data != NULL ? a.data : "");
	free(a.data);
	return ret;
}
