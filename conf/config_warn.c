#include "config.h"

#include <arpa/inet.h>
#include <string.h>

static const struct conf_section *section_of(const struct dagate_config *cfg, const char *kind)
{
	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next)
		if (strcmp(s->kind, kind) == 0)
			return s;
	return NULL;
}

static bool is_loopback(const char *host)
{
	uint8_t a[16];

	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, host, a) == 1) {
		static const uint8_t one[16] = { [15] = 1 };
		static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };

		return memcmp(a, one, sizeof one) == 0 ||
		       (memcmp(a, v4mapped, sizeof v4mapped) == 0 && a[12] == 127);
	}
	return false;
}

/* An allow list with 0.0.0.0/0 or ::/0 lets every address (of that
 * family) call Authenticate. */
static const char *allows_everyone(const struct cidr_list *allow)
{
	for (size_t i = 0; i < allow->count; i++)
		if (allow->items[i].prefix == 0)
			return allow->items[i].family == AF_INET ? "0.0.0.0/0" : "::/0";
	return NULL;
}

void config_warnings(const struct dagate_config *cfg, struct conf_errors *warnings)
{
	const struct server_config *sv = &cfg->server;
	const struct conf_section *s = section_of(cfg, "server");
	const char *everyone = allows_everyone(&sv->allow);

	for (size_t i = 0; everyone != NULL && i < sv->listen_count; i++) {
		const struct listen_addr *la = &sv->listen[i];

		if (is_loopback(la->host))
			continue;
		if (s != NULL && conf_find(s, "allow") != NULL)
			conf_error_at(warnings, cfg->path, conf_line(s, "allow"),
				      "warning: [server] allow includes %s and listen = %s is "
				      "not loopback: anyone who reaches it can call "
				      "Authenticate; restrict allow to Salesforce's ranges "
				      "(scripts/salesforce-ranges)", everyone, la->text);
		else
			conf_error_at(warnings, cfg->path, la->line,
				      "warning: listen = %s is not loopback and [server] has "
				      "no allow or allow_file (everyone may call Authenticate); "
				      "set allow_file to Salesforce's ranges "
				      "(scripts/salesforce-ranges)", la->text);
		break;
	}
}
