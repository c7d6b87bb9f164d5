#include "tls_material.h"

#include <errno.h>
#include <stdarg.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A certificate chain is a few KiB; anything much larger is not one. */
#define TLS_CERT_FILE_MAX (256 * 1024)

static int read_text_file(const char *path, char **out, const char **error_r)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t len;

	if (f == NULL) {
		*error_r = strerror(errno);
		return -1;
	}
	buf = malloc(TLS_CERT_FILE_MAX + 1);
	if (buf == NULL) {
		fclose(f);
		*error_r = "out of memory";
		return -1;
	}
	len = fread(buf, 1, TLS_CERT_FILE_MAX + 1, f);
	fclose(f);
	if (len > TLS_CERT_FILE_MAX) {
		free(buf);
		*error_r = "certificate file too large";
		return -1;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

/* Warn this long before the server certificate expires: time to renew
 * it and reload before Salesforce's handshakes start failing. */
#define TLS_CERT_EXPIRY_WARN_DAYS 14

static void verdict(struct tls_verdict *v, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void verdict(struct tls_verdict *v, const char *key, const char *fmt, ...)
{
	va_list ap;

	v->key = key;
	va_start(ap, fmt);
	vsnprintf(v->text, sizeof v->text, fmt, ap);
	va_end(ap);
}

/* "2026-12-01 11:32:52 UTC" */
static void format_time(const ASN1_TIME *t, char *buf, size_t size)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "(unreadable date)");
}

/* Every certificate of the PEM text, in order (the caller frees). */
static STACK_OF(X509) *read_chain(const char *pem)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x;

	if (chain == NULL || b == NULL) {
		sk_X509_free(chain);
		BIO_free(b);
		return NULL;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (sk_X509_push(chain, x) <= 0)
			X509_free(x);
	ERR_clear_error();   /* the end of the text */
	BIO_free(b);
	return chain;
}

/* Position (0-based) of the certificate `key` belongs to, or -1. */
static int chain_index_of_key(STACK_OF(X509) *chain, EVP_PKEY *key)
{
	for (int i = 0; i < sk_X509_num(chain); i++)
		if (X509_check_private_key(sk_X509_value(chain, i), key) == 1)
			return i;
	ERR_clear_error();
	return -1;
}

/* The leaf's dates against `now`: an error when it is not valid now, a
 * warning (v->key NULL on return otherwise) when it expires soon. */
static int check_dates(X509 *leaf, time_t now, struct tls_verdict *err,
		       struct tls_verdict *warn)
{
	const ASN1_TIME *nb = X509_get0_notBefore(leaf), *na = X509_get0_notAfter(leaf);
	time_t soon = now + (time_t)TLS_CERT_EXPIRY_WARN_DAYS * 86400;
	char when[64];

	if (X509_cmp_time(nb, &now) > 0) {
		format_time(nb, when, sizeof when);
		verdict(err, "tls_cert", "tls_cert is not valid before %s", when);
		return -1;
	}
	if (X509_cmp_time(na, &now) < 0) {
		format_time(na, when, sizeof when);
		verdict(err, "tls_cert", "tls_cert expired on %s", when);
		return -1;
	}
	if (X509_cmp_time(na, &soon) < 0) {
		format_time(na, when, sizeof when);
		verdict(warn, "tls_cert", "warning: tls_cert expires on %s (within %d days): "
			"renew it and reload", when, TLS_CERT_EXPIRY_WARN_DAYS);
	}
	return 0;
}

int tls_pair_check(const char *cert_pem, const char *key_pem, time_t now,
		   int64_t *not_after_r, struct tls_verdict *err, struct tls_verdict *warn)
{
	STACK_OF(X509) *chain = read_chain(cert_pem);
	BIO *kb = BIO_new_mem_buf(key_pem, -1);
	EVP_PKEY *key = kb != NULL ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	X509 *leaf = chain != NULL && sk_X509_num(chain) > 0 ? sk_X509_value(chain, 0) : NULL;
	int ret = -1, at;

	ERR_clear_error();
	memset(err, 0, sizeof *err);
	memset(warn, 0, sizeof *warn);
	if (leaf == NULL && strstr(cert_pem, "PRIVATE KEY-----") != NULL) {
		verdict(err, "tls_cert", "tls_cert holds a private key, not a certificate "
			"(the certificate chain goes in tls_cert, the key in tls_key)");
	} else if (leaf == NULL) {
		verdict(err, "tls_cert", "tls_cert holds no PEM certificate");
	} else if (key == NULL) {
		verdict(err, "tls_key", "tls_key holds no unencrypted PEM private key");
	} else if ((at = chain_index_of_key(chain, key)) > 0) {
		verdict(err, "tls_cert", "tls_cert must start with the server's own certificate "
			"(the one tls_key belongs to); it is certificate %d of %d: put it first",
			at + 1, sk_X509_num(chain));
	} else if (at < 0) {
		verdict(err, "tls_key", "tls_key does not belong to tls_cert");
	} else if (check_dates(leaf, now, err, warn) == 0) {
		const ASN1_TIME *na = X509_get0_notAfter(leaf);
		struct tm tm;

		if (na != NULL && ASN1_TIME_to_tm(na, &tm) == 1)
			*not_after_r = (int64_t)timegm(&tm);
		ret = 0;
	}
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	BIO_free(kb);
	return ret;
}

int tls_material_load_pair(const struct dagate_config *cfg, const char *kind, const char *cert,
			   const char *key, struct tls_material *m, struct conf_errors *errors,
			   struct conf_errors *warnings)
{
	struct tls_verdict err, warn;
	const char *error;
	size_t key_len;

	memset(m, 0, sizeof *m);
	if (cert == NULL)
		return 0;
	if (read_text_file(cert, &m->cert_pem, &error) < 0) {
		conf_error_at(errors, cfg->path, conf_key_line(cfg, kind, "tls_cert"), "tls_cert %s: %s",
			      cert, error);
	} else if (config_read_secret_file(key, &m->key_pem, &key_len, &error) < 0) {
		conf_secret_error_at(errors, cfg->path, conf_key_line(cfg, kind, "tls_key"), key,
				     error);
	} else if (tls_pair_check(m->cert_pem, m->key_pem, time(NULL), &m->not_after, &err,
				  &warn) < 0) {
		conf_error_at(errors, cfg->path, conf_key_line(cfg, kind, err.key), "%s", err.text);
	} else {
		if (warn.key != NULL && warnings != NULL)
			conf_error_at(warnings, cfg->path, conf_key_line(cfg, kind, warn.key), "%s",
				      warn.text);
		return 0;
	}
	tls_material_clear(m);
	return -1;
}

int tls_material_load(const struct dagate_config *cfg, struct tls_material *m,
		      struct conf_errors *errors, struct conf_errors *warnings)
{
	return tls_material_load_pair(cfg, "server", cfg->server.tls_cert, cfg->server.tls_key, m,
				      errors, warnings);
}

void tls_material_clear(struct tls_material *m)
{
	free(m->cert_pem);
	if (m->key_pem != NULL) {
		explicit_bzero(m->key_pem, strlen(m->key_pem));
		free(m->key_pem);
	}
	memset(m, 0, sizeof *m);
}
