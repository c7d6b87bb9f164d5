/*
 * The baseline for bench/ldap_vs_raw.sh: what a bare libldap client does
 * for one login, in a loop: search as the service account on one
 * persistent connection, bind as the user on a second one. THREADS loops
 * for SECONDS; prints "raw_logins_per_s=N errors=E". Built by the bench
 * script, not by the project's build.
 *
 * usage: ldap_raw URI CA_FILE BASE SVC_DN SVC_PW THREADS SECONDS NUSERS
 * users are uid=userI with password pw-userI, I in [0, NUSERS).
 */
#include <ldap.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *uri, *ca, *base, *svc_dn, *svc_pw;
static int seconds, nusers;
static atomic_long done, errors;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static LDAP *open_ld(void)
{
	LDAP *ld;
	int v3 = LDAP_VERSION3, hard = LDAP_OPT_X_TLS_HARD, zero = 0;

	if (ldap_initialize(&ld, uri) != LDAP_SUCCESS)
		exit(1);
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &hard);
	ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, ca);
	ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
	return ld;
}

static int simple_bind(LDAP *ld, const char *dn, const char *pw)
{
	struct berval cred = { strlen(pw), (char *)pw };

	return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

static void *loop(void *arg)
{
	LDAP *svc = open_ld(), *user = open_ld();
	char *attrs[] = { LDAP_NO_ATTRS, NULL };
	double end = now() + seconds;
	unsigned i = (unsigned)(long)arg * 7919;

	if (simple_bind(svc, svc_dn, svc_pw) != LDAP_SUCCESS) {
		fprintf(stderr, "service bind failed\n");
		exit(1);
	}
	while (now() < end) {
		char filter[64], pw[64];
		LDAPMessage *res = NULL;
		char *dn = NULL;
		unsigned u = i++ % (unsigned)nusers;

		snprintf(filter, sizeof filter, "(&(objectClass=inetOrgPerson)(uid=user%u))", u);
		snprintf(pw, sizeof pw, "pw-user%u", u);
		if (ldap_search_ext_s(svc, base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL,
				      NULL, 2, &res) == LDAP_SUCCESS &&
		    ldap_count_entries(svc, res) == 1 &&
		    (dn = ldap_get_dn(svc, ldap_first_entry(svc, res))) != NULL &&
		    simple_bind(user, dn, pw) == LDAP_SUCCESS)
			atomic_fetch_add(&done, 1);
		else
			atomic_fetch_add(&errors, 1);
		ldap_memfree(dn);
		ldap_msgfree(res);
	}
	ldap_unbind_ext(svc, NULL, NULL);
	ldap_unbind_ext(user, NULL, NULL);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads;
	pthread_t *t;
	double start;

	if (argc != 9) {
		fprintf(stderr, "usage: ldap_raw URI CA BASE SVC_DN SVC_PW THREADS SECONDS NUSERS\n");
		return 2;
	}
	uri = argv[1]; ca = argv[2]; base = argv[3]; svc_dn = argv[4]; svc_pw = argv[5];
	threads = atoi(argv[6]); seconds = atoi(argv[7]); nusers = atoi(argv[8]);
	t = calloc(threads, sizeof *t);
	start = now();
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, loop, (void *)(long)i);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	printf("raw_logins_per_s=%.0f errors=%ld\n", atomic_load(&done) / (now() - start),
	       atomic_load(&errors));
	return 0;
}
