/*
 * The decider: what one reading of the configuration builds to decide a
 * login (the config, its providers, the router). serve wraps one in each
 * generation with the workers and listeners; the other commands use it
 * alone. Also the section kinds of the whole program: the one place that
 * knows every layer's sections.
 */
#ifndef DAGATE_DECIDER_H
#define DAGATE_DECIDER_H

#include <stdbool.h>

#include "config.h"
#include "provider.h"
#include "router.h"

struct decider {
	struct dagate_config *cfg;
	struct provider_set *providers;
	struct router *router;
};

/* config_load with every section kind dagate knows. */
/* The section kinds beyond the built-in ones ([provider], [tokens], ...). */
const struct conf_section_kind *const *decider_section_kinds(void);
int decider_config_load(const char *config_path, struct dagate_config **cfg_r,
			struct conf_errors *errors);
/* Load and validate the config, parse the providers and create the router;
 * with `start`, start the providers too (which may talk to backends).
 * Prints every error as FILE:LINE: message. -1 on any error (`dec` is
 * empty). check-config passes start = false: validation never touches the
 * network. */
int decider_load(const char *config_path, bool start, struct decider *dec);
/* The same from a loaded config, without starting the providers: nothing
 * here opens a socket. `dec` owns `cfg` once this succeeded (on error it is
 * still the caller's); errors are added to `errors`, not printed. The
 * router asks `tokens` and `throttle` (each NULL: none), which outlive the
 * decider. */
int decider_build(struct decider *dec, struct dagate_config *cfg, struct token_issuer *tokens,
		  struct throttle *throttle, struct conf_errors *errors);
/* Start the providers of a built decider (provider_set_start). On error it
 * is only fit for decider_free. */
int decider_start(struct decider *dec, struct conf_errors *errors);
void decider_free(struct decider *dec);
void config_errors_print(const struct conf_errors *errors);

#endif
