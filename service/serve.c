/*
 * `dagate serve`: start everything, then wait for signals in the main
 * thread (SIGTERM/SIGINT drain and exit, SIGHUP reopens the audit log).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "commands.h"
#include "http.h"
#include "log.h"
#include "soap_glue.h"
#include "tokens.h"
#include "workers.h"

/* The address the WSDL advertises when public_url is not set. */
static void default_public_url(const struct server_config *sc, char *out, size_t size)
{
	const struct listen_addr *la = &sc->listen[0];
	bool v6 = strchr(la->host, ':') != NULL;

	snprintf(out, size, "%s://%s%s%s:%u%s", sc->tls_cert ? "https" : "http",
		 v6 ? "[" : "", la->host, v6 ? "]" : "", la->port, sc->path);
}

static void drain(struct http_server *srv, int64_t deadline_ms)
{
	http_server_quiesce(srv);
	while (http_server_inflight(srv) > 0 && clock_now_ms() < deadline_ms)
		clock_sleep_until(clock_now_ms() + 20);
}

int cmd_serve(const char *config_path)
{
	struct app app;
	struct worker_pool *workers = NULL;
	struct http_server *srv = NULL;
	struct http_services svc;
	struct token_issuer *tokens = NULL;
	struct conf_errors errors = { 0 };
	const char *error = "";
	char public_url[512];
	sigset_t sigs;
	int sig, ret = 1;

	/* Block the signals we wait for before any thread exists, so that
	 * every thread inherits the mask and only sigwait() sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (app_load(config_path, &app) < 0)
		return 2;
	if (log_setup(&app.cfg->log, &error) < 0) {
		fprintf(stderr, "%s: cannot open audit log %s: %s\n", config_path,
			app.cfg->log.audit, error);
		app_free(&app);
		return 2;
	}
	if (app.cfg->server.public_url == NULL)
		default_public_url(&app.cfg->server, public_url, sizeof public_url);
	else
		snprintf(public_url, sizeof public_url, "%s", app.cfg->server.public_url);
	if (soap_glue_init(public_url, &error) < 0) {
		log_errorx("SOAP set-up failed: %s", error);
		goto out;
	}
	if (token_issuer_create(app.cfg, &errors, &tokens) < 0) {
		app_print_errors(&errors);
		conf_errors_clear(&errors);
		ret = 2;
		goto out;
	}
	router_set_tokens(app.router, tokens);
	if (workers_create(app.cfg->server.workers, app.cfg->server.queue, &workers) < 0) {
		log_errorx("cannot start %u worker threads", app.cfg->server.workers);
		goto out;
	}
	svc = (struct http_services){ app.cfg, app.router, workers, tokens };
	if (http_server_start(&svc, &srv, &error) < 0) {
		log_errorx("cannot start listeners: %s", error);
		goto out;
	}
	log_info("dagate %s serving (deadline %lld ms, %u workers, queue %u)",
		 DAGATE_VERSION, (long long)app.cfg->server.deadline_ms,
		 app.cfg->server.workers, app.cfg->server.queue);

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_info("SIGHUP: reopening the audit log");
			log_reopen();
			continue;
		}
		log_info("%s: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		drain(srv, clock_now_ms() + app.cfg->server.deadline_ms);
		break;
	}
	ret = 0;
out:
	/* Workers first: each finished job resumes its connection, and MHD
	 * must have no suspended connection when it stops. */
	workers_destroy(&workers);
	http_server_stop(&srv);
	token_issuer_free(&tokens);
	soap_glue_deinit();
	app_free(&app);
	return ret;
}
