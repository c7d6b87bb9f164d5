/*
 * What the throttle unit tests share: a hand-built configuration holding
 * [throttle] (conf_build.h), a throttle on an injected clock, and one
 * login run as the router runs it.
 */
#ifndef DAGATE_THROTTLE_FIXTURE_H
#define DAGATE_THROTTLE_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "conf_build.h"
#include "throttle.h"
#include "unit.h"

#define MIN (60 * 1000LL)

static char tmpdir[256];

/* A config (conf_build.h) holding [throttle] with `kvs` (NULL: no [throttle] at all) and,
 * if tokens_kvs is set, a [tokens] section after it. */
static inline struct dagate_config *config_with(const struct kv *kvs, const struct kv *tokens_kvs)
{
	struct dagate_config *cfg = calloc(1, sizeof *cfg);
	struct conf_section **tail = &cfg->sections;

	cfg->path = strdup("test.conf");
	if (kvs != NULL) {
		*tail = section("throttle", NULL, 10, kvs);
		tail = &(*tail)->next;
	}
	if (tokens_kvs != NULL)
		*tail = section("tokens", NULL, 30, tokens_kvs);
	return cfg;
}

static inline void config_done(struct dagate_config *cfg)
{
	sections_free(cfg->sections);
	free(cfg->path);
	free(cfg);
}

/* The throttle's clock, moved by the tests. */
static int64_t fake_now = 1000000;

static inline int64_t fake_clock(void *ctx)
{
	return fake_now;
}

static inline struct throttle *make(const struct kv *kvs)
{
	struct dagate_config *cfg = config_with(kvs, NULL);
	struct conf_errors errors = { 0 };
	struct throttle *t = NULL;

	CHECK(throttle_create(cfg, &errors, &t) == 0 && t != NULL, "create: %s",
	      errors.count ? errors.lines[0] : "no error text");
	conf_errors_clear(&errors);
	config_done(cfg);
	if (t != NULL)
		throttle_set_clock(t, fake_clock, NULL);
	return t;
}

#define FAR (clock_now_ms() + 5000)

/* One login as the router will run it: check, and if asked, record. */
static inline enum throttle_verdict login(struct throttle *t, const char *user, const char *ip,
				   const char *pw, enum auth_result result)
{
	enum throttle_verdict v = throttle_check(t, user, ip, pw, strlen(pw), FAR);

	if (v == THROTTLE_ASK)
		throttle_record(t, user, ip, pw, strlen(pw), result, false, FAR);
	return v;
}

#endif
