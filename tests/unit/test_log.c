/* log_escape: what untrusted text looks like in a log line; log_reopen:
 * rotated files are opened again by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "unit.h"

static void test_escape(void)
{
	static const struct {
		const char *in;
		const char *want;
		const char *why;
	} cases[] = {
		{ "carol@example.test", "carol@example.test", "plain ASCII stays" },
		{ "a b", "a b", "a space stays" },
		{ "a\"b\\c", "a\\x22b\\x5cc", "quote and backslash" },
		{ "a\nuser=root", "a\\x0auser=root", "newline (C0)" },
		{ "a\x7f", "a\\x7f", "DEL" },
		{ "j\xc3\xb6rg", "j\xc3\xb6rg", "two-byte UTF-8 stays" },
		{ "\xe2\x82\xac", "\xe2\x82\xac", "three-byte UTF-8 stays (euro)" },
		{ "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", "four-byte UTF-8 stays" },
		{ "a\xc2\x85user=root", "a\\u0085user=root", "U+0085 NEL" },
		{ "a\xe2\x80\xa8user=root", "a\\u2028user=root", "U+2028 line separator" },
		{ "a\xe2\x80\xa9user=root", "a\\u2029user=root", "U+2029 paragraph separator" },
		{ "\xe2\x80\xae" "evil", "\\u202e" "evil", "U+202E right-to-left override" },
		{ "\xe2\x81\xa6x", "\\u2066x", "U+2066 isolate" },
		{ "\xef\xbb\xbfx", "\\ufeffx", "U+FEFF" },
		{ "\xc2\x9b", "\\u009b", "C1 CSI" },
		{ "\xc0\xaf", "\\xc0\\xaf", "overlong slash" },
		{ "\xe0\x80\xaf", "\\xe0\\x80\\xaf", "overlong three-byte" },
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80", "UTF-16 surrogate" },
		{ "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80", "above U+10FFFF" },
		{ "\xe2\x80", "\\xe2\\x80", "truncated sequence" },
		{ "\xff", "\\xff", "never valid" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[256];

		log_escape(cases[i].in, strlen(cases[i].in), out, sizeof out);
		CHECK_STR(out, cases[i].want, cases[i].why);
	}
}

static void test_escape_truncates_whole(void)
{
	char out[12];

	log_escape("abcdefghijklmnop", 16, out, sizeof out);
	CHECK(strlen(out) < sizeof out && strcmp(out + strlen(out) - 3, "...") == 0,
	      "long text ends with ...: %s", out);
	log_escape("abcd\xe2\x80\xa8xyz", 10, out, sizeof out);
	CHECK(strcmp(out, "abcd...") == 0, "an escape is never cut: %s", out);
	log_escape("\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 12, out, sizeof out);
	CHECK(strcmp(out, "\xf0\x9f\x98\x80...") == 0, "a character is never cut: %s", out);
}

static char *slurp(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f != NULL) {
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* The logrotate sequence on both files: rename, reopen, the next lines in
 * new files; a name that cannot be opened keeps the old file. */
static void test_reopen(void)
{
	char dir[] = "/tmp/dagate-test-log-XXXXXX", audit[96], file[96], moved[112];
	struct log_config cfg = { .level = LOG_LEVEL_INFO, .audit = audit, .file = file };
	const struct log_config to_stderr = { .level = LOG_LEVEL_INFO, .audit = "-", .file = "-" };
	const char *error = NULL;
	struct stat st;
	mode_t mask = umask(0);

	umask(mask);

	CHECK(log_reopen() == 0, "nothing to reopen while both are stderr");
	if (mkdtemp(dir) == NULL) {
		CHECK(0, "mkdtemp");
		return;
	}
	snprintf(audit, sizeof audit, "%s/audit.log", dir);
	snprintf(file, sizeof file, "%s/dagate.log", dir);
	CHECK(log_setup(&cfg, &error) == 0 && log_file_setup(&cfg, &error) == 0, "setup: %s",
	      error ? error : "");
	CHECK_STR(log_file_path(), file, "log file path");
	log_security("test", "step", "before", NULL);
	log_info("line before");
	snprintf(moved, sizeof moved, "%s.1", audit);
	rename(audit, moved);
	snprintf(moved, sizeof moved, "%s.1", file);
	rename(file, moved);
	CHECK(log_reopen() == 2, "both reopened");
	log_security("test", "step", "after", NULL);
	log_info("line after");
	CHECK(strstr(slurp(audit), "step=after") != NULL && strstr(slurp(audit), "before") == NULL,
	      "audit: %s", slurp(audit));
	CHECK(strstr(slurp(file), "line after") != NULL && strstr(slurp(file), "before") == NULL,
	      "log file: %s", slurp(file));
	CHECK(strstr(slurp(moved), "line before") != NULL, "rotated log file: %s", slurp(moved));
	CHECK(stat(audit, &st) == 0 && (st.st_mode & 0777) == (0640 & ~mask),
	      "audit mode %o", (unsigned)st.st_mode & 0777);
	/* A name taken by a directory cannot be opened: -1, old file kept. */
	unlink(audit);
	mkdir(audit, 0700);
	CHECK(log_reopen() == -1, "a reopen that fails says so");
	rmdir(audit);
	CHECK(log_file_setup(&to_stderr, &error) == 0 && log_file_path() == NULL,
	      "back to stderr");
	CHECK(log_setup(&to_stderr, &error) == 0 && log_reopen() == 0,
	      "the audit back to stderr too: nothing left to reopen");
	snprintf(moved, sizeof moved, "rm -rf '%s'", dir);
	CHECK(system(moved) == 0, "cleanup");
}

int main(void)
{
	test_escape();
	test_escape_truncates_whole();
	test_reopen();
	return unit_done("test_log");
}
