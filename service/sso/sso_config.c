/*
 * [sso]: its keys, their checks and struct sso_config built from them.
 */
#include "sso.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "provider.h"
#include "template.h"

/* What conf_bind fills; copied into struct sso_config. */
struct sso_bound {
	const char *tls_cert, *tls_key, *path, *keytab, *principal, *login_url, *user, *fallback;
	const char *lookup, *ntlm_auth, *ntlm_auth_config;
	struct cidr_list allow;
	int64_t ttl_ms;
};

static const struct conf_key sso_keys[] = {
	{ "listen", CONF_LISTEN, CONF_REQUIRED | CONF_REPEATABLE, NULL, 0, 0, NULL,
	  "address:port of the intranet sign-on listener; repeatable (never [server]'s)" },
	{ "tls_cert", CONF_PATH, 0, NULL, 0, 0, NULL,
	  "PEM certificate chain; with tls_key the sign-on listener speaks HTTPS only",
	  CONF_AT(struct sso_bound, tls_cert) },
	{ "tls_key", CONF_SECRET_FILE, 0, NULL, 0, 0, NULL,
	  "PEM private key (chmod 600)", CONF_AT(struct sso_bound, tls_key) },
	{ "path", CONF_STRING, 0, "/", 0, 0, NULL,
	  "entry path the browser opens", CONF_AT(struct sso_bound, path) },
	{ "keytab", CONF_SECRET_FILE, CONF_REQUIRED, NULL, 0, 0, NULL,
	  "keytab holding the HTTP/host@REALM key (chmod 600)", CONF_AT(struct sso_bound, keytab) },
	{ "principal", CONF_STRING, 0, NULL, 0, 0, NULL,
	  "service principal to accept, HTTP/host@REALM (default: any key in the keytab)",
	  CONF_AT(struct sso_bound, principal) },
	{ "login_url", CONF_STRING, CONF_REQUIRED, NULL, 0, 0, NULL,
	  "the org's login address (https://login.salesforce.com/ or the My Domain URL)",
	  CONF_AT(struct sso_bound, login_url) },
	{ "user", CONF_STRING, 0, NULL, 0, 0, NULL,
	  "Salesforce username pattern: %l the principal's local part, %r its realm in lower case",
	  CONF_AT(struct sso_bound, user) },
	{ "lookup", CONF_STRING, 0, NULL, 0, 0, NULL,
	  "PROVIDER ATTRIBUTE: the username is ATTRIBUTE of the one entry an ldap provider finds "
	  "for the local part (instead of user)", CONF_AT(struct sso_bound, lookup) },
	{ "realms", CONF_STRING, 0, NULL, 0, 0, NULL,
	  "accepted client realms, as in the ticket (default: the realm of principal)" },
	{ "allow", CONF_CIDR_LIST, 0, "127.0.0.0/8, ::1", 0, 0, NULL,
	  "CIDRs of the intranet clients that may sign on", CONF_AT(struct sso_bound, allow) },
	{ "ttl", CONF_DURATION, 0, "60s", 60000, 15 * 60000, NULL,
	  "lifetime of the one-time token the page carries (1m..15m)",
	  CONF_AT(struct sso_bound, ttl_ms) },
	{ "fallback", CONF_STRING, 0, "none", 0, 0, NULL,
	  "for browsers without a ticket: none, or one or both of basic (HTTPS only; the [route] "
	  "providers check the password) and ntlm (the domain checks it through ntlm_auth)",
	  CONF_AT(struct sso_bound, fallback) },
	{ "ntlm_auth", CONF_PATH, 0, "/usr/bin/ntlm_auth", 0, 0, NULL,
	  "fallback ntlm: Samba's ntlm_auth helper (absolute path, executable)",
	  CONF_AT(struct sso_bound, ntlm_auth) },
	{ "ntlm_auth_config", CONF_PATH, 0, NULL, 0, 0, NULL,
	  "fallback ntlm: the smb.conf ntlm_auth reads (its --configfile; default: its own)",
	  CONF_AT(struct sso_bound, ntlm_auth_config) },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL }
};

static const struct conf_key *const sso_tables[] = { sso_keys, NULL };

static bool loopback_host(const char *host, size_t len)
{
	return (len == 9 && strncmp(host, "localhost", 9) == 0) ||
	       (len == 5 && strncmp(host, "[::1]", 5) == 0) ||
	       (len >= 4 && strncmp(host, "127.", 4) == 0);
}

/* https://HOST[:PORT][/PATH], or http:// to a loopback host (tests). */
static int login_url_check(const char *url, const char **error_r)
{
	bool https = strncmp(url, "https://", 8) == 0;
	const char *host = url + (https ? 8 : 7), *end;

	if (!https && strncmp(url, "http://", 7) != 0) {
		*error_r = "login_url must be an https:// address";
		return -1;
	}
	for (const char *p = url; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '<' || *p == '>' || *p == '\\') {
			*error_r = "login_url has a blank, a control character or one of \" < > \\";
			return -1;
		}
	end = host + strcspn(host, "/?#");
	if (memchr(host, '@', (size_t)(end - host)) != NULL || end == host) {
		*error_r = "login_url needs a host (and no user@)";
		return -1;
	}
	if (!https && !loopback_host(host, host[0] == '[' ? strcspn(host, "]") + 1
							     : strcspn(host, ":/?#"))) {
		*error_r = "login_url must be https:// (http:// only to a loopback host)";
		return -1;
	}
	return 0;
}

/* "PROVIDER ATTRIBUTE" */
static void lookup_parse(const struct conf_section *s, const char *text, struct sso_config *sso,
			 struct conf_errors *errors)
{
	char **words = conf_split_list(text);

	if (words == NULL || words[0] == NULL || words[1] == NULL || words[2] != NULL ||
	    strspn(words[1], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") !=
	    strlen(words[1]))
		conf_error_at(errors, s->file, conf_line(s, "lookup"),
			      "lookup %s: write PROVIDER ATTRIBUTE, e.g. corp-ad mail", text);
	else if ((sso->lookup_provider = strdup(words[0])) == NULL ||
		 (sso->lookup_attribute = strdup(words[1])) == NULL)
		conf_error_at(errors, s->file, conf_line(s, "lookup"), "out of memory");
	conf_strv_free(&words);
}

/* fallback = ntlm: the helper can be run, its smb.conf read. */
static void ntlm_check(const struct conf_section *s, struct sso_config *sso,
		       struct conf_errors *errors)
{
	int line = conf_find(s, "ntlm_auth") != NULL ? conf_line(s, "ntlm_auth")
						     : conf_line(s, "fallback");

	if (sso->ntlm_auth[0] != '/')
		conf_error_at(errors, s->file, line, "ntlm_auth %s: give an absolute path",
			      sso->ntlm_auth);
	else if (access(sso->ntlm_auth, X_OK) < 0)
		conf_error_at(errors, s->file, line, "ntlm_auth %s cannot be run: %s (Debian: "
			      "apt install winbind)", sso->ntlm_auth, strerror(errno));
	if (sso->ntlm_auth_config != NULL && access(sso->ntlm_auth_config, R_OK) < 0)
		conf_error_at(errors, s->file, conf_line(s, "ntlm_auth_config"),
			      "cannot read ntlm_auth_config %s: %s", sso->ntlm_auth_config,
			      strerror(errno));
}

/* none | basic | ntlm (several may be listed). */
static void fallback_parse(const struct conf_section *s, const char *text, bool tls,
			   struct sso_config *sso, struct conf_errors *errors)
{
	char **words = conf_split_list(text != NULL ? text : "none");
	int line = conf_line(s, "fallback");

	for (size_t i = 0; words != NULL && words[i] != NULL; i++) {
		if (strcmp(words[i], "basic") == 0)
			sso->basic = true;
		else if (strcmp(words[i], "ntlm") == 0)
			sso->ntlm = true;
		else if (strcmp(words[i], "none") != 0)
			conf_error_at(errors, s->file, line, "fallback %s: none, basic or ntlm", words[i]);
	}
	if (sso->ntlm)
		ntlm_check(s, sso, errors);
	if (sso->basic && !tls)
		conf_error_at(errors, s->file, line, "fallback basic needs tls_cert and tls_key: "
			      "passwords never cross plain HTTP");
	conf_strv_free(&words);
}

static void free_partial(struct sso_config *sso)
{
	conf_listen_free(&sso->listen, &sso->listen_count);
	free(sso->user_template);
	free(sso->lookup_provider);
	free(sso->lookup_attribute);
	conf_strv_free(&sso->realms);
	cidr_list_clear(&sso->allow);
	free(sso);
}

void sso_config_free(struct sso_config **sp)
{
	if (*sp != NULL)
		free_partial(*sp);
	*sp = NULL;
}

static const struct conf_section *sso_section(const struct dagate_config *cfg)
{
	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next)
		if (strcmp(s->kind, "sso") == 0)
			return s;
	return NULL;
}

/* realms: as written, else the realm of principal. */
static void build_realms(const struct conf_section *s, struct sso_config *sso,
			 struct conf_errors *errors)
{
	const char *text = conf_get(s, sso_keys, "realms");
	const char *at = sso->principal != NULL ? strrchr(sso->principal, '@') : NULL;

	if (text == NULL && at == NULL) {
		conf_error_at(errors, s->file, s->line, "[sso] needs 'realms' (the client realms "
			      "accepted) when 'principal' names no realm");
		return;
	}
	sso->realms = conf_split_list(text != NULL ? text : at + 1);
	if (sso->realms == NULL || sso->realms[0] == NULL)
		conf_error_at(errors, s->file, conf_line(s, "realms"), "'realms' lists no realm");
}

static int build(const struct conf_section *s, struct sso_config **sso_r,
		 struct conf_errors *errors)
{
	struct sso_config *sso = calloc(1, sizeof *sso);
	struct sso_bound b = { 0 };
	size_t before = errors->count;
	const char *err = NULL;

	if (sso == NULL) {
		conf_error_at(errors, s->file, s->line, "out of memory");
		return -1;
	}
	conf_bind(s, sso_keys, &b);
	*sso = (struct sso_config){
		.tls_cert = b.tls_cert, .tls_key = b.tls_key, .path = b.path, .keytab = b.keytab,
		.principal = b.principal, .login_url = b.login_url, .user = b.user,
		.allow = b.allow, .ttl_ms = b.ttl_ms, .line = s->line,
		.ntlm_auth = b.ntlm_auth, .ntlm_auth_config = b.ntlm_auth_config,
		.keytab_line = conf_line(s, "keytab"), .file = s->file,
	};
	conf_listen_addrs(s, sso_keys, &sso->listen, &sso->listen_count, errors);
	if ((b.tls_cert == NULL) != (b.tls_key == NULL))
		conf_error_at(errors, s->file, conf_line(s, b.tls_cert != NULL ? "tls_cert" : "tls_key"),
			      "'tls_cert' and 'tls_key' go together: give both or neither");
	if (b.tls_cert != NULL && access(b.tls_cert, R_OK) < 0)
		conf_error_at(errors, s->file, conf_line(s, "tls_cert"), "cannot read tls_cert %s: %s",
			      b.tls_cert, strerror(errno));
	if (b.path != NULL && b.path[0] != '/')
		conf_error_at(errors, s->file, conf_line(s, "path"), "'path' must start with '/'");
	if (b.login_url != NULL && login_url_check(b.login_url, &err) < 0)
		conf_error_at(errors, s->file, conf_line(s, "login_url"), "%s", err);
	if (b.user != NULL && (sso_user_pattern(b.user, &sso->user_template, &err) < 0 ||
			       template_check(sso->user_template, &err) < 0))
		conf_error_at(errors, s->file, conf_line(s, "user"), "user %s: %s", b.user, err);
	if ((b.user == NULL) == (b.lookup == NULL))
		conf_error_at(errors, s->file, s->line, "[sso] needs one of 'user' (a pattern) and "
			      "'lookup' (PROVIDER ATTRIBUTE)");
	if (b.lookup != NULL)
		lookup_parse(s, b.lookup, sso, errors);
	if (b.principal != NULL && (strchr(b.principal, '/') == NULL || strchr(b.principal, '@') == NULL))
		conf_error_at(errors, s->file, conf_line(s, "principal"),
			      "principal %s: write it whole, HTTP/host@REALM", b.principal);
	fallback_parse(s, b.fallback, b.tls_cert != NULL, sso, errors);
	build_realms(s, sso, errors);
	if (errors->count != before) {
		free_partial(sso);
		return -1;
	}
	*sso_r = sso;
	return 0;
}

int sso_config_build(const struct dagate_config *cfg, struct sso_config **sso_r,
		     struct conf_errors *errors)
{
	const struct conf_section *s = sso_section(cfg);

	*sso_r = NULL;
	return s == NULL ? 0 : build(s, sso_r, errors);
}

static void sso_validate(const struct conf_section *s, const struct dagate_config *cfg,
			 struct conf_errors *errors)
{
	struct sso_config *sso = NULL;
	size_t before = errors->count;

	conf_validate_section(s, sso_tables, errors);
	if (errors->count == before && build(s, &sso, errors) == 0)
		sso_config_free(&sso);
}

/* `lookup` names a provider whose type can look users up (ldap). */
static void lookup_check(const struct dagate_config *cfg, const struct conf_section *sso,
			 struct conf_errors *errors)
{
	const char *text = conf_get(sso, sso_keys, "lookup"), *type;
	const struct provider_type *pt;
	char **words;

	if (text == NULL || (words = conf_split_list(text)) == NULL)
		return;
	for (const struct conf_section *s = cfg->sections; words[0] != NULL && s != NULL; s = s->next) {
		if (strcmp(s->kind, "provider") != 0 || s->name == NULL || strcmp(s->name, words[0]) != 0)
			continue;
		type = conf_get(s, provider_common_keys, "type");
		pt = type != NULL ? provider_type_find(type) : NULL;
		if (pt != NULL && pt->lookup == NULL)
			conf_error_at(errors, sso->file, conf_line(sso, "lookup"),
				      "lookup: provider %s is of type %s, which cannot look users up "
				      "(use an ldap provider)", words[0], type);
		conf_strv_free(&words);
		return;
	}
	if (words[0] != NULL)
		conf_error_at(errors, sso->file, conf_line(sso, "lookup"),
			      "lookup: no [provider %s]", words[0]);
	conf_strv_free(&words);
}

/* One [sso]; the token store it mints into; no [requester sso] to mix
 * up with its tokens. */
static void sso_check(const struct dagate_config *cfg, struct conf_errors *errors)
{
	const struct conf_section *first = sso_section(cfg);
	bool tokens = false;

	if (first == NULL)
		return;
	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next) {
		if (strcmp(s->kind, "tokens") == 0)
			tokens = true;
		if (s != first && strcmp(s->kind, "sso") == 0)
			conf_error_at(errors, s->file, s->line, "[sso] given twice (first at line %d)",
				      first->line);
		if (strcmp(s->kind, "requester") == 0 && s->name != NULL &&
		    strcmp(s->name, SSO_REQUESTER) == 0)
			conf_error_at(errors, s->file, s->line, "[requester %s]: that name is the "
				      "token identity of [sso]; use another", SSO_REQUESTER);
	}
	if (!tokens)
		conf_error_at(errors, first->file, first->line, "[sso] needs a [tokens] section: "
			      "its one-time tokens go into that store");
	lookup_check(cfg, first, errors);
}

const struct conf_section_kind sso_section_kind = {
	.kind = "sso", .named = false, .validate = sso_validate, .check = sso_check,
	.tables = sso_tables,
};
