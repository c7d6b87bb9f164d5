/*
 * `dagate check-config`: validate the configuration, print every error.
 * Exit 0 (prints "configuration OK") or 2. Providers are parsed, never
 * started: nothing here talks to a backend.
 */
#include "commands.h"

#include <stdio.h>

#include "app.h"

int cmd_check_config(const char *config_path, int argc, char **argv)
{
	struct app app;

	if (app_load(config_path, false, &app) < 0)
		return 2;
	app_free(&app);
	printf("configuration OK\n");
	return 0;
}
