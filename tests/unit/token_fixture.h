/*
 * What the token unit tests share: a temporary directory with the
 * requesters' secrets and the audit log, a hand-built configuration
 * (conf_build.h), the LMDB lifecycle's sections, and the tokens seen, so
 * each test binary can check that no raw token reached a file.
 */
#ifndef DAGATE_TOKEN_FIXTURE_H
#define DAGATE_TOKEN_FIXTURE_H

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "conf_build.h"
#include "log.h"
#include "tokens.h"
#include "unit.h"

static char tmpdir[256];

/* A hand-built configuration: conf_build.h. */

static char *strip[] = { ".uat", ".dev", NULL };
static const struct usermap_config test_map = { .lowercase = true, .strip_suffix = strip };

static inline void cfg_init(struct dagate_config *cfg, struct conf_section *first)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->map = test_map;
	cfg->sections = first;
}

static inline void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	fchmod(fd, mode);
	close(fd);
}

static inline char *path_in(const char *name)
{
	static char buf[8][512];
	static int next;
	char *p = buf[next++ % 8];

	snprintf(p, 512, "%s/%s", tmpdir, name);
	return p;
}

static inline struct conf_section *lifecycle_sections(const char *store)
{
	struct conf_section *t = section("tokens", NULL, 1, (struct kv[]){
		{ "store", store }, { "key_file", path_in("var/token.key") },
		{ "max_ttl", "2h" }, { NULL, NULL } });
	struct conf_section *a = section("requester", "sync", 10, (struct kv[]){
		{ "secret_file", path_in("secret") }, { "allow", "127.0.0.1/32, ::1" },
		{ "source_ip", "203.0.113.0/24" }, { "users", "*@corp.example, *@other.example" },
		{ "deny_users", "admin@corp.example" }, { "rate", "1000/1s" },
		{ "max_outstanding", "5" }, { NULL, NULL } });
	struct conf_section *b = section("requester", "slow", 20, (struct kv[]){
		{ "secret_file", path_in("secret2") }, { "allow", "127.0.0.1" },
		{ "users", "*" }, { "rate", "3/1h" }, { NULL, NULL } });

	t->next = a;
	a->next = b;
	return t;
}

static inline enum auth_result redeem(struct token_issuer *ti, const char *user, const char *tok,
			       const char *ip, const char **detail)
{
	return token_redeem(ti, user, tok, strlen(tok), ip, "req-1", clock_now_ms() + 2000,
			    detail);
}

static inline enum token_issue_status issue(struct token_issuer *ti, const char *req, const char *user,
				     int64_t ttl_ms, char *tok)
{
	char mapped[MAPPED_USER_MAX + 1];
	int64_t exp;

	return token_issue(ti, &test_map, req, user, ttl_ms, clock_now_ms() + 2000, tok, mapped, &exp,
			   NULL);
}

#define MAX_SEEN 64
static char seen[MAX_SEEN][TOKEN_LEN + 1];
static int seen_count;

static inline void remember(const char *tok)
{
	if (seen_count < MAX_SEEN)
		strcpy(seen[seen_count++], tok);
}


/* The store file and the audit log never hold a raw token (nor its body
 * alone) of those remember() saw; the audit log has fingerprints. */
static inline void check_no_raw_token(const char *store_file, const char *audit_file)
{
	const char *files[] = { store_file, audit_file };

	for (size_t f = 0; f < 2; f++) {
		FILE *fp = fopen(files[f], "rb");
		char *data;
		long size;

		CHECK(fp != NULL, "open %s", files[f]);
		if (fp == NULL)
			continue;
		fseek(fp, 0, SEEK_END);
		size = ftell(fp);
		fseek(fp, 0, SEEK_SET);
		data = malloc((size_t)size + 1);
		CHECK(fread(data, 1, (size_t)size, fp) == (size_t)size, "read");
		fclose(fp);
		CHECK(size > 0, "%s not empty", files[f]);
		for (int i = 0; i < seen_count; i++) {
			CHECK(memmem(data, (size_t)size, seen[i], TOKEN_LEN) == NULL,
			      "token %d in %s", i, files[f]);
			CHECK(memmem(data, (size_t)size, seen[i] + TOKEN_PREFIX_LEN, 20) == NULL,
			      "token body %d in %s", i, files[f]);
		}
		if (f == 1)
			CHECK(memmem(data, (size_t)size, "fingerprint=", 12) != NULL,
			      "the audit log has fingerprints");
		free(data);
	}
}

/* A fresh directory, the audit log in it, and the requesters' secrets. */
static inline int fixture_setup(const char *name)
{
	static char audit[600];
	struct log_config lc = { LOG_LEVEL_INFO, LOG_FORMAT_TEXT, audit };
	const char *err = NULL;

	snprintf(tmpdir, sizeof tmpdir, "/tmp/dagate-test-%s-XXXXXX", name);
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(audit, sizeof audit, "%s/audit.log", tmpdir);
	if (log_setup(&lc, &err) < 0)
		return -1;
	write_file(path_in("secret"), "s3cret-sync\n", 0600);
	write_file(path_in("secret2"), "s3cret-slow\n", 0600);
	return 0;
}

static inline int fixture_done(const char *name)
{
	if (unit_failures == 0 && getenv("DAGATE_TEST_KEEP") == NULL) {
		char cmd[600];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	} else {
		fprintf(stderr, "files kept in %s\n", tmpdir);
	}
	return unit_done(name);
}

#endif
