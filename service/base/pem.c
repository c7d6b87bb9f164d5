#include "pem.h"

#include <errno.h>
#include <stdbool.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <string.h>

/* A CA bundle of every public root is about 250 KiB; a trust file many
 * times that size is not one. */
#define PEM_FILE_MAX (16 * 1024 * 1024)

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

int pem_file_inspect(const char *path, struct pem_contents *out, const char **error_r)
{
	BIO *b = BIO_new_file(path, "r");
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long len = 0, total = 0;

	memset(out, 0, sizeof *out);
	if (b == NULL) {
		ERR_clear_error();
		*error_r = errno != 0 ? strerror(errno) : "cannot be opened";
		return -1;
	}
	while (total <= PEM_FILE_MAX && PEM_read_bio(b, &name, &header, &data, &len) == 1) {
		if (strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "TRUSTED CERTIFICATE") == 0)
			out->certificates++;
		else if (ends_with(name, "PRIVATE KEY"))
			out->private_keys++;
		else
			out->other++;
		total += len;
		OPENSSL_cleanse(data, (size_t)len);   /* it may be a key */
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		name = header = NULL;
		data = NULL;
	}
	ERR_clear_error();   /* "no start line": the end of the file */
	BIO_free(b);
	return 0;
}

int pem_ca_bundle_check(const char *path, const char **error_r)
{
	struct pem_contents pc;

	if (pem_file_inspect(path, &pc, error_r) < 0)
		return -1;
	if (pc.private_keys > 0) {
		*error_r = "holds a private key: a CA bundle holds only certificates";
		return -1;
	}
	if (pc.certificates == 0) {
		*error_r = "holds no PEM certificate";
		return -1;
	}
	return 0;
}
