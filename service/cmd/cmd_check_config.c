/*
 * `dagate check-config`: validate the configuration, print every error.
 * Exit 0 (prints "configuration OK") or 2. Providers are parsed, never
 * started: nothing here talks to a backend. Warnings (what is valid but
 * probably not meant) go to stderr as FILE:LINE: warning: ... and do not
 * change the exit status.
 */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decider.h"
#include "privdrop.h"
#include "sso.h"
#include "tls_material.h"

/* [server] user as serve sees it: started as root, serve refuses a user
 * that does not exist (or is root); otherwise it ignores `user`, so a
 * check run by someone else only warns. */
static int user_check(const struct dagate_config *cfg, struct conf_errors *errors,
		      struct conf_errors *warnings)
{
	const char *user = cfg->server.user, *error;
	int line = conf_key_line(cfg, "server", "user");
	uid_t uid;
	gid_t gid;

	if (user == NULL || *user == '\0' || privdrop_lookup(user, &uid, &gid, &error) == 0)
		return 0;
	if (geteuid() == 0) {
		conf_error_at(errors, cfg->path, line, "user %s: %s", user, error);
		return -1;
	}
	conf_error_at(warnings, cfg->path, line, "warning: user %s: %s (serve started as "
		      "root would refuse it)", user, error);
	return 0;
}

/* Started as root with `user`, serve reads these files again as the user
 * (on reload, per connection, when a users file changes): each one that
 * exists must be readable by that user. The audit log is opened before
 * the drop and only written. */
static bool read_after_drop(const struct conf_section *s, const struct conf_entry *e)
{
	return e->is_file && access(e->value, F_OK) == 0 &&
	       !(strcmp(s->kind, "log") == 0 && strcmp(e->key, "audit") == 0);
}

static int files_readable_check(const struct dagate_config *cfg, struct conf_errors *errors)
{
	const char *user = cfg->server.user, **paths = NULL, *error = "out of memory";
	const struct conf_entry **entries = NULL;
	bool *readable = NULL;
	size_t n = 0, i = 0;
	int bad = 0;

	if (geteuid() != 0 || user == NULL || *user == '\0')
		return 0;
	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next)
		for (const struct conf_entry *e = s->entries; e != NULL; e = e->next)
			n += read_after_drop(s, e);
	if (n == 0)
		return 0;
	paths = calloc(n, sizeof *paths);
	entries = calloc(n, sizeof *entries);
	readable = calloc(n, sizeof *readable);
	for (const struct conf_section *s = cfg->sections; s != NULL && readable != NULL; s = s->next)
		for (const struct conf_entry *e = s->entries; e != NULL && i < n; e = e->next)
			if (read_after_drop(s, e)) {
				entries[i] = e;
				paths[i++] = e->value;
			}
	if (paths == NULL || entries == NULL || readable == NULL ||
	    privdrop_check_readable(user, paths, n, readable, &error) < 0) {
		conf_error_at(errors, cfg->path, conf_key_line(cfg, "server", "user"),
			      "user %s: cannot check which files it can read: %s", user, error);
		bad++;
		n = 0;
	}
	for (i = 0; i < n; i++) {
		if (readable[i])
			continue;
		conf_error_at(errors, cfg->path, entries[i]->line,
			      "%s %s is not readable by user %s: serve runs as that user after "
			      "start-up and reads it again then (reload, connections, changes)",
			      entries[i]->key, paths[i], user);
		bad++;
	}
	free(paths);
	free(entries);
	free(readable);
	return bad > 0 ? -1 : 0;
}

/* [sso]'s files, as serve reads them: its TLS pair, its keytab holding
 * the principal. */
static int sso_files_check(const struct dagate_config *cfg, struct conf_errors *errors,
			   struct conf_errors *warnings)
{
	struct sso_config *sso = NULL;
	struct tls_material tls;
	int ret = 0;

	if (sso_config_build(cfg, &sso, errors) < 0)
		return -1;
	if (sso == NULL)
		return 0;
	if (tls_material_load_pair(cfg, "sso", sso->tls_cert, sso->tls_key, &tls, errors,
				   warnings) < 0)
		ret = -1;
	tls_material_clear(&tls);
	if (sso_keytab_check(sso, errors) < 0)
		ret = -1;
	sso_config_free(&sso);
	return ret;
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
	if (user_check(dec.cfg, &errors, &warnings) < 0 ||
	    files_readable_check(dec.cfg, &errors) < 0 ||
	    sso_files_check(dec.cfg, &errors, &warnings) < 0) {
		config_errors_print(&errors);
		conf_errors_clear(&errors);
		conf_errors_clear(&warnings);
		decider_free(&dec);
		return 2;
	}
	config_warnings(dec.cfg, &warnings);
	/* Said here because serve is usually checked the way it is started;
	 * serve says it again at start when it applies. */
	if (geteuid() == 0 && (sv->user == NULL || *sv->user == '\0'))
		conf_error_at(&warnings, dec.cfg->path, conf_key_line(dec.cfg, "server", "user"),
			      "warning: user is not set: `dagate serve` started as root (as "
			      "this check was) keeps every capability; set [server] user, or "
			      "start it as an unprivileged user");
	config_errors_print(&warnings);
	conf_errors_clear(&warnings);
	decider_free(&dec);
	printf("configuration OK\n");
	return 0;
}
