/*
 * `dagate config dump`: the effective configuration with its defaults,
 * secrets hidden (like `nginx -T`).
 * `dagate config keys`: every key each section accepts, one per line
 * ("server listen", "provider ldap uri"), for the docs and their check.
 */
#include "commands.h"

#include <stdio.h>
#include <string.h>

#include "decider.h"
#include "provider.h"

static const char usage[] =
	"usage: dagate config dump     the effective configuration, defaults included\n"
	"       dagate config keys     every key of every section, one per line\n";

static void print_keys(const char *section, const struct conf_key *const *tables)
{
	for (size_t t = 0; tables != NULL && tables[t] != NULL; t++)
		for (const struct conf_key *k = tables[t]; k->name != NULL; k++)
			printf("%s %s\n", section, k->name);
}

static int list_keys(void)
{
	const struct conf_section_kind *const *kinds = decider_section_kinds();

	for (size_t i = 0; config_builtin_kinds[i] != NULL; i++)
		print_keys(config_builtin_kinds[i], config_builtin_tables(config_builtin_kinds[i]));
	for (size_t i = 0; kinds[i] != NULL; i++) {
		if (strcmp(kinds[i]->kind, "provider") != 0) {
			print_keys(kinds[i]->kind, kinds[i]->tables);
			continue;
		}
		print_keys("provider", kinds[i]->tables);
		for (size_t p = 0; provider_types[p] != NULL; p++) {
			const struct conf_key *const own[] = { provider_types[p]->keys, NULL };
			char section[64];

			snprintf(section, sizeof section, "provider %s", provider_types[p]->name);
			print_keys(section, own);
		}
	}
	return 0;
}

int cmd_config(const char *config_path, int argc, char **argv)
{
	struct conf_errors errors = { 0 };
	struct dagate_config *cfg = NULL;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "keys") == 0)
		return list_keys();
	if (argc != 2 || strcmp(argv[1], "dump") != 0) {
		fputs(usage, stderr);
		return 2;
	}
	if (decider_config_load(config_path, &cfg, &errors) < 0) {
		config_errors_print(&errors);
		conf_errors_clear(&errors);
		return 2;
	}
	conf_errors_clear(&errors);
	config_dump(stdout, cfg, decider_section_kinds());
	config_free(&cfg);
	return fflush(stdout) == 0 ? 0 : 1;
}
