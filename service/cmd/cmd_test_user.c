/*
 * `dagate test-user USER`: decide one login like serve does (password on
 * stdin), printing each step. Exit 0 only for true.
 */
#include "commands.h"

#include <curl/curl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "decider.h"
#include "clock.h"
#include "sf_server.h"
#include "tokens.h"
#include "admin_client.h"
#include "test_user_server.h"
#include "throttle.h"
#include "tty.h"

static void print_step(void *ctx, const char *what)
{
	printf("  %s\n", what);
}

static const char usage[] =
	"usage: dagate test-user USER [--source-ip IP] [--provider NAME]\n"
	"       dagate test-user USER --server URL [--source-ip IP] [--ca-file FILE]\n"
	"Reads the password from stdin. Decides here, printing each step and the answer;\n"
	"or, with --server, sends a real Authenticate to the running endpoint at URL.\n";

/* One line of the running server's throttle for a user or a source
 * (GET /api/v1/throttle/...), or false when it cannot be asked. */
static bool print_server_state(const char *authority, const char *kind, const char *name,
			       const char *source_ip)
{
	char path[1024], *escaped = curl_easy_escape(NULL, name, 0), *body = NULL;
	char *source = source_ip != NULL ? curl_easy_escape(NULL, source_ip, 0) : NULL;
	json_object *o;
	bool ok = false;

	if (escaped == NULL || (source_ip != NULL && source == NULL)) {
		curl_free(escaped);
		return false;
	}
	snprintf(path, sizeof path, "/api/v1/throttle/%s/%s%s%s", kind, escaped,
		 source != NULL ? "?source=" : "", source != NULL ? source : "");
	curl_free(escaped);
	curl_free(source);
	if (admin_call(NULL, NULL, authority, "GET", path, &body) != 0)
		return false;
	o = json_tokener_parse(body);
	if (admin_json_get(o, "failures") != NULL) {
		printf("  throttle (running server): %s %s: %lld failures of %lld%s\n",
		       kind[0] == 'u' ? "user" : "source", name, admin_json_num(o, "failures"),
		       admin_json_num(o, "budget"), admin_json_flag(o, "blocked") ?
		       ": BLOCKED, a login would be false without a backend" : "");
		if (admin_json_num(o, "familiar_networks") > 0)
			printf("  throttle (running server): %lld familiar networks, %s; from others "
			       "%lld failures of %lld%s\n", admin_json_num(o, "familiar_networks"),
			       admin_json_flag(o, "source_familiar") ?
			       "this source's among them" : "not this source's",
			       admin_json_num(o, "unfamiliar_failures"),
			       admin_json_num(o, "unfamiliar_budget"),
			       admin_json_flag(o, "unfamiliar_blocked") ?
			       ": BLOCKED from unfamiliar networks" : "");
		ok = true;
	}
	json_object_put(o);
	free(body);
	return ok;
}

/* The throttle lives in the running server (its memory, or Redis shared
 * by the instances): shown from there when its admin listener answers;
 * else a local decision cannot know the state it would meet, and says so
 * rather than pretend. */
static void print_throttle_note(const struct dagate_config *cfg, const char *mapped_user,
				const char *source_ip)
{
	char authority[300];

	if (admin_authority(cfg, authority, sizeof authority) == 0 &&
	    print_server_state(authority, "users", mapped_user, source_ip)) {
		print_server_state(authority, "sources", source_ip, NULL);
		printf("  throttle: not applied here; --server URL asks the server, throttle "
		       "included\n");
		return;
	}
	struct throttle_summary sum;

	throttle_summarize(cfg, &sum);
	if (sum.off) {
		printf("  throttle: off in this configuration\n");
		return;
	}
	printf("  throttle: not applied here: its state is in the running server's %s, which\n"
	       "  this command cannot see; --server URL asks the server, throttle included\n",
	       sum.shared ? "shared store" : "memory");
}

/* --server: the configuration is not read; the server decides. */
static int test_user_at_server(const char *url, const char *user, const char *source_ip,
			       const char *ca_file)
{
	struct test_user_server_args a = { url, user, source_ip, ca_file };
	char pw[SF_PASSWORD_MAX + 2];
	const char *error;
	ssize_t len = tty_read_secret("password: ", pw, sizeof pw);
	int ret;

	if (len < 0 || sf_field_check(pw, (size_t)len, SF_PASSWORD_MAX, &error) < 0) {
		fprintf(stderr, "test-user: unusable password\n");
		explicit_bzero(pw, sizeof pw);
		return 2;
	}
	ret = test_user_server(&a, pw);
	explicit_bzero(pw, sizeof pw);
	return ret;
}

int cmd_test_user(const char *config_path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "source-ip", required_argument, NULL, 's' },
		{ "provider", required_argument, NULL, 'p' },
		{ "server", required_argument, NULL, 'S' },
		{ "ca-file", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *source_ip = "127.0.0.1", *provider = NULL, *server = NULL, *ca_file = NULL;
	const char *error;
	char pw[SF_PASSWORD_MAX + 2];
	struct auth_trace trace = { print_step, NULL };
	struct conf_errors errors = { 0 };
	struct token_issuer *tokens = NULL;
	struct dagate_config *cfg = NULL;
	struct router_plan plan;
	struct decision d;
	struct decider dec;
	ssize_t len;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "s:p:S:C:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': source_ip = optarg; break;
		case 'p': provider = optarg; break;
		case 'S': server = optarg; break;
		case 'C': ca_file = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc - 1 || (server != NULL && provider != NULL) ||
	    (ca_file != NULL && server == NULL)) {
		fputs(usage, stderr);
		return 2;
	}
	if (sf_field_check(argv[optind], strlen(argv[optind]), SF_USERNAME_MAX, &error) < 0 ||
	    sf_field_check(source_ip, strlen(source_ip), SF_SOURCE_IP_MAX, &error) < 0) {
		fprintf(stderr, "test-user: %s\n", error);
		return 2;
	}
	if (!sf_source_ip_valid(source_ip)) {
		fprintf(stderr, "test-user: --source-ip must be an IPv4 or IPv6 address\n");
		return 2;
	}
	if (server != NULL)
		return test_user_at_server(server, argv[optind], source_ip, ca_file);
	memset(&dec, 0, sizeof dec);
	if (decider_config_load(config_path, &cfg, &errors) < 0 ||
	    token_issuer_create(cfg, &errors, &tokens) < 0) {
		config_free(&cfg);
	} else if (decider_build(&dec, cfg, tokens, NULL, &errors) < 0) {
		config_free(&cfg);
	} else {
		decider_start(&dec, &errors);   /* errors are counted below */
	}
	if (errors.count > 0) {
		config_errors_print(&errors);
		conf_errors_clear(&errors);
		decider_free(&dec);
		token_issuer_free(&tokens);
		return 2;
	}
	conf_errors_clear(&errors);
	len = tty_read_secret("password: ", pw, sizeof pw);
	if (len < 0 || sf_field_check(pw, (size_t)len, SF_PASSWORD_MAX, &error) < 0) {
		fprintf(stderr, "test-user: unusable password\n");
		explicit_bzero(pw, sizeof pw);
		decider_free(&dec);
		token_issuer_free(&tokens);
		return 2;
	}
	{
		struct auth_request req = {
			.username = argv[optind], .password = pw,
			.password_len = (size_t)len, .source_ip = source_ip,
			.request_id = "test-user",
			.deadline_ms = clock_now_ms() + dec.cfg->server.deadline_ms,
			.trace = &trace,
		};
		int64_t started = clock_now_ms();

		printf("test-user %s (deadline %lld ms)\n", argv[optind],
		       (long long)dec.cfg->server.deadline_ms);
		print_throttle_note(dec.cfg, req.username, source_ip);
		router_plan(dec.router, req.username, req.password, req.password_len, &plan);
		router_decide(dec.router, &plan, &req, provider, &d);
		explicit_bzero(pw, sizeof pw);
		printf("outcome: %s%s%s%s\nprovider: %s\nelapsed: %lld ms\nanswer: %s\n",
		       outcome_name(d.outcome), d.detail ? " (" : "", d.detail ? d.detail : "",
		       d.detail ? ")" : "", d.provider, (long long)(clock_now_ms() - started),
		       d.answer == ANSWER_TRUE ? "true" :
		       d.answer == ANSWER_FALSE ? "false" : "fault");
	}
	decider_free(&dec);
	token_issuer_free(&tokens);
	return d.answer == ANSWER_TRUE ? 0 : 1;
}
