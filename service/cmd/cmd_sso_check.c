/*
 * `dagate sso-check PRINCIPAL`: what [sso] would do for a client principal
 * (jdoe@CORP.EXAMPLE), step by step like test-user: the keytab, the realm,
 * the username the page would post, the user the token would be bound to.
 * Issues no token; talks to no server, except the directory of `lookup`. Exit 0 when the principal would
 * be signed on, 1 when refused, 2 for a usage or configuration error.
 */
#include "commands.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "decider.h"
#include "sso.h"
#include "tokens.h"

static int usage(FILE *out)
{
	fprintf(out, "usage: dagate [-c FILE] sso-check PRINCIPAL\n"
		"  what [sso] would do for a client principal such as jdoe@CORP.EXAMPLE:\n"
		"  the keytab, the realm, the Salesforce username and the token's user\n");
	return out == stdout ? 0 : 2;
}

static int refused(enum sso_outcome o, const char *detail)
{
	printf("outcome: %s (%s)\nthe user would see: %s\nanswer: refused\n", sso_outcome_name(o),
	       detail != NULL ? detail : "-", sso_outcome_advice(o));
	return 1;
}

static void trace_step(void *ctx, const char *what)
{
	printf("  %s\n", what);
}

/* `lookup`: start the providers and ask the one named, as serve would. */
static enum sso_outcome lookup(struct decider *dec, const struct sso_config *sso,
			       const char *principal, char *user, size_t size,
			       const char **detail_r)
{
	static char detail[AUTH_DETAIL_MAX + 64];
	char local[SSO_PRINCIPAL_MAX + 1], pdetail_buf[AUTH_DETAIL_MAX];
	struct conf_errors errors = { 0 };
	const struct auth_trace trace = { trace_step, NULL };
	struct auth_request req = {
		.username = local, .source_ip = "", .request_id = "sso-check",
		.deadline_ms = clock_now_ms() + dec->cfg->server.deadline_ms, .trace = &trace,
		.detail_buf = pdetail_buf, .detail_size = sizeof pdetail_buf,
	};
	struct provider *p;
	const char *pdetail = NULL, *bad;
	enum sso_outcome o;
	enum auth_result r;

	if ((o = sso_principal_local(sso, principal, local, sizeof local, detail_r)) != SSO_OK)
		return o;
	if (decider_start(dec, &errors) < 0) {
		config_errors_print(&errors);
		conf_errors_clear(&errors);
		*detail_r = "the providers did not start";
		return SSO_LOOKUP;
	}
	p = provider_set_find(dec->providers, sso->lookup_provider);
	printf("lookup: %s in provider %s\n", local, sso->lookup_provider);
	r = provider_lookup(p, &req, sso->lookup_attribute, user, size, &pdetail);
	if (r != AUTH_OK) {
		snprintf(detail, sizeof detail, "%s%s%s", auth_result_name(r), pdetail != NULL ? " " : "",
			 pdetail != NULL ? pdetail : "");
		*detail_r = detail;
		return SSO_LOOKUP;
	}
	if (usermap_check(user, &bad) < 0) {
		*detail_r = "looked-up value is not a Salesforce username";
		return SSO_MAP;
	}
	return SSO_OK;
}

int cmd_sso_check(const char *config_path, int argc, char **argv)
{
	struct conf_errors errors = { 0 };
	struct sso_config *sso = NULL;
	struct decider dec;
	char user[MAPPED_USER_MAX + 1], bound[MAPPED_USER_MAX + 1];
	const char *detail = NULL, *at;
	enum sso_outcome o;
	int ret = 2;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
		return usage(stdout);
	if (argc != 2 || argv[1][0] == '-')
		return usage(stderr);
	if (decider_load(config_path, false, &dec) < 0)
		return 2;
	if (sso_config_build(dec.cfg, &sso, &errors) < 0 ||
	    (sso != NULL && sso_keytab_check(sso, &errors) < 0)) {
		config_errors_print(&errors);
		goto out;
	}
	if (sso == NULL) {
		fprintf(stderr, "dagate: %s has no [sso] section\n", dec.cfg->path);
		goto out;
	}
	printf("principal: %s\n", argv[1]);
	printf("keytab: %s holds %s\n", sso->keytab,
	       sso->principal != NULL ? sso->principal : "keys (any is accepted)");
	at = strrchr(argv[1], '@');
	printf("realm: %s\n", at != NULL ? at + 1 : "(none)");
	o = sso->lookup_provider != NULL ? lookup(&dec, sso, argv[1], user, sizeof user, &detail)
	    : sso_map_principal(sso, argv[1], user, sizeof user, &detail);
	if (o != SSO_OK) {
		ret = refused(o, detail);
		goto out;
	}
	if (sso->lookup_provider != NULL)
		printf("username: %s (%s of the entry provider %s found)\n", user,
		       sso->lookup_attribute, sso->lookup_provider);
	else
		printf("username: %s (user = %s)\n", user, sso->user);
	if (usermap_apply(&dec.cfg->map, user, bound, sizeof bound) < 0 || bound[0] == '\0') {
		ret = refused(SSO_MAP, "[map] leaves no username");
		goto out;
	}
	printf("token: one-time, requester %s, bound to %s, valid %lld s\n", SSO_REQUESTER, bound,
	       (long long)(sso->ttl_ms / 1000));
	printf("page: posts username %s and the token to %s\n", user, sso->login_url);
	printf("answer: signed on\n");
	ret = 0;
out:
	conf_errors_clear(&errors);
	sso_config_free(&sso);
	decider_free(&dec);
	return ret;
}
