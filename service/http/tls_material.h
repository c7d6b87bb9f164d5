/*
 * The HTTPS certificate and key of [server], read into memory (before
 * privileges are dropped, and again on each reload) and checked with
 * OpenSSL before libmicrohttpd sees them: a key that does not match its
 * certificate is a refused configuration, not a dead listener.
 */
#ifndef DAGATE_TLS_MATERIAL_H
#define DAGATE_TLS_MATERIAL_H

#include <stdint.h>
#include <time.h>

#include "config.h"

struct tls_material {
	char *cert_pem;        /* NULL: plain HTTP */
	char *key_pem;         /* wiped by tls_material_clear */
	int64_t not_after;     /* leaf certificate expiry, Unix seconds */
};

/* [server] tls_cert and tls_key of `cfg` (nothing without tls_cert):
 * the chain must start with the certificate the key belongs to (not a key,
 * not the CA first), valid now. Problems are added to `errors` as
 * FILE:LINE of the key they are about (a secret-file problem the way
 * conf_secret_error_at says it); on -1 `m` holds nothing. A certificate
 * expiring within 14 days adds a "warning: ..." to `warnings` (may be
 * NULL). The one check of these files: serve, each reload and
 * check-config call it. */
int tls_material_load(const struct dagate_config *cfg, struct tls_material *m,
		      struct conf_errors *errors, struct conf_errors *warnings);
/* The same for another section's pair ([sso]): `kind` names the section
 * for FILE:LINE; cert NULL: nothing (0). */
int tls_material_load_pair(const struct dagate_config *cfg, const char *kind, const char *cert,
			   const char *key, struct tls_material *m, struct conf_errors *errors,
			   struct conf_errors *warnings);
void tls_material_clear(struct tls_material *m);

/* A problem with the pair, and the key it is about. */
struct tls_verdict {
	const char *key;        /* "tls_cert" or "tls_key"; NULL: none */
	char text[256];
};
/* The checks of tls_material_load on the PEM texts at time `now` (pure;
 * unit-tested): 0 with the leaf's expiry in *not_after_r and maybe a
 * warning in `warn` (key NULL when none), or -1 with `err` filled. */
int tls_pair_check(const char *cert_pem, const char *key_pem, time_t now,
		   int64_t *not_after_r, struct tls_verdict *err, struct tls_verdict *warn);

#endif
