#include "tls_material.h"

#include <errno.h>
#include <openssl/bio.h>
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

/* Parse both PEMs and check that the key belongs to the certificate;
 * *line_r is the line of the key the problem is about. */
static int check_pair(struct tls_material *m, int cert_line, int key_line, int *line_r,
		      const char **error_r)
{
	BIO *cb = BIO_new_mem_buf(m->cert_pem, -1), *kb = BIO_new_mem_buf(m->key_pem, -1);
	X509 *cert = cb != NULL ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	EVP_PKEY *key = kb != NULL ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	int ret = -1;

	*line_r = key_line;
	if (cert == NULL) {
		*error_r = "tls_cert holds no PEM certificate";
		*line_r = cert_line;
	} else if (key == NULL) {
		*error_r = "tls_key holds no unencrypted PEM private key";
	} else if (X509_check_private_key(cert, key) != 1) {
		*error_r = "tls_key does not belong to tls_cert";
	} else {
		const ASN1_TIME *na = X509_get0_notAfter(cert);
		struct tm tm;

		if (na != NULL && ASN1_TIME_to_tm(na, &tm) == 1)
			m->not_after = (int64_t)timegm(&tm);
		ret = 0;
	}
	X509_free(cert);
	EVP_PKEY_free(key);
	BIO_free(cb);
	BIO_free(kb);
	return ret;
}

/* The [server] line of `key` in cfg's file, for FILE:LINE. */
static int server_line(const struct dagate_config *cfg, const char *key)
{
	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next)
		if (strcmp(s->kind, "server") == 0)
			return conf_line(s, key);
	return 0;
}

int tls_material_load(const struct dagate_config *cfg, struct tls_material *m,
		      struct conf_errors *errors)
{
	const struct server_config *sc = &cfg->server;
	int cert_line = server_line(cfg, "tls_cert"), key_line = server_line(cfg, "tls_key");
	const char *error;
	size_t key_len;
	int line;

	memset(m, 0, sizeof *m);
	if (sc->tls_cert == NULL)
		return 0;
	if (read_text_file(sc->tls_cert, &m->cert_pem, &error) < 0) {
		conf_error_at(errors, cfg->path, cert_line, "tls_cert %s: %s", sc->tls_cert, error);
	} else if (config_read_secret_file(sc->tls_key, &m->key_pem, &key_len, &error) < 0) {
		conf_secret_error_at(errors, cfg->path, key_line, sc->tls_key, error);
	} else if (check_pair(m, cert_line, key_line, &line, &error) < 0) {
		conf_error_at(errors, cfg->path, line, "%s", error);
	} else {
		return 0;
	}
	tls_material_clear(m);
	return -1;
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
