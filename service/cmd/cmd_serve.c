/*
 * `dagate serve`: start everything, then wait for signals in the main
 * thread. SIGTERM/SIGINT/SIGQUIT close the listening sockets, drain and
 * exit; SIGHUP reloads; SIGUSR1 reopens the log files; SIGUSR2 and SIGALRM
 * are logged and ignored. Each is logged and counted (dagate(8) SIGNALS).
 *
 * A configuration *generation* is everything built from one reading of the
 * config: providers, router, worker pool, HTTP daemons, WSDL, TLS key. On
 * SIGHUP a new generation is built completely first; only if that works
 * does it take over the listening sockets from the old one, which then
 * finishes its requests and is freed. A bad config never stops service.
 * What outlives generations: the listening sockets, the token store (an
 * LMDB environment may be opened once per process), the throttle's counts
 * and the log. Changes to [tokens], [requester] and [throttle] (and to
 * [server] user) therefore take effect on restart, which a reload that
 * sees them says (restart_only.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_prober.h"
#include "clock.h"
#include "decider.h"
#include "commands.h"
#include "http.h"
#include "listeners.h"
#include "log.h"
#include "metrics.h"
#include "privdrop.h"
#include "restart_only.h"
#include "sf_server.h"
#include "sso.h"
#include "throttle.h"
#include "tls_material.h"
#include "tokens.h"
#include "workers.h"

struct generation {
	struct decider dec;
	struct tls_material tls;
	struct worker_pool *workers;
	struct http_server *srv;
	struct http_generation http;
	struct backend_prober *prober;   /* NULL when probe_interval is 0s */
	struct sso_config *sso;          /* NULL: no [sso] */
	struct tls_material sso_tls;
	struct http_sso sso_http;
	char *wsdl;
	size_t wsdl_len;
};

struct daemon_state {
	const char *config_path;
	struct listener_set listeners;
	struct token_issuer *tokens;
	struct throttle *throttle;   /* counts survive reloads */
	struct restart_only started; /* what the two above were built from */
	struct generation *current;
};

/* The address the WSDL advertises when public_url is not set. */
static void default_public_url(const struct server_config *sc,
			       const struct listener_set *ls, char *out, size_t size)
{
	const struct listen_addr *la = &sc->listen[0];
	bool v6 = strchr(la->host, ':') != NULL;
	unsigned port = la->port;

	for (size_t i = 0; i < ls->count; i++)
		if (ls->items[i].kind == LISTENER_SERVER && ls->items[i].port == la->port &&
		    strcmp(ls->items[i].host, la->host) == 0)
			port = ls->items[i].bound_port;
	snprintf(out, size, "%s://%s%s%s:%u%s", sc->tls_cert ? "https" : "http",
		 v6 ? "[" : "", la->host, v6 ? "]" : "", port, sc->path);
}

static void generation_free(struct generation **gp)
{
	struct generation *g = *gp;

	if (g == NULL)
		return;
	backend_prober_stop(&g->prober);
	/* Workers first: each finished job resumes its connection, and MHD
	 * must have no suspended connection when it stops. */
	workers_destroy(&g->workers);
	http_server_stop(&g->srv);
	decider_free(&g->dec);
	tls_material_clear(&g->tls);
	sso_acceptor_free(&g->sso_http.acceptor);
	tls_material_clear(&g->sso_tls);
	sso_config_free(&g->sso);
	free(g->wsdl);
	free(g);
	*gp = NULL;
}

/* tls_material_load, its warning (a certificate expiring soon) logged. */
static int tls_material_load_logged(const struct dagate_config *cfg, struct tls_material *m,
				    struct conf_errors *errors)
{
	struct conf_errors warnings = { 0 };
	int ret = tls_material_load(cfg, m, errors, &warnings);

	for (size_t i = 0; i < warnings.count; i++)
		log_warnx("%s", warnings.lines[i]);
	conf_errors_clear(&warnings);
	return ret;
}

/* [sso]: its settings, certificate and Kerberos acceptor (the keytab is
 * read again on each reload). */
static int sso_build(struct generation *g, const struct dagate_config *cfg,
		     struct conf_errors *errors)
{
	struct conf_errors warnings = { 0 };
	char *error = NULL;

	if (sso_config_build(cfg, &g->sso, errors) < 0)
		return -1;
	if (g->sso == NULL)
		return 0;
	if (tls_material_load_pair(cfg, "sso", g->sso->tls_cert, g->sso->tls_key, &g->sso_tls,
				   errors, &warnings) < 0 ||
	    sso_keytab_check(g->sso, errors) < 0) {
		conf_errors_clear(&warnings);
		return -1;
	}
	for (size_t i = 0; i < warnings.count; i++)
		log_warnx("%s", warnings.lines[i]);
	conf_errors_clear(&warnings);
	if (sso_acceptor_create(g->sso->keytab, g->sso->principal, &g->sso_http.acceptor,
				&error) < 0) {
		conf_error_at(errors, g->sso->file, g->sso->keytab_line, "keytab %s: %s",
			      g->sso->keytab, error != NULL ? error : "out of memory");
		free(error);
		return -1;
	}
	g->sso_http.conf = g->sso;
	g->sso_http.tls = &g->sso_tls;
	if (g->sso->lookup_provider != NULL)
		g->sso_http.lookup = provider_set_find(g->dec.providers, g->sso->lookup_provider);
	return 0;
}

/* Everything of a generation except its HTTP daemons: the providers parsed
 * and then started; nothing here touches the running service. The generation owns `cfg` once this succeeded; on
 * failure (errors added to `errors`) it is still the caller's. */
static struct generation *generation_build(struct daemon_state *ds, struct dagate_config *cfg,
					   struct tls_material *preloaded,
					   struct conf_errors *errors)
{
	struct generation *g = calloc(1, sizeof *g);
	const char *error = NULL;
	char public_url[512];

	if (g == NULL) {
		conf_error_at(errors, cfg->path, 0, "out of memory");
		return NULL;
	}
	if (decider_build(&g->dec, cfg, ds->tokens, ds->throttle, errors) < 0 ||
	    sso_build(g, cfg, errors) < 0)
		goto fail;
	if (listeners_update(&ds->listeners, cfg, g->sso != NULL ? g->sso->listen : NULL,
			     g->sso != NULL ? g->sso->listen_count : 0, &error) < 0) {
		conf_error_at(errors, cfg->path, cfg->server.listen[0].line,
			      "cannot listen: %s", error);
		goto fail;
	}
	if (preloaded != NULL) {
		g->tls = *preloaded;     /* read before privileges were dropped */
		memset(preloaded, 0, sizeof *preloaded);
	} else if (tls_material_load_logged(cfg, &g->tls, errors) < 0) {
		goto fail;
	}
	if (cfg->server.public_url != NULL)
		snprintf(public_url, sizeof public_url, "%s", cfg->server.public_url);
	else
		default_public_url(&cfg->server, &ds->listeners, public_url, sizeof public_url);
	g->wsdl = sf_wsdl_for(public_url, &g->wsdl_len);
	if (g->wsdl == NULL) {
		conf_error_at(errors, cfg->path, 0, "cannot build the WSDL for %s", public_url);
		goto fail;
	}
	if (workers_create(cfg->server.workers, cfg->server.queue, router_lanes(g->dec.router),
			   &g->workers) < 0) {
		conf_error_at(errors, cfg->path, 0, "cannot start %u worker threads",
			      cfg->server.workers);
		goto fail;
	}
	/* Last: the providers' start may talk to backends (the http negative
	 * control), which is not worth doing for a generation refused above.
	 * On SIGHUP the old generation keeps serving meanwhile. */
	if (decider_start(&g->dec, errors) < 0)
		goto fail;
	g->http = (struct http_generation){
		.cfg = cfg, .router = g->dec.router, .workers = g->workers,
		.tokens = ds->tokens, .throttle = ds->throttle, .listeners = &ds->listeners, .tls = &g->tls,
		.wsdl = g->wsdl, .wsdl_len = g->wsdl_len,
		.sso = g->sso != NULL ? &g->sso_http : NULL,
	};
	return g;
fail:
	g->dec.cfg = NULL;     /* still the caller's */
	generation_free(&g);
	return NULL;
}

/* Probing is not worth failing a start or a reload for: without it,
 * dagate_backend_up is known from the first login, as before. */
static void generation_start_prober(struct generation *g, const char *when)
{
	int64_t interval = g->dec.cfg->server.probe_interval_ms;

	if (interval > 0)
		backend_prober_start(g->dec.providers, interval, when, &g->prober);
}

/* Wait until `g` has answered everything it accepted and, as far as the
 * deadline allows, until its clients have closed their connections (after
 * quiesce every answer says Connection: close): stopping the daemons
 * closes idle keep-alive connections, and a request a client is sending
 * on one at that instant would find it closed. */
static void generation_drain(struct generation *g)
{
	int64_t until = clock_now_ms() + g->dec.cfg->server.deadline_ms;

	http_server_quiesce(g->srv);
	while ((http_server_inflight(g->srv) > 0 || http_server_connections(g->srv) > 0) &&
	       clock_now_ms() < until)
		clock_sleep_until(clock_now_ms() + 20);
}

/* SIGTERM: close the listening sockets, not just stop polling them. A
 * socket left open goes on completing handshakes into a backlog nobody
 * accepts from, and those clients hang until exit; once it is closed the
 * kernel refuses them, and a load balancer retries elsewhere at once.
 * Connections already accepted are drained. */
static void stop_accepting(struct daemon_state *ds)
{
	size_t n = ds->listeners.count;

	http_server_quiesce(ds->current->srv);
	listeners_close_all(&ds->listeners);
	log_info("closed %zu listening socket%s; %u request%s in flight", n, n == 1 ? "" : "s",
		 http_server_inflight(ds->current->srv),
		 http_server_inflight(ds->current->srv) == 1 ? "" : "s");
}

static void log_errors(const char *what, const struct conf_errors *errors)
{
	for (size_t i = 0; i < errors->count; i++)
		log_errorx("%s: %s", what, errors->lines[i]);
}

/* What check-config warns about, said once per configuration read. */
static void log_config_warnings(const struct dagate_config *cfg)
{
	struct conf_errors warnings = { 0 };

	config_warnings(cfg, &warnings);
	for (size_t i = 0; i < warnings.count; i++)
		log_warnx("%s", warnings.lines[i]);
	conf_errors_clear(&warnings);
}

static void reload(struct daemon_state *ds)
{
	struct conf_errors errors = { 0 };
	struct dagate_config *cfg = NULL;
	struct generation *old = ds->current, *g;
	const char *error = NULL;
	char waiting[512];
	size_t waiting_count;
	int reopened;

	log_info("SIGHUP: reloading %s", ds->config_path);
	/* A logrotate set up for SIGHUP: reopen the log files whatever the
	 * new config says, so that no line goes to a rotated file. */
	reopened = log_reopen();
	if (reopened != 0)
		metrics_record_log_reopen(reopened > 0);
	if (decider_config_load(ds->config_path, &cfg, &errors) < 0 ||
	    (g = generation_build(ds, cfg, NULL, &errors)) == NULL) {
		log_errors("reload refused, the old configuration keeps serving", &errors);
		metrics_record_reload(METRICS_RELOAD_REFUSED);
		conf_errors_clear(&errors);
		config_free(&cfg);
		/* Put the listener set back as the running config wants it. */
		listeners_update(&ds->listeners, old->dec.cfg,
				 old->sso != NULL ? old->sso->listen : NULL,
				 old->sso != NULL ? old->sso->listen_count : 0, &error);
		listeners_close_unused(&ds->listeners);
		log_set_level(old->dec.cfg->log.level);
		log_set_format(old->dec.cfg->log.format);
		return;
	}
	conf_errors_clear(&errors);
	log_config_warnings(g->dec.cfg);
	waiting_count = restart_only_changes(&ds->started, g->dec.cfg, waiting, sizeof waiting);
	/* Hand over: the old daemons stop polling the sockets, the new ones
	 * start on them; connections meanwhile wait in the backlog. */
	http_server_quiesce(old->srv);
	if (http_server_start(&g->http, &g->srv, &error) < 0)
		fatalx("reload: cannot start the new listeners: %s", error);
	ds->current = g;
	generation_start_prober(g, "after reload");
	generation_drain(old);
	generation_free(&old);
	listeners_close_unused(&ds->listeners);
	if (log_setup(&g->dec.cfg->log, &error) < 0)
		log_errorx("cannot open audit log %s: %s", g->dec.cfg->log.audit, error);
	if (log_file_setup(&g->dec.cfg->log, &error) < 0)
		log_errorx("cannot open log file %s: %s", g->dec.cfg->log.file, error);
	if (waiting_count > 0) {
		metrics_record_reload(METRICS_RELOAD_PARTIAL);
		log_warnx("reloaded; %s changed and appl%s only after a restart", waiting,
			  waiting_count == 1 ? "ies" : "y");
	} else {
		metrics_record_reload(METRICS_RELOAD_OK);
	}
	log_info("reloaded: deadline %lld ms, %u workers, queue %u",
		 (long long)g->dec.cfg->server.deadline_ms, g->dec.cfg->server.workers,
		 g->dec.cfg->server.queue);
}

/* Start-up up to the first generation serving. 0, or an exit status. */
static int start(struct daemon_state *ds)
{
	struct conf_errors errors = { 0 };
	struct dagate_config *cfg = NULL;
	struct tls_material tls = { 0 };
	struct sso_config *sso = NULL;
	struct privdrop pd;
	const char *error = "";
	int ret = 2;

	if (decider_config_load(ds->config_path, &cfg, &errors) < 0)
		goto out;
	log_set_level(cfg->log.level);
	log_set_format(cfg->log.format);
	log_config_warnings(cfg);
	/* Before any thread exists (privdrop.h). */
	if (privdrop_prepare(cfg->server.user, &pd, &error) < 0) {
		conf_error_at(&errors, cfg->path, conf_key_line(cfg, "server", "user"),
			      "user %s: %s", cfg->server.user, error);
		goto out;
	}
	if (pd.drop)
		log_set_owner(pd.uid, pd.gid);
	if (log_setup(&cfg->log, &error) < 0) {
		conf_error_at(&errors, cfg->path, conf_key_line(cfg, "log", "audit"),
			      "cannot open audit log %s: %s",
			      cfg->log.audit, error);
		goto out;
	}
	if (log_file_setup(&cfg->log, &error) < 0) {
		conf_error_at(&errors, cfg->path, 0, "cannot open log file %s: %s",
			      cfg->log.file, error);
		goto out;
	}
	if (sf_server_init(&error) < 0) {
		log_errorx("SOAP set-up failed: %s", error);
		ret = 1;
		goto out;
	}
	/* Sockets and the TLS key may need root's rights: get them first.
	 * ([sso]'s key and keytab are read by the generation, after the drop:
	 * they must be readable by [server] user.) */
	if (sso_config_build(cfg, &sso, &errors) < 0)
		goto out;
	if (listeners_update(&ds->listeners, cfg, sso != NULL ? sso->listen : NULL,
			     sso != NULL ? sso->listen_count : 0, &error) < 0) {
		ret = 1;
		goto out;
	}
	if (tls_material_load_logged(cfg, &tls, &errors) < 0)
		goto out;
	if (privdrop_apply(&pd, &error) < 0) {
		log_errorx("cannot become user %s: %s", cfg->server.user, error);
		ret = 1;
		goto out;
	}
	if (token_issuer_create(cfg, &errors, &ds->tokens) < 0 ||
	    throttle_create(cfg, &errors, &ds->throttle) < 0)
		goto out;
	if (restart_only_save(cfg, &ds->started) < 0) {
		log_errorx("out of memory");
		ret = 1;
		goto out;
	}
	ds->current = generation_build(ds, cfg, &tls, &errors);
	if (ds->current == NULL)
		goto out;     /* cfg is freed below */
	cfg = NULL;       /* the generation's now */
	if (http_server_start(&ds->current->http, &ds->current->srv, &error) < 0) {
		log_errorx("cannot start: %s", error);
		ret = 1;
		goto out;
	}
	generation_start_prober(ds->current, "at start-up");
	ret = 0;
out:
	if (ret != 0 && log_file_path() != NULL) {
		/* Whoever started serve sees why it did not start, not only
		 * the log file. */
		char *file = strdup(log_file_path());
		const struct log_config to_stderr = { .file = "-" };

		config_errors_print(&errors);     /* into the log file too */
		if (log_file_setup(&to_stderr, &error) == 0)
			log_errorx("dagate could not start; %s says why",
				   file != NULL ? file : "the log file");
		free(file);
	}
	if (errors.count > 0)
		config_errors_print(&errors);
	conf_errors_clear(&errors);
	tls_material_clear(&tls);
	sso_config_free(&sso);
	config_free(&cfg);
	return ret;
}

/* SIGUSR1 (logrotate's postrotate): the audit file and the log file are
 * opened again by name; nothing else changes. */
static void reopen_logs(void)
{
	int reopened = log_reopen();

	if (reopened == 0) {
		log_info("SIGUSR1: no log file to reopen ([log] audit and file are stderr)");
		return;
	}
	metrics_record_log_reopen(reopened > 0);
	if (reopened > 0)
		log_info("SIGUSR1: reopened log files");
	else
		log_errorx("SIGUSR1: could not reopen every log file; the old ones stay in use");
}

/* The signals serve waits for: every one a daemon is commonly sent, so
 * that none ends the process without a line. SIGPIPE is ignored outright
 * (a peer gone mid-write is an EPIPE there). SIGTSTP/SIGTTIN/SIGTTOU,
 * SIGCHLD, SIGWINCH and SIGURG keep their default (stop, or nothing). */
static const struct {
	int sig;
	const char *name;
} serve_signals[] = {
	{ SIGTERM, "SIGTERM" }, { SIGINT, "SIGINT" }, { SIGQUIT, "SIGQUIT" },
	{ SIGHUP, "SIGHUP" }, { SIGUSR1, "SIGUSR1" }, { SIGUSR2, "SIGUSR2" },
	{ SIGALRM, "SIGALRM" },
};
#define SERVE_SIGNALS (sizeof serve_signals / sizeof serve_signals[0])

static const char *signal_name(int sig)
{
	for (size_t i = 0; i < SERVE_SIGNALS; i++)
		if (serve_signals[i].sig == sig)
			return serve_signals[i].name;
	return "unknown";
}

int cmd_serve(const char *config_path, int argc, char **argv)
{
	struct daemon_state ds = { .config_path = config_path };
	sigset_t sigs;
	int sig, ret;

	/* Block the signals we wait for before any thread exists, so that
	 * every thread inherits the mask and only sigwait() sees them. */
	sigemptyset(&sigs);
	for (size_t i = 0; i < SERVE_SIGNALS; i++)
		sigaddset(&sigs, serve_signals[i].sig);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	metrics_set_start_time();

	ret = start(&ds);
	if (ret == 0) {
		log_info("dagate %s serving (deadline %lld ms, %u workers, queue %u)",
			 DAGATE_VERSION, (long long)ds.current->dec.cfg->server.deadline_ms,
			 ds.current->dec.cfg->server.workers, ds.current->dec.cfg->server.queue);
		for (;;) {
			if (sigwait(&sigs, &sig) != 0)
				continue;
			metrics_record_signal(signal_name(sig));
			if (sig == SIGHUP) {
				reload(&ds);
				continue;
			}
			if (sig == SIGUSR1) {
				reopen_logs();
				continue;
			}
			if (sig == SIGUSR2 || sig == SIGALRM) {
				log_info("%s: ignored (SIGHUP reloads, SIGUSR1 reopens the log files)",
					 signal_name(sig));
				continue;
			}
			log_info("%s: draining", signal_name(sig));
			stop_accepting(&ds);
			generation_drain(ds.current);
			break;
		}
	}
	generation_free(&ds.current);
	token_issuer_free(&ds.tokens);
	throttle_free(&ds.throttle);
	restart_only_clear(&ds.started);
	listeners_close_all(&ds.listeners);
	sf_server_deinit();
	return ret;
}
