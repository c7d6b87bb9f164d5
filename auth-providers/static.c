/*
 * `static`: a fixed answer after an optional delay. For testing the
 * Salesforce side, deadlines and load shedding, and for benchmarks.
 * The delay is cut short at the request deadline (answer: unavailable).
 */
#include "provider.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"

static const char *const static_results[] = {
	"true", "false", "unavailable", NULL
};

static const struct conf_key static_keys[] = {
	{ "result", CONF_ENUM, CONF_REQUIRED, NULL, 0, 0, static_results,
	  "the answer: true, false or unavailable" },
	{ "delay", CONF_DURATION, 0, "0ms", 0, 60000, NULL,
	  "wait this long before answering (cut at the deadline)" },
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
	const char *result = conf_get(s, static_keys, "result");

	if (st == NULL)
		return -1;
	if (strcmp(result, "true") == 0)
		st->result = AUTH_OK;
	else if (strcmp(result, "false") == 0)
		st->result = AUTH_REJECT;
	else
		st->result = AUTH_UNAVAILABLE;
	st->delay_ms = conf_get_int(s, static_keys, "delay");
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
