/* The ring of recent non-true decisions: what is kept, the query, the
 * order, the bound. */
#include <json-c/json.h>
#include <stdlib.h>

#include "decisions.h"
#include "unit.h"

static void remember(const char *user, const char *answer, const char *sent)
{
	struct audit_record rec = {
		.request_id = "0123456789abcdef", .user = user, .source_ip = "203.0.113.7",
		.peer = "127.0.0.1", .provider = "p", .outcome = "reject", .detail = NULL,
		.answer = answer, .sent = sent, .elapsed_ms = 3,
	};

	decisions_remember(&rec, 1764633600);   /* 2025-12-02T00:00:00Z */
}

/* The users of the answer to a query, newest first, comma-separated. */
static char *users(enum decisions_filter filter, unsigned limit, long *kept_r)
{
	char *text = decisions_json(filter, limit), *out = calloc(1, 4096);
	json_object *top = json_tokener_parse(text), *list, *kept;

	json_object_object_get_ex(top, "decisions", &list);
	json_object_object_get_ex(top, "kept", &kept);
	*kept_r = (long)json_object_get_int64(kept);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *e = json_object_array_get_idx(list, i), *u;

		json_object_object_get_ex(e, "user", &u);
		if (i > 0)
			strcat(out, ",");
		strcat(out, json_object_get_string(u));
	}
	json_object_put(top);
	free(text);
	return out;
}

static void test_kept_and_order(void)
{
	long kept;
	char *got;

	decisions_reset();
	remember("a", "false", NULL);
	remember("b", "true", NULL);      /* not kept */
	remember("c", "fault", NULL);
	remember("d", "true", "no");      /* never sent: kept */
	remember("e", "false", NULL);
	got = users(DECISIONS_NOT_TRUE, 50, &kept);
	CHECK_STR(got, "e,d,c,a", "all");
	CHECK(kept == 4, "kept %ld", kept);
	free(got);
	got = users(DECISIONS_FALSE, 50, &kept);
	CHECK_STR(got, "e,a", "false");
	free(got);
	got = users(DECISIONS_FAULT, 1, &kept);
	CHECK_STR(got, "c", "fault");
	free(got);
	got = users(DECISIONS_NOT_TRUE, 2, &kept);
	CHECK_STR(got, "e,d", "limit");
	free(got);
}

static void test_bounded(void)
{
	char name[16];
	long kept;
	char *got;

	decisions_reset();
	for (int i = 0; i < DECISIONS_KEPT + 5; i++) {
		snprintf(name, sizeof name, "u%d", i);
		remember(name, "false", NULL);
	}
	got = users(DECISIONS_NOT_TRUE, 2, &kept);
	CHECK_STR(got, "u1004,u1003", "newest");
	CHECK(kept == DECISIONS_KEPT, "kept %ld", kept);
	free(got);
}

static void test_query(void)
{
	static const struct {
		const char *answer, *limit;
		int ok;
		enum decisions_filter filter;
		unsigned n;
	} cases[] = {
		{ NULL, NULL, 0, DECISIONS_NOT_TRUE, DECISIONS_DEFAULT_LIMIT },
		{ "any", "1", 0, DECISIONS_NOT_TRUE, 1 },
		{ "false", "1000", 0, DECISIONS_FALSE, 1000 },
		{ "fault", "7", 0, DECISIONS_FAULT, 7 },
		{ "true", NULL, -1, 0, 0 },
		{ "", NULL, -1, 0, 0 },
		{ NULL, "0", -1, 0, 0 },
		{ NULL, "1001", -1, 0, 0 },
		{ NULL, "-1", -1, 0, 0 },
		{ NULL, " 5", -1, 0, 0 },
		{ NULL, "99999999999999999999999", -1, 0, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum decisions_filter f;
		const char *error = NULL;
		unsigned n;
		int rc = decisions_parse_query(cases[i].answer, cases[i].limit, &f, &n, &error);

		CHECK(rc == cases[i].ok, "case %zu: rc %d", i, rc);
		if (rc == 0)
			CHECK(f == cases[i].filter && n == cases[i].n, "case %zu: %d %u", i, f, n);
		else
			CHECK(error != NULL, "case %zu: an error", i);
	}
}

int main(void)
{
	test_kept_and_order();
	test_bounded();
	test_query();
	return unit_done("test_decisions");
}
