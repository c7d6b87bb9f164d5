#include "trace.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

#define TRACE_STEP_MAX 512

struct step {
	uint64_t seq;
	time_t when;
	long long ms;
	char request_id[24];
	char text[TRACE_STEP_MAX];
};

struct trace {
	unsigned id;               /* 0: slot free */
	char user[256];
	int64_t until_ms;          /* clock_now_ms() */
	uint64_t next_seq;         /* of the next step */
	struct step *steps;        /* ring of TRACE_LINES_KEPT */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct trace traces[TRACE_ACTIVE_MAX];
static unsigned last_id;
/* Requests check this before taking the lock: no trace, no cost. */
static atomic_int active;

/* Under lock: a slot whose trace ended long enough ago is free again
 * (its steps stay readable for a minute after it stopped). */
static bool slot_free(const struct trace *t, int64_t now)
{
	return t->id == 0 || now > t->until_ms + 60000;
}

int trace_start(const char *mapped_user, unsigned seconds, unsigned *id_r, const char **error_r)
{
	int64_t now = clock_now_ms();
	struct trace *t = NULL;
	char id[12], for_s[12];

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < TRACE_ACTIVE_MAX && t == NULL; i++)
		if (slot_free(&traces[i], now))
			t = &traces[i];
	if (t == NULL) {
		pthread_mutex_unlock(&lock);
		*error_r = "too many traces at once (4); wait for one to end";
		return -1;
	}
	if (t->steps == NULL)
		t->steps = calloc(TRACE_LINES_KEPT, sizeof *t->steps);
	if (t->steps == NULL) {
		pthread_mutex_unlock(&lock);
		*error_r = "out of memory";
		return -1;
	}
	t->id = ++last_id;
	snprintf(t->user, sizeof t->user, "%s", mapped_user);
	t->until_ms = now + (int64_t)seconds * 1000;
	t->next_seq = 0;
	*id_r = t->id;
	atomic_store(&active, 1);
	snprintf(id, sizeof id, "%u", t->id);
	snprintf(for_s, sizeof for_s, "%u", seconds);
	log_event("trace_start", "trace_id", id, "user", t->user, "seconds", for_s, NULL);
	pthread_mutex_unlock(&lock);
	return 0;
}

static void hook_step(void *ctx, const char *what)
{
	trace_note(ctx, "%s", what);
}

bool trace_tap_open(const char *mapped_user, const char *request_id, int64_t started_ms,
		    struct trace_tap *tap)
{
	int64_t now;
	bool found = false, live = false;

	if (!atomic_load(&active) || mapped_user == NULL)
		return false;
	now = clock_now_ms();
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < TRACE_ACTIVE_MAX; i++) {
		struct trace *t = &traces[i];

		if (t->id == 0 || now > t->until_ms)
			continue;
		live = true;
		if (!found && strcmp(t->user, mapped_user) == 0) {
			tap->id = t->id;
			found = true;
		}
	}
	if (!live)
		atomic_store(&active, 0);   /* every trace ended: back to no cost */
	pthread_mutex_unlock(&lock);
	if (found) {
		tap->request_id = request_id;
		tap->started_ms = started_ms;
		tap->hook = (struct auth_trace){ hook_step, tap };
	}
	return found;
}

void trace_note(struct trace_tap *tap, const char *fmt, ...)
{
	char text[TRACE_STEP_MAX], id[12], ms[24];
	long long elapsed = (long long)(clock_now_ms() - tap->started_ms);
	const char *user = "-";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < TRACE_ACTIVE_MAX; i++) {
		struct trace *t = &traces[i];
		struct step *s;

		if (t->id != tap->id)
			continue;
		s = &t->steps[t->next_seq % TRACE_LINES_KEPT];
		s->seq = t->next_seq++;
		s->when = time(NULL);
		s->ms = elapsed;
		snprintf(s->request_id, sizeof s->request_id, "%s", tap->request_id);
		snprintf(s->text, sizeof s->text, "%s", text);
		user = t->user;
		break;
	}
	snprintf(id, sizeof id, "%u", tap->id);
	snprintf(ms, sizeof ms, "%lld", elapsed);
	/* user points into the slot: log while still holding the lock. */
	log_event("trace", "trace_id", id, "request_id", tap->request_id, "user", user,
		  "ms", ms, "step", text, NULL);
	pthread_mutex_unlock(&lock);
}

static json_object *step_json(const struct step *s)
{
	json_object *o = json_object_new_object();
	char when[32];
	struct tm tm;

	gmtime_r(&s->when, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_object_add(o, "seq", json_object_new_int64((int64_t)s->seq));
	json_object_object_add(o, "time", json_object_new_string(when));
	json_object_object_add(o, "request_id", json_object_new_string(s->request_id));
	json_object_object_add(o, "ms", json_object_new_int64(s->ms));
	json_object_object_add(o, "step", json_object_new_string(s->text));
	return o;
}

char *trace_json(unsigned id, uint64_t after, int *status_r)
{
	json_object *top, *steps;
	struct trace *t = NULL;
	int64_t now = clock_now_ms();
	char *text;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < TRACE_ACTIVE_MAX && t == NULL; i++)
		if (id != 0 && traces[i].id == id)
			t = &traces[i];
	if (t == NULL) {
		pthread_mutex_unlock(&lock);
		*status_r = 404;
		return NULL;
	}
	top = json_object_new_object();
	steps = json_object_new_array();
	/* Steps older than the ring are gone: start at the oldest kept. */
	if (t->next_seq > TRACE_LINES_KEPT && after < t->next_seq - TRACE_LINES_KEPT)
		after = t->next_seq - TRACE_LINES_KEPT;
	for (uint64_t seq = after; seq < t->next_seq; seq++)
		json_object_array_add(steps, step_json(&t->steps[seq % TRACE_LINES_KEPT]));
	json_object_object_add(top, "id", json_object_new_int64(t->id));
	json_object_object_add(top, "user", json_object_new_string(t->user));
	json_object_object_add(top, "active", json_object_new_boolean(now <= t->until_ms));
	json_object_object_add(top, "seconds_left",
			       json_object_new_int64(now <= t->until_ms ?
						     (t->until_ms - now + 999) / 1000 : 0));
	json_object_object_add(top, "next", json_object_new_int64((int64_t)t->next_seq));
	json_object_object_add(top, "steps", steps);
	pthread_mutex_unlock(&lock);
	text = strdup(json_object_to_json_string_ext(top, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(top);
	*status_r = text != NULL ? 200 : 500;
	return text;
}
