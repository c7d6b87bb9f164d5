/*
 * `dagate check-config`: validate the configuration, print every error.
 * Exit 0 (prints "configuration OK") or 2. Providers are parsed, never
 * started: nothing here talks to a backend. Warnings (what is valid but
 * probably not meant) go to stderr as FILE:LINE: warning: ... and do not
 * change the exit status.
 */
#include "commands.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "decider.h"
#include "tls_material.h"

static int server_line(const struct dagate_config *cfg)
{
	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next)
		if (s->name == NULL && strcmp(s->kind, "server") == 0)
			return s->line;
	return 0;
}

int cmd_check_config(const char *config_path, int argc, char **argv)
{
	struct conf_errors errors = { 0 }, warnings = { 0 };
	struct tls_material tls;
	struct decider dec;
	const struct server_config *sv;

	if (decider_load(config_path, false, &dec) < 0)
		return 2;
	sv = &dec.cfg->server;
	/* The files serve reads before it listens, checked the same way. */
	if (tls_material_load(dec.cfg, &tls, &errors, &warnings) < 0) {
		config_errors_print(&errors);
		conf_errors_clear(&errors);
		conf_errors_clear(&warnings);
		decider_free(&dec);
		return 2;
	}
	tls_material_clear(&tls);
	config_warnings(dec.cfg, &warnings);
	/* Said here because serve is usually checked the way it is started;
	 * serve says it again at start when it applies. */
	if (geteuid() == 0 && (sv->user == NULL || *sv->user == '\0'))
		conf_error_at(&warnings, dec.cfg->path, server_line(dec.cfg),
			      "warning: user is not set: `dagate serve` started as root (as "
			      "this check was) keeps every capability; set [server] user, or "
			      "start it as an unprivileged user");
	config_errors_print(&warnings);
	conf_errors_clear(&warnings);
	decider_free(&dec);
	printf("configuration OK\n");
	return 0;
}
