/*
 * A private redis-server for the unit tests that need a real one
 * (test_throttle, test_token_redis): loopback only, its own port and
 * directory, no persistence, stopped by PID. Header-only, like unit.h.
 * A test that cannot start it fails (CHECK on redis_wait_port), never
 * skips.
 */
#ifndef DAGATE_REDIS_SERVER_H
#define DAGATE_REDIS_SERVER_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define REDIS_BIN "/usr/bin/redis-server"

/* A loopback port nothing listens on right now. */
static inline int redis_free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		abort();
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static inline bool redis_port_open(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
	close(fd);
	return ok;
}

/* Until 127.0.0.1:port accepts a connection, for 3 s at the most. */
static inline bool redis_wait_port(int port)
{
	for (int i = 0; i < 300; i++) {
		if (redis_port_open(port))
			return true;
		usleep(10000);
	}
	return false;
}

/*
 * Start redis-server on 127.0.0.1:port (0: no plain TCP port) with its
 * files in dir; extra arguments NULL-terminated, or NULL. Returns its PID
 * at once: wait with redis_wait_port().
 */
static inline pid_t redis_start(const char *dir, int port, const char *const *extra)
{
	char port_text[16];
	const char *argv[40];
	size_t n = 0;
	pid_t pid;

	snprintf(port_text, sizeof port_text, "%d", port);
	argv[n++] = REDIS_BIN;
	argv[n++] = "--bind";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--port";
	argv[n++] = port_text;
	argv[n++] = "--save";
	argv[n++] = "";
	argv[n++] = "--appendonly";
	argv[n++] = "no";
	argv[n++] = "--dir";
	argv[n++] = dir;
	argv[n++] = "--loglevel";
	argv[n++] = "warning";
	for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 39; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, STDOUT_FILENO);
		execv(REDIS_BIN, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* SIGKILL: what a crash looks like to the client (nothing is saved). */
static inline void redis_stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

#endif
