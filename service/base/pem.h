/*
 * What a PEM file holds, by block type, so that a file given for one
 * purpose (a CA bundle) can be told from another (a private key) with a
 * FILE:LINE error instead of a failed handshake later.
 */
#ifndef DAGATE_PEM_H
#define DAGATE_PEM_H

struct pem_contents {
	unsigned certificates;   /* CERTIFICATE, TRUSTED CERTIFICATE */
	unsigned private_keys;   /* PRIVATE KEY, RSA/EC/ENCRYPTED PRIVATE KEY, ... */
	unsigned other;          /* CRLs, parameters, public keys, ... */
};

/* Count the PEM blocks of `path`. -1 with a static *error_r when it cannot
 * be read; a file without any PEM block is 0 with every count 0. */
int pem_file_inspect(const char *path, struct pem_contents *out, const char **error_r);

/* A CA bundle (`ca_file` of providers) holds certificates and no private
 * key. -1 with a static *error_r saying what is wrong (also when the file
 * cannot be read). */
int pem_ca_bundle_check(const char *path, const char **error_r);

#endif
