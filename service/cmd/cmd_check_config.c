/*
 * `dagate check-config`: validate the configuration, print every error.
 * Exit 0 (prints "configuration OK") or 2. Providers are parsed, never
 * started: nothing here talks to a backend.
 */
#include "commands.h"

#include <stdio.h>

#include "decider.h"

int cmd_check_config(const char *config_path, int argc, char **argv)
{
	struct decider dec;

	if (decider_load(config_path, false, &dec) < 0)
		return 2;
	decider_free(&dec);
	printf("configuration OK\n");
	return 0;
}
