/*
 * The static registry of provider types, the keys every provider accepts,
 * and the provider set built from the configuration.
 */
#include "provider.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "pem.h"

extern const struct provider_type prov_file_type;
extern const struct provider_type prov_ldap_type;
extern const struct provider_type prov_static_type;
extern const struct provider_type prov_smtp_type;
extern const struct provider_type prov_http_type;
extern const struct provider_type prov_relay_type;

const struct provider_type *const provider_types[] = {
	&prov_file_type,
	&prov_ldap_type,
	&prov_static_type,
	&prov_smtp_type,
	&prov_http_type,
	&prov_relay_type,
	NULL,
};

const struct conf_key provider_common_keys[] = {
	{ "type", CONF_STRING, CONF_REQUIRED, NULL, 0, 0, NULL,
	  "provider type: ldap, smtp, http, relay, file, static",
	  CONF_AT(struct provider_common_conf, type) },
	{ "timeout", CONF_DURATION, 0, "3s", 10, 9000, NULL,
	  "longest this provider may take; also bounded by the request deadline",
	  CONF_AT(struct provider_common_conf, timeout_ms) },
	{ "concurrency", CONF_UINT, 0, "16", 1, 4096, NULL,
	  "logins in progress at once; more are answered 'unavailable' (busy)",
	  CONF_AT(struct provider_common_conf, concurrency) },
	{ "ca_file", CONF_PATH, 0, NULL, 0, 0, NULL,
	  "PEM CA bundle used to verify the backend's TLS certificate",
	  CONF_AT(struct provider_common_conf, ca_file) },
	{ "insecure_tls", CONF_BOOL, 0, "no", 0, 0, NULL,
	  "skip TLS certificate and host name verification (logged loudly)",
	  CONF_AT(struct provider_common_conf, insecure_tls) },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

const struct provider_type *provider_type_find(const char *name)
{
	for (size_t i = 0; provider_types[i] != NULL; i++)
		if (strcmp(provider_types[i]->name, name) == 0)
			return provider_types[i];
	return NULL;
}

/* A ca_file that is readable must be a CA bundle (an unreadable one is
 * reported by the type that reads it). */
static void ca_file_check(const struct conf_section *s, struct conf_errors *errors)
{
	const struct conf_entry *ca = conf_find(s, "ca_file");
	const char *error;

	if (ca == NULL || access(ca->value, R_OK) != 0)
		return;
	if (pem_ca_bundle_check(ca->value, &error) < 0)
		conf_error_at(errors, s->file, ca->line, "ca_file %s %s", ca->value, error);
}

static void provider_section_validate(const struct conf_section *s,
				      const struct dagate_config *cfg,
				      struct conf_errors *errors)
{
	const struct conf_entry *type = conf_find(s, "type");
	const struct provider_type *pt;
	char known[256] = "";
	size_t used = 0;

	/* without a type the other keys cannot be judged: one error only */
	if (type == NULL) {
		conf_error_at(errors, s->file, s->line,
			      "missing required key 'type' in [provider %s]", s->name);
		return;
	}
	if (type->value[0] == '\0') {
		conf_error_at(errors, s->file, type->line, "'type' needs a value");
		return;
	}
	pt = provider_type_find(type->value);
	if (pt == NULL) {
		for (size_t i = 0; provider_types[i] != NULL; i++) {
			int w = snprintf(known + used, sizeof known - used, "%s%s",
					 i == 0 ? "" : ", ", provider_types[i]->name);

			if (w < 0 || (size_t)w >= sizeof known - used)
				break;
			used += (size_t)w;
		}
		conf_error_at(errors, s->file, type->line,
			      "unknown provider type '%s' in [provider %s] "
			      "(known: %s)", type->value, s->name, known);
		return;
	}
	const struct conf_key *const tables[] = { provider_common_keys, pt->keys, NULL };
	if (conf_validate_section(s, tables, errors) == 0)
		ca_file_check(s, errors);
}

static const struct conf_key *const provider_common_tables[] = { provider_common_keys, NULL };

/* The common keys and those of the section's type (only the common ones
 * when the type is unknown). */
static size_t provider_tables_of(const struct conf_section *s, const struct conf_key **out)
{
	const struct conf_entry *type = conf_find(s, "type");
	const struct provider_type *pt = type != NULL ? provider_type_find(type->value) : NULL;
	size_t n = 0;

	out[n++] = provider_common_keys;
	if (pt != NULL)
		out[n++] = pt->keys;
	out[n] = NULL;
	return n;
}

const struct conf_section_kind provider_section_kind = {
	.kind = "provider", .named = true, .validate = provider_section_validate,
	.tables = provider_common_tables, .tables_of = provider_tables_of,
};

const char *auth_result_name(enum auth_result result)
{
	switch (result) {
	case AUTH_OK: return "ok";
	case AUTH_REJECT: return "reject";
	case AUTH_UNKNOWN_USER: return "unknown_user";
	case AUTH_LOCKED: return "locked";
	case AUTH_UNAVAILABLE: return "unavailable";
	case AUTH_ERROR: return "error";
	}
	return "error";
}

void auth_trace_step(const struct auth_request *req, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (req->trace == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	req->trace->step(req->trace->ctx, line);
}

struct provider_set {
	struct provider *items;
	size_t count;
};

int provider_set_parse(const struct dagate_config *cfg,
		       struct conf_errors *errors, struct provider_set **set_r)
{
	struct provider_set *set = calloc(1, sizeof *set);
	size_t n = 0;
	int ret = 0;

	*set_r = NULL;
	if (set == NULL)
		return -1;
	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next)
		if (strcmp(s->kind, "provider") == 0)
			n++;
	set->items = calloc(n > 0 ? n : 1, sizeof *set->items);
	if (set->items == NULL) {
		free(set);
		return -1;
	}
	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next) {
		struct provider *p = &set->items[set->count];
		struct provider_common_conf common;

		if (strcmp(s->kind, "provider") != 0)
			continue;
		conf_bind(s, provider_common_keys, &common);
		p->type = common.type != NULL ? provider_type_find(common.type) : NULL;
		if (p->type == NULL) {
			/* config_load already reported it */
			ret = -1;
			continue;
		}
		p->name = strdup(s->name);
		p->timeout_ms = common.timeout_ms;
		p->max_inflight = common.concurrency;
		if (p->name == NULL || p->type->parse(p, s, errors) < 0) {
			free(p->name);
			p->name = NULL;
			ret = -1;
			continue;
		}
		set->count++;
	}
	if (ret < 0) {
		provider_set_free(&set);
		return -1;
	}
	*set_r = set;
	return 0;
}

int provider_set_start(struct provider_set *set, const struct dagate_config *cfg,
		       struct conf_errors *errors)
{
	for (size_t i = 0; i < set->count; i++) {
		struct provider *p = &set->items[i];
		const char *file = cfg->path, *error = "failed";
		int line = 0;

		if (p->type->start == NULL || p->type->start(p, &error) == 0)
			continue;
		for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next) {
			if (strcmp(s->kind, "provider") == 0 && strcmp(s->name, p->name) == 0) {
				file = s->file;
				line = s->line;
				break;
			}
		}
		conf_error_at(errors, file, line, "provider %s: %s", p->name, error);
		return -1;
	}
	return 0;
}

struct provider *provider_set_find(struct provider_set *set, const char *name)
{
	for (size_t i = 0; i < set->count; i++)
		if (strcmp(set->items[i].name, name) == 0)
			return &set->items[i];
	return NULL;
}

size_t provider_set_count(const struct provider_set *set)
{
	return set->count;
}

struct provider *provider_set_at(struct provider_set *set, size_t i)
{
	return i < set->count ? &set->items[i] : NULL;
}

void provider_set_free(struct provider_set **setp)
{
	struct provider_set *set = *setp;

	if (set == NULL)
		return;
	for (size_t i = 0; i < set->count; i++) {
		if (set->items[i].type->fini != NULL)
			set->items[i].type->fini(&set->items[i]);
		free(set->items[i].name);
	}
	free(set->items);
	free(set);
	*setp = NULL;
}

/* The request narrowed to p's own timeout, under its concurrency cap:
 * 0, or -1 when p is at its cap. */
static int call_begin(struct provider *p, const struct auth_request *req,
		      struct auth_request *narrowed)
{
	int64_t own_deadline = clock_now_ms() + p->timeout_ms;

	*narrowed = *req;
	if (own_deadline < narrowed->deadline_ms)
		narrowed->deadline_ms = own_deadline;
	if (atomic_fetch_add(&p->inflight, 1) >= p->max_inflight) {
		atomic_fetch_sub(&p->inflight, 1);
		return -1;
	}
	return 0;
}

static enum auth_result call_end(struct provider *p, enum auth_result result)
{
	atomic_fetch_sub(&p->inflight, 1);
	atomic_store(&p->last_unavailable, result == AUTH_UNAVAILABLE);
	return result;
}

enum auth_result provider_call(struct provider *p, const struct auth_request *req,
			       const char **detail_r)
{
	struct auth_request narrowed;

	*detail_r = NULL;
	if (call_begin(p, req, &narrowed) < 0) {
		*detail_r = "busy";
		return AUTH_UNAVAILABLE;
	}
	return call_end(p, p->type->authenticate(p, &narrowed, detail_r));
}

enum auth_result provider_lookup(struct provider *p, const struct auth_request *req,
				 const char *attribute, char *out, size_t size,
				 const char **detail_r)
{
	struct auth_request narrowed;

	*detail_r = NULL;
	out[0] = '\0';
	if (call_begin(p, req, &narrowed) < 0) {
		*detail_r = "busy";
		return AUTH_UNAVAILABLE;
	}
	return call_end(p, p->type->lookup(p, &narrowed, attribute, out, size, detail_r));
}
