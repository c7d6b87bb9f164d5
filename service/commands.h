/*
 * The subcommands of `dagate` and the start-up they share.
 */
#ifndef DAGATE_COMMANDS_H
#define DAGATE_COMMANDS_H

#include "config.h"
#include "provider.h"
#include "router.h"

/* What every command builds from the configuration. */
struct app {
	struct dagate_config *cfg;
	struct provider_set *providers;
	struct router *router;
};

/* Load and validate the config, create providers and the router; print
 * every error as FILE:LINE: message. -1 on any error (app is empty). */
int app_load(const char *config_path, struct app *app);
/* The same from a loaded config, which `app` then owns (also on error);
 * errors are added to `errors`, not printed. */
int app_build(struct app *app, struct dagate_config *cfg, struct conf_errors *errors);
void app_free(struct app *app);
void app_print_errors(const struct conf_errors *errors);

int cmd_serve(const char *config_path);
int cmd_check_config(const char *config_path);
int cmd_test_user(const char *config_path, int argc, char **argv);
int cmd_probe(const char *config_path);
int cmd_hash_password(void);

#endif
