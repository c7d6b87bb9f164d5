/*
 * The HTTPS certificate and key of [server], read into memory (before
 * privileges are dropped, and again on each reload) and checked with
 * OpenSSL before libmicrohttpd sees them: a key that does not match its
 * certificate is a refused configuration, not a dead listener.
 */
#ifndef DAGATE_TLS_MATERIAL_H
#define DAGATE_TLS_MATERIAL_H

#include <stdint.h>

#include "config.h"

struct tls_material {
	char *cert_pem;        /* NULL: plain HTTP */
	char *key_pem;         /* wiped by tls_material_clear */
	int64_t not_after;     /* leaf certificate expiry, Unix seconds */
};

int tls_material_load(const struct server_config *sc, struct tls_material *m,
		      const char **error_r);
void tls_material_clear(struct tls_material *m);

#endif
