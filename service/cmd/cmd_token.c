/*
 * `dagate token issue | revoke | list`: operator access to the store.
 * Works while `serve` runs (LMDB's lock is shared between processes; Redis
 * is a server). Prints the token only for `issue`, only on stdout.
 */
#include "commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decider.h"
#include "clock.h"
#include "issuer.h"
#include "log.h"
#include "request_id.h"
#include "store.h"
#include "tokens.h"

/* revoke and list walk the whole store. */
#define CLI_SCAN_DEADLINE_MS 30000

static const char cli_usage[] =
	"usage: dagate token issue --requester R --user U [--ttl DURATION]\n"
	"       dagate token revoke (--user U | --requester R | --all)\n"
	"       dagate token list\n"
	"\n"
	"issue    issue a one-time token for U on behalf of requester R (printed on stdout)\n"
	"revoke   delete outstanding tokens of a user, of a requester, or all of them\n"
	"list     outstanding tokens: fingerprint, requester, user, expiry (never the token)\n";

static int cli_open(const char *config_path, struct dagate_config **cfg_r,
		    struct token_issuer **ti_r)
{
	struct conf_errors errors = { 0 };
	const char *err = NULL;

	if (decider_config_load(config_path, cfg_r, &errors) < 0 ||
	    token_issuer_create(*cfg_r, &errors, ti_r) < 0) {
		for (size_t i = 0; i < errors.count; i++)
			fprintf(stderr, "%s\n", errors.lines[i]);
		conf_errors_clear(&errors);
		config_free(cfg_r);
		return 2;
	}
	conf_errors_clear(&errors);
	if (*ti_r == NULL) {
		fprintf(stderr, "dagate token: tokens are not enabled in %s (no [tokens] section)\n",
			config_path);
		config_free(cfg_r);
		return 2;
	}
	if (log_setup(&(*cfg_r)->log, &err) < 0) {
		fprintf(stderr, "dagate token: log: %s\n", err != NULL ? err : "setup failed");
		token_issuer_free(ti_r);
		config_free(cfg_r);
		return 2;
	}
	return 0;
}

static int cli_issue(struct token_issuer *ti, const struct usermap_config *map,
		     const char *requester, const char *user,
		     int64_t ttl_ms)
{
	char token[TOKEN_LEN + 1], mapped[MAPPED_USER_MAX + 1], when[40];
	char fp[TOKEN_FINGERPRINT_LEN + 1];
	uint8_t hash[TOKEN_HASH_LEN];
	char request_id[REQUEST_ID_SIZE];
	struct token_origin origin = { "cli", request_id };
	int64_t expires_ms = 0;
	enum token_issue_status st;

	request_id_next(request_id, sizeof request_id);
	st = token_issue(ti, map, requester, user, ttl_ms, clock_now_ms() + ti->timeout_ms, token,
			 mapped, &expires_ms, &origin);
	if (st != TOKEN_ISSUE_OK) {
		fprintf(stderr, "dagate token issue: %s\n", token_issue_status_text(st));
		return st == TOKEN_ISSUE_NO_REQUESTER || st == TOKEN_ISSUE_BAD_TTL ||
		       st == TOKEN_ISSUE_BAD_USER ? 2 : 1;
	}
	token_hash(ti->key, token, TOKEN_LEN, hash);
	token_fingerprint(hash, fp);
	token_rfc3339(expires_ms, when, sizeof when);
	printf("%s\n", token);
	fflush(stdout);
	explicit_bzero(token, sizeof token);
	fprintf(stderr, "issued for %s (requester %s), expires %s, fingerprint %s\n", mapped,
		requester, when, fp);
	return 0;
}

static int cli_revoke(struct token_issuer *ti, const struct usermap_config *map,
		      const char *user, const char *requester)
{
	char mapped[MAPPED_USER_MAX + 1];
	size_t count = 0;
	char count_text[24];
	enum token_store_status st;

	if (user != NULL && usermap_apply(map, user, mapped, sizeof mapped) < 0) {
		fprintf(stderr, "dagate token revoke: user name too long\n");
		return 2;
	}
	st = ti->store->ops->revoke(ti->store, user != NULL ? mapped : NULL, requester,
				    ti->clock(ti->clock_ctx), clock_now_ms() + CLI_SCAN_DEADLINE_MS,
				    &count);
	snprintf(count_text, sizeof count_text, "%zu", count);
	log_security("token_revoke", "requester", requester != NULL ? requester : "*",
		     "user", user != NULL ? mapped : "*",
		     "outcome", st == TS_OK ? "ok" : "store_unavailable",
		     "count", count_text, NULL);
	if (st != TS_OK) {
		fprintf(stderr, "dagate token revoke: token store unavailable (%zu revoked)\n", count);
		return 1;
	}
	printf("revoked %zu token%s\n", count, count == 1 ? "" : "s");
	return 0;
}

struct cli_row {
	char fp[TOKEN_FINGERPRINT_LEN + 1];
	char *requester, *user;
	int64_t expires_ms;
};

struct cli_rows {
	struct cli_row *items;
	size_t count, cap;
	bool failed;
};

static void cli_collect(void *ctx, const uint8_t *hash, const struct token_record *rec)
{
	struct cli_rows *rows = ctx;
	struct cli_row *row;

	if (rows->count == rows->cap) {
		size_t cap = rows->cap != 0 ? rows->cap * 2 : 64;
		struct cli_row *items = realloc(rows->items, cap * sizeof *items);

		if (items == NULL) {
			rows->failed = true;
			return;
		}
		rows->items = items;
		rows->cap = cap;
	}
	row = &rows->items[rows->count];
	token_fingerprint(hash, row->fp);
	row->requester = strdup(rec->requester);
	row->user = strdup(rec->user);
	row->expires_ms = rec->expires_ms;
	if (row->requester == NULL || row->user == NULL) {
		free(row->requester);
		free(row->user);
		rows->failed = true;
		return;
	}
	rows->count++;
}

static int cli_row_cmp(const void *a, const void *b)
{
	const struct cli_row *x = a, *y = b;

	return x->expires_ms < y->expires_ms ? -1 : x->expires_ms > y->expires_ms;
}

static int cli_list(struct token_issuer *ti)
{
	struct cli_rows rows = { 0 };
	enum token_store_status st;
	char when[40], user[160];

	st = ti->store->ops->list(ti->store, ti->clock(ti->clock_ctx),
				  clock_now_ms() + CLI_SCAN_DEADLINE_MS, cli_collect, &rows);
	if (st == TS_OK && !rows.failed) {
		if (rows.count > 1)
			qsort(rows.items, rows.count, sizeof *rows.items, cli_row_cmp);
		printf("%-12s  %-20s  %-40s  %s\n", "FINGERPRINT", "REQUESTER", "USER", "EXPIRES");
		for (size_t i = 0; i < rows.count; i++) {
			token_rfc3339(rows.items[i].expires_ms, when, sizeof when);
			log_escape(rows.items[i].user, strlen(rows.items[i].user), user, sizeof user);
			printf("%-12s  %-20s  %-40s  %s\n", rows.items[i].fp,
			       rows.items[i].requester, user, when);
		}
	}
	for (size_t i = 0; i < rows.count; i++) {
		free(rows.items[i].requester);
		free(rows.items[i].user);
	}
	free(rows.items);
	if (st != TS_OK || rows.failed) {
		fprintf(stderr, "dagate token list: token store unavailable\n");
		return 1;
	}
	return 0;
}

int cmd_token(const char *config_path, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "requester", required_argument, NULL, 'r' },
		{ "user", required_argument, NULL, 'u' },
		{ "ttl", required_argument, NULL, 't' },
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd, *requester = NULL, *user = NULL, *ttl = NULL;
	struct dagate_config *cfg = NULL;
	struct token_issuer *ti = NULL;
	bool all = false;
	int64_t ttl_ms = 0;
	int c, ret;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(cli_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	if (strcmp(cmd, "issue") != 0 && strcmp(cmd, "revoke") != 0 && strcmp(cmd, "list") != 0) {
		fprintf(stderr, "dagate token: unknown command '%s'\n%s", cmd, cli_usage);
		return 2;
	}
	optind = 0; /* glibc: full re-initialisation (main may have used getopt) */
	opterr = 0;
	while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': requester = optarg; break;
		case 'u': user = optarg; break;
		case 't': ttl = optarg; break;
		case 'a': all = true; break;
		case 'h': fputs(cli_usage, stdout); return 0;
		default:
			fprintf(stderr, "dagate token %s: bad option\n%s", cmd, cli_usage);
			return 2;
		}
	}
	if (optind + 1 < argc) {
		fprintf(stderr, "dagate token %s: unexpected argument '%s'\n", cmd, argv[optind + 1]);
		return 2;
	}
	if (strcmp(cmd, "issue") == 0 &&
	    (requester == NULL || user == NULL || all ||
	     (ttl != NULL && (parse_duration_ms(ttl, &ttl_ms) < 0 || ttl_ms <= 0)))) {
		fprintf(stderr, "dagate token issue: needs --requester R --user U [--ttl 5m]\n");
		return 2;
	}
	if (strcmp(cmd, "revoke") == 0 && (ttl != NULL || all == (requester != NULL || user != NULL))) {
		fprintf(stderr, "dagate token revoke: needs --user U, --requester R, or --all\n");
		return 2;
	}
	if (strcmp(cmd, "list") == 0 && (requester != NULL || user != NULL || ttl != NULL || all)) {
		fprintf(stderr, "dagate token list: takes no options\n");
		return 2;
	}
	if ((ret = cli_open(config_path, &cfg, &ti)) != 0)
		return ret;
	if (strcmp(cmd, "issue") == 0)
		ret = cli_issue(ti, &cfg->map, requester, user, ttl_ms);
	else if (strcmp(cmd, "revoke") == 0)
		ret = cli_revoke(ti, &cfg->map, user, requester);
	else
		ret = cli_list(ti);
	token_issuer_free(&ti);
	config_free(&cfg);
	return ret;
}
