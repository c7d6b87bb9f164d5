/*
 * Shared libcurl set-up for the smtp, http and relay providers.
 */
#include "curl_common.h"

#include <malloc.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "hex.h"
#include "log.h"
#include "provider.h"
#include "template.h"

/* libcurl's heap (curlc_global_init): every block is wiped when freed. */
static void *curlc_malloc(size_t size)
{
	return malloc(size);
}

static void curlc_free(void *ptr)
{
	if (ptr == NULL)
		return;
	explicit_bzero(ptr, malloc_usable_size(ptr));
	free(ptr);
}

/* realloc() would free the old block unwiped: copy and wipe instead. */
static void *curlc_realloc(void *ptr, size_t size)
{
	void *fresh;
	size_t old;

	if (ptr == NULL)
		return malloc(size);
	if (size == 0) {
		curlc_free(ptr);
		return NULL;
	}
	old = malloc_usable_size(ptr);
	if (old >= size)
		return ptr;
	fresh = malloc(size);
	if (fresh == NULL)
		return NULL;
	memcpy(fresh, ptr, old);
	curlc_free(ptr);
	return fresh;
}

static char *curlc_strdup(const char *s)
{
	return strdup(s);
}

static void *curlc_calloc(size_t nmemb, size_t size)
{
	return calloc(nmemb, size);
}

static pthread_once_t curlc_once = PTHREAD_ONCE_INIT;
static CURLcode curlc_init_result = CURLE_FAILED_INIT;

static void curlc_do_init(void)
{
	curlc_init_result = curl_global_init_mem(CURL_GLOBAL_ALL, curlc_malloc,
						 curlc_free, curlc_realloc,
						 curlc_strdup, curlc_calloc);
}

int curlc_global_init(const char **error_r)
{
	const curl_version_info_data *v;

	pthread_once(&curlc_once, curlc_do_init);
	if (curlc_init_result != CURLE_OK) {
		*error_r = "libcurl initialisation failed";
		return -1;
	}
	v = curl_version_info(CURLVERSION_NOW);
	/* CURLOPT_PROTOCOLS_STR needs 7.85 */
	if (v->version_num < 0x075500) {
		*error_r = "libcurl 7.85 or later is required";
		return -1;
	}
	if ((v->features & CURL_VERSION_SSL) == 0) {
		*error_r = "libcurl was built without TLS support";
		return -1;
	}
	return 0;
}

/* `ca_file` / `insecure_tls` of the common keys, the insecure case logged
 * loudly for provider `name`. Returns -1 on OOM. */
static int curlc_tls_from_conf(struct curlc_tls *tls, const struct conf_section *s,
			       const char *name)
{
	struct provider_common_conf common;

	conf_bind(s, provider_common_keys, &common);
	memset(tls, 0, sizeof *tls);
	if (common.ca_file != NULL && (tls->ca_file = strdup(common.ca_file)) == NULL)
		return -1;
	tls->insecure = common.insecure_tls;
	if (tls->insecure)
		log_warnx("provider %s: insecure_tls = yes: the backend's TLS certificate "
			  "and host name are NOT verified; passwords may go to an impostor",
			  name);
	return 0;
}

void curlc_tls_clear(struct curlc_tls *tls)
{
	free(tls->ca_file);
	tls->ca_file = NULL;
}

int curlc_target_parse(const struct curlc_target_spec *spec, const struct conf_section *s,
		       const char *url, const char *login, const char *provider_name,
		       struct curlc_target *t, struct conf_errors *errors)
{
	char sample[CURLC_LOGIN_MAX];
	const char *error;
	int ret = 0;

	memset(t, 0, sizeof *t);
	if (curlc_global_init(&error) < 0) {
		conf_error_at(errors, s->file, s->line, "%s", error);
		ret = -1;
	}
	while (spec->schemes[t->scheme] != NULL &&
	       strncasecmp(url, spec->schemes[t->scheme], strlen(spec->schemes[t->scheme])) != 0)
		t->scheme++;
	if (spec->schemes[t->scheme] == NULL) {
		conf_error_at(errors, s->file, conf_line(s, spec->url_key), "%s", spec->scheme_error);
		ret = -1;
	}
	if (strchr(url, '@') != NULL) {
		conf_error_at(errors, s->file, conf_line(s, spec->url_key),
			      "%s must not contain credentials", spec->url_key);
		ret = -1;
	}
	/* a sample login also finds templates too long for any username */
	if (login != NULL && template_expand(login, "user@example.com", NULL, sample,
					     sizeof sample, &error) < 0) {
		conf_error_at(errors, s->file, conf_line(s, "login"), "login: %s", error);
		ret = -1;
	}
	if ((t->url = strdup(url)) == NULL ||
	    (login != NULL && (t->login = strdup(login)) == NULL) ||
	    curlc_tls_from_conf(&t->tls, s, provider_name) < 0) {
		conf_error_at(errors, s->file, s->line, "out of memory");
		ret = -1;
	}
	if (ret < 0)
		curlc_target_clear(t);
	return ret;
}

void curlc_target_clear(struct curlc_target *t)
{
	free(t->url);
	free(t->login);
	curlc_tls_clear(&t->tls);
	memset(t, 0, sizeof *t);
}

size_t curlc_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct curlc_body *body = userdata;
	size_t n = size * nmemb;

	if (n > CURLC_BODY_MAX - body->len) {
		body->overflow = true;
		return 0;  /* CURLE_WRITE_ERROR */
	}
	memcpy(body->data + body->len, ptr, n);
	body->len += n;
	body->data[body->len] = '\0';
	return n;
}

size_t curlc_discard_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	return size * nmemb;
}

#define CURLC_SET(h, opt, val) \
	do { if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK) goto fail; } while (0)

CURL *curlc_new(const char *url, const char *protocols,
		const struct curlc_tls *tls, int64_t deadline_ms,
		char *errbuf, const char **error_r)
{
	int64_t left = clock_left_ms(deadline_ms);
	CURL *h;

	if (left <= 0) {
		*error_r = "timeout";
		return NULL;
	}
	h = curl_easy_init();
	if (h == NULL) {
		*error_r = "libcurl handle";
		return NULL;
	}
	errbuf[0] = '\0';
	CURLC_SET(h, CURLOPT_ERRORBUFFER, errbuf);
	CURLC_SET(h, CURLOPT_URL, url);
	CURLC_SET(h, CURLOPT_PROTOCOLS_STR, protocols);
	CURLC_SET(h, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
	/* no CURLOPT_MAXREDIRS 0: libcurl counts digest's second round as one */
	CURLC_SET(h, CURLOPT_FOLLOWLOCATION, 0L);
	CURLC_SET(h, CURLOPT_NOSIGNAL, 1L);
	CURLC_SET(h, CURLOPT_NOPROGRESS, 1L);
	/* $https_proxy or ~/.netrc must not redirect or add credentials */
	CURLC_SET(h, CURLOPT_PROXY, "");
	CURLC_SET(h, CURLOPT_NOPROXY, "*");
	CURLC_SET(h, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	CURLC_SET(h, CURLOPT_USERAGENT, "dagate/" DAGATE_VERSION);
	CURLC_SET(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	CURLC_SET(h, CURLOPT_SSL_VERIFYPEER, tls->insecure ? 0L : 1L);
	CURLC_SET(h, CURLOPT_SSL_VERIFYHOST, tls->insecure ? 0L : 2L);
	if (tls->ca_file != NULL) {
		/* only this CA: not the system store as well */
		CURLC_SET(h, CURLOPT_CAINFO, tls->ca_file);
		CURLC_SET(h, CURLOPT_CAPATH, NULL);
	}
	CURLC_SET(h, CURLOPT_TIMEOUT_MS, (long)left);
	CURLC_SET(h, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
	CURLC_SET(h, CURLOPT_WRITEFUNCTION, curlc_discard_cb);
	return h;
fail:
	curl_easy_cleanup(h);
	*error_r = "libcurl option refused";
	return NULL;
}

const char *curlc_failure(CURLcode code)
{
	switch (code) {
	case CURLE_OK: return "ok";
	case CURLE_OPERATION_TIMEDOUT: return "timeout";
	case CURLE_COULDNT_RESOLVE_HOST: return "cannot resolve host";
	case CURLE_COULDNT_CONNECT: return "cannot connect";
	case CURLE_PEER_FAILED_VERIFICATION: return "certificate not trusted";
	case CURLE_SSL_CACERT_BADFILE: return "ca_file unusable";
	case CURLE_SSL_CONNECT_ERROR: return "TLS handshake failed";
	case CURLE_USE_SSL_FAILED: return "STARTTLS refused or not offered";
	case CURLE_LOGIN_DENIED: return "login denied";
	case CURLE_WEIRD_SERVER_REPLY: return "unexpected server reply";
	case CURLE_GOT_NOTHING: return "empty reply";
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR: return "connection lost";
	case CURLE_WRITE_ERROR: return "answer too large";
	case CURLE_UNSUPPORTED_PROTOCOL: return "protocol not allowed";
	case CURLE_URL_MALFORMAT: return "bad URL";
	case CURLE_REMOTE_ACCESS_DENIED: return "access denied";
	default: return "transfer failed";
	}
}

int64_t curlc_probe_deadline(int64_t deadline_ms, int64_t timeout_ms)
{
	int64_t own = clock_now_ms() + timeout_ms;

	return own < deadline_ms ? own : deadline_ms;
}

int curlc_random_hex(char out[65])
{
	unsigned char raw[32];

	if (RAND_bytes(raw, sizeof raw) != 1)
		return -1;
	hex_encode(raw, sizeof raw, out);
	explicit_bzero(raw, sizeof raw);
	return 0;
}

bool curlc_request_sent(CURL *h)
{
	long size = 0;

	return curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &size) == CURLE_OK && size > 0;
}
