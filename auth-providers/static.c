/*
 * `static`: a fixed answer after an optional delay. For testing the
 * Salesforce side, deadlines and load shedding, and for benchmarks.
 * The delay is cut short at the request deadline (answer: unavailable).
 */
#include "provider.h"

#include <stdlib.h>

#include "clock.h"

static const char *const static_results[] = {
	"true", "false", "unavailable", NULL
};
/* What each of static_results answers. */
static const enum auth_result static_answers[] = {
	AUTH_OK, AUTH_REJECT, AUTH_UNAVAILABLE
};

/* A [provider NAME] of type static, as configured. */
struct static_conf {
	int result;            /* index into static_results */
	int64_t delay_ms;
};

static const struct conf_key static_keys[] = {
	{ "result", CONF_ENUM, CONF_REQUIRED, NULL, 0, 0, static_results,
	  "the answer: true, false or unavailable", CONF_AT(struct static_conf, result) },
	{ "delay", CONF_DURATION, 0, "0ms", 0, 60000, NULL,
	  "wait this long before answering (cut at the deadline)",
	  CONF_AT(struct static_conf, delay_ms) },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

struct static_state {
	enum auth_result result;
	int64_t delay_ms;
};

static int static_parse(struct provider *p, const struct conf_section *s,
		       struct conf_errors *errors)
{
	struct static_state *st = calloc(1, sizeof *st);
	struct static_conf c;

	if (st == NULL)
		return -1;
	conf_bind(s, static_keys, &c);
	st->result = static_answers[c.result];
	st->delay_ms = c.delay_ms;
	p->never_blocks = st->delay_ms == 0;
	p->state = st;
	return 0;
}

static enum auth_result static_authenticate(struct provider *p,
					    const struct auth_request *req,
					    const char **detail_r)
{
	const struct static_state *st = p->state;

	if (st->delay_ms > 0) {
		int64_t until = clock_now_ms() + st->delay_ms;

		if (until > req->deadline_ms) {
			clock_sleep_until(req->deadline_ms);
			auth_trace_step(req, "static: delay cut at the deadline");
			*detail_r = "timeout";
			return AUTH_UNAVAILABLE;
		}
		clock_sleep_until(until);
	}
	auth_trace_step(req, "static: fixed result %s", auth_result_name(st->result));
	return st->result;
}

static int static_probe(struct provider *p, int64_t deadline_ms, const char **detail_r)
{
	*detail_r = "fixed result, nothing to reach";
	return 0;
}

static void static_fini(struct provider *p)
{
	free(p->state);
	p->state = NULL;
}

const struct provider_type prov_static_type = {
	.name = "static",
	.keys = static_keys,
	.parse = static_parse,
	.authenticate = static_authenticate,
	.probe = static_probe,
	.fini = static_fini,
};
