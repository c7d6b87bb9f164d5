/*
 * tls_pair_check: the [server] tls_cert / tls_key checks on PEM text, with
 * certificates made here (OpenSSL) and the clock passed in, so validity
 * is tested on both sides of each date.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "tls_material.h"
#include "unit.h"

#define DAY 86400
/* The leaf is valid from T0 for 30 days. */
#define T0 ((time_t)1900000000)

static char *pem_of(int (*write)(BIO *, void *), void *obj)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *copy;
	long len;

	write(b, obj);
	len = BIO_get_mem_data(b, &data);
	copy = strndup(data, (size_t)len);
	BIO_free(b);
	return copy;
}

static int write_cert(BIO *b, void *x)
{
	return PEM_write_bio_X509(b, x);
}

static int write_key(BIO *b, void *k)
{
	return PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
}

/* A certificate for `key`, signed by `issuer_key` (itself when NULL). */
static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *issuer_key, X509 *issuer, const char *cn,
		       time_t from, time_t to)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &from);
	X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &to);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name);
	X509_set_pubkey(x, key);
	X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256());
	X509_NAME_free(name);
	return x;
}

static char *concat(const char *a, const char *b)
{
	char *out = malloc(strlen(a) + strlen(b) + 1);

	strcpy(out, a);
	strcat(out, b);
	return out;
}

int main(void)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
	EVP_PKEY *other_key = EVP_EC_gen("P-256");
	X509 *ca = make_cert(ca_key, NULL, NULL, "test CA", T0 - 365 * DAY, T0 + 365 * DAY);
	X509 *leaf = make_cert(key, ca_key, ca, "localhost", T0, T0 + 30 * DAY);
	char *ca_pem = pem_of(write_cert, ca), *leaf_pem = pem_of(write_cert, leaf);
	char *key_pem = pem_of(write_key, key), *other_pem = pem_of(write_key, other_key);
	char *chain = concat(leaf_pem, ca_pem), *ca_first = concat(ca_pem, leaf_pem);
	const struct {
		const char *name, *cert, *key;
		time_t now;
		const char *err_key, *err;      /* NULL: accepted */
		const char *warning;            /* prefix, or NULL: none */
	} cases[] = {
		{ "leaf alone", leaf_pem, key_pem, T0 + DAY, NULL, NULL, NULL },
		{ "leaf then CA", chain, key_pem, T0 + DAY, NULL, NULL, NULL },
		{ "14 days and a second left", chain, key_pem, T0 + 16 * DAY - 1, NULL, NULL, NULL },
		{ "13 days left", chain, key_pem, T0 + 17 * DAY, NULL, NULL,
		  "warning: tls_cert expires on 2030-04-16 " },
		{ "last second", chain, key_pem, T0 + 30 * DAY - 1, NULL, NULL,
		  "warning: tls_cert expires on" },
		{ "expired (OpenSSL: at notAfter)", chain, key_pem, T0 + 30 * DAY, "tls_cert",
		  "tls_cert expired on 2030-04-16 ", NULL },
		{ "not yet valid", chain, key_pem, T0 - 1, "tls_cert",
		  "tls_cert is not valid before 2030-03-17 ", NULL },
		{ "CA first", ca_first, key_pem, T0 + DAY, "tls_cert",
		  "tls_cert must start with the server's own certificate (the one tls_key "
		  "belongs to); it is certificate 2 of 2: put it first", NULL },
		{ "key of another certificate", chain, other_pem, T0 + DAY, "tls_key",
		  "tls_key does not belong to tls_cert", NULL },
		{ "key as the certificate", key_pem, key_pem, T0 + DAY, "tls_cert",
		  "tls_cert holds a private key, not a certificate (the certificate chain "
		  "goes in tls_cert, the key in tls_key)", NULL },
		{ "no certificate", "just text\n", key_pem, T0 + DAY, "tls_cert",
		  "tls_cert holds no PEM certificate", NULL },
		{ "certificate as the key", chain, leaf_pem, T0 + DAY, "tls_key",
		  "tls_key holds no unencrypted PEM private key", NULL },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tls_verdict err, warn;
		int64_t not_after = 0;
		int got = tls_pair_check(cases[i].cert, cases[i].key, cases[i].now, &not_after,
					 &err, &warn);

		if (cases[i].err == NULL) {
			CHECK(got == 0, "%s: refused: %s", cases[i].name, err.text);
			CHECK(not_after == (int64_t)(T0 + 30 * DAY), "%s: not_after %lld",
			      cases[i].name, (long long)not_after);
		} else {
			CHECK(got == -1, "%s: accepted", cases[i].name);
			CHECK_STR(err.key, cases[i].err_key, cases[i].name);
			CHECK(strncmp(err.text, cases[i].err, strlen(cases[i].err)) == 0,
			      "%s: got \"%s\", want \"%s\"", cases[i].name, err.text, cases[i].err);
		}
		if (cases[i].warning == NULL)
			CHECK(warn.key == NULL, "%s: unexpected warning %s", cases[i].name, warn.text);
		else
			CHECK(warn.key != NULL && strncmp(warn.text, cases[i].warning,
							  strlen(cases[i].warning)) == 0,
			      "%s: warning \"%s\"", cases[i].name, warn.text);
	}
	free(chain);
	free(ca_first);
	free(ca_pem);
	free(leaf_pem);
	free(key_pem);
	free(other_pem);
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other_key);
	return unit_done("test_tls_material");
}
