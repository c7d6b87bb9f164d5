/*
 * The configuration file: INI read with inih, every key declared in a
 * table (struct conf_key) and validated before anything starts.
 *
 * Errors are collected, not fatal one by one: `dagate check-config` prints
 * them all as "FILE:LINE: message". A config with any error is never used.
 *
 * Ownership: config_load() returns a struct dagate_config that owns every
 * string in it; config_free() releases all of it. Nothing here is a secret:
 * secrets live in *_file files that the owner reads with
 * config_read_secret_file().
 */
#ifndef DAGATE_CONFIG_H
#define DAGATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"
#include "netaddr.h"
#include "parse.h"
#include "usermap.h"

/* Errors. */

struct conf_errors {
	char **lines;   /* "FILE:LINE: message" */
	size_t count;
	size_t cap;
};

void conf_error_at(struct conf_errors *errors, const char *file, int line,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A message that is already "FILE:LINE: ..." (a file reader's report, such
 * as cidr_list_load_file's). */
void conf_error_text(struct conf_errors *errors, const char *text);
void conf_errors_clear(struct conf_errors *errors);

/* Declarative key tables. */

enum conf_type {
	CONF_STRING,      /* any non-empty value (unless CONF_EMPTY_OK) */
	CONF_BOOL,        /* yes/no/true/false/on/off/1/0 */
	CONF_UINT,        /* decimal, within [min, max] */
	CONF_DURATION,    /* 500ms 5s 15m 24h; stored in ms; within [min, max] */
	CONF_ENUM,        /* one of `choices` */
	CONF_PATH,        /* a path; existence is checked by the user */
	CONF_SECRET_FILE, /* a file that must exist, be regular, and not be
			     group/world readable or writable */
	CONF_CIDR_LIST,   /* comma/space separated CIDRs or addresses */
	CONF_LISTEN,      /* HOST:PORT or [V6]:PORT */
};

#define CONF_REQUIRED   0x1u
#define CONF_REPEATABLE 0x2u  /* may appear several times (listen, match) */
#define CONF_EMPTY_OK   0x4u  /* `key =` allowed (means "unset") */

struct conf_key {
	const char *name;
	enum conf_type type;
	unsigned flags;
	const char *default_value;     /* NULL: no default */
	int64_t min, max;              /* CONF_UINT / CONF_DURATION bounds */
	const char *const *choices;    /* CONF_ENUM: NULL-terminated */
	const char *help;              /* one line, for docs and errors */
	size_t at;                     /* CONF_AT(): the field conf_bind() fills;
					  0: not bound (the owner reads it) */
};

/* The field of `type` that a key is bound to (FreeRADIUS's offsets). The
 * field's C type follows the key's: CONF_STRING, CONF_PATH, CONF_SECRET_FILE
 * -> const char * (into the section, or the static default; NULL when
 * unset), CONF_BOOL -> bool, CONF_UINT -> unsigned, CONF_DURATION ->
 * int64_t (ms), CONF_ENUM -> int (index into `choices`), CONF_CIDR_LIST ->
 * struct cidr_list (the owner clears it). CONF_LISTEN is never bound. */
#define CONF_AT(type, field) (offsetof(type, field) + 1)

struct conf_section;
/* Fill every bound field of `obj` from the section `s` (NULL: every
 * default): the values conf_get() would give, read once. Values the
 * validator refused are reported there; here they are left unset. */
void conf_bind(const struct conf_section *s, const struct conf_key *keys, void *obj);

/* Raw sections. */

struct conf_entry {
	char *key;
	char *value;         /* trimmed; inline comments removed */
	int line;
	struct conf_entry *next;
	bool is_file;        /* its key names a file (CONF_PATH,
				CONF_SECRET_FILE): set by conf_validate_section */
};

struct conf_section {
	char *kind;          /* "server", "provider", "requester", ... */
	char *name;          /* NAME of [kind NAME], or NULL */
	const char *file;    /* config path, for errors */
	int line;            /* line of the header */
	struct conf_entry *entries; /* in file order */
	struct conf_section *next;
};

/* Lookups on a validated section, for the text of keys the owner reads
 * itself (not bound: a list it splits, a CONF_LISTEN key, a text it keeps).
 * They return the last value of the key, or its default from `keys`, or
 * NULL. Typed values are read with conf_bind(). */
const struct conf_entry *conf_find(const struct conf_section *s, const char *key);
const char *conf_get(const struct conf_section *s, const struct conf_key *keys,
		     const char *key);
/* Line of the key (or of the section header when absent), for errors. */
int conf_line(const struct conf_section *s, const char *key);

/* Validate every entry of `s` against `keys` (unknown keys, types, bounds,
 * required, repeats, secret file permissions). Returns the number of
 * errors added. Used for fixed sections and provider sections alike.
 * Marks each entry whose key names a file (conf_entry.is_file). */
int conf_validate_section(const struct conf_section *s,
			  const struct conf_key *const *key_tables,
			  struct conf_errors *errors);

/* Pure parsers (unit-tested). */

/* Split on commas and/or blanks; returns a NULL-terminated malloc'd array
 * of malloc'd strings (free with conf_strv_free). */
char **conf_split_list(const char *s);
void conf_strv_free(char ***strv);

/* `public_url` against the rest of [server]: http:// or https:// (not
 * http:// when `tls`: the listener speaks only HTTPS), a host, and the
 * same path as `path` (NULL: not compared). *error_r is static. */
int conf_public_url_check(const char *url, const char *path, bool tls, const char **error_r);

/* Read a secret file after checking it is a regular file that is not
 * group/world accessible. The caller explicit_bzero()s and frees *data_r.
 * Trailing newlines are stripped. On -1, *error_r is static text without
 * the path: what is wrong with the file ("is readable by group or others
 * (chmod 600)", "is not a regular file", "is too large"), or why it could
 * not be read (strerror). conf_secret_error_at() makes the message. */
int config_read_secret_file(const char *path, char **data_r, size_t *len_r,
			    const char **error_r);
/* Just the permission/type check, for validation. */
int config_check_secret_file(const char *path, const char **error_r);
/* "FILE:LINE: secret file PATH is ..." or "...: cannot read secret file
 * PATH: REASON", from the error of the two functions above. */
void conf_secret_error_at(struct conf_errors *errors, const char *file, int line,
			  const char *path, const char *error);

/* The loaded configuration. */

struct listen_addr {
	char *text;          /* as written, for logs */
	char *host;          /* "127.0.0.1", "::1", "0.0.0.0", "::" */
	uint16_t port;       /* 0 = ephemeral (tests) */
	int line;
};

/* The `listen` lines of a validated section `s` (NULL: the default of
 * `keys`), appended to *list (free with conf_listen_free). -1 when out of
 * memory (reported). Values the validator refused are skipped. */
int conf_listen_addrs(const struct conf_section *s, const struct conf_key *keys,
		      struct listen_addr **list, size_t *count, struct conf_errors *errors);
void conf_listen_free(struct listen_addr **list, size_t *count);

struct route_rule {
	char *pattern;       /* fnmatch(3) glob on the mapped username */
	char **providers;    /* NULL-terminated provider names */
	int line;
};

/* Strings point into the configuration's sections (or are static
 * defaults): they live as long as the struct dagate_config. */
struct server_config {
	struct listen_addr *listen; size_t listen_count;
	const char *tls_cert, *tls_key; /* both or neither */
	int tls_min;                /* 12 or 13 */
	const char *path;           /* "/Sso.asmx" */
	const char *public_url;     /* may be NULL: derived from the first listener */
	struct cidr_list allow;
	const char *allow_file;     /* NULL or a file of CIDRs, one per line */
	bool allow_given;           /* `allow` written, not its default */
	struct cidr_list trusted_proxies;
	int64_t deadline_ms;        /* <= 9000 */
	int64_t probe_interval_ms;  /* 0: backends are not probed by serve */
	unsigned max_body;
	unsigned max_connections;
	unsigned max_connections_per_ip;
	unsigned workers;           /* provider worker threads */
	unsigned queue;             /* waiting requests before shedding */
	const char *user;           /* NULL: no privilege drop */
	int tls_min_choice;         /* index into the tls_min choices */
};

struct admin_config {
	struct listen_addr *listen; size_t listen_count; /* 0: no admin listener */
	struct cidr_list allow;
};

struct dagate_config {
	char *path;                 /* the file read */
	struct server_config server;
	struct admin_config admin;
	struct log_config log;
	struct usermap_config map;
	struct route_rule *routes; size_t route_count;
	/* Every section as read, in file order: the registered kinds
	 * ([provider NAME], [tokens], [throttle], ...) are read from here by
	 * the modules that own them. */
	struct conf_section *sections;
};

/* A section kind owned by a module above conf/ (providers, tokens, the
 * throttle): the module declares it, the program passes the list to
 * config_load, and conf/ never names the module. */
struct conf_section_kind {
	const char *kind;          /* "provider", "tokens", ... */
	bool named;                /* [kind NAME] rather than [kind] */
	/* Optional: check one section of this kind, in file order; report
	 * with conf_error_at(). Must not touch the network. */
	void (*validate)(const struct conf_section *s, const struct dagate_config *cfg,
			 struct conf_errors *errors);
	/* Optional: checks across sections, once after every section was
	 * read (also when no section of this kind is present). */
	void (*check)(const struct dagate_config *cfg, struct conf_errors *errors);
	/* The key tables (NULL-terminated) of every section of this kind,
	 * for `dagate config dump|keys`; tables_of, when set, gives those of
	 * one section (a provider's depend on its type) and returns the
	 * number put in out[0..CONF_TABLES_MAX-1] (NULL-terminated). */
	const struct conf_key *const *tables;
	size_t (*tables_of)(const struct conf_section *s, const struct conf_key **out);
	/* Absent, the section still applies with its defaults ([throttle]);
	 * else absent means off ([tokens]). */
	bool absent_means_defaults;
};
#define CONF_TABLES_MAX 4

/* The key tables of a built-in section kind ("server", "log", ...), or
 * NULL when `kind` is not one. */
const struct conf_key *const *config_builtin_tables(const char *kind);
/* The built-in kinds, NULL-terminated, in the order a dump prints them. */
extern const char *const config_builtin_kinds[];

/* `dagate config dump`: the effective configuration as a config file --
 * every section of `cfg` in file order, then the built-in and registered
 * unnamed sections that are absent (their defaults apply) -- with each key
 * the file sets and, commented "(default)", each default that applies.
 * A password inside a URL is printed as <hidden>. */
void config_dump(FILE *out, const struct dagate_config *cfg,
		 const struct conf_section_kind *const *kinds);

/* Read and validate `path`: the built-in sections ([server], [admin],
 * [log], [map], [route]) and those of `kinds` (NULL-terminated; NULL for
 * none). On any error, returns -1 with every problem in `errors` and
 * *cfg_r == NULL. Nothing here opens a socket. */
int config_load(const char *path, const struct conf_section_kind *const *kinds,
		struct dagate_config **cfg_r, struct conf_errors *errors);
void config_free(struct dagate_config **cfg);

/* What a valid config probably does not mean, as "FILE:LINE: warning:
 * message" lines added to `warnings`: a non-loopback [server] listener
 * that allows every address. check-config prints them and still exits 0;
 * serve logs them. */
void config_warnings(const struct dagate_config *cfg, struct conf_errors *warnings);

/* For a problem found after loading: the line of `key` in the [kind]
 * section (its header when the key is absent), 0 without the section. */
int conf_key_line(const struct dagate_config *cfg, const char *kind, const char *key);

/* The config path: -c FILE, else $DAGATE_CONFIG, else the system default. */
const char *config_default_path(void);

#endif
