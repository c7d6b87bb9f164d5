/*
 * What every command builds from the configuration, and the section kinds
 * of the whole program: the one place that knows every layer's sections.
 */
#ifndef DAGATE_APP_H
#define DAGATE_APP_H

#include <stdbool.h>

#include "config.h"
#include "provider.h"
#include "router.h"

struct app {
	struct dagate_config *cfg;
	struct provider_set *providers;
	struct router *router;
};

/* config_load with every section kind dagate knows. */
int app_config_load(const char *config_path, struct dagate_config **cfg_r,
		    struct conf_errors *errors);
/* Load and validate the config, parse the providers and create the router;
 * with `start`, start the providers too (which may talk to backends).
 * Prints every error as FILE:LINE: message. -1 on any error (app is
 * empty). check-config passes start = false: validation never touches the
 * network. */
int app_load(const char *config_path, bool start, struct app *app);
/* The same from a loaded config, without starting the providers: nothing
 * here opens a socket. `app` owns `cfg` once this succeeded (on error it is
 * still the caller's); errors are added to `errors`, not printed. The
 * router asks `tokens` and `throttle` (each NULL: none), which outlive the
 * app. */
int app_build(struct app *app, struct dagate_config *cfg, struct token_issuer *tokens,
	      struct throttle *throttle, struct conf_errors *errors);
/* Start the providers of a built app (provider_set_start). On error the
 * app is only fit for app_free. */
int app_start(struct app *app, struct conf_errors *errors);
void app_free(struct app *app);
void app_print_errors(const struct conf_errors *errors);

#endif
