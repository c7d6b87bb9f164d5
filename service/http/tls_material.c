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

/* Parse both PEMs and check that the key belongs to the certificate. */
static int check_pair(struct tls_material *m, const char **error_r)
{
	BIO *cb = BIO_new_mem_buf(m->cert_pem, -1), *kb = BIO_new_mem_buf(m->key_pem, -1);
	X509 *cert = cb != NULL ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	EVP_PKEY *key = kb != NULL ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	int ret = -1;

	if (cert == NULL) {
		*error_r = "tls_cert holds no PEM certificate";
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

int tls_material_load(const struct server_config *sc, struct tls_material *m,
		      const char **error_r)
{
	size_t key_len;

	memset(m, 0, sizeof *m);
	if (sc->tls_cert == NULL)
		return 0;
	if (read_text_file(sc->tls_cert, &m->cert_pem, error_r) < 0 ||
	    config_read_secret_file(sc->tls_key, &m->key_pem, &key_len, error_r) < 0 ||
	    check_pair(m, error_r) < 0) {
		tls_material_clear(m);
		return -1;
	}
	return 0;
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
