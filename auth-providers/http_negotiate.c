/*
 * Kerberos tickets for `auth = negotiate` (see http_negotiate.h), over
 * TCP to the KDC with netio (every step bounded by the request deadline).
 */
#include "http_negotiate.h"

#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5/krb5.h>
#include <profile.h>

#include "curl_common.h"
#include "log.h"
#include "netio.h"

/* Largest KDC reply read: AD tickets carry a PAC that grows with group
 * membership (tens of KiB at worst); anything near 1 MiB is not a KDC. */
#define NEGO_KDC_REPLY_MAX (1024 * 1024)
/* Exchanges per ticket: preauth and referrals need a handful; a loop
 * guard against a KDC that keeps asking. */
#define NEGO_MAX_STEPS 10
#define NEGO_KDC_PORT "88"

struct http_negotiate {
	char *realm;
	char *krb5_conf;   /* NULL: the system's */
	char *host;        /* the url's host: service HTTP/host */
};

/* One request/reply over TCP (RFC 4120 7.2.2: 4-byte length prefix).
 * *reply is malloc'd on NETIO_OK. NETIO_FAILED: try the next address. */
static enum netio_status kdc_tcp(const struct addrinfo *ai, const krb5_data *req,
				 krb5_data *reply, int64_t deadline_ms)
{
	unsigned char hdr[4];
	uint32_t len;
	enum netio_status r;
	int fd;

	if ((r = netio_connect(ai, deadline_ms, &fd)) != NETIO_OK)
		return r;
	hdr[0] = (unsigned char)(req->length >> 24);
	hdr[1] = (unsigned char)(req->length >> 16);
	hdr[2] = (unsigned char)(req->length >> 8);
	hdr[3] = (unsigned char)req->length;
	if ((r = netio_write_all(fd, hdr, 4, deadline_ms)) != NETIO_OK ||
	    (r = netio_write_all(fd, req->data, req->length, deadline_ms)) != NETIO_OK ||
	    (r = netio_read_all(fd, hdr, 4, deadline_ms)) != NETIO_OK) {
		close(fd);
		return r;
	}
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (len == 0 || len > NEGO_KDC_REPLY_MAX || (reply->data = malloc(len)) == NULL) {
		close(fd);
		return NETIO_FAILED;
	}
	reply->length = len;
	r = netio_read_all(fd, reply->data, len, deadline_ms);
	close(fd);
	if (r != NETIO_OK) {
		free(reply->data);
		reply->data = NULL;
		reply->length = 0;
	}
	return r;
}

/* "host", "host:port", "[v6]:port", optionally after "tcp/" or "udp/"
 * (TCP is used either way). Returns -1 for forms we do not speak (kkdcp). */
static int kdc_split(const char *entry, char *host, size_t hsize, char *port, size_t psize)
{
	const char *p = entry, *end, *colon;

	if (strncmp(p, "tcp/", 4) == 0 || strncmp(p, "udp/", 4) == 0)
		p += 4;
	if (strncmp(p, "http", 4) == 0 || strncmp(p, "kkdcp", 5) == 0)
		return -1;
	if (*p == '[') {
		end = strchr(p, ']');
		if (end == NULL)
			return -1;
		colon = end[1] == ':' ? end + 1 : NULL;
		p++;
	} else {
		colon = strrchr(p, ':');
		end = colon != NULL ? colon : p + strlen(p);
	}
	if (end == p || (size_t)(end - p) >= hsize)
		return -1;
	memcpy(host, p, (size_t)(end - p));
	host[end - p] = '\0';
	snprintf(port, psize, "%s", colon != NULL && colon[1] != '\0' ? colon + 1 : NEGO_KDC_PORT);
	return 0;
}

/* Send `req` to a KDC of `realm` (the profile's kdc lines, in order) and
 * fill *reply (malloc'd). Returns 0, or -1 with *detail_r. */
static int kdc_exchange(krb5_context ctx, const krb5_data *realm, const krb5_data *req,
			krb5_data *reply, int64_t deadline_ms, const char **detail_r)
{
	char rname[256], host[256], port[16];
	const char *names[4] = { "realms", rname, "kdc", NULL };
	char **kdcs = NULL;
	profile_t prof = NULL;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res, *ai;
	enum netio_status r = NETIO_FAILED;

	*detail_r = "kdc unreachable";
	if (realm->length == 0 || realm->length >= sizeof rname) {
		*detail_r = "kdc: bad realm";
		return -1;
	}
	memcpy(rname, realm->data, realm->length);
	rname[realm->length] = '\0';
	if (krb5_get_profile(ctx, &prof) != 0 ||
	    profile_get_values(prof, names, &kdcs) != 0 || kdcs == NULL) {
		if (prof != NULL)
			profile_release(prof);
		*detail_r = "no kdc for the realm in krb5.conf";
		return -1;
	}
	profile_release(prof);
	for (size_t i = 0; kdcs[i] != NULL && r != NETIO_OK && r != NETIO_TIMEOUT; i++) {
		if (kdc_split(kdcs[i], host, sizeof host, port, sizeof port) < 0)
			continue;
		/* may block on DNS for a host name (see http_negotiate.h) */
		if (getaddrinfo(host, port, &hints, &res) != 0)
			continue;
		for (ai = res; ai != NULL; ai = ai->ai_next) {
			r = kdc_tcp(ai, req, reply, deadline_ms);
			if (r == NETIO_OK || r == NETIO_TIMEOUT)
				break;
		}
		freeaddrinfo(res);
	}
	profile_free_list(kdcs);
	if (r == NETIO_TIMEOUT)
		*detail_r = "kdc timeout";
	return r == NETIO_OK ? 0 : -1;
}

/* The KDC's verdict on a failed ticket request. */
static enum auth_result kdc_result(krb5_error_code ret, const char **detail_r)
{
	switch (ret) {
	case KRB5KDC_ERR_PREAUTH_FAILED:
	case KRB5KRB_AP_ERR_BAD_INTEGRITY:
		*detail_r = "kdc: wrong password";
		return AUTH_REJECT;
	case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
		*detail_r = "kdc: unknown user";
		return AUTH_UNKNOWN_USER;
	case KRB5KDC_ERR_CLIENT_REVOKED:
		*detail_r = "kdc: revoked or locked";
		return AUTH_LOCKED;
	case KRB5KDC_ERR_NAME_EXP:
		*detail_r = "kdc: account expired";
		return AUTH_LOCKED;
	case KRB5KDC_ERR_KEY_EXP:
		*detail_r = "kdc: password expired";
		return AUTH_LOCKED;
	case KRB5KDC_ERR_POLICY:
		*detail_r = "kdc: refused by policy";
		return AUTH_LOCKED;
	default:
		*detail_r = "kdc: unexpected error";
		return AUTH_UNAVAILABLE;
	}
}

/* Drive an init_creds (tctx NULL) or tkt_creds context to completion.
 * Returns 0, a krb5 error code from the KDC exchange, or -1 (transport,
 * *detail_r set). */
static krb5_error_code run_steps(krb5_context ctx, krb5_init_creds_context ictx,
				 krb5_tkt_creds_context tctx, int64_t deadline_ms,
				 const char **detail_r)
{
	krb5_data in = { 0 }, out = { 0 }, realm = { 0 };
	krb5_error_code ret = 0;
	unsigned int flags = 0;

	for (int i = 0; i < NEGO_MAX_STEPS; i++) {
		ret = ictx != NULL ? krb5_init_creds_step(ctx, ictx, &in, &out, &realm, &flags)
				   : krb5_tkt_creds_step(ctx, tctx, &in, &out, &realm, &flags);
		free(in.data);
		in.data = NULL;
		in.length = 0;
		if (ret != 0 || !(flags & KRB5_INIT_CREDS_STEP_FLAG_CONTINUE))
			break;
		if (kdc_exchange(ctx, &realm, &out, &in, deadline_ms, detail_r) < 0)
			ret = -1;
		krb5_free_data_contents(ctx, &out);
		krb5_free_data_contents(ctx, &realm);
		if (ret != 0)
			break;
		if (i == NEGO_MAX_STEPS - 1) {
			*detail_r = "kdc: too many exchanges";
			ret = -1;
		}
	}
	free(in.data);
	krb5_free_data_contents(ctx, &out);
	krb5_free_data_contents(ctx, &realm);
	return ret;
}

static krb5_error_code new_context(const struct http_negotiate *ng, krb5_context *ctx_r)
{
	const_profile_filespec_t files[2] = { ng->krb5_conf, NULL };
	profile_t prof;
	krb5_error_code ret;

	*ctx_r = NULL;
	if (ng->krb5_conf == NULL) {
		ret = krb5_init_context(ctx_r);
	} else {
		/* a profile of its own: no process-wide KRB5_CONFIG */
		if ((ret = profile_init(files, &prof)) != 0)
			return ret;
		ret = krb5_init_context_profile(prof, 0, ctx_r);
		profile_release(prof);
	}
	if (ret == 0)
		ret = krb5_set_default_realm(*ctx_r, ng->realm);
	return ret;
}

/* login@REALM as one component ('/' and '\' are not special), or an
 * enterprise name when the login has '@' (UPN logins; the KDC canonicalises). */
static krb5_error_code user_principal(krb5_context ctx, const struct http_negotiate *ng,
				      const char *login, krb5_principal *p_r, bool *enterprise_r)
{
	krb5_error_code ret = krb5_build_principal(ctx, p_r, (unsigned)strlen(ng->realm),
						   ng->realm, login, (char *)NULL);

	*enterprise_r = strchr(login, '@') != NULL;
	if (ret == 0 && *enterprise_r)
		(*p_r)->type = KRB5_NT_ENTERPRISE_PRINCIPAL;
	return ret;
}

static enum auth_result get_tgt(krb5_context ctx, krb5_ccache cc, krb5_principal client,
				bool enterprise, const char *password, int64_t deadline_ms,
				krb5_creds *tgt, const char **detail_r)
{
	krb5_get_init_creds_opt *opt = NULL;
	krb5_init_creds_context ictx = NULL;
	krb5_error_code ret;
	enum auth_result res = AUTH_UNAVAILABLE;

	*detail_r = "kdc: cannot start";
	if (krb5_get_init_creds_opt_alloc(ctx, &opt) != 0)
		return AUTH_UNAVAILABLE;
	krb5_get_init_creds_opt_set_canonicalize(opt, enterprise ? 1 : 0);
	krb5_get_init_creds_opt_set_forwardable(opt, 0);
	krb5_get_init_creds_opt_set_proxiable(opt, 0);
	if (krb5_init_creds_init(ctx, client, NULL, NULL, 0, opt, &ictx) != 0 ||
	    krb5_init_creds_set_password(ctx, ictx, password) != 0)
		goto out;
	ret = run_steps(ctx, ictx, NULL, deadline_ms, detail_r);
	if (ret == -1)
		goto out;
	if (ret != 0) {
		res = kdc_result(ret, detail_r);
		log_debug("negotiate: AS exchange failed: krb5 error %ld", (long)ret);
		goto out;
	}
	*detail_r = "kdc: no ticket";
	if (krb5_init_creds_get_creds(ctx, ictx, tgt) != 0)
		goto out;
	if (krb5_cc_initialize(ctx, cc, tgt->client) != 0 ||
	    krb5_cc_store_cred(ctx, cc, tgt) != 0) {
		*detail_r = "credential cache";
		goto out;
	}
	res = AUTH_OK;
out:
	krb5_init_creds_free(ctx, ictx);   /* wipes its copy of the password */
	krb5_get_init_creds_opt_free(ctx, opt);
	return res;
}

/* HTTP/host, named the way GSS-API will name it, into the cache. */
static enum auth_result get_service_ticket(krb5_context ctx, krb5_ccache cc,
					   const struct http_negotiate *ng,
					   const krb5_creds *tgt, int64_t deadline_ms,
					   const char **detail_r)
{
	krb5_creds in = { 0 }, out = { 0 };
	krb5_tkt_creds_context tctx = NULL;
	krb5_principal server = NULL;
	krb5_error_code ret;
	enum auth_result res = AUTH_UNAVAILABLE;

	*detail_r = "kdc: bad service name";
	if (krb5_sname_to_principal(ctx, ng->host, "HTTP", KRB5_NT_SRV_HST, &server) != 0)
		return AUTH_UNAVAILABLE;
	in.client = tgt->client;
	in.server = server;
	if (krb5_tkt_creds_init(ctx, cc, &in, 0, &tctx) != 0)
		goto out;
	ret = run_steps(ctx, NULL, tctx, deadline_ms, detail_r);
	if (ret == -1)
		goto out;
	if (ret != 0) {
		/* a valid TGT but no ticket: the service side is broken, not the user */
		*detail_r = ret == KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN
			    ? "kdc: no such service principal" : "kdc: no service ticket";
		log_debug("negotiate: TGS exchange failed: krb5 error %ld", (long)ret);
		goto out;
	}
	*detail_r = "credential cache";
	if (krb5_tkt_creds_get_creds(ctx, tctx, &out) != 0 ||
	    krb5_cc_store_cred(ctx, cc, &out) != 0)
		goto out;
	res = AUTH_OK;
out:
	krb5_free_cred_contents(ctx, &out);
	krb5_tkt_creds_free(ctx, tctx);
	krb5_free_principal(ctx, server);
	return res;
}

enum auth_result http_negotiate_acquire(const struct http_negotiate *ng,
					const char *login, const char *password,
					int64_t deadline_ms,
					struct http_negotiate_creds *creds,
					const char **detail_r)
{
	char hex[65];
	krb5_context ctx = NULL;
	krb5_ccache cc = NULL;
	krb5_principal client = NULL;
	krb5_creds tgt = { 0 };
	bool enterprise;
	enum auth_result res;

	*detail_r = "kerberos: cannot start";
	if (new_context(ng, &ctx) != 0) {
		krb5_free_context(ctx);
		return AUTH_UNAVAILABLE;
	}
	creds->ctx = ctx;
	if (curlc_random_hex(hex) < 0)
		return AUTH_UNAVAILABLE;
	snprintf(creds->name, sizeof creds->name, "MEMORY:dagate-%.32s", hex);
	explicit_bzero(hex, sizeof hex);
	if (krb5_cc_resolve(ctx, creds->name, &cc) != 0)
		return AUTH_UNAVAILABLE;
	creds->ccache = cc;
	if (user_principal(ctx, ng, login, &client, &enterprise) != 0) {
		*detail_r = "kerberos: bad user name";
		return AUTH_UNKNOWN_USER;
	}
	res = get_tgt(ctx, cc, client, enterprise, password, deadline_ms, &tgt, detail_r);
	if (res == AUTH_OK)
		res = get_service_ticket(ctx, cc, ng, &tgt, deadline_ms, detail_r);
	krb5_free_cred_contents(ctx, &tgt);
	krb5_free_principal(ctx, client);
	return res;
}

void http_negotiate_release(struct http_negotiate_creds *creds)
{
	krb5_context ctx = creds->ctx;

	if (ctx == NULL)
		return;
	if (creds->ccache != NULL)
		krb5_cc_destroy(ctx, creds->ccache);   /* frees and wipes the keys */
	krb5_free_context(ctx);
	creds->ctx = creds->ccache = NULL;
	explicit_bzero(creds->name, sizeof creds->name);
}

int http_negotiate_begin(const struct http_negotiate_creds *creds, char **saved_r)
{
	OM_uint32 minor;
	const char *old = NULL;

	*saved_r = NULL;
	if (gss_krb5_ccache_name(&minor, creds->name, &old) != GSS_S_COMPLETE)
		return -1;
	/* `old` lives only until this thread's next call: copy it */
	if (old != NULL && (*saved_r = strdup(old)) == NULL) {
		gss_krb5_ccache_name(&minor, NULL, NULL);
		return -1;
	}
	return 0;
}

void http_negotiate_end(char **saved)
{
	OM_uint32 minor;

	gss_krb5_ccache_name(&minor, *saved, NULL);
	free(*saved);
	*saved = NULL;
}

int http_negotiate_new(const char *realm, const char *krb5_conf, const char *url,
		       struct http_negotiate **ng_r, const char **error_r)
{
	struct http_negotiate *ng = calloc(1, sizeof *ng);
	CURLU *u = curl_url();
	char *host = NULL;
	size_t n;

	*ng_r = NULL;
	*error_r = "out of memory";
	if (ng == NULL || u == NULL)
		goto fail;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		*error_r = "url has no host";
		goto fail;
	}
	/* libcurl names the service after the host without IPv6 brackets */
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
		ng->host = strndup(host + 1, n - 2);
	else
		ng->host = strdup(host);
	ng->realm = strdup(realm);
	ng->krb5_conf = krb5_conf != NULL ? strdup(krb5_conf) : NULL;
	if (ng->host == NULL || ng->realm == NULL || (krb5_conf != NULL && ng->krb5_conf == NULL))
		goto fail;
	curl_free(host);
	curl_url_cleanup(u);
	*ng_r = ng;
	return 0;
fail:
	curl_free(host);
	curl_url_cleanup(u);
	http_negotiate_free(&ng);
	return -1;
}

void http_negotiate_free(struct http_negotiate **ng)
{
	if (*ng == NULL)
		return;
	free((*ng)->realm);
	free((*ng)->krb5_conf);
	free((*ng)->host);
	free(*ng);
	*ng = NULL;
}
