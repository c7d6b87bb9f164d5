/*
 * The subcommands other than serve: check-config, test-user, probe,
 * hash-password. Each returns the process exit status (0 ok, 1 negative
 * answer or runtime failure, 2 usage or configuration error).
 */
#include "commands.h"

#include <crypt.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "provider.h"
#include "router.h"
#include "soap_glue.h"
#include "tokens.h"

/* ---- shared set-up --------------------------------------------------- */

void app_print_errors(const struct conf_errors *errors)
{
	for (size_t i = 0; i < errors->count; i++)
		fprintf(stderr, "%s\n", errors->lines[i]);
}

int app_build(struct app *app, struct dagate_config *cfg, struct conf_errors *errors)
{
	memset(app, 0, sizeof *app);
	app->cfg = cfg;
	/* Level and format first, so that providers' start-up messages
	 * already come out as configured. The audit file opens in serve. */
	log_set_level(cfg->log.level);
	log_set_format(cfg->log.format);
	if (provider_set_create(cfg, errors, &app->providers) < 0 ||
	    router_create(cfg, app->providers, errors, &app->router) < 0) {
		app_free(app);
		return -1;
	}
	return 0;
}

int app_load(const char *config_path, struct app *app)
{
	struct conf_errors errors = { 0 };
	struct dagate_config *cfg = NULL;
	int ret = 0;

	memset(app, 0, sizeof *app);
	if (config_load(config_path, &cfg, &errors) < 0 ||
	    app_build(app, cfg, &errors) < 0) {
		app_print_errors(&errors);
		ret = -1;
	}
	conf_errors_clear(&errors);
	return ret;
}

void app_free(struct app *app)
{
	router_free(&app->router);
	provider_set_free(&app->providers);
	config_free(&app->cfg);
}

/* Read a secret from stdin: no echo on a terminal, one trailing newline
 * removed, nothing else trimmed. Returns its length or -1. */
static ssize_t read_secret(const char *prompt, char *buf, size_t size)
{
	struct termios saved, quiet;
	bool tty = isatty(STDIN_FILENO);
	size_t len = 0;
	ssize_t n;

	if (tty) {
		fprintf(stderr, "%s", prompt);
		tcgetattr(STDIN_FILENO, &saved);
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	while (len < size - 1) {
		n = read(STDIN_FILENO, buf + len, tty ? size - 1 - len : 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (buf[len - 1] == '\n')
			break;
	}
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
		fputc('\n', stderr);
	}
	if (len == size - 1 && buf[len - 1] != '\n') {
		explicit_bzero(buf, size);
		return -1;  /* longer than any password we accept */
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return (ssize_t)len;
}

/* ---- check-config ---------------------------------------------------- */

int cmd_check_config(const char *config_path)
{
	struct app app;

	if (app_load(config_path, &app) < 0)
		return 2;
	app_free(&app);
	printf("configuration OK\n");
	return 0;
}

/* ---- hash-password --------------------------------------------------- */

int cmd_hash_password(void)
{
	char pw[SF_PASSWORD_MAX + 2], setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof *cd);
	const char *error;
	ssize_t len = read_secret("password: ", pw, sizeof pw);
	int ret = 1;

	if (cd == NULL)
		return 1;
	if (len <= 0) {
		fprintf(stderr, "hash-password: %s\n",
			len == 0 ? "empty password refused" : "password too long");
	} else if (sf_field_check(pw, (size_t)len, SF_PASSWORD_MAX, &error) < 0) {
		fprintf(stderr, "hash-password: %s\n", error);
	} else if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof setting) == NULL ||
		   crypt_rn(pw, setting, cd, sizeof *cd) == NULL || cd->output[0] == '*') {
		fprintf(stderr, "hash-password: crypt failed: %s\n", strerror(errno));
	} else {
		printf("%s\n", cd->output);
		ret = 0;
	}
	explicit_bzero(pw, sizeof pw);
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return ret;
}

/* ---- test-user ------------------------------------------------------- */

static void print_step(void *ctx, const char *what)
{
	printf("  %s\n", what);
}

int cmd_test_user(const char *config_path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "source-ip", required_argument, NULL, 's' },
		{ "provider", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *source_ip = "", *provider = NULL, *error;
	char pw[SF_PASSWORD_MAX + 2];
	struct auth_trace trace = { print_step, NULL };
	struct conf_errors errors = { 0 };
	struct token_issuer *tokens = NULL;
	struct decision d;
	struct app app;
	ssize_t len;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "s:p:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': source_ip = optarg; break;
		case 'p': provider = optarg; break;
		case 'h':
			printf("usage: dagate test-user USER [--source-ip IP] [--provider NAME]\n"
			       "Reads the password from stdin; prints each step and the answer.\n");
			return 0;
		default: return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: dagate test-user USER [--source-ip IP] [--provider NAME]\n");
		return 2;
	}
	if (sf_field_check(argv[optind], strlen(argv[optind]), SF_USERNAME_MAX, &error) < 0 ||
	    sf_field_check(source_ip, strlen(source_ip), SF_SOURCE_IP_MAX, &error) < 0) {
		fprintf(stderr, "test-user: %s\n", error);
		return 2;
	}
	if (app_load(config_path, &app) < 0)
		return 2;
	if (token_issuer_create(app.cfg, &errors, &tokens) < 0) {
		app_print_errors(&errors);
		conf_errors_clear(&errors);
		app_free(&app);
		return 2;
	}
	router_set_tokens(app.router, tokens);
	len = read_secret("password: ", pw, sizeof pw);
	if (len < 0 || sf_field_check(pw, (size_t)len, SF_PASSWORD_MAX, &error) < 0) {
		fprintf(stderr, "test-user: unusable password\n");
		explicit_bzero(pw, sizeof pw);
		token_issuer_free(&tokens);
		app_free(&app);
		return 2;
	}
	{
		struct auth_request req = {
			.username = argv[optind], .password = pw,
			.password_len = (size_t)len, .source_ip = source_ip,
			.request_id = "test-user",
			.deadline_ms = clock_now_ms() + app.cfg->server.deadline_ms,
			.trace = &trace,
		};
		int64_t started = clock_now_ms();

		printf("test-user %s (deadline %lld ms)\n", argv[optind],
		       (long long)app.cfg->server.deadline_ms);
		router_decide(app.router, &req, provider, &d);
		explicit_bzero(pw, sizeof pw);
		printf("outcome: %s%s%s%s\nprovider: %s\nelapsed: %lld ms\nanswer: %s\n",
		       d.outcome, d.detail ? " (" : "", d.detail ? d.detail : "",
		       d.detail ? ")" : "", d.provider, (long long)(clock_now_ms() - started),
		       d.answer == ANSWER_TRUE ? "true" :
		       d.answer == ANSWER_FALSE ? "false" : "fault");
	}
	token_issuer_free(&tokens);
	app_free(&app);
	return d.answer == ANSWER_TRUE ? 0 : 1;
}

/* ---- probe ----------------------------------------------------------- */

int cmd_probe(const char *config_path)
{
	struct app app;
	int failures = 0;

	if (app_load(config_path, &app) < 0)
		return 2;
	printf("%-20s %-8s %-6s %6s  %s\n", "PROVIDER", "TYPE", "STATE", "MS", "DETAIL");
	for (size_t i = 0; i < provider_set_count(app.providers); i++) {
		struct provider *p = provider_set_at(app.providers, i);
		const char *detail = "no probe for this type";
		int64_t started = clock_now_ms();
		int rc = 0;

		if (p->type->probe != NULL)
			rc = p->type->probe(p, started + p->timeout_ms, &detail);
		if (rc != 0)
			failures++;
		printf("%-20s %-8s %-6s %6lld  %s\n", p->name, p->type->name,
		       rc == 0 ? "ok" : "FAIL", (long long)(clock_now_ms() - started),
		       detail != NULL ? detail : "");
	}
	app_free(&app);
	return failures == 0 ? 0 : 1;
}
