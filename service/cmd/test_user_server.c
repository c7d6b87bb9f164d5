/*
 * `dagate test-user USER --server URL`: a real Authenticate, sent to a
 * running endpoint the way Salesforce sends it (like testsaslauthd), so
 * that what answers is the server as it runs: its throttle, its tokens,
 * its reloaded configuration. Prints the HTTP status, the answer and, for
 * a fault, its faultstring (with the request id of the audit line).
 */
#include "test_user_server.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "sf_client.h"

/* The server's own deadline is at most 9 s; this only guards against one
 * that never answers. */
#define SERVER_CALL_TIMEOUT_MS 15000
#define SERVER_ANSWER_MAX (64 * 1024)

struct answer {
	char data[SERVER_ANSWER_MAX + 1];
	size_t len;
};

static size_t take(char *ptr, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t more = size * n;

	if (a->len + more > SERVER_ANSWER_MAX)
		return 0;
	memcpy(a->data + a->len, ptr, more);
	a->len += more;
	a->data[a->len] = '\0';
	return more;
}

/* The faultstring of a SOAP fault, printable ASCII only, or "". */
static void fault_string(const char *body, char *out, size_t size)
{
	const char *start = strstr(body, "<faultstring>"), *end;
	size_t n = 0;

	out[0] = '\0';
	if (start == NULL || (end = strstr(start, "</faultstring>")) == NULL)
		return;
	for (start += strlen("<faultstring>"); start < end && n + 1 < size; start++)
		out[n++] = (*start >= 0x20 && *start < 0x7f) ? *start : '?';
	out[n] = '\0';
}

int test_user_server(const struct test_user_server_args *a, const char *password)
{
	struct curl_slist *headers = NULL;
	struct answer *ans = calloc(1, sizeof *ans);
	char *body = sf_client_request(a->user, password, a->source_ip);
	char errbuf[CURL_ERROR_SIZE] = "", fault[512];
	int64_t started = clock_now_ms();
	const char *error = NULL;
	bool authenticated = false;
	long status = 0;
	CURLcode rc;
	CURL *h = curl_easy_init();
	int ret = 1;

	if (ans == NULL || body == NULL || h == NULL) {
		fprintf(stderr, "test-user: out of memory\n");
		goto out;
	}
	headers = curl_slist_append(headers, "Content-Type: text/xml; charset=utf-8");
	headers = curl_slist_append(headers, "SOAPAction: \"\"");
	curl_easy_setopt(h, CURLOPT_URL, a->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)SERVER_CALL_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, take);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, ans);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	if (a->ca_file != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, a->ca_file);
	printf("test-user %s at %s (sourceIp %s)\n", a->user, a->url, a->source_ip);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK) {
		printf("error: %s\nanswer: none\n", errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
		goto out;
	}
	printf("http status: %ld\nelapsed: %lld ms\n", status, (long long)(clock_now_ms() - started));
	if (status == 200 && sf_client_answer(ans->data, ans->len, &authenticated, &error) == 0) {
		printf("answer: %s\n", authenticated ? "true" : "false");
		ret = authenticated ? 0 : 1;
		goto out;
	}
	fault_string(ans->data, fault, sizeof fault);
	if (fault[0] != '\0')
		printf("answer: fault (%s)\n", fault);
	else
		printf("answer: not an Authenticate answer (%s)\n", error != NULL ? error : "HTTP error");
out:
	if (body != NULL) {
		explicit_bzero(body, strlen(body));
		free(body);
	}
	curl_slist_free_all(headers);
	if (h != NULL)
		curl_easy_cleanup(h);
	free(ans);
	return ret;
}
