/*
 * `dagate hash-password`: a yescrypt hash for a users file, from a
 * password read on stdin.
 */
#include "commands.h"

#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_server.h"
#include "tty.h"

int cmd_hash_password(const char *config_path, int argc, char **argv)
{
	char pw[SF_PASSWORD_MAX + 2], setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof *cd);
	const char *error;
	ssize_t len = tty_read_secret("password: ", pw, sizeof pw);
	int ret = 1;

	if (cd == NULL)
		return 1;
	if (len <= 0) {
		fprintf(stderr, "hash-password: %s\n",
			len == 0 ? "empty password refused" : "password too long");
	} else if (sf_field_check(pw, (size_t)len, SF_PASSWORD_MAX, &error) < 0) {
		fprintf(stderr, "hash-password: %s\n", error);
	} else if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof setting) == NULL ||
		   crypt_rn(pw, setting, cd, sizeof *cd) == NULL || cd->output[0] == '*') {
		fprintf(stderr, "hash-password: crypt failed: %s\n", strerror(errno));
	} else {
		printf("%s\n", cd->output);
		ret = 0;
	}
	explicit_bzero(pw, sizeof pw);
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return ret;
}
