/*
 * Checks of [server] values that need more than one key, for config_load
 * (so serve, SIGHUP and check-config refuse alike; unit-tested), and the
 * line of a key for problems found after loading.
 */
#include "config.h"

#include <string.h>

/* The `len` bytes of a URL's path ("" is "/") are `path`. */
static bool same_path(const char *url_path, size_t len, const char *path)
{
	if (len == 0)
		return strcmp(path, "/") == 0;
	return len == strlen(path) && strncmp(url_path, path, len) == 0;
}

int conf_public_url_check(const char *url, const char *path, bool tls, const char **error_r)
{
	const char *rest, *url_path;
	size_t len;

	if (strncmp(url, "https://", 8) == 0) {
		rest = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		rest = url + 7;
		if (tls) {
			*error_r = "'public_url' is http:// but the listener speaks only "
				   "HTTPS (tls_cert is set): use https://";
			return -1;
		}
	} else {
		*error_r = "'public_url' must start with http:// or https://";
		return -1;
	}
	url_path = rest + strcspn(rest, "/?#");
	len = strcspn(url_path, "?#");
	if (rest == url_path) {
		*error_r = "'public_url' must name a host";
		return -1;
	}
	if (path != NULL && !same_path(url_path, len, path)) {
		*error_r = "the path of 'public_url' differs from 'path': the WSDL would "
			   "send Salesforce where dagate does not answer";
		return -1;
	}
	return 0;
}

int conf_key_line(const struct dagate_config *cfg, const char *kind, const char *key)
{
	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next)
		if (s->name == NULL && strcmp(s->kind, kind) == 0)
			return conf_line(s, key);
	return 0;
}
