#include "netio.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"

enum netio_status netio_wait(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = clock_left_ms(deadline_ms);
		int n;

		if (left <= 0)
			return NETIO_TIMEOUT;
		n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0)
			return NETIO_OK;
		if (n == 0)
			return NETIO_TIMEOUT;
		if (errno != EINTR)
			return NETIO_FAILED;
	}
}

enum netio_status netio_connect(const struct addrinfo *ai, int64_t deadline_ms, int *fd_r)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
	enum netio_status st = NETIO_OK;
	socklen_t elen;
	int err = 0;

	*fd_r = -1;
	if (fd < 0)
		return NETIO_FAILED;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			st = NETIO_FAILED;
		} else if ((st = netio_wait(fd, POLLOUT, deadline_ms)) == NETIO_OK) {
			elen = sizeof err;
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0) {
				errno = err != 0 ? err : errno;
				st = NETIO_FAILED;
			}
		}
	}
	if (st != NETIO_OK) {
		close(fd);
		return st;
	}
	*fd_r = fd;
	return NETIO_OK;
}

/* After EAGAIN/EINTR: whether to try again. */
static enum netio_status retry(int fd, short events, int64_t deadline_ms)
{
	if (errno == EINTR)
		return NETIO_OK;
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		return NETIO_FAILED;
	return netio_wait(fd, events, deadline_ms);
}

enum netio_status netio_write_all(int fd, const void *buf, size_t len, int64_t deadline_ms)
{
	const char *p = buf;
	enum netio_status st;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n == 0) {
			return NETIO_FAILED;
		} else if ((st = retry(fd, POLLOUT, deadline_ms)) != NETIO_OK) {
			return st;
		}
	}
	return NETIO_OK;
}

enum netio_status netio_read_some(int fd, void *buf, size_t size, size_t *n_r,
				  int64_t deadline_ms)
{
	enum netio_status st;

	for (;;) {
		ssize_t n = recv(fd, buf, size, 0);

		if (n > 0) {
			*n_r = (size_t)n;
			return NETIO_OK;
		}
		if (n == 0) {
			errno = ECONNRESET;
			return NETIO_FAILED;
		}
		if ((st = retry(fd, POLLIN, deadline_ms)) != NETIO_OK)
			return st;
	}
}

enum netio_status netio_read_all(int fd, void *buf, size_t len, int64_t deadline_ms)
{
	char *p = buf;
	enum netio_status st;
	size_t n;

	while (len > 0) {
		if ((st = netio_read_some(fd, p, len, &n, deadline_ms)) != NETIO_OK)
			return st;
		p += n;
		len -= n;
	}
	return NETIO_OK;
}

/* SSL_ERROR_WANT_* -> wait for the socket; anything else fails. */
static enum netio_status ssl_wait(SSL *ssl, int fd, int ret, int64_t deadline_ms)
{
	switch (SSL_get_error(ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return netio_wait(fd, POLLIN, deadline_ms);
	case SSL_ERROR_WANT_WRITE:
		return netio_wait(fd, POLLOUT, deadline_ms);
	default:
		ERR_clear_error();
		return NETIO_FAILED;
	}
}

enum netio_status netio_ssl_handshake(SSL *ssl, int fd, int64_t deadline_ms)
{
	enum netio_status st;
	int r;

	while ((r = SSL_connect(ssl)) != 1)
		if ((st = ssl_wait(ssl, fd, r, deadline_ms)) != NETIO_OK)
			return st;
	return NETIO_OK;
}

enum netio_status netio_ssl_write_all(SSL *ssl, int fd, const void *buf, size_t len,
				      int64_t deadline_ms)
{
	const char *p = buf;
	enum netio_status st;

	while (len > 0) {
		int r = SSL_write(ssl, p, len > INT_MAX ? INT_MAX : (int)len);

		if (r > 0) {
			p += r;
			len -= (size_t)r;
		} else if ((st = ssl_wait(ssl, fd, r, deadline_ms)) != NETIO_OK) {
			return st;
		}
	}
	return NETIO_OK;
}

enum netio_status netio_ssl_read_some(SSL *ssl, int fd, void *buf, size_t size, size_t *n_r,
				      int64_t deadline_ms)
{
	enum netio_status st;

	for (;;) {
		int r = SSL_read(ssl, buf, size > INT_MAX ? INT_MAX : (int)size);

		if (r > 0) {
			*n_r = (size_t)r;
			return NETIO_OK;
		}
		if ((st = ssl_wait(ssl, fd, r, deadline_ms)) != NETIO_OK)
			return st;
	}
}
