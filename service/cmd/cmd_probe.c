/*
 * `dagate probe`: ask every provider's backend whether it answers.
 */
#include "commands.h"

#include <stdio.h>

#include "decider.h"
#include "clock.h"

int cmd_probe(const char *config_path, int argc, char **argv)
{
	struct decider dec;
	int failures = 0;

	if (decider_load(config_path, true, &dec) < 0)
		return 2;
	printf("%-20s %-8s %-6s %6s  %s\n", "PROVIDER", "TYPE", "STATE", "MS", "DETAIL");
	for (size_t i = 0; i < provider_set_count(dec.providers); i++) {
		struct provider *p = provider_set_at(dec.providers, i);
		const char *detail = "no probe for this type";
		int64_t started = clock_now_ms();
		int rc = 0;

		if (p->type->probe != NULL)
			rc = p->type->probe(p, started + p->timeout_ms, &detail);
		if (rc != 0)
			failures++;
		printf("%-20s %-8s %-6s %6lld  %s\n", p->name, p->type->name,
		       rc == 0 ? "ok" : "FAIL", (long long)(clock_now_ms() - started),
		       detail != NULL ? detail : "");
	}
	decider_free(&dec);
	return failures == 0 ? 0 : 1;
}
