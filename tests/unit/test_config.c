/*
 * The configuration reader: pure parsers, secret files, and whole config
 * files written to a temporary directory with the exact "FILE:LINE: message"
 * errors they must produce.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "decider.h"
#include "config.h"
#include "unit.h"

/* CHECK_STR on a char array, without -Waddress noise */
static const char *str(const char *s)
{
	return s;
}

static char tmpdir[] = "/tmp/dagate-config-XXXXXX";

/* Pure parsers. */

/* The number of [provider NAME] sections; *nth_r: the one at index nth. */
static size_t provider_sections(const struct dagate_config *cfg, size_t nth,
				const struct conf_section **nth_r)
{
	size_t n = 0;

	for (const struct conf_section *s = cfg->sections; s != NULL; s = s->next) {
		if (strcmp(s->kind, "provider") != 0)
			continue;
		if (nth_r != NULL && n == nth)
			*nth_r = s;
		n++;
	}
	return n;
}

/* The message conf_secret_error_at makes of a secret file's error. */
static const char *secret_message(const char *path, const char *err)
{
	static char line[1024];
	struct conf_errors errors = { 0 };

	conf_secret_error_at(&errors, "f", 1, path, err != NULL ? err : "");
	snprintf(line, sizeof line, "%s", errors.count == 1 ? errors.lines[0] : "");
	conf_errors_clear(&errors);
	return line;
}

static void test_durations(void)
{
	static const struct { const char *text; int ok; int64_t ms; } cases[] = {
		{ "500ms", 1, 500 }, { "5s", 1, 5000 }, { "15m", 1, 900000 },
		{ "24h", 1, 86400000 }, { "0ms", 1, 0 }, { "0s", 1, 0 },
		{ "007s", 1, 7000 },
		{ "2562047788015h", 1, INT64_C(2562047788015) * 3600000 },
		{ "2562047788016h", 0, 0 },              /* overflows int64 ms */
		{ "99999999999999999999ms", 0, 0 },      /* overflows the digits */
		{ "5", 0, 0 }, { "5x", 0, 0 }, { "s", 0, 0 }, { "", 0, 0 },
		{ "-5s", 0, 0 }, { "+5s", 0, 0 }, { " 5s", 0, 0 }, { "5s ", 0, 0 },
		{ "5 s", 0, 0 }, { "5S", 0, 0 }, { "1.5s", 0, 0 }, { "5sec", 0, 0 },
		{ "5w", 0, 0 }, { "5mss", 0, 0 }, { "2d", 1, 2 * 86400000 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t ms = -1;
		int ret = parse_duration_ms(cases[i].text, &ms);

		CHECK((ret == 0) == cases[i].ok, "duration '%s' ret %d",
		      cases[i].text, ret);
		if (cases[i].ok)
			CHECK(ms == cases[i].ms, "duration '%s' = %lld",
			      cases[i].text, (long long)ms);
	}
}

static void test_bools(void)
{
	static const struct { const char *text; int ok; bool value; } cases[] = {
		{ "yes", 1, true }, { "no", 1, false }, { "true", 1, true },
		{ "false", 1, false }, { "on", 1, true }, { "off", 1, false },
		{ "1", 1, true }, { "0", 1, false }, { "Yes", 1, true },
		{ "FALSE", 1, false },
		{ "", 0, false }, { "y", 0, false }, { "2", 0, false },
		{ "yes ", 0, false }, { "enabled", 0, false },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		bool b = !cases[i].value;
		int ret = parse_bool(cases[i].text, &b);

		CHECK((ret == 0) == cases[i].ok, "bool '%s' ret %d", cases[i].text, ret);
		if (cases[i].ok)
			CHECK(b == cases[i].value, "bool '%s'", cases[i].text);
	}
}

static void test_uints(void)
{
	static const struct { const char *text; int ok; int64_t value; } cases[] = {
		{ "0", 1, 0 }, { "16384", 1, 16384 }, { "0042", 1, 42 },
		{ "9223372036854775807", 1, INT64_MAX },
		{ "9223372036854775808", 0, 0 },
		{ "", 0, 0 }, { "-1", 0, 0 }, { "+1", 0, 0 }, { "1k", 0, 0 },
		{ " 1", 0, 0 }, { "1 ", 0, 0 }, { "0x10", 0, 0 }, { "1.0", 0, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t v = -1;
		int ret = parse_uint(cases[i].text, &v);

		CHECK((ret == 0) == cases[i].ok, "uint '%s' ret %d", cases[i].text, ret);
		if (cases[i].ok)
			CHECK(v == cases[i].value, "uint '%s' = %lld", cases[i].text,
			      (long long)v);
	}
}

static void test_split_list(void)
{
	static const struct { const char *text; const char *joined; } cases[] = {
		{ ".uat .dev", ".uat|.dev" },
		{ "a, b,c", "a|b|c" },
		{ " ,a,,\tb , ", "a|b" },
		{ "", "" },
		{ " , ", "" },
		{ "one", "one" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char **v = conf_split_list(cases[i].text);
		char joined[128] = "";

		CHECK(v != NULL, "split '%s'", cases[i].text);
		for (size_t j = 0; v != NULL && v[j] != NULL; j++) {
			if (j > 0)
				strcat(joined, "|");
			strcat(joined, v[j]);
		}
		CHECK_STR(str(joined), cases[i].joined, cases[i].text);
		conf_strv_free(&v);
		CHECK(v == NULL, "strv_free clears");
	}
}

/* Files. */

/* A private key made now (P-256, PEM), so that no key is committed. */
static void write_key_file(const char *name, mode_t mode)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	unlink(path);
	f = fopen(path, "w");
	if (key == NULL || f == NULL || !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)) {
		perror(path);
		exit(2);
	}
	fclose(f);
	EVP_PKEY_free(key);
	chmod(path, mode);
}

static void write_file(const char *name, const char *content, mode_t mode)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	unlink(path);
	f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		exit(2);
	}
	fputs(content, f);
	fclose(f);
	chmod(path, mode);
}

static void test_secret_files(void)
{
	char path[256], want[512], *data;
	const char *err = NULL;
	size_t len;
	char *big;

	write_file("s1", "hunter2\r\n\n", 0600);
	snprintf(path, sizeof path, "%s/s1", tmpdir);
	CHECK(config_read_secret_file(path, &data, &len, &err) == 0, "%s", err);
	CHECK(data != NULL && len == 7 && strcmp(data, "hunter2") == 0,
	      "trailing CR/LF stripped");
	CHECK(config_check_secret_file(path, &err) == 0, "%s", err);
	if (data != NULL)
		explicit_bzero(data, len);
	free(data);

	chmod(path, 0644);
	CHECK(config_read_secret_file(path, &data, &len, &err) < 0, "0644 refused");
	CHECK(data == NULL, "no data on error");
	CHECK_STR(str(err), "is readable by group or others (chmod 600)", "0644: static text");
	snprintf(want, sizeof want,
		 "f:1: secret file %s is readable by group or others (chmod 600)", path);
	CHECK_STR(secret_message(path, err), want, "0644");
	chmod(path, 0620);
	CHECK(config_check_secret_file(path, &err) < 0, "0620 refused");
	snprintf(want, sizeof want,
		 "f:1: secret file %s is accessible by group or others (chmod 600)", path);
	CHECK_STR(secret_message(path, err), want, "0620");
	chmod(path, 0400);
	CHECK(config_check_secret_file(path, &err) == 0, "0400 accepted");

	snprintf(want, sizeof want, "%s/link", tmpdir);
	unlink(want);
	CHECK(symlink(path, want) == 0, "symlink");
	CHECK(config_check_secret_file(want, &err) == 0, "a link to a 0400 file accepted");
	chmod(path, 0644);
	CHECK(config_check_secret_file(want, &err) < 0, "a link to a 0644 file refused");
	chmod(path, 0400);
	unlink(want);

	CHECK(config_check_secret_file(tmpdir, &err) < 0, "directory refused");
	CHECK(err != NULL && strstr(err, "is not a regular file") != NULL, "%s", err);

	snprintf(path, sizeof path, "%s/missing", tmpdir);
	CHECK(config_check_secret_file(path, &err) < 0, "missing refused");
	snprintf(want, sizeof want,
		 "f:1: cannot read secret file %s: No such file or directory", path);
	CHECK_STR(secret_message(path, err), want, "missing");

	big = malloc(70000);
	memset(big, 'x', 69999);
	big[69999] = '\0';
	write_file("big", big, 0600);
	free(big);
	snprintf(path, sizeof path, "%s/big", tmpdir);
	CHECK(config_read_secret_file(path, &data, &len, &err) < 0, "too large");
	CHECK(err != NULL && strstr(err, "is too large") != NULL, "%s", err);
}

/* Whole config files. */

/* A route and a provider, so a case only needs to add what it tests.
 * Appended after the case's own text. */
#define TAIL "\n[route]\nmatch = * -> local\n[provider local]\ntype = static\n" \
	     "result = true\n"

/* Replace "@D@" with the temp directory. */
static void expand(const char *in, char *out, size_t size)
{
	size_t used = 0;

	while (*in != '\0' && used + 1 < size) {
		if (strncmp(in, "@D@", 3) == 0) {
			used += (size_t)snprintf(out + used, size - used, "%s", tmpdir);
			in += 3;
		} else {
			out[used++] = *in++;
		}
	}
	out[used < size ? used : size - 1] = '\0';
}

/* Load `path`; expect exactly `want` errors in order. Each
 * want line starting with ':' gets the config path prefixed; a want line
 * ending in '*' matches as a prefix. */
static void expect_file(const char *name, const char *path,
			const char *const *want)
{
	char line[1400];
	struct conf_errors errors = { NULL, 0, 0 };
	struct dagate_config *cfg = NULL;
	size_t n = 0;
	int ret;

	ret = decider_config_load(path, &cfg, &errors);
	while (want[n] != NULL)
		n++;
	CHECK(ret == (n == 0 ? 0 : -1), "%s: ret %d", name, ret);
	CHECK((cfg != NULL) == (n == 0), "%s: cfg %p", name, (void *)cfg);
	CHECK(errors.count == n, "%s: %zu errors, want %zu", name, errors.count, n);
	for (size_t i = 0; i < errors.count || i < n; i++) {
		const char *got = i < errors.count ? errors.lines[i] : NULL;
		char w[1024];

		if (i >= n) {
			CHECK(0, "%s: unexpected error: %s", name, got);
			continue;
		}
		expand(want[i], w, sizeof w);
		if (w[0] == ':')
			snprintf(line, sizeof line, "%s%s", path, w);
		else
			snprintf(line, sizeof line, "%s", w);
		if (line[strlen(line) - 1] == '*') {
			size_t plen = strlen(line) - 1;

			CHECK(got != NULL && strncmp(got, line, plen) == 0,
			      "%s: got \"%s\", want prefix \"%.*s\"", name,
			      got ? got : "(null)", (int)plen, line);
		} else {
			CHECK_STR(got, line, name);
		}
	}
	config_free(&cfg);
	conf_errors_clear(&errors);
}

static void expect(const char *name, const char *text, const char *const *want)
{
	char content[8192], path[256];

	expand(text, content, sizeof content);
	write_file("c.conf", content, 0644);
	snprintf(path, sizeof path, "%s/c.conf", tmpdir);
	expect_file(name, path, want);
}

#define E(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define OK ((const char *const[]){ NULL })

static void test_broken_configs(void)
{
	const struct {
		const char *name;
		const char *text;
		const char *const *want;
	} cases[] = {
	{ "unknown key", "[server]\nlistne = 127.0.0.1:0\n" TAIL,
	  E(":2: unknown key 'listne' in [server]") },
	{ "unknown section, its entries ignored", "[sever]\nlisten = x\n" TAIL,
	  E(":1: unknown section [sever]") },
	{ "bad duration", "[server]\ndeadline = 5x\n" TAIL,
	  E(":2: bad duration '5x' for 'deadline' (use 500ms, 5s, 15m, 24h)") },
	{ "duration above max", "[server]\ndeadline = 10s\n" TAIL,
	  E(":2: 'deadline' must be at most 9s") },
	{ "duration below min", "[server]\ndeadline = 50ms\n" TAIL,
	  E(":2: 'deadline' must be at least 100ms") },
	{ "bad number", "[server]\nmax_body = 12k\n" TAIL,
	  E(":2: bad number '12k' for 'max_body'") },
	{ "number bounds", "[server]\nmax_body = 100\nworkers = 0\nqueue = 70000\n"
	  "workers = 2000\n" TAIL,
	  E(":2: 'max_body' must be at least 1024",
	    ":3: 'workers' must be at least 1",
	    ":4: 'queue' must be at most 65536",
	    ":5: 'workers' given twice in [server] (first at line 3)") },
	{ "bad boolean", "[map]\nlowercase = maybe\n" TAIL,
	  E(":2: bad boolean 'maybe' for 'lowercase' (use yes or no)") },
	{ "bad enums", "[server]\ntls_min = 1.1\n[log]\nlevel = verbose\n"
	  "format = xml\n" TAIL,
	  E(":2: bad value '1.1' for 'tls_min' (use 1.2 or 1.3)",
	    ":4: bad value 'verbose' for 'level' (use error, warn, info or debug)",
	    ":5: bad value 'xml' for 'format' (use text or json)") },
	{ "bad listen", "[server]\nlisten = localhost:80\nlisten = 127.0.0.1:65536\n"
	  "listen = ::1:80\nlisten = 127.0.0.1\nlisten = [::1]:0\n" TAIL,
	  E(":2: bad listen address 'localhost:80' (use 127.0.0.1:8080 or [::1]:8443)",
	    ":3: bad listen address '127.0.0.1:65536' (use 127.0.0.1:8080 or [::1]:8443)",
	    ":4: bad listen address '::1:80' (use 127.0.0.1:8080 or [::1]:8443)",
	    ":5: bad listen address '127.0.0.1' (use 127.0.0.1:8080 or [::1]:8443)") },
	{ "bad cidr", "[server]\nallow = 10.0.0.0/8, 10.0.0.1/8\n"
	  "trusted_proxies = nope\n" TAIL,
	  E(":2: 'allow': host bits set in 10.0.0.1/8",
	    ":3: 'trusted_proxies': not an IP address or CIDR in nope") },
	{ "empty value", "[server]\ndeadline =\nuser =\ntrusted_proxies =\n" TAIL,
	  E(":2: 'deadline' needs a value") },
	{ "duplicate key", "[server]\ndeadline = 5s\ndeadline = 6s\n" TAIL,
	  E(":3: 'deadline' given twice in [server] (first at line 2)") },
	{ "missing type", "[provider x]\nresult = true\n" TAIL,
	  E(":1: missing required key 'type' in [provider x]") },
	{ "missing type-specific key", "[provider x]\ntype = static\n" TAIL,
	  E(":1: missing required key 'result' in [provider x]") },
	{ "unknown provider type", "[provider x]\ntype = nosuch\nfoo = bar\n" TAIL,
	  E(":2: unknown provider type 'nosuch' in [provider x] (known: *") },
	{ "unknown provider key and bad common key",
	  "[provider x]\ntype = static\nresult = maybe\ntimeout = 20s\nbogus = 1\n" TAIL,
	  E(":3: bad value 'maybe' for 'result' (use *",
	    ":4: 'timeout' must be at most 9s",
	    ":5: unknown key 'bogus' in [provider x]") },
	{ "route to unknown provider",
	  "[route]\nmatch = *@a -> local\nmatch = * -> local, nope\n"
	  "[provider local]\ntype = static\nresult = true\n",
	  E(":3: route to unknown provider 'nope'") },
	{ "bad match syntax",
	  "[route]\nmatch = *@a\nmatch = -> local\nmatch = * ->\nmatch = a b -> local\n"
	  "match = * -> local\n[provider local]\ntype = static\nresult = true\n",
	  E(":2: bad match '*@a' (use GLOB -> PROVIDER[, PROVIDER...])",
	    ":3: bad match '-> local' (use GLOB -> PROVIDER[, PROVIDER...])",
	    ":4: bad match '* ->' (use GLOB -> PROVIDER[, PROVIDER...])",
	    ":5: bad match 'a b -> local' (use GLOB -> PROVIDER[, PROVIDER...])") },
	{ "no [route]", "[provider local]\ntype = static\nresult = true\n# end\n",
	  E(":4: no route: every login would be false (add [route] with "
	    "match = GLOB -> PROVIDER)") },
	{ "empty [route]", "[server]\n[route]\n[provider local]\ntype = static\n"
	  "result = true\n",
	  E(":2: no route: every login would be false (add [route] with "
	    "match = GLOB -> PROVIDER)") },
	{ "section headers",
	  "[provider]\ntype = static\n[server extra]\n[provider bad/name]\n"
	  "[server\n[server]\n[server]\nlisten = 1\n[provider local]\n" TAIL,
	  E(":1: section [provider] needs a name: [provider NAME]",
	    ":3: section [server] takes no name",
	    ":4: bad name 'bad/name' for [provider] (use letters, digits, '_', '.' and '-')",
	    ":5: bad section header '[server' (use [kind] or [kind name])",
	    ":7: duplicate section [server] (first at line 6)",
	    ":13: duplicate section [provider local] (first at line 9)",
	    ":9: missing required key 'type' in [provider local]") },
	{ "lines that are not key = value",
	  "deadline = 5s\n[server]\njust words\n: x\nkey: value\n" TAIL,
	  E(":1: 'deadline' outside any [section]",
	    ":3: expected 'key = value' or '[section]', got 'just words'",
	    ":4: expected 'key = value' or '[section]', got ': x'",
	    ":5: expected 'key = value' or '[section]', got 'key: value'") },
	{ "tls_cert without tls_key", "[server]\ntls_cert = @D@/cert.pem\n" TAIL,
	  E(":2: 'tls_cert' and 'tls_key' go together: give both or neither") },
	{ "tls_key 0644 refused",
	  "[server]\ntls_cert = @D@/cert.pem\ntls_key = @D@/key644.pem\n" TAIL,
	  E(":3: secret file @D@/key644.pem is readable by group or others (chmod 600)") },
	{ "tls_cert missing",
	  "[server]\ntls_cert = @D@/nocert.pem\ntls_key = @D@/key600.pem\n" TAIL,
	  E(":2: cannot read tls_cert @D@/nocert.pem: No such file or directory") },
	{ "tls pair 0600 accepted",
	  "[server]\ntls_cert = @D@/cert.pem\ntls_key = @D@/key600.pem\n" TAIL, OK },
	{ "path and public_url",
	  "[server]\npath = Sso.asmx\npublic_url = ftp://x/Sso.asmx\n" TAIL,
	  E(":2: 'path' must start with '/'",
	    ":3: 'public_url' must start with http:// or https://") },
	{ "allow_file with a bad line",
	  "[server]\nallow_file = @D@/allow-bad\n" TAIL,
	  E("@D@/allow-bad:3: host bits set in 10.0.0.1/8") },
	{ "allow_file: every bad line",
	  "[server]\nallow_file = @D@/allow-bad2\n" TAIL,
	  E("@D@/allow-bad2:1: not an IP address or CIDR in office",
	    "@D@/allow-bad2:3: host bits set in 10.0.0.1/8") },
	{ "allow_file empty and the only source",
	  "[server]\nallow_file = @D@/allow-empty\n" TAIL,
	  E(":2: allow_file @D@/allow-empty lists no address and there is no 'allow': "
	    "every caller would be refused") },
	{ "allow_file empty beside allow",
	  "[server]\nallow = 127.0.0.1\nallow_file = @D@/allow-empty\n" TAIL, OK },
	{ "public_url http:// while TLS is on",
	  "[server]\ntls_cert = @D@/cert.pem\ntls_key = @D@/key600.pem\n"
	  "public_url = http://sso.example/Sso.asmx\n" TAIL,
	  E(":4: 'public_url' is http:// but the listener speaks only HTTPS (tls_cert is set): "
	    "use https://") },
	{ "public_url path differs from path",
	  "[server]\npath = /sso\npublic_url = https://sso.example/Sso.asmx\n" TAIL,
	  E(":3: the path of 'public_url' differs from 'path': the WSDL would send "
	    "Salesforce where dagate does not answer") },
	{ "public_url without host or path",
	  "[server]\npublic_url = https:///Sso.asmx\n" TAIL,
	  E(":2: 'public_url' must name a host") },
	{ "public_url https:// with TLS, root path",
	  "[server]\npath = /\ntls_cert = @D@/cert.pem\ntls_key = @D@/key600.pem\n"
	  "public_url = https://sso.example:8443\n" TAIL, OK },
	{ "throttle ca_file holding a private key",
	  "[throttle]\nstore = rediss://127.0.0.1:6380\nkey_file = @D@/key600.pem\n"
	  "ca_file = @D@/key600.pem\n" TAIL,
	  E(":4: ca_file @D@/key600.pem holds a private key: a CA bundle holds only certificates") },
	{ "allow_file missing", "[server]\nallow_file = @D@/allow-none\n" TAIL,
	  E(":2: cannot read allow_file @D@/allow-none: No such file or directory") },
	{ "admin without listen", "[admin]\nallow = 10.0.0.0/8\n" TAIL,
	  E(":1: missing required key 'listen' in [admin]") },
	{ "strip_suffix and audit",
	  "[map]\nstrip_suffix = .uat dev .\n[log]\naudit = @D@/no/such/audit.log\n" TAIL,
	  E(":2: bad suffix 'dev' for 'strip_suffix' (each starts with '.', like .uat)",
	    ":2: bad suffix '.' for 'strip_suffix' (each starts with '.', like .uat)",
	    ":4: directory @D@/no/such of audit log @D@/no/such/audit.log does not exist") },
	{ "several errors, all reported",
	  "[server]\nlistne = 1\ndeadline = 5x\nmax_body = 1\n[nope]\n[map]\n"
	  "lowercase = perhaps\n[route]\nmatch = * -> ghost\n",
	  E(":5: unknown section [nope]",
	    ":2: unknown key 'listne' in [server]",
	    ":3: bad duration '5x' for 'deadline' (use 500ms, 5s, 15m, 24h)",
	    ":4: 'max_body' must be at least 1024",
	    ":7: bad boolean 'perhaps' for 'lowercase' (use yes or no)",
	    ":9: route to unknown provider 'ghost'") },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		expect(cases[i].name, cases[i].text, cases[i].want);
}

/* tests/fixtures/config/NAME.conf lists its exact errors in its first
 * lines, "# expect: LINE: message" (a trailing '*' matches a prefix). */
static void test_fixtures(void)
{
	static const char *const names[] = {
		"good-commented", "header-errors", "value-errors", NULL,
	};

	for (size_t i = 0; names[i] != NULL; i++) {
		char path[512], buf[512], *want[32];
		size_t n = 0;
		FILE *f;

		snprintf(path, sizeof path, "%s/tests/fixtures/config/%s.conf",
			 DAGATE_SOURCE_DIR, names[i]);
		f = fopen(path, "r");
		CHECK(f != NULL, "%s: %s", path, strerror(errno));
		if (f == NULL)
			continue;
		while (n < 31 && fgets(buf, sizeof buf, f) != NULL &&
		       strncmp(buf, "# expect: ", 10) == 0) {
			buf[strcspn(buf, "\n")] = '\0';
			if (strcmp(buf + 10, "(no errors)") == 0)
				continue;
			want[n] = malloc(strlen(buf));
			sprintf(want[n++], ":%s", buf + 10);
		}
		fclose(f);
		want[n] = NULL;
		expect_file(names[i], path, (const char *const *)want);
		for (size_t j = 0; j < n; j++)
			free(want[j]);
	}
}

/* The integration suite's broken configs name the lines that must be
 * reported ("# expect-lines: 4 8"); the loader alone must report them. */
static void test_integration_fixtures(void)
{
	static const char *const names[] = {
		"bad-bool", "bad-cidr", "bad-duration", "bad-listen",
		"bad-log-level", "bad-tls-min", "bad-uint", "deadline-over-9s",
		"duplicate-provider", "key-outside-section", "not-ini",
		"provider-missing-path", "provider-missing-type",
		"provider-unknown-key", "repeated-key", "route-syntax",
		"route-to-undefined-provider", "several-errors",
		"static-bad-values", "unknown-key", "unknown-provider-type",
		"unknown-section", NULL,
	};

	for (size_t i = 0; names[i] != NULL; i++) {
		struct conf_errors errors = { NULL, 0, 0 };
		struct dagate_config *cfg = NULL;
		char path[512], first[256], want[256] = "", got[256] = "";
		FILE *f;

		snprintf(path, sizeof path,
			 "%s/tests/integration/fixtures/broken/%s.conf",
			 DAGATE_SOURCE_DIR, names[i]);
		f = fopen(path, "r");
		if (f == NULL)
			continue;  /* that suite's business if it goes away */
		if (fgets(first, sizeof first, f) != NULL &&
		    strncmp(first, "# expect-lines: ", 16) == 0) {
			snprintf(want, sizeof want, "%s", first + 16);
			want[strcspn(want, "\n")] = '\0';
		}
		fclose(f);
		CHECK(decider_config_load(path, &cfg, &errors) < 0, "%s loaded", names[i]);
		for (size_t j = 0; j < errors.count; j++) {
			const char *num = errors.lines[j] + strlen(path) + 1;
			size_t used = strlen(got);

			if (strncmp(errors.lines[j], path, strlen(path)) != 0)
				continue;
			snprintf(got + used, sizeof got - used, "%s%d",
				 used ? " " : "", atoi(num));
		}
		CHECK_STR(str(got), want, names[i]);
		config_free(&cfg);
		conf_errors_clear(&errors);
	}
}

static void test_unreadable(void)
{
	char path[256], want[512];
	struct conf_errors errors = { NULL, 0, 0 };
	struct dagate_config *cfg = (struct dagate_config *)&errors;

	snprintf(path, sizeof path, "%s/none.conf", tmpdir);
	CHECK(decider_config_load(path, &cfg, &errors) < 0, "missing config");
	CHECK(cfg == NULL, "cfg cleared");
	snprintf(want, sizeof want, "%s: cannot read: No such file or directory", path);
	CHECK(errors.count == 1, "one error, got %zu", errors.count);
	CHECK_STR(str(errors.count > 0 ? errors.lines[0] : NULL), want, "missing config");
	conf_errors_clear(&errors);

	CHECK(decider_config_load(tmpdir, &cfg, &errors) < 0, "directory as config");
	snprintf(want, sizeof want, "%s: cannot read: Is a directory", tmpdir);
	CHECK(errors.count == 1, "one error, got %zu", errors.count);
	CHECK_STR(str(errors.count > 0 ? errors.lines[0] : NULL), want, "dir config");
	conf_errors_clear(&errors);
}

/* A good file: comments, inline comments, indentation, defaults, values. */
static void test_good_config(void)
{
	char path[256], text[4096], suffixes[1200] = "";
	struct conf_errors errors = { NULL, 0, 0 };
	struct dagate_config *cfg = NULL;
	size_t n;

	/* longer than inih's line buffer (200 bytes in Debian's build) */
	for (int i = 0; i < 100; i++) {
		char one[16];

		snprintf(one, sizeof one, "%s.s%d", i ? " " : "", i);
		strcat(suffixes, one);
	}
	snprintf(text, sizeof text,
		 "# dagate test config\n"
		 "; another comment style\n"
		 "[server]\n"
		 "listen = 127.0.0.1:0          # ephemeral\n"
		 "  listen = [::1]:8443 ; indented, not a continuation\n"
		 "deadline = 2s\n"
		 "tls_min = 1.3\n"
		 "public_url = https://sso.example/Sso.asmx#frag\n"
		 "allow = 192.0.2.0/24\n"
		 "allow_file = %s/allow-good\n"
		 "trusted_proxies =\n"
		 "user =\n"
		 "\n"
		 "[log]\nlevel = debug\nformat = json\naudit = %s/audit.log\n"
		 "[map]\nlowercase = off\nstrip_suffix = %s\n"
		 "[route]\n"
		 "match = *@corp.example -> a, b   # fallback to b\n"
		 "match = * -> b\n"
		 "[provider a]\ntype = static\nresult = true\ntimeout = 1s\n"
		 "[provider b]\ntype = static\nresult = false\n",
		 tmpdir, tmpdir, suffixes);
	write_file("good.conf", text, 0644);
	snprintf(path, sizeof path, "%s/good.conf", tmpdir);
	CHECK(decider_config_load(path, &cfg, &errors) == 0, "good config: %s",
	      errors.count ? errors.lines[0] : "");
	conf_errors_clear(&errors);
	if (cfg == NULL)
		return;

	CHECK(cfg->server.listen_count == 2, "listen count %zu",
	      cfg->server.listen_count);
	if (cfg->server.listen_count == 2) {
		CHECK_STR(cfg->server.listen[0].host, "127.0.0.1", "listen 0 host");
		CHECK(cfg->server.listen[0].port == 0, "listen 0 port");
		CHECK(cfg->server.listen[0].line == 4, "listen 0 line");
		CHECK_STR(cfg->server.listen[1].host, "::1", "listen 1 host");
		CHECK_STR(cfg->server.listen[1].text, "[::1]:8443", "listen 1 text");
		CHECK(cfg->server.listen[1].port == 8443, "listen 1 port");
	}
	CHECK(cfg->server.deadline_ms == 2000, "deadline");
	CHECK(cfg->server.tls_min == 13, "tls_min");
	CHECK(cfg->server.tls_cert == NULL && cfg->server.tls_key == NULL, "no tls");
	CHECK_STR(cfg->server.public_url, "https://sso.example/Sso.asmx#frag",
		  "'#' without a blank before it is not a comment");
	CHECK_STR(cfg->server.path, "/Sso.asmx", "default path");
	/* allow and allow_file both given: the union */
	CHECK(cidr_list_contains_text(&cfg->server.allow, "192.0.2.1"), "allow");
	CHECK(cidr_list_contains_text(&cfg->server.allow, "10.1.1.1"), "allow_file");
	CHECK(!cidr_list_contains_text(&cfg->server.allow, "8.8.8.8"), "not allowed");
	CHECK(cfg->server.trusted_proxies.count == 0, "no trusted proxies");
	CHECK(cfg->server.user == NULL, "empty user = unset");
	CHECK(cfg->server.max_body == 16384, "max_body default");
	CHECK(cfg->server.max_connections == 1024, "max_connections default");
	CHECK(cfg->server.max_connections_per_ip == 64, "per-ip default");
	CHECK(cfg->server.workers == 16, "workers default");
	CHECK(cfg->server.queue == 256, "queue default");
	CHECK(cfg->admin.listen_count == 0, "no [admin]: no admin listener");
	CHECK(cfg->log.level == LOG_LEVEL_DEBUG, "level");
	CHECK(cfg->log.format == LOG_FORMAT_JSON, "format");
	CHECK(!cfg->map.lowercase, "lowercase off");
	for (n = 0; cfg->map.strip_suffix[n] != NULL; n++)
		;
	CHECK(n == 100, "long line kept whole: %zu suffixes", n);
	CHECK(n == 100 && strcmp(cfg->map.strip_suffix[99], ".s99") == 0, "last");
	CHECK(cfg->route_count == 2, "routes %zu", cfg->route_count);
	if (cfg->route_count == 2) {
		CHECK_STR(cfg->routes[0].pattern, "*@corp.example", "route 0");
		CHECK_STR(cfg->routes[0].providers[0], "a", "route 0 p0");
		CHECK_STR(cfg->routes[0].providers[1], "b", "route 0 p1");
		CHECK(cfg->routes[0].providers[2] == NULL, "route 0 end");
		CHECK(cfg->routes[0].line == 22, "route 0 line %d", cfg->routes[0].line);
	}
	CHECK(provider_sections(cfg, 0, NULL) == 2, "providers %zu", provider_sections(cfg, 0, NULL));
	if (provider_sections(cfg, 0, NULL) == 2) {
		const struct conf_section *a;

		provider_sections(cfg, 0, &a);

		CHECK_STR(a->name, "a", "provider 0");
		CHECK(a->line == 24, "provider line %d", a->line);
		CHECK(conf_line(a, "timeout") == 27, "timeout line");
		CHECK(conf_line(a, "nosuch") == 24, "absent key: header line");
		CHECK_STR(conf_get(a, NULL, "result"), "true", "result");
	}
	config_free(&cfg);
	CHECK(cfg == NULL, "config_free clears");
}

static void test_defaults_only(void)
{
	char path[256];
	struct conf_errors errors = { NULL, 0, 0 };
	struct dagate_config *cfg = NULL;

	write_file("min.conf", "[route]\nmatch = * -> x\n[provider x]\n"
		   "type = static\nresult = true\n[admin]\nlisten = 127.0.0.1:0\n",
		   0644);
	snprintf(path, sizeof path, "%s/min.conf", tmpdir);
	CHECK(decider_config_load(path, &cfg, &errors) == 0, "minimal config: %s",
	      errors.count ? errors.lines[0] : "");
	conf_errors_clear(&errors);
	if (cfg == NULL)
		return;
	CHECK(cfg->server.listen_count == 1, "default listener");
	CHECK(cfg->server.listen_count == 1 &&
	      strcmp(cfg->server.listen[0].text, "127.0.0.1:8080") == 0 &&
	      cfg->server.listen[0].port == 8080, "default listen 127.0.0.1:8080");
	CHECK(cfg->server.deadline_ms == 5000, "default deadline");
	CHECK(cfg->server.tls_min == 12, "default tls_min");
	CHECK(cidr_list_contains_text(&cfg->server.allow, "8.8.8.8") &&
	      cidr_list_contains_text(&cfg->server.allow, "2001:db8::1"),
	      "default allow: everyone");
	CHECK(cfg->admin.listen_count == 1, "admin listener");
	CHECK(cidr_list_contains_text(&cfg->admin.allow, "127.0.0.2") &&
	      cidr_list_contains_text(&cfg->admin.allow, "::1") &&
	      !cidr_list_contains_text(&cfg->admin.allow, "10.0.0.1"),
	      "default admin allow: loopback");
	CHECK(cfg->log.level == LOG_LEVEL_INFO && cfg->log.format == LOG_FORMAT_TEXT,
	      "log defaults");
	CHECK_STR(cfg->log.audit, "-", "audit default");
	CHECK(cfg->map.lowercase && cfg->map.strip_suffix[0] == NULL, "map defaults");
	config_free(&cfg);

	/* allow_file alone replaces allow's default */
	write_file("af.conf", "[server]\nallow_file = @D@/allow-good\n" TAIL, 0644);
	{
		char text[512];

		expand("[server]\nallow_file = @D@/allow-good\n" TAIL, text, sizeof text);
		write_file("af.conf", text, 0644);
	}
	snprintf(path, sizeof path, "%s/af.conf", tmpdir);
	CHECK(decider_config_load(path, &cfg, &errors) == 0, "allow_file config");
	conf_errors_clear(&errors);
	if (cfg != NULL) {
		CHECK(cidr_list_contains_text(&cfg->server.allow, "10.1.1.1"), "file");
		CHECK(!cidr_list_contains_text(&cfg->server.allow, "8.8.8.8"),
		      "allow_file replaces the 0.0.0.0/0 default");
	}
	config_free(&cfg);
}

static void test_shipped_config(void)
{
	struct conf_errors errors = { NULL, 0, 0 };
	struct dagate_config *cfg = NULL;
	const char *path = DAGATE_SOURCE_DIR "/conf/dagate.conf";

	CHECK(decider_config_load(path, &cfg, &errors) == 0, "shipped config");
	for (size_t i = 0; i < errors.count; i++)
		fprintf(stderr, "  %s\n", errors.lines[i]);
	conf_errors_clear(&errors);
	CHECK(cfg != NULL && cfg->route_count >= 1 && provider_sections(cfg, 0, NULL) >= 1,
	      "shipped config has a route and a provider");
	config_free(&cfg);
}

static void test_default_path(void)
{
	unsetenv("DAGATE_CONFIG");
	CHECK_STR(config_default_path(), "/etc/dagate/dagate.conf", "system default");
	setenv("DAGATE_CONFIG", "/tmp/x.conf", 1);
	CHECK_STR(config_default_path(), "/tmp/x.conf", "$DAGATE_CONFIG");
	setenv("DAGATE_CONFIG", "", 1);
	CHECK_STR(config_default_path(), "/etc/dagate/dagate.conf", "empty env");
	unsetenv("DAGATE_CONFIG");
}

static void cleanup(void)
{
	static const char *const names[] = {
		"c.conf", "good.conf", "min.conf", "af.conf", "s1", "big", "cert.pem",
		"key644.pem", "key600.pem", "allow-bad", "allow-good", "allow-bad2",
		"allow-empty", NULL,
	};
	char path[256];

	for (size_t i = 0; names[i] != NULL; i++) {
		snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
		unlink(path);
	}
	rmdir(tmpdir);
}

int main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	write_file("cert.pem", "-----BEGIN CERTIFICATE-----\n", 0644);
	write_file("key644.pem", "placeholder: only the mode matters here\n", 0644);
	write_key_file("key600.pem", 0600);
	write_file("allow-bad", "# partners\n10.0.0.0/8\n10.0.0.1/8\n", 0644);
	write_file("allow-good", "10.0.0.0/8  # office\n", 0644);
	write_file("allow-bad2", "office\n10.0.0.0/8\n10.0.0.1/8\n", 0644);
	write_file("allow-empty", "# Salesforce ranges go here\n\n", 0644);

	test_durations();
	test_bools();
	test_uints();
	test_split_list();
	test_secret_files();
	test_broken_configs();
	test_fixtures();
	test_integration_fixtures();
	test_unreadable();
	test_good_config();
	test_defaults_only();
	test_shipped_config();
	test_default_path();
	cleanup();
	return unit_done("test_config");
}
