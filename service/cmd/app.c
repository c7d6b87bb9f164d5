#include "app.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "throttle.h"
#include "tokens.h"

static const struct conf_section_kind *const app_section_kinds[] = {
	&provider_section_kind,
	&token_section_kind,
	&requester_section_kind,
	&throttle_section_kind,
	NULL,
};

int app_config_load(const char *config_path, struct dagate_config **cfg_r,
		    struct conf_errors *errors)
{
	return config_load(config_path, app_section_kinds, cfg_r, errors);
}

void app_print_errors(const struct conf_errors *errors)
{
	for (size_t i = 0; i < errors->count; i++)
		fprintf(stderr, "%s\n", errors->lines[i]);
}

int app_build(struct app *app, struct dagate_config *cfg, struct token_issuer *tokens,
	      struct throttle *throttle, struct conf_errors *errors)
{
	memset(app, 0, sizeof *app);
	app->cfg = cfg;
	/* Level and format first, so that providers' start-up messages
	 * already come out as configured. The audit file opens in serve. */
	log_set_level(cfg->log.level);
	log_set_format(cfg->log.format);
	if (provider_set_parse(cfg, errors, &app->providers) < 0 ||
	    router_create(cfg, app->providers, tokens, throttle, errors, &app->router) < 0) {
		app->cfg = NULL;   /* still the caller's */
		app_free(app);
		return -1;
	}
	return 0;
}

int app_start(struct app *app, struct conf_errors *errors)
{
	return provider_set_start(app->providers, app->cfg, errors);
}

int app_load(const char *config_path, bool start, struct app *app)
{
	struct conf_errors errors = { 0 };
	struct dagate_config *cfg = NULL;
	int ret = 0;

	memset(app, 0, sizeof *app);
	if (app_config_load(config_path, &cfg, &errors) < 0 ||
	    app_build(app, cfg, NULL, NULL, &errors) < 0) {
		config_free(&cfg);
		ret = -1;
	} else if (start && app_start(app, &errors) < 0) {
		app_free(app);     /* and cfg with it */
		ret = -1;
	}
	if (ret < 0)
		app_print_errors(&errors);
	conf_errors_clear(&errors);
	return ret;
}

void app_free(struct app *app)
{
	router_free(&app->router);
	provider_set_free(&app->providers);
	config_free(&app->cfg);
}
