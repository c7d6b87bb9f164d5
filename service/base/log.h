/*
 * Logging: operational messages and the audit trail.
 *
 * log_*() write one line to stderr (level-filtered). log_warn and
 * log_error append strerror(errno); the *x variants do not. fatalx() logs
 * and exits with status 1.
 *
 * The audit trail gets exactly one record per Authenticate decision
 * (log_audit) and security events (log_security), in text (key=value) or
 * JSON, to stderr or to the `[log] audit` file. `serve` may also point
 * stderr itself at the `[log] file` (log_file_setup). log_reopen() opens
 * both files again by name (logrotate moved them away).
 *
 * Never pass a password, token, key, hash or Authorization header to any
 * of these. User-supplied strings go through log_escape() (done inside
 * log_audit for its fields).
 *
 * Thread-safe: each record is written with one write(2).
 */
#ifndef DAGATE_LOG_H
#define DAGATE_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };
enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* [log] as configured. */
struct log_config {
	enum log_level level;
	enum log_format format;
	const char *audit;          /* "-" or a path */
	const char *file;           /* operational log: "-" (stderr) or a path */
};

/* Level, format and the audit file. */
int log_setup(const struct log_config *cfg, const char **error_r);
/* `serve` only: send stderr (every log_*() line, and whatever a library
 * prints there) to `cfg->file`, or back to the original stderr for "-". */
int log_file_setup(const struct log_config *cfg, const char **error_r);
/* Files this process creates from now on while running as root are given
 * to uid:gid, the user `serve` becomes: created at start-up or by a later
 * reopen, they have the same owner and mode (0640 less the umask). */
void log_set_owner(uid_t uid, gid_t gid);
/* The [log] file stderr goes to, or NULL for the original stderr. */
const char *log_file_path(void);
/* Open the audit file and the log file again by name (main thread): how
 * many were reopened (0: both go to stderr), or -1 (logged, that file's
 * old descriptor kept) when one cannot be opened. */
int log_reopen(void);
void log_set_level(enum log_level level);
void log_set_format(enum log_format format);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Printable, length-capped copy of untrusted text: control characters,
 * quotes, backslashes and invalid UTF-8 become \xHH; characters that break
 * or reorder a line without being C0 controls (C1 controls such as U+0085,
 * U+2028, U+2029, bidirectional overrides and isolates, U+FEFF) become
 * \uHHHH; other UTF-8 stays as is. Over `size`-1 bytes the copy ends with
 * "...", never inside a character or an escape. */
void log_escape(const char *in, size_t in_len, char *out, size_t size);

struct audit_record {
	const char *request_id;
	const char *user;        /* mapped username (escaped here) */
	const char *received_user; /* the username as received, before [map] */
	const char *source_ip;   /* as Salesforce reported it (escaped here) */
	const char *peer;        /* TCP peer */
	const char *provider;    /* "-" when none was asked */
	const char *outcome;     /* outcome_name(): ok, reject, unknown_user, ... */
	const char *detail;      /* optional refinement, or NULL */
	const char *answer;      /* "true", "false", "fault" */
	const char *sent;        /* "no" when the answer never left, else NULL */
	int64_t elapsed_ms;
};

void log_audit(const struct audit_record *rec);
/* An operational event on stderr at level info: event=NAME key=value...
 * (NULL-terminated key, value list; values escaped). */
void log_event(const char *event, ...) __attribute__((sentinel));
/* A security event: key=value pairs given as a NULL-terminated list of
 * (key, value) strings; values are escaped. */
void log_security(const char *event, ...) __attribute__((sentinel));

#endif
