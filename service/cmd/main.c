/*
 * dagate: Salesforce Delegated Authentication gateway. Subcommand dispatch.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "config.h"

struct command {
	const char *name;
	int (*run)(const char *config_path, int argc, char **argv);
	bool takes_args;   /* else: no arguments after the name */
	bool own_help;     /* prints its own --help */
};

static const struct command commands[] = {
	{ "serve", cmd_serve, false, false },
	{ "check-config", cmd_check_config, false, false },
	{ "test-user", cmd_test_user, true, true },
	{ "probe", cmd_probe, false, false },
	{ "hash-password", cmd_hash_password, false, false },
	{ "token", cmd_token, true, true },
	{ "decisions", cmd_decisions, true, true },
	{ "config", cmd_config, true, true },
	{ "status", cmd_status, true, true },
	{ "trace", cmd_trace, true, true },
	{ "throttle", cmd_throttle, true, true },
	{ "sso-check", cmd_sso_check, true, true },
};

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
		"  config dump           the effective configuration, defaults included\n"
		"  status [--json]       what the running server reports (admin listener)\n"
		"  throttle status|unblock (USER | --source IP)\n"
		"                        see or lift a block in the running server's throttle\n"
		"  trace USER [--for DURATION]\n"
		"                        print each step of USER's next decisions in the\n"
		"                        running server (admin listener)\n"
		"  sso-check PRINCIPAL   what [sso] would do for a Kerberos client principal\n"
		"  decisions [--answer false|fault|any] [--limit N] [--json]\n"
		"                        the running server's recent decisions that were\n"
		"                        not true (from its [admin] listener)\n"
		"  version               print the version\n"
		"\n"
		"The config is -c FILE, else $DAGATE_CONFIG, else /etc/dagate/dagate.conf.\n"
		"Exit status: 0 success, 1 failure or negative answer, 2 usage or config error.\n");
}

static const struct command *command_find(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static bool asks_help(int argc, char **argv)
{
	for (int k = 1; k < argc; k++)
		if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	const char *config_path = NULL;
	const struct command *cmd;
	int i = 1, out;

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
	/* Pull "-c FILE" out of the command's own arguments. */
	out = i + 1;
	for (int k = i + 1; k < argc; k++) {
		if (strcmp(argv[k], "-c") == 0 && k + 1 < argc)
			config_path = argv[++k];
		else
			argv[out++] = argv[k];
	}
	argc = out - i;
	argv += i;
	if (config_path == NULL)
		config_path = config_default_path();

	if (strcmp(argv[0], "version") == 0 || strcmp(argv[0], "--version") == 0) {
		printf("dagate %s\n", DAGATE_VERSION);
		return 0;
	}
	cmd = command_find(argv[0]);
	if (cmd != NULL && !cmd->own_help && asks_help(argc, argv)) {
		usage(stdout);
		return 0;
	}
	if (cmd == NULL || (!cmd->takes_args && argc != 1)) {
		if (cmd == NULL && asks_help(argc, argv)) {
			usage(stdout);
			return 0;
		}
		usage(stderr);
		return 2;
	}
	return cmd->run(config_path, argc, argv);
}
