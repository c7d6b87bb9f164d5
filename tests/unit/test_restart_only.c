/* restart_only_changes(): which changes a reload cannot apply. */
#include <stdlib.h>

#include "conf_build.h"
#include "restart_only.h"
#include "unit.h"

static const struct kv tokens_a[] = { { "store", "lmdb:/var/lib/dagate/tokens" }, { NULL, NULL } };
static const struct kv tokens_b[] = { { "store", "redis://127.0.0.1:6379" }, { NULL, NULL } };
static const struct kv ops_a[] = { { "secret_file", "/etc/dagate/ops.secret" },
				   { "users", "*@corp.example" }, { NULL, NULL } };
static const struct kv ops_b[] = { { "secret_file", "/etc/dagate/ops.secret" },
				   { "users", "*@other.example" }, { NULL, NULL } };
static const struct kv throttle_a[] = { { "user_failures", "5/15m" }, { NULL, NULL } };
static const struct kv provider_a[] = { { "type", "file" }, { "path", "users" }, { NULL, NULL } };
static const struct kv provider_b[] = { { "type", "file" }, { "path", "others" }, { NULL, NULL } };

/* A config of sections given as (kind, name, entries, line) in order. */
struct spec {
	const char *kind, *name;
	const struct kv *kvs;
	int line;
};

static void build(struct dagate_config *cfg, const struct spec *specs, const char *user)
{
	struct conf_section **tail = &cfg->sections;

	memset(cfg, 0, sizeof *cfg);
	cfg->server.user = user;
	for (size_t i = 0; specs[i].kind != NULL; i++) {
		*tail = section(specs[i].kind, specs[i].name, specs[i].line, specs[i].kvs);
		tail = &(*tail)->next;
	}
}

/* What started is saved, and the config it came from freed, as a reload
 * frees it. */
static void expect(const char *what, const struct spec *started, const char *started_user,
		   const struct spec *loaded, const char *loaded_user, size_t want_count,
		   const char *want)
{
	struct dagate_config a, b;
	struct restart_only ro;
	char out[256];
	size_t n;

	build(&a, started, started_user);
	CHECK(restart_only_save(&a, &ro) == 0, "%s: save", what);
	sections_free(a.sections);
	build(&b, loaded, loaded_user);
	n = restart_only_changes(&ro, &b, out, sizeof out);
	CHECK(n == want_count, "%s: %zu changes, want %zu (%s)", what, n, want_count, out);
	CHECK_STR(out, want, what);
	sections_free(b.sections);
	restart_only_clear(&ro);
}

int main(void)
{
	const struct spec base[] = {
		{ "tokens", NULL, tokens_a, 10 }, { "requester", "ops", ops_a, 20 },
		{ "throttle", NULL, throttle_a, 30 }, { "provider", "local", provider_a, 40 },
		{ NULL, NULL, NULL, 0 },
	};
	/* The same entries on other lines (comments added above): no change. */
	const struct spec moved[] = {
		{ "provider", "local", provider_a, 5 }, { "tokens", NULL, tokens_a, 12 },
		{ "requester", "ops", ops_a, 22 }, { "throttle", NULL, throttle_a, 33 },
		{ NULL, NULL, NULL, 0 },
	};
	const struct spec provider_changed[] = {
		{ "tokens", NULL, tokens_a, 10 }, { "requester", "ops", ops_a, 20 },
		{ "throttle", NULL, throttle_a, 30 }, { "provider", "local", provider_b, 40 },
		{ NULL, NULL, NULL, 0 },
	};
	const struct spec tokens_changed[] = {
		{ "tokens", NULL, tokens_b, 10 }, { "requester", "ops", ops_b, 20 },
		{ "throttle", NULL, throttle_a, 30 }, { "provider", "local", provider_a, 40 },
		{ NULL, NULL, NULL, 0 },
	};
	const struct spec throttle_gone[] = {
		{ "tokens", NULL, tokens_a, 10 }, { "requester", "ops", ops_a, 20 },
		{ "provider", "local", provider_a, 40 }, { "requester", "new", ops_a, 50 },
		{ NULL, NULL, NULL, 0 },
	};

	expect("identical", base, NULL, base, NULL, 0, "");
	expect("moved lines", base, NULL, moved, NULL, 0, "");
	expect("a provider (a reload applies it)", base, NULL, provider_changed, NULL, 0, "");
	expect("tokens and a requester", base, NULL, tokens_changed, NULL, 2,
	       "[tokens], [requester ops]");
	expect("a requester added, throttle removed", base, NULL, throttle_gone, NULL, 2,
	       "[requester new], [throttle]");
	expect("user set", base, NULL, base, "dagate", 1, "[server] user");
	expect("user empty is unset", base, "", base, NULL, 0, "");
	expect("user changed", base, "dagate", base, "nobody", 1, "[server] user");
	{
		struct dagate_config a, b;
		struct restart_only ro;
		char small[12];

		build(&a, base, NULL);
		CHECK(restart_only_save(&a, &ro) == 0, "save");
		build(&b, tokens_changed, "x");
		CHECK(restart_only_changes(&ro, &b, small, sizeof small) == 3,
		      "count past a short buffer");
		CHECK(strlen(small) < sizeof small, "truncated, terminated: %s", small);
		sections_free(a.sections);
		sections_free(b.sections);
		restart_only_clear(&ro);
	}
	return unit_done("test_restart_only");
}
