/*
 * Socket I/O bounded by an absolute deadline (clock_now_ms() clock): the
 * one wait/connect/read/write loop of the Redis transport, the KDC
 * transport of the http provider's Negotiate and the LDAP socket's wait.
 * Sockets are non-blocking; every wait is a poll() of at most the time
 * left; EINTR is retried, never counted as a failure.
 */
#ifndef DAGATE_NETIO_H
#define DAGATE_NETIO_H

#include <netdb.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum netio_status {
	NETIO_OK = 0,
	NETIO_FAILED,    /* the peer or the socket failed (errno set): try another */
	NETIO_TIMEOUT,   /* the deadline passed: stop */
};

/* Wait until `fd` is ready for `events` (POLLIN, POLLOUT). The fd may be
 * someone else's (libldap's socket under its sockbuf): it is only polled. */
enum netio_status netio_wait(int fd, short events, int64_t deadline_ms);

/* A non-blocking TCP socket connected to `ai` (SOCK_CLOEXEC). On NETIO_OK
 * *fd_r is the socket, else -1 and nothing is left open. */
enum netio_status netio_connect(const struct addrinfo *ai, int64_t deadline_ms, int *fd_r);

/* All `len` bytes, or a failure (a closed peer is NETIO_FAILED). */
enum netio_status netio_write_all(int fd, const void *buf, size_t len, int64_t deadline_ms);
enum netio_status netio_read_all(int fd, void *buf, size_t len, int64_t deadline_ms);
/* At least one byte and at most `size` into *n_r. */
enum netio_status netio_read_some(int fd, void *buf, size_t size, size_t *n_r,
				  int64_t deadline_ms);

/* The same over TLS on `ssl` (whose fd is `fd`). */
enum netio_status netio_ssl_handshake(SSL *ssl, int fd, int64_t deadline_ms);
enum netio_status netio_ssl_write_all(SSL *ssl, int fd, const void *buf, size_t len,
				      int64_t deadline_ms);
enum netio_status netio_ssl_read_some(SSL *ssl, int fd, void *buf, size_t size, size_t *n_r,
				      int64_t deadline_ms);

#endif
