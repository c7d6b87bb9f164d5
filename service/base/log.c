/*
 * Operational log (stderr) and audit trail (stderr or a file), one
 * write(2) per record so that lines from different threads never mix.
 */
#include "log.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define LOG_LINE_MAX 4096
#define LOG_FIELD_MAX 256   /* an escaped field never exceeds this */

/* Read by every thread on every line, set by the main thread on start-up
 * and reload: atomics (relaxed: a line may use the old or the new value,
 * never a torn one). */
static _Atomic enum log_level log_level = LOG_LEVEL_INFO;
static _Atomic enum log_format log_format = LOG_FORMAT_TEXT;
static char *audit_path;    /* NULL: stderr; main thread only */
static int audit_fd = STDERR_FILENO;
/* Readers are writers of records (O_APPEND makes each write atomic); the
 * write lock is only for swapping the fd on reopen. */
static pthread_rwlock_t audit_lock = PTHREAD_RWLOCK_INITIALIZER;
/* [log] file: stderr is a dup of it (dup2 swaps it atomically for every
 * writer). The original stderr is kept to go back to on "-". */
static char *file_path;     /* NULL: the original stderr; main thread only */
static int original_stderr = -1;
static bool owner_set;
static uid_t owner_uid;
static gid_t owner_gid;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_owner(uid_t uid, gid_t gid)
{
	owner_set = true;
	owner_uid = uid;
	owner_gid = gid;
}

/* Open for appending; a file created here as root is given to the user we
 * will become, so that it can reopen a rotated file the same way later. */
static int log_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);

	if (fd < 0 && errno == EEXIST)
		return open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && owner_set && geteuid() == 0 && fchown(fd, owner_uid, owner_gid) < 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static void audit_swap(int fd)
{
	int old;

	pthread_rwlock_wrlock(&audit_lock);
	old = audit_fd;
	audit_fd = fd;
	pthread_rwlock_unlock(&audit_lock);
	if (old != STDERR_FILENO)
		close(old);
}

int log_setup(const struct log_config *cfg, const char **error_r)
{
	log_set_level(cfg->level);
	log_set_format(cfg->format);
	if (cfg->audit != NULL && strcmp(cfg->audit, "-") != 0) {
		int fd = log_open(cfg->audit);

		if (fd < 0) {
			*error_r = strerror(errno);
			return -1;
		}
		free(audit_path);
		audit_path = strdup(cfg->audit);
		audit_swap(fd);
	} else if (audit_path != NULL) {
		/* a reload that sends the audit back to stderr */
		free(audit_path);
		audit_path = NULL;
		audit_swap(STDERR_FILENO);
	}
	return 0;
}

/* Point stderr at `fd` (closed here). */
static int stderr_swap(int fd)
{
	int ret = dup2(fd, STDERR_FILENO) < 0 ? -1 : 0;
	int saved = errno;

	close(fd);
	errno = saved;
	return ret;
}

const char *log_file_path(void)
{
	return file_path;
}

int log_file_setup(const struct log_config *cfg, const char **error_r)
{
	int fd;

	if (cfg->file == NULL || strcmp(cfg->file, "-") == 0) {
		if (file_path == NULL)
			return 0;
		fd = dup(original_stderr);
		if (fd < 0 || stderr_swap(fd) < 0) {
			*error_r = strerror(errno);
			return -1;
		}
		free(file_path);
		file_path = NULL;
		return 0;
	}
	if (original_stderr < 0 &&
	    (original_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3)) < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	fd = log_open(cfg->file);
	if (fd < 0 || stderr_swap(fd) < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	free(file_path);
	file_path = strdup(cfg->file);
	return 0;
}

int log_reopen(void)
{
	int fd, reopened = 0;
	bool failed = false;

	if (file_path != NULL) {
		fd = log_open(file_path);
		if (fd < 0 || stderr_swap(fd) < 0) {
			log_error("cannot reopen log file %s", file_path);
			failed = true;
		} else {
			reopened++;
		}
	}
	if (audit_path != NULL) {
		fd = log_open(audit_path);
		if (fd < 0) {
			log_error("cannot reopen audit log %s", audit_path);
			failed = true;
		} else {
			audit_swap(fd);
			reopened++;
		}
	}
	return failed ? -1 : reopened;
}

void log_set_level(enum log_level level)
{
	atomic_store_explicit(&log_level, level, memory_order_relaxed);
}

void log_set_format(enum log_format format)
{
	atomic_store_explicit(&log_format, format, memory_order_relaxed);
}

static bool log_wanted(enum log_level level)
{
	return level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

static bool log_json(void)
{
	return atomic_load_explicit(&log_format, memory_order_relaxed) == LOG_FORMAT_JSON;
}

void log_escape(const char *in, size_t in_len, char *out, size_t size)
{
	const unsigned char *u = (const unsigned char *)in;
	size_t o = 0;

	if (size == 0)
		return;
	for (size_t i = 0; i < in_len; i++) {
		unsigned char c = u[i];
		char tmp[8];
		size_t n;
		uint32_t cp;

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			tmp[0] = (char)c;
			n = 1;
		} else if (c >= 0x80 && (n = utf8_decode(u + i, in_len - i, &cp)) > 0) {
			if (utf8_breaks_line(cp)) {
				i += n - 1;
				n = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)cp);
			} else {
				/* Keep well-formed multi-byte UTF-8 as is. */
				if (o + n + 4 >= size)
					goto truncated;
				memcpy(out + o, in + i, n);
				o += n;
				i += n - 1;
				continue;
			}
		} else {
			n = (size_t)snprintf(tmp, sizeof tmp, "\\x%02x", c);
		}
		if (o + n + 4 >= size)
			goto truncated;
		memcpy(out + o, tmp, n);
		o += n;
	}
	out[o] = '\0';
	return;
truncated:
	memcpy(out + o, "...", 4);
}

static void log_write_fd(int fd, const char *line, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, line, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		line += n;
		len -= (size_t)n;
	}
}

/* Append `value`, the output of log_escape(), as a JSON string: every
 * backslash there starts a \xHH escape, which JSON spells \u00HH, or a
 * \uHHHH escape, which JSON reads as it is. */
static size_t put_json_string(char *buf, size_t at, size_t size, const char *value)
{
	if (at + 2 >= size)
		return at;
	buf[at++] = '"';
	for (const char *p = value; *p != '\0' && at + 8 < size; p++) {
		if (*p == '\\' && p[1] == 'x' && p[2] != '\0' && p[3] != '\0') {
			at += (size_t)snprintf(buf + at, size - at, "\\u00%c%c", p[2], p[3]);
			p += 3;
		} else if (*p == '\\' && p[1] == 'u' && strnlen(p, 6) == 6) {
			memcpy(buf + at, p, 6);
			at += 6;
			p += 5;
		} else {
			buf[at++] = *p;
		}
	}
	buf[at++] = '"';
	buf[at] = '\0';
	return at;
}

static void log_emit(enum log_level level, bool with_errno, int saved_errno,
		     const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX / 2], line[LOG_LINE_MAX], when[40], safe[LOG_LINE_MAX / 2];
	size_t at;
	int n;

	if (!log_wanted(level))
		return;
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	if (n < 0)
		return;
	if (with_errno) {
		size_t len = strlen(msg);

		snprintf(msg + len, sizeof msg - len, ": %s", strerror(saved_errno));
	}
	log_escape(msg, strlen(msg), safe, sizeof safe);
	clock_rfc3339(when, sizeof when);
	if (log_json()) {
		at = (size_t)snprintf(line, sizeof line, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":",
				      when, level_names[level]);
		at = put_json_string(line, at, sizeof line, safe);
		n = snprintf(line + at, at < sizeof line ? sizeof line - at : 0, "}\n");
	} else {
		n = snprintf(line, sizeof line, "time=%s level=%s msg=\"%s\"\n",
			     when, level_names[level], safe);
		at = 0;
	}
	at = strnlen(line, sizeof line);
	if (at == sizeof line - 1)
		line[at - 1] = '\n';
	log_write_fd(STDERR_FILENO, line, at);
}

#define LOG_FN(fn, level, with_errno) \
	void fn(const char *fmt, ...) \
	{ \
		int saved = errno; \
		va_list ap; \
		va_start(ap, fmt); \
		log_emit(level, with_errno, saved, fmt, ap); \
		va_end(ap); \
		errno = saved; \
	}

LOG_FN(log_error, LOG_LEVEL_ERROR, true)
LOG_FN(log_errorx, LOG_LEVEL_ERROR, false)
LOG_FN(log_warn, LOG_LEVEL_WARN, true)
LOG_FN(log_warnx, LOG_LEVEL_WARN, false)
LOG_FN(log_info, LOG_LEVEL_INFO, false)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, false)

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, false, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

/* A line under construction; appends never overflow, they truncate. */
struct line {
	char buf[LOG_LINE_MAX];
	size_t at;
};

static void line_put(struct line *l, const char *s, size_t n)
{
	if (n > sizeof l->buf - 2 - l->at)
		n = sizeof l->buf - 2 - l->at;   /* room for '}' and '\n' */
	memcpy(l->buf + l->at, s, n);
	l->at += n;
}

static void line_puts(struct line *l, const char *s)
{
	line_put(l, s, strlen(s));
}

/* Wall-clock time as in clock_rfc3339(), formatting the date only when the
 * second changes: an audit line is written for every request. */
static void line_put_time(struct line *l)
{
	static __thread time_t cached_sec = -1;
	static __thread char cached[24];   /* "YYYY-MM-DDTHH:MM:SS" */
	struct timespec ts;
	char ms[6];

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != cached_sec) {
		struct tm tm;

		gmtime_r(&ts.tv_sec, &tm);
		strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = ts.tv_sec;
	}
	line_puts(l, cached);
	ms[0] = '.';
	ms[1] = (char)('0' + ts.tv_nsec / 100000000);
	ms[2] = (char)('0' + ts.tv_nsec / 10000000 % 10);
	ms[3] = (char)('0' + ts.tv_nsec / 1000000 % 10);
	ms[4] = 'Z';
	line_put(l, ms, 5);
}

/* Keys whose values are counts or durations: in JSON they are numbers
 * (when the value is one), so that a log pipeline can sum and compare
 * them without casting. Only these: an id such as request_id may look
 * like a number and must stay a string. */
static bool json_number(const char *key, const char *value)
{
	static const char *const numeric_keys[] = { "ms", "count", "failures" };
	bool named = false;
	size_t n = 0;

	for (size_t i = 0; i < sizeof numeric_keys / sizeof numeric_keys[0]; i++)
		named = named || strcmp(key, numeric_keys[i]) == 0;
	if (!named)
		return false;
	if (value[0] == '-')
		value++;
	for (; value[n] >= '0' && value[n] <= '9'; n++)
		;
	/* Digits only, no leading zero, short enough for any JSON reader. */
	return n > 0 && n <= 15 && value[n] == '\0' && (value[0] != '0' || n == 1);
}

/* A structured record: "event" plus (key, value) pairs, values escaped.
 * Goes to the audit fd when `audit`, else to stderr. */
static void log_record(bool audit, enum log_level level, const char *event,
		       const char *const *kv, size_t pairs)
{
	struct line l;
	char safe[LOG_FIELD_MAX];
	bool json = log_json();

	if (!audit && !log_wanted(level))
		return;
	l.at = 0;
	line_puts(&l, json ? "{\"time\":\"" : "time=");
	line_put_time(&l);
	line_puts(&l, json ? "\",\"level\":\"" : " level=");
	line_puts(&l, level_names[level]);
	line_puts(&l, json ? "\",\"event\":\"" : " event=");
	line_puts(&l, event);
	if (json)
		line_puts(&l, "\"");
	for (size_t i = 0; i < pairs; i++) {
		const char *key = kv[2 * i], *value = kv[2 * i + 1];

		if (value == NULL)
			continue;
		log_escape(value, strlen(value), safe, sizeof safe);
		if (json) {
			line_puts(&l, ",\"");
			line_puts(&l, key);
			line_puts(&l, "\":");
			if (json_number(key, safe))
				line_puts(&l, safe);
			else
				l.at = put_json_string(l.buf, l.at, sizeof l.buf - 2, safe);
		} else {
			bool quote = safe[0] == '\0' || strchr(safe, ' ') != NULL;

			line_puts(&l, " ");
			line_puts(&l, key);
			line_puts(&l, quote ? "=\"" : "=");
			line_puts(&l, safe);
			if (quote)
				line_puts(&l, "\"");
		}
	}
	if (json)
		l.buf[l.at++] = '}';
	l.buf[l.at++] = '\n';
	if (audit) {
		pthread_rwlock_rdlock(&audit_lock);
		log_write_fd(audit_fd, l.buf, l.at);
		pthread_rwlock_unlock(&audit_lock);
	} else {
		log_write_fd(STDERR_FILENO, l.buf, l.at);
	}
}

/* Gather a NULL-terminated (key, value) argument list after kv[0..n). */
#define LOG_PAIRS_MAX 16
static size_t collect_pairs(va_list ap, const char **kv, size_t n)
{
	while (n < 2 * LOG_PAIRS_MAX) {
		const char *key = va_arg(ap, const char *);

		if (key == NULL)
			break;
		kv[n++] = key;
		kv[n++] = va_arg(ap, const char *);
	}
	return n;
}

void log_event(const char *event, ...)
{
	const char *kv[2 * LOG_PAIRS_MAX];
	size_t n;
	va_list ap;

	va_start(ap, event);
	n = collect_pairs(ap, kv, 0);
	va_end(ap);
	log_record(false, LOG_LEVEL_INFO, event, kv, n / 2);
}

void log_audit(const struct audit_record *rec)
{
	char ms[24];
	const char *kv[] = {
		"request_id", rec->request_id,
		"user", rec->user,
		"received_user", rec->received_user,
		"source_ip", rec->source_ip,
		"peer", rec->peer,
		"provider", rec->provider,
		"outcome", rec->outcome,
		"detail", rec->detail,
		"answer", rec->answer,
		"sent", rec->sent,
		"ms", ms,
	};

	snprintf(ms, sizeof ms, "%lld", (long long)rec->elapsed_ms);
	log_record(true, LOG_LEVEL_INFO, "auth", kv, sizeof kv / sizeof kv[0] / 2);
}

void log_security(const char *event, ...)
{
	const char *kv[2 * LOG_PAIRS_MAX] = { "security", event };
	size_t n;
	va_list ap;

	va_start(ap, event);
	n = collect_pairs(ap, kv, 2);
	va_end(ap);
	log_record(true, LOG_LEVEL_WARN, "security", kv, n / 2);
}
