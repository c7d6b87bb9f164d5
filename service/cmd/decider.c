#include "decider.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "sso.h"
#include "throttle.h"
#include "tokens.h"

static const struct conf_section_kind *const dagate_section_kinds[] = {
	&provider_section_kind,
	&token_section_kind,
	&requester_section_kind,
	&throttle_section_kind,
	&sso_section_kind,
	NULL,
};

const struct conf_section_kind *const *decider_section_kinds(void)
{
	return dagate_section_kinds;
}

int decider_config_load(const char *config_path, struct dagate_config **cfg_r,
			struct conf_errors *errors)
{
	return config_load(config_path, dagate_section_kinds, cfg_r, errors);
}

void config_errors_print(const struct conf_errors *errors)
{
	for (size_t i = 0; i < errors->count; i++)
		fprintf(stderr, "%s\n", errors->lines[i]);
}

int decider_build(struct decider *dec, struct dagate_config *cfg, struct token_issuer *tokens,
		  struct throttle *throttle, struct conf_errors *errors)
{
	memset(dec, 0, sizeof *dec);
	dec->cfg = cfg;
	/* Level and format first, so that providers' start-up messages
	 * already come out as configured. The audit file opens in serve. */
	log_set_level(cfg->log.level);
	log_set_format(cfg->log.format);
	if (provider_set_parse(cfg, errors, &dec->providers) < 0 ||
	    router_create(cfg, dec->providers, tokens, throttle, errors, &dec->router) < 0) {
		dec->cfg = NULL;   /* still the caller's */
		decider_free(dec);
		return -1;
	}
	return 0;
}

int decider_start(struct decider *dec, struct conf_errors *errors)
{
	return provider_set_start(dec->providers, dec->cfg, errors);
}

int decider_load(const char *config_path, bool start, struct decider *dec)
{
	struct conf_errors errors = { 0 };
	struct dagate_config *cfg = NULL;
	int ret = 0;

	memset(dec, 0, sizeof *dec);
	if (decider_config_load(config_path, &cfg, &errors) < 0 ||
	    decider_build(dec, cfg, NULL, NULL, &errors) < 0) {
		config_free(&cfg);
		ret = -1;
	} else if (start && decider_start(dec, &errors) < 0) {
		decider_free(dec);     /* and cfg with it */
		ret = -1;
	}
	if (ret < 0)
		config_errors_print(&errors);
	conf_errors_clear(&errors);
	return ret;
}

void decider_free(struct decider *dec)
{
	router_free(&dec->router);
	provider_set_free(&dec->providers);
	config_free(&dec->cfg);
}
