/*
 * pem.h: PEM blocks counted by type, and what a CA bundle may hold. The
 * blocks need not be real certificates or keys: only their type is read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "pem.h"
#include "unit.h"

#define BLOCK(type) "-----BEGIN " type "-----\nAAECAwQF\n-----END " type "-----\n"

static char dir[] = "/tmp/dagate-pem-XXXXXX";

static const char *write_pem(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_inspect(void)
{
	static const struct {
		const char *text;
		unsigned certs, keys, other;
	} cases[] = {
		{ "", 0, 0, 0 },
		{ "not PEM at all\n", 0, 0, 0 },
		{ BLOCK("CERTIFICATE"), 1, 0, 0 },
		{ "# comment\n" BLOCK("CERTIFICATE") "text between\n" BLOCK("CERTIFICATE"), 2, 0, 0 },
		{ BLOCK("TRUSTED CERTIFICATE"), 1, 0, 0 },
		{ BLOCK("PRIVATE KEY"), 0, 1, 0 },
		{ BLOCK("RSA PRIVATE KEY") BLOCK("EC PRIVATE KEY") BLOCK("ENCRYPTED PRIVATE KEY"),
		  0, 3, 0 },
		{ BLOCK("CERTIFICATE") BLOCK("PRIVATE KEY"), 1, 1, 0 },
		{ BLOCK("X509 CRL") BLOCK("PUBLIC KEY") BLOCK("CERTIFICATE"), 1, 0, 2 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct pem_contents pc;
		const char *error = NULL;
		const char *path = write_pem("f.pem", cases[i].text);

		CHECK(pem_file_inspect(path, &pc, &error) == 0, "case %zu: %s", i,
		      error != NULL ? error : "");
		CHECK(pc.certificates == cases[i].certs && pc.private_keys == cases[i].keys &&
		      pc.other == cases[i].other, "case %zu: %u certs %u keys %u other", i,
		      pc.certificates, pc.private_keys, pc.other);
	}
}

static void test_ca_bundle(void)
{
	static const struct {
		const char *text;
		const char *error;   /* NULL: accepted */
	} cases[] = {
		{ BLOCK("CERTIFICATE") BLOCK("CERTIFICATE"), NULL },
		{ BLOCK("CERTIFICATE") BLOCK("X509 CRL"), NULL },
		{ BLOCK("PRIVATE KEY"), "holds a private key: a CA bundle holds only certificates" },
		{ BLOCK("CERTIFICATE") BLOCK("RSA PRIVATE KEY"),
		  "holds a private key: a CA bundle holds only certificates" },
		{ "", "holds no PEM certificate" },
		{ BLOCK("PUBLIC KEY"), "holds no PEM certificate" },
	};
	char missing[300];
	const char *error;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *path = write_pem("ca.pem", cases[i].text);

		error = NULL;
		if (cases[i].error == NULL) {
			CHECK(pem_ca_bundle_check(path, &error) == 0, "case %zu: %s", i,
			      error != NULL ? error : "");
		} else {
			CHECK(pem_ca_bundle_check(path, &error) < 0, "case %zu refused", i);
			CHECK_STR(error, cases[i].error, "ca bundle error");
		}
	}
	snprintf(missing, sizeof missing, "%s/none.pem", dir);
	CHECK(pem_ca_bundle_check(missing, &error) < 0, "missing file");
	CHECK_STR(error, "No such file or directory", "missing file error");
}

int main(void)
{
	char path[300];

	if (mkdtemp(dir) == NULL)
		return 1;
	test_inspect();
	test_ca_bundle();
	snprintf(path, sizeof path, "%s/f.pem", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/ca.pem", dir);
	unlink(path);
	rmdir(dir);
	return unit_done("test_pem");
}
