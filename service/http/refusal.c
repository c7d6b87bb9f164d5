#include "refusal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"

/* Lines per reason and window: every refusal of a normal day is logged, a
 * flood costs a few lines a second. */
#define REFUSAL_LOG_BURST 20
#define REFUSAL_LOG_WINDOW_MS 10000

struct refusal_window {
	int64_t start_ms;
	unsigned logged;
	unsigned long long unlogged;
};

static struct refusal_window windows[HTTP_REFUSAL_COUNT];
static pthread_mutex_t windows_lock = PTHREAD_MUTEX_INITIALIZER;

/* Whether to log this one; *unlogged_r: how many before it were not. */
static bool window_admit(enum http_refusal why, unsigned long long *unlogged_r)
{
	struct refusal_window *w = &windows[why];
	int64_t now = clock_now_ms();
	bool admit;

	pthread_mutex_lock(&windows_lock);
	if (now - w->start_ms >= REFUSAL_LOG_WINDOW_MS) {
		w->start_ms = now;
		w->logged = 0;
	}
	admit = w->logged < REFUSAL_LOG_BURST;
	*unlogged_r = 0;
	if (admit) {
		w->logged++;
		*unlogged_r = w->unlogged;
		w->unlogged = 0;
	} else {
		w->unlogged++;
	}
	pthread_mutex_unlock(&windows_lock);
	return admit;
}

void http_allow_source(const struct dagate_config *cfg, bool admin, char *out, size_t size)
{
	const struct server_config *sc = &cfg->server;

	if (admin)
		snprintf(out, size, "[admin] allow");
	else if (sc->allow_file == NULL)
		snprintf(out, size, "[server] allow");
	else if (sc->allow_given)
		snprintf(out, size, "[server] allow and allow_file %s", sc->allow_file);
	else
		snprintf(out, size, "[server] allow_file %s", sc->allow_file);
}

void http_refusal(enum http_refusal why, const char *listener, const char *fmt, ...)
{
	char msg[512];
	unsigned long long unlogged;
	va_list ap;

	if (why >= HTTP_REFUSAL_COUNT)
		return;
	metrics_record_refusal(why, listener);
	if (!window_admit(why, &unlogged))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (unlogged > 0) {
		size_t len = strlen(msg);

		snprintf(msg + len, sizeof msg - len, " (and %llu more not logged)", unlogged);
	}
	if (why == HTTP_CUT_IDLE)
		log_debug("%s", msg);
	else if (why == HTTP_CUT_SILENT || why == HTTP_CUT_SLOW)
		log_info("%s", msg);
	else
		log_warnx("%s", msg);
}
