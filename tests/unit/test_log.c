/* log_escape: what untrusted text looks like in a log line. */
#include <string.h>

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

int main(void)
{
	test_escape();
	test_escape_truncates_whole();
	return unit_done("test_log");
}
