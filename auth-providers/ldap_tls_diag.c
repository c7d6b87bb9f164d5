/*
 * Why a TLS connection to a directory failed, in the words operators know
 * ("TLS: certificate verify failed (unable to get local issuer
 * certificate)").
 *
 * The libldap this is built against may use GnuTLS, which reports every
 * failed handshake or certificate check as "Can't contact LDAP server"
 * with no reason: the same words as a directory that is down. After such
 * a failure, a second connection repeats TCP, StartTLS and the handshake
 * with OpenSSL and the same trust (ca_file or the system's), sends nothing
 * else (no bind, no credential), and names the first step that fails.
 * It only explains: the failure was libldap's and stays a failure.
 */
#include "ldap_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "netio.h"

/* The StartTLS extended request (RFC 4511 4.14.1), message id 1. */
static const unsigned char starttls_request[] = {
	0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16,
	'1', '.', '3', '.', '6', '.', '1', '.', '4', '.', '1', '.',
	'1', '4', '6', '6', '.', '2', '0', '0', '3', '7',
};
/* A StartTLS response is a result code and at most a short diagnostic. */
#define STARTTLS_RESPONSE_MAX 1024

static bool is_ip_literal(const char *host)
{
	unsigned char addr[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* A TCP connection to host:port; on failure, the reason in `cause`. */
static int tcp_connect(const char *host, int port, int64_t deadline_ms, int *fd_r,
		       char *cause, size_t size)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *list = NULL;
	enum netio_status st = NETIO_FAILED;
	char service[16];
	int gai, err = 0;

	snprintf(service, sizeof service, "%d", port);
	gai = getaddrinfo(host, service, &hints, &list);
	if (gai != 0) {
		snprintf(cause, size, "cannot resolve %s: %s", host, gai_strerror(gai));
		return -1;
	}
	for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
		st = netio_connect(ai, deadline_ms, fd_r);
		if (st != NETIO_FAILED)
			break;
		err = errno;
	}
	freeaddrinfo(list);
	if (st == NETIO_OK)
		return 0;
	if (st == NETIO_TIMEOUT)
		snprintf(cause, size, "TCP connect: no answer before the deadline");
	else
		snprintf(cause, size, "TCP connect: %s", strerror(err));
	return -1;
}

/* Send StartTLS and read its result; 0 when the server agreed. */
static int starttls(int fd, int64_t deadline_ms, char *cause, size_t size)
{
	unsigned char buf[STARTTLS_RESPONSE_MAX];
	struct berval bv = { 0, (char *)buf };
	BerElement *ber;
	size_t have = 0, need = 0, n;
	ber_int_t msgid = 0, code = -1;

	if (netio_write_all(fd, starttls_request, sizeof starttls_request, deadline_ms) != NETIO_OK) {
		snprintf(cause, size, "StartTLS: the request could not be sent");
		return -1;
	}
	/* SEQUENCE, then a short (< 128) or long (0x81, 0x82) length. */
	while (need == 0 || have < need) {
		if (netio_read_some(fd, buf + have, sizeof buf - have, &n, deadline_ms) != NETIO_OK) {
			snprintf(cause, size, "StartTLS: no answer from the server");
			return -1;
		}
		have += n;
		if (have >= 2 && buf[1] < 0x80)
			need = 2 + (size_t)buf[1];
		else if (have >= 3 && buf[1] == 0x81)
			need = 3 + (size_t)buf[2];
		else if (have >= 4 && buf[1] == 0x82)
			need = 4 + ((size_t)buf[2] << 8 | buf[3]);
		if (buf[0] != 0x30 || (have >= 2 && buf[1] > 0x82) || need > sizeof buf) {
			snprintf(cause, size, "StartTLS: the answer is not an LDAP message");
			return -1;
		}
	}
	bv.bv_len = need;
	ber = ber_init(&bv);
	if (ber == NULL || ber_scanf(ber, "{i{e", &msgid, &code) == LBER_ERROR) {
		if (ber != NULL)
			ber_free(ber, 1);
		snprintf(cause, size, "StartTLS: the answer is not an LDAP message");
		return -1;
	}
	ber_free(ber, 1);
	if (code != LDAP_SUCCESS) {
		snprintf(cause, size, "StartTLS refused by the server: %s (%d)",
			 ldap_err2string(code), code);
		return -1;
	}
	return 0;
}

/* The handshake, then what OpenSSL thinks of the certificate. Returns 0
 * with a cause, -1 when everything checks out. */
static int tls_check(const struct prov_ldap_conf *c, const char *host, int fd,
		     int64_t deadline_ms, char *cause, size_t size)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	X509 *peer = NULL;
	enum netio_status st;
	long verify;
	int found = 0;

	if (ctx == NULL || (ssl = SSL_new(ctx)) == NULL) {
		snprintf(cause, size, "TLS: out of memory");
		goto out;
	}
	SSL_set_min_proto_version(ssl, TLS1_2_VERSION);
	if (c->ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, c->ca_file, NULL) != 1
			       : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(cause, size, "TLS: cannot load the trusted certificates from %s",
			 c->ca_file != NULL ? c->ca_file : "the system store");
		found = 1;
		goto out;
	}
	/* Not verified during the handshake: the verdict is read after it. */
	SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	if (is_ip_literal(host)) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	} else {
		SSL_set_tlsext_host_name(ssl, host);
		SSL_set1_host(ssl, host);
	}
	SSL_set_fd(ssl, fd);
	ERR_clear_error();
	st = netio_ssl_handshake(ssl, fd, deadline_ms);
	if (st != NETIO_OK) {
		unsigned long e = ERR_peek_last_error();

		snprintf(cause, size, "TLS: handshake failed: %s",
			 st == NETIO_TIMEOUT ? "no answer before the deadline" :
			 e != 0 && ERR_reason_error_string(e) != NULL ? ERR_reason_error_string(e) :
			 "the server closed the connection");
		found = 1;
		goto out;
	}
	if (c->insecure_tls)
		goto out;   /* certificates are not checked: nothing to explain */
	peer = SSL_get1_peer_certificate(ssl);
	verify = SSL_get_verify_result(ssl);
	if (peer == NULL) {
		snprintf(cause, size, "TLS: the server sent no certificate");
		found = 1;
	} else if (verify != X509_V_OK) {
		snprintf(cause, size, "TLS: certificate verify failed (%s)",
			 X509_verify_cert_error_string(verify));
		found = 1;
	}
out:
	X509_free(peer);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return found ? 0 : -1;
}

/* OpenSSL writes to the socket with write(): a server that already closed
 * the connection raises SIGPIPE, which kills a command that does not
 * ignore it (probe, test-user). Blocked for this thread meanwhile, and one
 * raised here is taken off the thread before it is unblocked. */
static void sigpipe_block(sigset_t *old)
{
	sigset_t pipe;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, old);
}

static void sigpipe_restore(const sigset_t *old)
{
	static const struct timespec now = { 0, 0 };
	sigset_t pipe, pending;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	if (!sigismember(old, SIGPIPE) && sigpending(&pending) == 0 &&
	    sigismember(&pending, SIGPIPE))
		while (sigtimedwait(&pipe, NULL, &now) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

int prov_ldap_tls_explain(const struct prov_ldap_conf *c, const struct prov_ldap_uri *uri,
			  int64_t deadline_ms, char *cause, size_t size)
{
	LDAPURLDesc *lud = NULL;
	int fd = -1, port, ret = -1;
	sigset_t mask;

	cause[0] = '\0';
	if (clock_left_ms(deadline_ms) < PROV_LDAP_MIN_OP_MS ||
	    ldap_url_parse(uri->text, &lud) != LDAP_URL_SUCCESS)
		return -1;
	port = lud->lud_port != 0 ? lud->lud_port : uri->ldaps ? LDAPS_PORT : LDAP_PORT;
	sigpipe_block(&mask);
	if (tcp_connect(lud->lud_host, port, deadline_ms, &fd, cause, size) < 0 ||
	    (!uri->ldaps && starttls(fd, deadline_ms, cause, size) < 0))
		ret = 0;
	else
		ret = tls_check(c, lud->lud_host, fd, deadline_ms, cause, size);
	if (fd >= 0)
		close(fd);
	sigpipe_restore(&mask);
	ldap_free_urldesc(lud);
	return ret;
}
