/*
 * `relay`: forward Authenticate (username, password, sourceIp) to another
 * Delegated Authentication endpoint over verified HTTPS.
 *
 * The SOAP codec writes the request and reads the answer (sf_client.h),
 * with the endpoint's namespace table and envelope reader. The answer
 * counts only when it is HTTP 200, text/xml and exactly one well-formed
 * Envelope/Body/AuthenticateResult holding exactly one Authenticated, and
 * nothing else in the Body or after the Envelope. true -> ok, false ->
 * reject (the remote service decided), anything else (HTML, a fault, a
 * redirect, a timeout) -> unavailable.
 *
 * The loop guard is described in relay.h.
 */
#include "provider.h"
#include "relay.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "curl_common.h"
#include "log.h"
#include "sf_client.h"

/* A [provider NAME] of type relay, as configured. */
struct relay_conf {
	const char *url;
};

static const struct conf_key relay_keys[] = {
	{ "url", CONF_STRING, CONF_REQUIRED, NULL, 0, 0, NULL,
	  "https:// address of the other Delegated Authentication endpoint",
	  CONF_AT(struct relay_conf, url) },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

struct relay_state {
	char *url;
	struct curlc_tls tls;
};

/* The loop guard (relay.h): this instance's id and the logins in flight. */
struct relay_flight {
	unsigned char mac[EVP_MAX_MD_SIZE];
	struct relay_flight *next;
};

static pthread_once_t relay_once = PTHREAD_ONCE_INIT;
static char relay_id[65];
static unsigned char relay_key[32];   /* HMAC key for logins in flight */
static bool relay_ready;
static pthread_mutex_t relay_lock = PTHREAD_MUTEX_INITIALIZER;
static struct relay_flight *relay_flights;   /* under relay_lock */

static void relay_do_init(void)
{
	relay_ready = curlc_random_hex(relay_id) == 0 &&
		      RAND_bytes(relay_key, sizeof relay_key) == 1;
}

const char *relay_instance_id(void)
{
	pthread_once(&relay_once, relay_do_init);
	return relay_ready ? relay_id : "";
}

static void relay_mac_field(EVP_MAC_CTX *ctx, const char *s, size_t len)
{
	unsigned char n[8];

	for (int i = 0; i < 8; i++)
		n[i] = (unsigned char)((uint64_t)len >> (8 * i));
	EVP_MAC_update(ctx, n, sizeof n);
	EVP_MAC_update(ctx, (const unsigned char *)s, len);
}

/* HMAC-SHA256 over the three fields, length-prefixed. */
static int relay_login_mac(const char *username, const char *password,
			   size_t password_len, const char *source_ip,
			   unsigned char mac[EVP_MAX_MD_SIZE])
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = alg != NULL ? EVP_MAC_CTX_new(alg) : NULL;
	size_t len = 0;
	int ret = -1;

	memset(mac, 0, EVP_MAX_MD_SIZE);
	if (ctx != NULL && relay_ready &&
	    EVP_MAC_init(ctx, relay_key, sizeof relay_key, params) == 1) {
		relay_mac_field(ctx, username, strlen(username));
		relay_mac_field(ctx, password, password_len);
		relay_mac_field(ctx, source_ip, strlen(source_ip));
		if (EVP_MAC_final(ctx, mac, &len, EVP_MAX_MD_SIZE) == 1)
			ret = 0;
	}
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(alg);
	return ret;
}

bool relay_loop_detected(const char *header_value, const char *username,
			 const char *password, size_t password_len,
			 const char *source_ip)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	bool loop = false;

	if (header_value == NULL)
		return false;
	pthread_once(&relay_once, relay_do_init);
	if (!relay_ready)
		return false;
	if (strcasecmp(header_value, relay_id) == 0)
		return true;
	if (relay_login_mac(username, password, password_len,
			    source_ip != NULL ? source_ip : "", mac) < 0)
		return false;
	pthread_mutex_lock(&relay_lock);
	for (const struct relay_flight *f = relay_flights; f != NULL; f = f->next)
		if (CRYPTO_memcmp(f->mac, mac, sizeof mac) == 0)
			loop = true;
	pthread_mutex_unlock(&relay_lock);
	explicit_bzero(mac, sizeof mac);
	return loop;
}

static void relay_flight_add(struct relay_flight *f)
{
	pthread_mutex_lock(&relay_lock);
	f->next = relay_flights;
	relay_flights = f;
	pthread_mutex_unlock(&relay_lock);
}

static void relay_flight_remove(struct relay_flight *f)
{
	pthread_mutex_lock(&relay_lock);
	for (struct relay_flight **pp = &relay_flights; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	pthread_mutex_unlock(&relay_lock);
	explicit_bzero(f->mac, sizeof f->mac);
}

static int relay_parse(struct provider *p, const struct conf_section *s,
		       struct conf_errors *errors)
{
	static const char *const schemes[] = { "https://", NULL };
	static const struct curlc_target_spec spec = {
		.url_key = "url", .schemes = schemes,
		.scheme_error = "url must be https:// (passwords are forwarded)",
	};
	struct relay_state *st = calloc(1, sizeof *st);
	struct curlc_target t;
	struct relay_conf c;
	int ret = 0;

	if (st == NULL)
		return -1;
	conf_bind(s, relay_keys, &c);
	if (curlc_target_parse(&spec, s, c.url, NULL, p->name, &t, errors) < 0)
		ret = -1;
	if (relay_instance_id()[0] == '\0') {
		conf_error_at(errors, s->file, s->line, "no randomness for the relay id");
		ret = -1;
	}
	if (ret < 0) {
		curlc_target_clear(&t);
		free(st);
		return -1;
	}
	st->url = t.url;
	st->tls = t.tls;
	p->state = st;
	return 0;
}

/* The media types of a SOAP answer Salesforce reads: text/xml (SOAP 1.1)
 * and application/soap+xml (which Identity Connect answers), with any
 * parameters. */
static bool relay_xml_type(const char *content_type)
{
	static const char *const types[] = { "text/xml", "application/soap+xml" };

	if (content_type == NULL)
		return false;
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		size_t n = strlen(types[i]);

		if (strncasecmp(content_type, types[i], n) == 0 &&
		    (content_type[n] == '\0' || content_type[n] == ';' || content_type[n] == ' '))
			return true;
	}
	return false;
}

static enum auth_result relay_authenticate(struct provider *p,
					   const struct auth_request *req,
					   const char **detail_r)
{
	struct relay_state *st = p->state;
	struct relay_flight flight;
	struct curl_slist *headers = NULL;
	struct curlc_body *answer = NULL;
	char errbuf[CURL_ERROR_SIZE], hdr[128];
	enum auth_result result = AUTH_UNAVAILABLE;
	const char *error = "out of memory";
	char *content_type = NULL;
	char *body = NULL;
	bool authenticated;
	long status = 0;
	CURL *h = NULL;
	CURLcode rc;

	if (req->password_len == 0 || req->password[0] == '\0') {
		*detail_r = "empty password";
		return AUTH_REJECT;
	}
	if (relay_login_mac(req->username, req->password, req->password_len,
			    req->source_ip != NULL ? req->source_ip : "", flight.mac) < 0) {
		*detail_r = "loop guard unavailable";
		return AUTH_ERROR;
	}
	relay_flight_add(&flight);
	snprintf(hdr, sizeof hdr, RELAY_HEADER ": %s", relay_id);
	body = sf_client_request(req->username, req->password, req->source_ip);
	answer = calloc(1, sizeof *answer);
	if (body == NULL || answer == NULL ||
	    (headers = curl_slist_append(headers, "Content-Type: text/xml; charset=utf-8")) == NULL ||
	    (headers = curl_slist_append(headers, "SOAPAction: \"\"")) == NULL ||
	    (headers = curl_slist_append(headers, "Expect:")) == NULL ||
	    (headers = curl_slist_append(headers, hdr)) == NULL)
		goto done;
	h = curlc_new(st->url, "https", &st->tls, req->deadline_ms, errbuf, &error);
	if (h == NULL)
		goto done;
	auth_trace_step(req, "relay: POST %s", st->url);
	if (curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body)) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curlc_write_cb) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, answer) != CURLE_OK) {
		error = "libcurl option refused";
		goto done;
	}
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		error = curlc_failure(rc);
		log_debug("relay %s: %s (%s)", st->url, error, errbuf);
		/* The password went out and no answer came back: the service
		 * behind may have counted it. */
		if (curlc_request_sent(h) && req->unanswered_r != NULL)
			*req->unanswered_r = true;
		goto done;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &content_type);
	auth_trace_step(req, "relay: TLS verified, HTTP %ld", status);
	if (status != 200) {
		error = status == 500 ? "remote fault" : "unexpected HTTP status";
		goto done;
	}
	if (!relay_xml_type(content_type)) {
		error = "answer is not text/xml or application/soap+xml";
		goto done;
	}
	if (sf_client_answer(answer->data, answer->len, &authenticated, &error) < 0)
		goto done;
	auth_trace_step(req, "relay: Authenticated = %s", authenticated ? "true" : "false");
	result = authenticated ? AUTH_OK : AUTH_REJECT;
	error = NULL;
done:
	relay_flight_remove(&flight);
	if (h != NULL)
		curl_easy_cleanup(h);
	curl_slist_free_all(headers);
	if (body != NULL) {
		explicit_bzero(body, strlen(body));
		free(body);
	}
	if (answer != NULL) {
		explicit_bzero(answer, sizeof *answer);
		free(answer);
	}
	if (result == AUTH_UNAVAILABLE)
		auth_trace_step(req, "relay: no answer: %s", error);
	*detail_r = error;
	return result;
}

/* Reachability: GET {url}?wsdl over verified TLS, no credentials. */
static int relay_probe(struct provider *p, int64_t deadline_ms, const char **detail_r)
{
	struct relay_state *st = p->state;
	char errbuf[CURL_ERROR_SIZE];
	size_t len = strlen(st->url);
	char *url = malloc(len + sizeof "?wsdl");
	long status = 0;
	CURL *h;
	CURLcode rc;

	if (url == NULL) {
		*detail_r = "out of memory";
		return -1;
	}
	snprintf(url, len + sizeof "?wsdl", "%s%s", st->url,
		 strchr(st->url, '?') != NULL ? "" : "?wsdl");
	h = curlc_new(url, "https", &st->tls,
		      curlc_probe_deadline(deadline_ms, p->timeout_ms), errbuf, detail_r);
	free(url);
	if (h == NULL)
		return -1;
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK) {
		*detail_r = curlc_failure(rc);
		return -1;
	}
	if (status != 200) {
		*detail_r = "TLS verified, but the WSDL is not served (HTTP status not 200)";
		return -1;
	}
	*detail_r = "TLS verified, WSDL served";
	return 0;
}

static void relay_fini(struct provider *p)
{
	struct relay_state *st = p->state;

	if (st == NULL)
		return;
	free(st->url);
	curlc_tls_clear(&st->tls);
	free(st);
	p->state = NULL;
}

const struct provider_type prov_relay_type = {
	.name = "relay",
	.keys = relay_keys,
	.parse = relay_parse,
	.authenticate = relay_authenticate,
	.probe = relay_probe,
	.fini = relay_fini,
};
