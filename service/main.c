/*
 * dagate: Salesforce Delegated Authentication gateway. Subcommand dispatch.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config.h"

extern int token_cli_main(int argc, char **argv, const char *config_path)
	__attribute__((weak));

static void usage(FILE *out)
{
	fprintf(out,
		"usage: dagate [-c FILE] COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  serve                 run the service in the foreground\n"
		"  check-config          validate the configuration, print every error\n"
		"  test-user USER [--source-ip IP] [--provider NAME]\n"
		"                        decide one login (password on stdin), show each step\n"
		"  probe                 check that every provider's backend answers\n"
		"  hash-password         read a password on stdin, print a yescrypt hash\n"
		"  token issue|revoke|list ...\n"
		"                        manage one-time impersonation tokens\n"
		"  version               print the version\n"
		"\n"
		"The config is -c FILE, else $DAGATE_CONFIG, else /etc/dagate/dagate.conf.\n"
		"Exit status: 0 success, 1 failure or negative answer, 2 usage or config error.\n");
}

int main(int argc, char **argv)
{
	const char *config_path = NULL, *cmd;
	int i = 1;

	/* Global options before the command; -c is also accepted after it. */
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			config_path = argv[++i];
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[i];
	/* Pull "-c FILE" out of the command's own arguments. */
	{
		int out = i + 1;

		for (int k = i + 1; k < argc; k++) {
			if (strcmp(argv[k], "-c") == 0 && k + 1 < argc)
				config_path = argv[++k];
			else
				argv[out++] = argv[k];
		}
		argc = out;
	}
	if (config_path == NULL)
		config_path = config_default_path();

	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("dagate %s\n", DAGATE_VERSION);
		return 0;
	}
	for (int k = i + 1; k < argc; k++) {
		if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
			if (strcmp(cmd, "test-user") == 0 || strcmp(cmd, "token") == 0)
				break;  /* they print their own help */
			usage(stdout);
			return 0;
		}
	}
	if (strcmp(cmd, "serve") == 0 && argc == i + 1)
		return cmd_serve(config_path);
	if (strcmp(cmd, "check-config") == 0 && argc == i + 1)
		return cmd_check_config(config_path);
	if (strcmp(cmd, "probe") == 0 && argc == i + 1)
		return cmd_probe(config_path);
	if (strcmp(cmd, "hash-password") == 0 && argc == i + 1)
		return cmd_hash_password();
	if (strcmp(cmd, "test-user") == 0)
		return cmd_test_user(config_path, argc - i, argv + i);
	if (strcmp(cmd, "token") == 0 && token_cli_main != NULL)
		return token_cli_main(argc - i, argv + i, config_path);
	usage(stderr);
	return 2;
}
