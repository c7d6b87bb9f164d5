/* The process's own events: signals, log reopens, reloads (metrics.h). */
#include "metrics.h"
#include "metrics_int.h"
#include "sso.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

/* The signals serve handles, as cmd_serve.c names them. */
static const char *const signal_names[] = {
	"SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGALRM",
};
#define SIGNALS (sizeof signal_names / sizeof signal_names[0])

static atomic_uint_fast64_t signals[SIGNALS];
static atomic_uint_fast64_t log_reopens[2];   /* failed, ok */
static atomic_uint_fast64_t reloads[METRICS_RELOAD_RESULTS];
static const char *const reload_names[METRICS_RELOAD_RESULTS] = {
	[METRICS_RELOAD_OK] = "ok",
	[METRICS_RELOAD_PARTIAL] = "partial",
	[METRICS_RELOAD_REFUSED] = "refused",
};
static atomic_uint_fast64_t sso_requests[SSO_OUTCOME_COUNT];
static double start_time;   /* set once before any thread reads it */

void metrics_set_start_time(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	start_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void metrics_record_reload(enum metrics_reload result)
{
	if (result < METRICS_RELOAD_RESULTS)
		atomic_fetch_add(&reloads[result], 1);
}

double metrics_start_time(void)
{
	return start_time;
}

unsigned long long metrics_reloads(enum metrics_reload result)
{
	return result < METRICS_RELOAD_RESULTS ? (unsigned long long)atomic_load(&reloads[result]) : 0;
}

void metrics_record_signal(const char *name)
{
	for (size_t i = 0; i < SIGNALS; i++)
		if (strcmp(signal_names[i], name) == 0)
			atomic_fetch_add(&signals[i], 1);
}

void metrics_record_sso(int outcome)
{
	if (outcome >= 0 && outcome < SSO_OUTCOME_COUNT)
		atomic_fetch_add(&sso_requests[outcome], 1);
}

void metrics_record_log_reopen(bool ok)
{
	atomic_fetch_add(&log_reopens[ok ? 1 : 0], 1);
}

void metrics_render_process(struct metrics_out *o)
{
	metrics_head(o, "dagate_build_info", "gauge", "1, labelled with the running version.");
	metrics_put(o, "dagate_build_info{version=\"%s\"} 1\n", DAGATE_VERSION);
	metrics_head(o, "dagate_process_start_time_seconds", "gauge",
		     "When serve started, in seconds since the Unix epoch.");
	metrics_put(o, "dagate_process_start_time_seconds %.3f\n", start_time);
	metrics_head(o, "dagate_reloads_total", "counter",
		     "SIGHUP reloads by result: ok, partial (a section only a restart applies "
		     "changed; see the log), refused (the old configuration kept serving).");
	for (int i = 0; i < METRICS_RELOAD_RESULTS; i++)
		metrics_put(o, "dagate_reloads_total{result=\"%s\"} %llu\n", reload_names[i],
			    (unsigned long long)atomic_load(&reloads[i]));
	metrics_head(o, "dagate_signals_total", "counter",
		     "Signals received by serve, by name (each is also logged).");
	for (size_t i = 0; i < SIGNALS; i++)
		metrics_put(o, "dagate_signals_total{signal=\"%s\"} %llu\n", signal_names[i],
			    (unsigned long long)atomic_load(&signals[i]));
	metrics_head(o, "dagate_log_reopens_total", "counter",
		     "Reopens of the audit and log files (SIGUSR1, SIGHUP), by result.");
	metrics_put(o, "dagate_log_reopens_total{result=\"ok\"} %llu\n",
		    (unsigned long long)atomic_load(&log_reopens[1]));
	metrics_put(o, "dagate_log_reopens_total{result=\"failed\"} %llu\n",
		    (unsigned long long)atomic_load(&log_reopens[0]));
	metrics_head(o, "dagate_sso_requests_total", "counter",
		     "Requests to the [sso] sign-on listener by outcome (sso_ok: a token issued).");
	for (int i = 0; i < SSO_OUTCOME_COUNT; i++)
		metrics_put(o, "dagate_sso_requests_total{outcome=\"%s\"} %llu\n",
			    sso_outcome_name((enum sso_outcome)i),
			    (unsigned long long)atomic_load(&sso_requests[i]));
}
