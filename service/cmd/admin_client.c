#include "admin_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decider.h"

#define ADMIN_CALL_TIMEOUT_MS 5000
#define ADMIN_ANSWER_MAX (4 * 1024 * 1024)

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
int admin_authority(const struct dagate_config *cfg, char *out, size_t size)
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

static int fetch(const char *command, const char *url, const char *method, struct fetched *a,
		 long *status_r)
{
	CURL *h = curl_easy_init();
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;

	if (h == NULL)
		return -1;
	curl_easy_setopt(h, CURLOPT_URL, url);
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
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
		if (command != NULL)
			fprintf(stderr, "dagate %s: %s: %s\n", command, url,
				errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

int admin_address(const char *command, const char *config_path, const char *admin,
		  char *out, size_t size)
{
	struct conf_errors errors = { 0 };
	struct dagate_config *cfg = NULL;
	int ret;

	if (admin != NULL) {
		snprintf(out, size, "%s", admin);
		return 0;
	}
	if (decider_config_load(config_path, &cfg, &errors) < 0) {
		config_errors_print(&errors);
		conf_errors_clear(&errors);
		return 2;
	}
	conf_errors_clear(&errors);
	ret = admin_authority(cfg, out, size);
	config_free(&cfg);
	if (ret < 0) {
		if (command != NULL)
			fprintf(stderr, "dagate %s: %s has no [admin] listen (or give --admin)\n",
				command, config_path);
		return 2;
	}
	return 0;
}

int admin_call(const char *command, const char *config_path, const char *admin,
	       const char *method, const char *path_query, char **body_r)
{
	struct fetched a = { 0 };
	char authority[300], url[1024];
	long status = 0;
	int ret;

	*body_r = NULL;
	ret = admin_address(command, config_path, admin, authority, sizeof authority);
	if (ret != 0)
		return ret;
	snprintf(url, sizeof url, "http://%s%s", authority, path_query);
	if (fetch(command, url, method, &a, &status) < 0) {
		free(a.data);
		return 1;
	}
	if (status != (strcmp(method, "POST") == 0 ? 201 : 200)) {
		if (command != NULL)
			fprintf(stderr, "dagate %s: %s answered %ld: %s\n", command, url, status,
				a.data != NULL ? a.data : "");
		free(a.data);
		return 1;
	}
	*body_r = a.data != NULL ? a.data : strdup("");
	return *body_r != NULL ? 0 : 1;
}

int admin_get(const char *command, const char *config_path, const char *admin,
	      const char *path_query, char **body_r)
{
	return admin_call(command, config_path, admin, "GET", path_query, body_r);
}

json_object *admin_json_get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (o != NULL)
		json_object_object_get_ex(o, key, &v);
	return v;
}

const char *admin_json_text(json_object *o, const char *key)
{
	json_object *v = admin_json_get(o, key);

	return v != NULL ? json_object_get_string(v) : "-";
}

long long admin_json_num(json_object *o, const char *key)
{
	return (long long)json_object_get_int64(admin_json_get(o, key));
}

bool admin_json_flag(json_object *o, const char *key)
{
	return json_object_get_boolean(admin_json_get(o, key));
}
