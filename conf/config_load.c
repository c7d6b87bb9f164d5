/*
 * Loading dagate.conf: the section kinds and their key tables, validation
 * of every section, and the typed struct dagate_config built from them.
 * The file itself is read by config_read.c.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_internal.h"

#define CONFIG_SYSTEM_PATH "/etc/dagate/dagate.conf"
/* Each probe opens a connection to every backend: no faster than this. */
#define PROBE_INTERVAL_MIN_MS 1000

/* Key tables. */

static const char *const tls_versions[] = { "1.2", "1.3", NULL };
static const char *const log_levels[] = { "error", "warn", "info", "debug", NULL };
static const char *const log_formats[] = { "text", "json", NULL };

static const struct conf_key server_keys[] = {
	{ "listen", CONF_LISTEN, CONF_REPEATABLE, "127.0.0.1:8080", 0, 0, NULL,
	  "address:port to serve Salesforce on; repeatable, [::1]:8443 for IPv6" },
	{ "tls_cert", CONF_PATH, 0, NULL, 0, 0, NULL,
	  "PEM certificate chain; with tls_key the listener speaks HTTPS only",
	  CONF_AT(struct server_config, tls_cert) },
	{ "tls_key", CONF_SECRET_FILE, 0, NULL, 0, 0, NULL,
	  "PEM private key (chmod 600)",
	  CONF_AT(struct server_config, tls_key) },
	{ "tls_min", CONF_ENUM, 0, "1.2", 0, 0, tls_versions,
	  "lowest TLS version accepted",
	  CONF_AT(struct server_config, tls_min_choice) },
	{ "path", CONF_STRING, 0, "/Sso.asmx", 0, 0, NULL,
	  "path of the Delegated Gateway URL",
	  CONF_AT(struct server_config, path) },
	{ "public_url", CONF_STRING, 0, NULL, 0, 0, NULL,
	  "address the served WSDL advertises",
	  CONF_AT(struct server_config, public_url) },
	{ "allow", CONF_CIDR_LIST, 0, "0.0.0.0/0, ::/0", 0, 0, NULL,
	  "who may call Authenticate" },
	{ "allow_file", CONF_PATH, 0, NULL, 0, 0, NULL,
	  "file of CIDRs, one per line, added to allow (replaces its default)",
	  CONF_AT(struct server_config, allow_file) },
	{ "trusted_proxies", CONF_CIDR_LIST, CONF_EMPTY_OK, NULL, 0, 0, NULL,
	  "peers whose X-Forwarded-For is believed",
	  CONF_AT(struct server_config, trusted_proxies) },
	{ "deadline", CONF_DURATION, 0, "5s", 100, 9000, NULL,
	  "every answer leaves within this (Salesforce gives up at 10s)",
	  CONF_AT(struct server_config, deadline_ms) },
	{ "max_body", CONF_UINT, 0, "16384", 1024, 1048576, NULL,
	  "largest request body; larger gets 413 before it is read",
	  CONF_AT(struct server_config, max_body) },
	{ "max_connections", CONF_UINT, 0, "1024", 1, 1048576, NULL,
	  "open client connections at once",
	  CONF_AT(struct server_config, max_connections) },
	{ "max_connections_per_ip", CONF_UINT, 0, "64", 1, 1048576, NULL,
	  "open client connections at once from one peer address",
	  CONF_AT(struct server_config, max_connections_per_ip) },
	{ "workers", CONF_UINT, 0, "16", 1, 1024, NULL,
	  "threads that run providers",
	  CONF_AT(struct server_config, workers) },
	{ "queue", CONF_UINT, 0, "256", 1, 65536, NULL,
	  "requests waiting for a worker before load is shed",
	  CONF_AT(struct server_config, queue) },
	{ "user", CONF_STRING, CONF_EMPTY_OK, NULL, 0, 0, NULL,
	  "drop to this user after binding (when started as root)",
	  CONF_AT(struct server_config, user) },
	{ "probe_interval", CONF_DURATION, 0, "30s", 0, 3600000, NULL,
	  "probe every provider's backend at start and then this often; 0s: never",
	  CONF_AT(struct server_config, probe_interval_ms) },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

static const struct conf_key admin_keys[] = {
	{ "listen", CONF_LISTEN, CONF_REPEATABLE | CONF_REQUIRED, NULL, 0, 0, NULL,
	  "address:port of the token API, /healthz and /metrics" },
	{ "allow", CONF_CIDR_LIST, 0, "127.0.0.0/8, ::1", 0, 0, NULL,
	  "who may use the admin listener",
	  CONF_AT(struct admin_config, allow) },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

static const struct conf_key log_keys[] = {
	{ "level", CONF_ENUM, 0, "info", 0, 0, log_levels, "least severe level logged",
	  CONF_AT(struct log_config, level) },
	{ "format", CONF_ENUM, 0, "text", 0, 0, log_formats,
	  "text (key=value) or json",
	  CONF_AT(struct log_config, format) },
	{ "audit", CONF_PATH, 0, "-", 0, 0, NULL,
	  "\"-\" for stderr, or a file reopened on SIGUSR1 and SIGHUP",
	  CONF_AT(struct log_config, audit) },
	{ "file", CONF_PATH, 0, "-", 0, 0, NULL,
	  "operational log: \"-\" for stderr, or a file reopened on SIGUSR1 and SIGHUP",
	  CONF_AT(struct log_config, file) },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

static const struct conf_key map_keys[] = {
	{ "lowercase", CONF_BOOL, 0, "yes", 0, 0, NULL,
	  "lowercase the username before routing",
	  CONF_AT(struct usermap_config, lowercase) },
	{ "strip_suffix", CONF_STRING, CONF_EMPTY_OK, NULL, 0, 0, NULL,
	  "suffixes (each starting with '.') removed from the end of the username" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

static const struct conf_key route_keys[] = {
	{ "match", CONF_STRING, CONF_REPEATABLE, NULL, 0, 0, NULL,
	  "GLOB -> PROVIDER[, PROVIDER...]; first match wins" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

/* Section kinds. */

struct load;

/* The sections dagate itself reads; the layers above register theirs
 * (struct conf_section_kind, passed to config_load). */
struct builtin_kind {
	const char *kind;
	const struct conf_key *keys;
	void (*build)(struct load *ld, const struct conf_section *s);
};

struct load {
	struct dagate_config *cfg;
	struct conf_errors *errors;
	const struct conf_section_kind *const *kinds;
	int lines;                        /* lines in the file */
	bool have[8];                     /* built-in sections seen */
};

static void build_server(struct load *ld, const struct conf_section *s);
static void build_admin(struct load *ld, const struct conf_section *s);
static void build_log(struct load *ld, const struct conf_section *s);
static void build_map(struct load *ld, const struct conf_section *s);
static void build_route(struct load *ld, const struct conf_section *s);

static const struct builtin_kind builtin_kinds[] = {
	{ "server", server_keys, build_server },
	{ "admin", admin_keys, build_admin },
	{ "log", log_keys, build_log },
	{ "map", map_keys, build_map },
	{ "route", route_keys, build_route },
};
#define BUILTIN_KIND_COUNT (sizeof builtin_kinds / sizeof builtin_kinds[0])
_Static_assert(BUILTIN_KIND_COUNT <= sizeof ((struct load *)0)->have,
	       "grow struct load.have");

static const struct builtin_kind *builtin_find(const char *kind)
{
	for (size_t i = 0; i < BUILTIN_KIND_COUNT; i++)
		if (strcmp(builtin_kinds[i].kind, kind) == 0)
			return &builtin_kinds[i];
	return NULL;
}

static const struct conf_section_kind *registered_find(const struct load *ld,
							const char *kind)
{
	for (size_t i = 0; ld->kinds != NULL && ld->kinds[i] != NULL; i++)
		if (strcmp(ld->kinds[i]->kind, kind) == 0)
			return ld->kinds[i];
	return NULL;
}

static int kind_lookup(void *ctx, const char *kind)
{
	const struct conf_section_kind *k;

	if (builtin_find(kind) != NULL)
		return 0;
	k = registered_find(ctx, kind);
	return k == NULL ? -1 : k->named ? 1 : 0;
}

/* Building the typed configuration. */

static void listen_add(const struct conf_section *s, struct listen_addr **list, size_t *count,
		       const char *text, int line, struct conf_errors *errors)
{
	struct listen_addr *grown, *a;
	char host[64];
	uint16_t port;

	if (conf_parse_listen(text, host, sizeof host, &port) < 0)
		return;  /* reported by the validator */
	grown = realloc(*list, (*count + 1) * sizeof *grown);
	if (grown == NULL) {
		conf_error_at(errors, s != NULL ? s->file : "?", line, "out of memory");
		return;
	}
	*list = grown;
	a = &grown[(*count)++];
	a->text = strdup(text);
	a->host = strdup(host);
	a->port = port;
	a->line = line;
	if (a->text == NULL || a->host == NULL)
		conf_error_at(errors, s != NULL ? s->file : "?", line, "out of memory");
}

int conf_listen_addrs(const struct conf_section *s, const struct conf_key *keys,
		      struct listen_addr **list, size_t *count, struct conf_errors *errors)
{
	const char *def = conf_get(NULL, keys, "listen");
	size_t before = errors->count;

	for (const struct conf_entry *e = s != NULL ? s->entries : NULL; e != NULL; e = e->next)
		if (strcmp(e->key, "listen") == 0)
			listen_add(s, list, count, e->value, e->line, errors);
	if (*count == 0 && def != NULL)
		listen_add(s, list, count, def, s != NULL ? s->line : 0, errors);
	return errors->count == before ? 0 : -1;
}

static void add_listeners(struct load *ld, const struct conf_section *s,
			  const struct conf_key *keys, struct listen_addr **list,
			  size_t *count)
{
	conf_listen_addrs(s, keys, list, count, ld->errors);
}

static void parse_cidrs(const char *value, struct cidr_list *list)
{
	char err[256];

	/* a bad value was reported by the validator */
	if (value != NULL)
		cidr_list_parse(value, list, err, sizeof err);
}

static void report_error(void *errors, const char *message)
{
	conf_error_add(errors, message);
}

static void build_server(struct load *ld, const struct conf_section *s)
{
	struct server_config *sv = &ld->cfg->server;
	const char *path = ld->cfg->path, *error;

	conf_bind(s, server_keys, sv);
	add_listeners(ld, s, server_keys, &sv->listen, &sv->listen_count);
	if ((sv->tls_cert == NULL) != (sv->tls_key == NULL))
		conf_error_at(ld->errors, path,
			      conf_line(s, sv->tls_cert != NULL ? "tls_cert" : "tls_key"),
			      "'tls_cert' and 'tls_key' go together: give both "
			      "or neither");
	if (sv->tls_cert != NULL && access(sv->tls_cert, R_OK) < 0)
		conf_error_at(ld->errors, path, conf_line(s, "tls_cert"),
			      "cannot read tls_cert %s: %s", sv->tls_cert, strerror(errno));
	sv->tls_min = sv->tls_min_choice == 1 ? 13 : 12;
	if (sv->path[0] != '/')
		conf_error_at(ld->errors, path, conf_line(s, "path"),
			      "'path' must start with '/'");
	if (sv->public_url != NULL &&
	    conf_public_url_check(sv->public_url, sv->path[0] == '/' ? sv->path : NULL,
				  sv->tls_cert != NULL, &error) < 0)
		conf_error_at(ld->errors, path, conf_line(s, "public_url"), "%s", error);

	/* allow_file replaces allow's default; both given: the union */
	if (sv->probe_interval_ms > 0 && sv->probe_interval_ms < PROBE_INTERVAL_MIN_MS)
		conf_error_at(ld->errors, path, conf_line(s, "probe_interval"),
			      "'probe_interval' must be 0s (off) or at least 1s");
	sv->allow_given = s != NULL && conf_find(s, "allow") != NULL;
	if (sv->allow_file == NULL || sv->allow_given)
		parse_cidrs(conf_get(s, server_keys, "allow"), &sv->allow);
	if (sv->allow_file != NULL) {
		size_t before = sv->allow.count;

		if (access(sv->allow_file, R_OK) < 0)
			conf_error_at(ld->errors, path, conf_line(s, "allow_file"),
				      "cannot read allow_file %s: %s", sv->allow_file,
				      strerror(errno));
		else if (cidr_list_load_file(sv->allow_file, &sv->allow, report_error,
					     ld->errors) == 0 &&
			 sv->allow.count == before && conf_find(s, "allow") == NULL)
			conf_error_at(ld->errors, path, conf_line(s, "allow_file"),
				      "allow_file %s lists no address and there is no 'allow': "
				      "every caller would be refused", sv->allow_file);
	}
}

static void build_admin(struct load *ld, const struct conf_section *s)
{
	struct admin_config *ad = &ld->cfg->admin;

	if (s == NULL)
		return;  /* no [admin]: no admin listener */
	add_listeners(ld, s, admin_keys, &ad->listen, &ad->listen_count);
	conf_bind(s, admin_keys, ad);
}

/* A log file's directory must exist: dagate creates the file, not it. */
static void check_log_directory(struct load *ld, const struct conf_section *s,
				const char *key, const char *what, const char *path)
{
	char *copy;
	struct stat st;

	if (strcmp(path, "-") == 0 || (copy = strdup(path)) == NULL)
		return;
	{
		const char *dir = dirname(copy);

		if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
			conf_error_at(ld->errors, ld->cfg->path, conf_line(s, key),
				      "directory %s of %s %s does not exist", dir, what, path);
	}
	free(copy);
}

static void build_log(struct load *ld, const struct conf_section *s)
{
	struct log_config *lg = &ld->cfg->log;

	conf_bind(s, log_keys, lg);
	check_log_directory(ld, s, "audit", "audit log", lg->audit);
	check_log_directory(ld, s, "file", "log file", lg->file);
}

static void build_map(struct load *ld, const struct conf_section *s)
{
	struct usermap_config *mp = &ld->cfg->map;
	const char *suffixes = conf_get(s, map_keys, "strip_suffix");

	conf_bind(s, map_keys, mp);
	mp->strip_suffix = conf_split_list(suffixes != NULL ? suffixes : "");
	if (mp->strip_suffix == NULL) {
		conf_error_at(ld->errors, ld->cfg->path, 0, "out of memory");
		return;
	}
	for (size_t i = 0; mp->strip_suffix[i] != NULL; i++) {
		const char *x = mp->strip_suffix[i];

		if (x[0] != '.' || x[1] == '\0')
			conf_error_at(ld->errors, ld->cfg->path,
				      conf_line(s, "strip_suffix"),
				      "bad suffix '%s' for 'strip_suffix' (each "
				      "starts with '.', like .uat)", x);
	}
}

static bool provider_defined(const struct dagate_config *cfg, const char *name)
{
	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next)
		if (strcmp(s->kind, "provider") == 0 && s->name != NULL &&
		    strcmp(s->name, name) == 0)
			return true;
	return false;
}

static void add_route(struct load *ld, const struct conf_entry *e)
{
	const char *arrow = strstr(e->value, "->");
	struct route_rule *grown, *r;
	char **names;
	char *glob;

	if (arrow == NULL) {
		conf_error_at(ld->errors, ld->cfg->path, e->line,
			      "bad match '%s' (use GLOB -> PROVIDER[, PROVIDER...])",
			      e->value);
		return;
	}
	glob = strndup(e->value, (size_t)(arrow - e->value));
	names = conf_split_list(arrow + 2);
	if (glob == NULL || names == NULL) {
		conf_error_at(ld->errors, ld->cfg->path, e->line, "out of memory");
		goto fail;
	}
	r = NULL;
	if (*conf_trim(glob) == '\0' || strpbrk(conf_trim(glob), " \t") != NULL ||
	    names[0] == NULL) {
		conf_error_at(ld->errors, ld->cfg->path, e->line,
			      "bad match '%s' (use GLOB -> PROVIDER[, PROVIDER...])",
			      e->value);
		goto fail;
	}
	for (size_t i = 0; names[i] != NULL; i++)
		if (!provider_defined(ld->cfg, names[i]))
			conf_error_at(ld->errors, ld->cfg->path, e->line,
				      "route to unknown provider '%s'", names[i]);
	grown = realloc(ld->cfg->routes, (ld->cfg->route_count + 1) * sizeof *grown);
	if (grown == NULL) {
		conf_error_at(ld->errors, ld->cfg->path, e->line, "out of memory");
		goto fail;
	}
	ld->cfg->routes = grown;
	r = &grown[ld->cfg->route_count++];
	r->pattern = strdup(conf_trim(glob));
	r->providers = names;
	r->line = e->line;
	free(glob);
	if (r->pattern == NULL)
		conf_error_at(ld->errors, ld->cfg->path, e->line, "out of memory");
	return;
fail:
	free(glob);
	conf_strv_free(&names);
}

static void build_route(struct load *ld, const struct conf_section *s)
{
	bool any = false;

	for (const struct conf_entry *e = s != NULL ? s->entries : NULL;
	     e != NULL; e = e->next) {
		if (strcmp(e->key, "match") == 0) {
			any = true;
			add_route(ld, e);
		}
	}
	if (!any)
		conf_error_at(ld->errors, ld->cfg->path,
			      s != NULL ? s->line : ld->lines,
			      "no route: every login would be false (add [route] "
			      "with match = GLOB -> PROVIDER)");
}

/* Load / free. */

int config_load(const char *path, const struct conf_section_kind *const *kinds,
		struct dagate_config **cfg_r, struct conf_errors *errors)
{
	struct load ld = { .errors = errors, .kinds = kinds };
	size_t before = errors->count;
	int ret;

	*cfg_r = NULL;
	ld.cfg = calloc(1, sizeof *ld.cfg);
	if (ld.cfg == NULL || (ld.cfg->path = strdup(path)) == NULL) {
		free(ld.cfg);
		conf_error_at(errors, path, 0, "out of memory");
		return -1;
	}
	ret = conf_read_sections(ld.cfg->path, kind_lookup, &ld, &ld.cfg->sections,
				 &ld.lines, errors);
	if (ret != 0) {
		conf_error_at(errors, path, 0, "cannot read: %s", strerror(ret));
		config_free(&ld.cfg);
		return -1;
	}

	/* Each section in file order: keys and values, then what they mean.
	 * Sections that are absent still get their defaults built. */
	for (const struct conf_section *s = ld.cfg->sections; s != NULL; s = s->next) {
		const struct builtin_kind *k = builtin_find(s->kind);

		if (k != NULL) {
			const struct conf_key *const tables[] = { k->keys, NULL };

			ld.have[k - builtin_kinds] = true;
			conf_validate_section(s, tables, errors);
			k->build(&ld, s);
		} else {
			const struct conf_section_kind *rk = registered_find(&ld, s->kind);

			if (rk->validate != NULL)
				rk->validate(s, ld.cfg, errors);
		}
	}
	for (size_t i = 0; i < BUILTIN_KIND_COUNT; i++)
		if (!ld.have[i])
			builtin_kinds[i].build(&ld, NULL);
	for (size_t i = 0; kinds != NULL && kinds[i] != NULL; i++)
		if (kinds[i]->check != NULL)
			kinds[i]->check(ld.cfg, errors);

	if (errors->count > before) {
		config_free(&ld.cfg);
		return -1;
	}
	*cfg_r = ld.cfg;
	return 0;
}

void conf_listen_free(struct listen_addr **list, size_t *count)
{
	for (size_t i = 0; i < *count; i++) {
		free((*list)[i].text);
		free((*list)[i].host);
	}
	free(*list);
	*list = NULL;
	*count = 0;
}

void config_free(struct dagate_config **cfgp)
{
	struct dagate_config *cfg = *cfgp;

	if (cfg == NULL)
		return;
	conf_listen_free(&cfg->server.listen, &cfg->server.listen_count);
	cidr_list_clear(&cfg->server.allow);
	cidr_list_clear(&cfg->server.trusted_proxies);
	conf_listen_free(&cfg->admin.listen, &cfg->admin.listen_count);
	cidr_list_clear(&cfg->admin.allow);
	conf_strv_free(&cfg->map.strip_suffix);
	for (size_t i = 0; i < cfg->route_count; i++) {
		free(cfg->routes[i].pattern);
		conf_strv_free(&cfg->routes[i].providers);
	}
	free(cfg->routes);
	conf_sections_free(&cfg->sections);
	free(cfg->path);
	free(cfg);
	*cfgp = NULL;
}

const char *config_default_path(void)
{
	const char *env = getenv("DAGATE_CONFIG");

	return env != NULL && env[0] != '\0' ? env : CONFIG_SYSTEM_PATH;
}

const char *const config_builtin_kinds[] = { "server", "admin", "log", "map", "route", NULL };

const struct conf_key *const *config_builtin_tables(const char *kind)
{
	/* In the order of builtin_kinds. */
	static const struct conf_key *const tables[BUILTIN_KIND_COUNT][2] = {
		{ server_keys, NULL }, { admin_keys, NULL }, { log_keys, NULL },
		{ map_keys, NULL }, { route_keys, NULL },
	};
	const struct builtin_kind *k = builtin_find(kind);

	return k != NULL ? tables[k - builtin_kinds] : NULL;
}
