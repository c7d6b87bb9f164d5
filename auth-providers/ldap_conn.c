/*
 * One LDAP connection: URIs in order, TLS context per connection, every
 * libldap timeout derived from the deadline, binds that wait no longer
 * than the deadline.
 */
#include "ldap_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "clock.h"
#include "log.h"
#include "netio.h"

static void ms_to_tv(int64_t ms, struct timeval *tv)
{
	if (ms < 1)
		ms = 1;
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

static void set_timeouts_ms(LDAP *ld, int64_t ms)
{
	struct timeval tv;

	ms_to_tv(ms, &tv);
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
}

void prov_ldap_set_timeouts(LDAP *ld, int64_t deadline_ms)
{
	set_timeouts_ms(ld, clock_left_ms(deadline_ms));
}

void prov_ldap_close(LDAP **ldp)
{
	if (*ldp == NULL)
		return;
	ldap_unbind_ext(*ldp, NULL, NULL);
	*ldp = NULL;
}

/* "URI[STEP]: libldap's words (rc)[: its diagnostic]" into error. */
static void ld_error(LDAP *ld, int rc, const char *uri, const char *step,
		     char *error, size_t size)
{
	char *diag = NULL;

	if (ld != NULL)
		ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	snprintf(error, size, "%s%s: %s (%d)%s%s", uri, step, ldap_err2string(rc), rc,
		 diag != NULL && diag[0] != '\0' ? ": " : "", diag != NULL ? diag : "");
	ldap_memfree(diag);
}

/* libldap reports a failed handshake or certificate check as "Can't
 * contact LDAP server" or "Connect error", like a server that is down:
 * name the cause when prov_ldap_tls_explain finds it. */
static void tls_error(const struct prov_ldap_conf *c, const struct prov_ldap_uri *uri,
		      LDAP *ld, int rc, const char *step, int64_t deadline_ms,
		      char *error, size_t size)
{
	char cause[PROV_LDAP_MSG_MAX / 2];

	if ((rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR) &&
	    prov_ldap_tls_explain(c, uri, deadline_ms, cause, sizeof cause) == 0)
		snprintf(error, size, "%s: %s", uri->text, cause);
	else
		ld_error(ld, rc, uri->text, step, error, size);
}

/* libldap 2.5 bounds the TCP connect with LDAP_OPT_NETWORK_TIMEOUT, but
 * on a non-blocking socket it retries the TLS handshake in a busy loop for
 * as long as the server stays silent. A sockbuf layer under TLS, pushed as
 * soon as the socket is connected, waits in poll() instead and fails the
 * read or write once the connection's deadline has passed. It is disarmed
 * when the connection is ready; after that libldap polls before reading. */
#define SB_OPT_DISARM (LBER_SB_OPT_OPT_MAX + 0x4c00)  /* private to this layer */

static int sb_deadline_setup(Sockbuf_IO_Desc *sbiod, void *arg)
{
	int64_t *deadline = malloc(sizeof *deadline);

	if (deadline == NULL)
		return -1;
	*deadline = *(const int64_t *)arg;
	sbiod->sbiod_pvt = deadline;
	return 0;
}

static int sb_deadline_remove(Sockbuf_IO_Desc *sbiod)
{
	free(sbiod->sbiod_pvt);
	sbiod->sbiod_pvt = NULL;
	return 0;
}

static int sb_deadline_ctrl(Sockbuf_IO_Desc *sbiod, int opt, void *arg)
{
	if (opt == SB_OPT_DISARM) {
		*(int64_t *)sbiod->sbiod_pvt = 0;
		return 1;
	}
	return LBER_SBIOD_CTRL_NEXT(sbiod, opt, arg);
}

/* After EAGAIN: wait for the socket until the deadline; 0 = try again. */
static int sb_deadline_wait(Sockbuf_IO_Desc *sbiod, short events)
{
	int64_t deadline = *(const int64_t *)sbiod->sbiod_pvt;
	int fd = -1;

	if (deadline == 0)
		return -1;  /* disarmed: EAGAIN goes up as it is */
	ber_sockbuf_ctrl(sbiod->sbiod_sb, LBER_SB_OPT_GET_FD, &fd);
	if (netio_wait(fd, events, deadline) != NETIO_OK) {
		errno = ETIMEDOUT;
		return -1;
	}
	return 0;
}

static ber_slen_t sb_deadline_read(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	for (;;) {
		ber_slen_t n = LBER_SBIOD_READ_NEXT(sbiod, buf, len);

		if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK) ||
		    sb_deadline_wait(sbiod, POLLIN) < 0)
			return n < 0 && errno == ETIMEDOUT ? -1 : n;
	}
}

static ber_slen_t sb_deadline_write(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	for (;;) {
		ber_slen_t n = LBER_SBIOD_WRITE_NEXT(sbiod, buf, len);

		if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK) ||
		    sb_deadline_wait(sbiod, POLLOUT) < 0)
			return n;
	}
}

static Sockbuf_IO sb_deadline_io = {
	sb_deadline_setup, sb_deadline_remove, sb_deadline_ctrl,
	sb_deadline_read, sb_deadline_write, NULL,
};

static int conncb_add(LDAP *ld, Sockbuf *sb, LDAPURLDesc *srv, struct sockaddr *addr,
		      struct ldap_conncb *ctx)
{
	struct timeval *tv = NULL;
	int64_t deadline;

	if (ldap_get_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS || tv == NULL)
		return 0;
	deadline = clock_now_ms() + (int64_t)tv->tv_sec * 1000 + tv->tv_usec / 1000;
	ldap_memfree(tv);
	/* The TCP layer is pushed after this callback, at PROVIDER level, and
	 * TLS later at TRANSPORT level: one above PROVIDER puts this layer
	 * between them. */
	return ber_sockbuf_add_io(sb, &sb_deadline_io, LBER_SBIOD_LEVEL_PROVIDER + 1, &deadline);
}

static void conncb_del(LDAP *ld, Sockbuf *sb, struct ldap_conncb *ctx)
{
}

static struct ldap_conncb conncb = { conncb_add, conncb_del, NULL };

static void sb_deadline_disarm(LDAP *ld)
{
	Sockbuf *sb = NULL;

	if (ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) == LDAP_OPT_SUCCESS && sb != NULL)
		ber_sockbuf_ctrl(sb, SB_OPT_DISARM, NULL);
}

/* Options that make a handle safe before it ever connects. */
static int ld_prepare(const struct prov_ldap_conf *c, LDAP *ld)
{
	int version = LDAP_VERSION3;
	int reqcert = c->insecure_tls ? LDAP_OPT_X_TLS_NEVER : LDAP_OPT_X_TLS_HARD;
	int tls_min = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
	int server = 0;

	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_RESTART, LDAP_OPT_ON) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &reqcert) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &tls_min) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_CONNECT_CB, &conncb) != LDAP_OPT_SUCCESS)
		return -1;
	if (c->ca_file != NULL &&
	    ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, c->ca_file) != LDAP_OPT_SUCCESS)
		return -1;
	/* A context of this handle's own: the settings above, nothing global. */
	if (ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &server) != LDAP_OPT_SUCCESS)
		return -1;
	return 0;
}

int prov_ldap_connect_uri(const struct prov_ldap_conf *c, size_t i,
			  int64_t deadline_ms, const struct auth_request *req,
			  LDAP **ld_r, char *error, size_t error_size)
{
	const struct prov_ldap_uri *uri = &c->uris[i];
	int64_t left = clock_left_ms(deadline_ms);
	LDAP *ld = NULL;
	int rc;

	*ld_r = NULL;
	if (left < PROV_LDAP_MIN_OP_MS) {
		snprintf(error, error_size, "%s: no time left to connect", uri->text);
		return -1;
	}
	PROV_LDAP_TRACE(req, "ldap: connecting to %s (budget %lldms)", uri->text,
			(long long)left);
	rc = ldap_initialize(&ld, uri->text);
	if (rc != LDAP_SUCCESS) {
		ld_error(NULL, rc, uri->text, "", error, error_size);
		return -1;
	}
	set_timeouts_ms(ld, left);
	if (ld_prepare(c, ld) < 0) {
		snprintf(error, error_size, "%s: cannot set up the TLS context (ca_file %s)",
			 uri->text, c->ca_file != NULL ? c->ca_file : "system");
		goto fail;
	}
	/* TCP connect and, for ldaps://, the TLS handshake and certificate
	 * check, bounded by LDAP_OPT_NETWORK_TIMEOUT. */
	rc = ldap_connect(ld);
	if (rc != LDAP_SUCCESS) {
		if (uri->ldaps)
			tls_error(c, uri, ld, rc, " (TCP or TLS)", deadline_ms, error, error_size);
		else
			ld_error(ld, rc, uri->text, "", error, error_size);
		goto fail;
	}
	if (uri->ldaps) {
		PROV_LDAP_TRACE(req, "ldap: %s: TLS established, certificate %s", uri->text,
				c->insecure_tls ? "NOT verified (insecure_tls)"
						: "and host name verified");
	} else if (c->starttls) {
		set_timeouts_ms(ld, clock_left_ms(deadline_ms));
		rc = ldap_start_tls_s(ld, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			tls_error(c, uri, ld, rc, ": StartTLS", deadline_ms, error, error_size);
			goto fail;
		}
		PROV_LDAP_TRACE(req, "ldap: %s: StartTLS established, certificate %s", uri->text,
				c->insecure_tls ? "NOT verified (insecure_tls)"
						: "and host name verified");
	} else {
		PROV_LDAP_TRACE(req, "ldap: %s: connected WITHOUT TLS (insecure = yes)", uri->text);
	}
	if ((uri->ldaps || c->starttls) && !ldap_tls_inplace(ld)) {
		snprintf(error, error_size, "%s: TLS expected but not in place", uri->text);
		goto fail;
	}
	sb_deadline_disarm(ld);
	if (clock_left_ms(deadline_ms) <= 0) {
		snprintf(error, error_size, "%s: connected too late", uri->text);
		goto fail;
	}
	*ld_r = ld;
	return 0;
fail:
	prov_ldap_close(&ld);
	return -1;
}

int prov_ldap_connect(const struct prov_ldap_conf *c, int64_t deadline_ms,
		      const struct auth_request *req, LDAP **ld_r,
		      char *error, size_t error_size)
{
	bool tried[c->uri_count];
	size_t remaining = c->uri_count;

	memset(tried, 0, sizeof tried);
	*ld_r = NULL;
	snprintf(error, error_size, "no URI");
	/* Two passes: servers not marked down first, then the others. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < c->uri_count; i++) {
			struct prov_ldap_uri *uri = &c->uris[i];
			int64_t now = clock_now_ms(), share;

			if (tried[i])
				continue;
			if (pass == 0 && atomic_load(&uri->down_until_ms) > now &&
			    remaining > 1)
				continue;
			tried[i] = true;
			share = (deadline_ms - now) / (int64_t)remaining;
			remaining--;
			if (prov_ldap_connect_uri(c, i, now + share, req, ld_r, error,
						  error_size) == 0) {
				atomic_store(&uri->down_until_ms, 0);
				return 0;
			}
			atomic_store(&uri->down_until_ms, clock_now_ms() + PROV_LDAP_DOWN_BACKOFF_MS);
			log_warnx("ldap %s: %s", c->name, error);
			PROV_LDAP_TRACE(req, "ldap: %s", error);
		}
	}
	return -1;
}

bool prov_ldap_idle_alive(LDAP *ld)
{
	struct pollfd pfd = { .fd = -1, .events = POLLIN | POLLRDHUP };

	if (ldap_get_option(ld, LDAP_OPT_DESC, &pfd.fd) != LDAP_OPT_SUCCESS || pfd.fd < 0)
		return false;
	/* An idle connection has nothing to read: readable means EOF, a
	 * reset, or a Notice of Disconnection. None of them is usable. */
	if (poll(&pfd, 1, 0) != 0)
		return false;
	return true;
}

int prov_ldap_simple_bind(LDAP *ld, const char *dn, const char *password,
			  size_t password_len, bool ppolicy,
			  int64_t deadline_ms, struct prov_ldap_bind_result *out)
{
	struct berval cred = { password_len, (char *)password };
	LDAPControl *pp_req = NULL, *sctrls[2] = { NULL, NULL };
	LDAPControl **rctrls = NULL;
	LDAPMessage *res = NULL;
	char *diag = NULL;
	struct timeval tv;
	int msgid = -1, rc, err = LDAP_OTHER;

	memset(out, 0, sizeof *out);
	out->ad_code = -1;
	out->pp_error = -1;
	if (clock_left_ms(deadline_ms) < PROV_LDAP_MIN_OP_MS) {
		snprintf(out->detail, sizeof out->detail, "no time left to bind");
		return -1;
	}
	if (ppolicy && ldap_create_passwordpolicy_control(ld, &pp_req) == LDAP_SUCCESS) {
		pp_req->ldctl_iscritical = 0;
		sctrls[0] = pp_req;
	}
	prov_ldap_set_timeouts(ld, deadline_ms);
	rc = ldap_sasl_bind(ld, dn, LDAP_SASL_SIMPLE, &cred,
			    sctrls[0] != NULL ? sctrls : NULL, NULL, &msgid);
	if (pp_req != NULL)
		ldap_control_free(pp_req);
	if (rc != LDAP_SUCCESS) {
		/* Encoding or write failure: the request may be partly on the
		 * wire, so this still counts as sent. */
		snprintf(out->detail, sizeof out->detail, "bind not sent completely: %s",
			 ldap_err2string(rc));
		return 0;
	}
	ms_to_tv(clock_left_ms(deadline_ms), &tv);
	rc = ldap_result(ld, msgid, LDAP_MSG_ALL, &tv, &res);
	if (rc == 0) {
		snprintf(out->detail, sizeof out->detail, "no answer to the bind before the deadline");
		return 0;
	}
	if (rc < 0 || res == NULL) {
		ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &err);
		snprintf(out->detail, sizeof out->detail, "connection lost after the bind was sent: %s",
			 ldap_err2string(err));
		return 0;
	}
	rc = ldap_parse_result(ld, res, &err, NULL, &diag, NULL, &rctrls, 1);
	if (rc != LDAP_SUCCESS) {
		snprintf(out->detail, sizeof out->detail, "unreadable bind response: %s",
			 ldap_err2string(rc));
		ldap_memfree(diag);
		ldap_controls_free(rctrls);
		return 0;
	}
	out->answered = true;
	out->rc = err;
	out->ad_code = prov_ldap_ad_data_code(diag);
	if (rctrls != NULL) {
		LDAPControl *ctrl = ldap_control_find(LDAP_CONTROL_PASSWORDPOLICYRESPONSE,
						      rctrls, NULL);
		ber_int_t expire, grace;
		LDAPPasswordPolicyError pperr;

		if (ctrl != NULL &&
		    ldap_parse_passwordpolicy_control(ld, ctrl, &expire, &grace, &pperr) == LDAP_SUCCESS)
			out->pp_error = pperr == PP_noError ? -1 : (int)pperr;
		ldap_controls_free(rctrls);
	}
	/* The diagnostic is the server's text about the bind, never an echo
	 * of the password; keep it short for the logs. */
	snprintf(out->detail, sizeof out->detail, "%s (%d)%s%.100s", ldap_err2string(err), err,
		 diag != NULL && diag[0] != '\0' ? ": " : "", diag != NULL ? diag : "");
	ldap_memfree(diag);
	return 0;
}

int prov_ldap_search(LDAP *ld, const char *base, int scope, const char *filter,
		     int sizelimit, int64_t deadline_ms, LDAPMessage **res_r)
{
	static char *attrs_none[] = { LDAP_NO_ATTRS, NULL };

	return prov_ldap_search_attrs(ld, base, scope, filter, attrs_none, sizelimit, deadline_ms,
				      res_r);
}

int prov_ldap_search_attrs(LDAP *ld, const char *base, int scope, const char *filter,
			   char **attrs, int sizelimit, int64_t deadline_ms, LDAPMessage **res_r)
{
	struct timeval tv;
	int64_t left = clock_left_ms(deadline_ms);

	*res_r = NULL;
	if (left < PROV_LDAP_MIN_OP_MS)
		return LDAP_TIMEOUT;
	ms_to_tv(left, &tv);
	prov_ldap_set_timeouts(ld, deadline_ms);
	return ldap_search_ext_s(ld, base, scope, filter, attrs, 0, NULL, NULL,
				 &tv, sizelimit, res_r);
}
