/*
 * NTLM through Samba's ntlm_auth helper (sso.h): the helper's line
 * protocol, and one child per handshake with only its pipes open.
 */
#include "sso.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"

extern char **environ;

/* A helper line: TT carries a type 2 message (a few hundred bytes of
 * base64), AF a DOMAIN\user, NA/BH a short reason. */
#define SSO_NTLM_LINE_MAX 8192

struct sso_ntlm {
	pid_t pid;
	int to_fd, from_fd;             /* the helper's stdin, stdout */
	size_t len;                     /* bytes in `line` */
	char line[SSO_NTLM_LINE_MAX];
};

static atomic_uint handshakes;

int sso_ntlm_message_type(const char *b64)
{
	static const char sig[8] = "NTLMSSP";
	unsigned char head[13];
	size_t len = strlen(b64);
	const char *pad = strchr(b64, '=');

	/* The shortest message (a type 1: signature, type, flags) is 16 bytes. */
	if (len < 24 || len > SSO_TOKEN_B64_MAX || len % 4 != 0 ||
	    strspn(b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != len ||
	    (pad != NULL && (pad < b64 + len - 2 || strspn(pad, "=") != (size_t)(b64 + len - pad))))
		return 0;
	/* 16 characters: the signature (8 bytes with its NUL) and the type. */
	if (EVP_DecodeBlock(head, (const unsigned char *)b64, 16) != 12 ||
	    memcmp(head, sig, sizeof sig) != 0 || head[9] != 0 || head[10] != 0 || head[11] != 0 ||
	    head[8] < 1 || head[8] > 3)
		return 0;
	return head[8];
}

enum sso_ntlm_reply sso_ntlm_reply_parse(const char *line, const char **arg_r)
{
	static const struct { const char *word; enum sso_ntlm_reply kind; } kinds[] = {
		{ "TT", SSO_NTLM_TT }, { "AF", SSO_NTLM_AF }, { "NA", SSO_NTLM_NA },
		{ "BH", SSO_NTLM_BH },
	};

	*arg_r = "";
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		if (strncmp(line, kinds[i].word, 2) != 0 || (line[2] != ' ' && line[2] != '\0'))
			continue;
		*arg_r = line[2] == ' ' ? line + 3 : line + 2;
		/* TT and AF are nothing without their argument. */
		if ((kinds[i].kind == SSO_NTLM_TT || kinds[i].kind == SSO_NTLM_AF) && **arg_r == '\0')
			return SSO_NTLM_GARBLED;
		return kinds[i].kind;
	}
	return SSO_NTLM_GARBLED;
}

int sso_ntlm_principal(const char *af, char *out, size_t size)
{
	const char *sep = strchr(af, '\\'), *user;
	size_t dlen;

	out[0] = '\0';
	if (sep == NULL || sep == af || sep[1] == '\0')
		return -1;
	user = sep + 1;
	dlen = (size_t)(sep - af);
	if (strpbrk(user, "@/\\") != NULL || memchr(af, '@', dlen) != NULL ||
	    strlen(user) + 1 + dlen >= size)
		return -1;
	snprintf(out, size, "%s@%.*s", user, (int)dlen, af);
	for (char *p = out + strlen(user) + 1; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	return 0;
}

/* The child: stdin and stdout the pipes, stderr /dev/null, every other
 * descriptor closed, default signal dispositions and an empty mask (the
 * serving threads block the signals serve waits for). */
static int spawn(const struct sso_config *sso, int in_fd, int out_fd, pid_t *pid_r)
{
	char config[4096];
	char *argv[] = { (char *)sso->ntlm_auth, "--helper-protocol=squid-2.5-ntlmssp",
			 sso->ntlm_auth_config != NULL ? config : NULL, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int err;

	if (sso->ntlm_auth_config != NULL &&
	    snprintf(config, sizeof config, "--configfile=%s", sso->ntlm_auth_config) >=
	    (int)sizeof config)
		return ENAMETOOLONG;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	err = posix_spawn(pid_r, sso->ntlm_auth, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return err;
}

int sso_ntlm_start(const struct sso_config *sso, struct sso_ntlm **n_r, const char **error_r)
{
	struct sso_ntlm *n;
	int to[2] = { -1, -1 }, from[2] = { -1, -1 };

	*n_r = NULL;
	if (atomic_fetch_add(&handshakes, 1) >= SSO_NTLM_MAX_HANDSHAKES) {
		atomic_fetch_sub(&handshakes, 1);
		*error_r = "too many NTLM handshakes at once";
		return -1;
	}
	n = calloc(1, sizeof *n);
	if (n == NULL || pipe2(to, O_CLOEXEC) < 0 || pipe2(from, O_CLOEXEC) < 0 ||
	    spawn(sso, to[0], from[1], &n->pid) != 0) {
		for (int i = 0; i < 2; i++) {
			if (to[i] >= 0)
				close(to[i]);
			if (from[i] >= 0)
				close(from[i]);
		}
		free(n);
		atomic_fetch_sub(&handshakes, 1);
		*error_r = "cannot start ntlm_auth";
		return -1;
	}
	close(to[0]);
	close(from[1]);
	n->to_fd = to[1];
	n->from_fd = from[0];
	fcntl(n->to_fd, F_SETFL, O_NONBLOCK);
	fcntl(n->from_fd, F_SETFL, O_NONBLOCK);
	*n_r = n;
	return 0;
}

/* Wait for `events` on fd until deadline_ms: 1 ready, 0 timed out, -1. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		int64_t left = deadline_ms - clock_now_ms();
		struct pollfd p = { .fd = fd, .events = events };
		int r;

		if (left <= 0)
			return 0;
		r = poll(&p, 1, left > 1000 ? 1000 : (int)left);
		if (r > 0)
			return (p.revents & events) != 0 ? 1 : -1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static int write_all(int fd, const char *buf, size_t len, int64_t deadline_ms)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);

		if (w > 0) {
			buf += w;
			len -= (size_t)w;
		} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
			return -1;
		} else if (w < 0 && errno == EAGAIN && wait_fd(fd, POLLOUT, deadline_ms) <= 0) {
			return -1;
		}
	}
	return 0;
}

/* One line into n->line (NUL-terminated, without '\n'). */
static int read_line(struct sso_ntlm *n, int64_t deadline_ms)
{
	n->len = 0;
	for (;;) {
		ssize_t r = read(n->from_fd, n->line + n->len, sizeof n->line - 1 - n->len);
		char *nl;

		if (r > 0) {
			n->len += (size_t)r;
			n->line[n->len] = '\0';
			if ((nl = memchr(n->line, '\n', n->len)) != NULL) {
				*nl = '\0';
				return 0;
			}
			if (n->len == sizeof n->line - 1)
				return -1;
		} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
			return -1;
		} else if (errno == EAGAIN && wait_fd(n->from_fd, POLLIN, deadline_ms) <= 0) {
			return -1;
		}
	}
}

enum sso_ntlm_reply sso_ntlm_step(struct sso_ntlm *n, const char *cmd, const char *blob,
				  int64_t deadline_ms, const char **arg_r, const char **error_r)
{
	enum sso_ntlm_reply r;

	*arg_r = "";
	*error_r = NULL;
	if (write_all(n->to_fd, cmd, strlen(cmd), deadline_ms) < 0 ||
	    write_all(n->to_fd, " ", 1, deadline_ms) < 0 ||
	    write_all(n->to_fd, blob, strlen(blob), deadline_ms) < 0 ||
	    write_all(n->to_fd, "\n", 1, deadline_ms) < 0) {
		*error_r = "ntlm_auth did not take the message";
		return SSO_NTLM_GARBLED;
	}
	if (read_line(n, deadline_ms) < 0) {
		*error_r = clock_now_ms() >= deadline_ms ? "ntlm_auth did not answer in time"
							  : "ntlm_auth went away or answered garbage";
		return SSO_NTLM_GARBLED;
	}
	r = sso_ntlm_reply_parse(n->line, arg_r);
	if (r == SSO_NTLM_GARBLED)
		*error_r = "ntlm_auth answered garbage";
	return r;
}

void sso_ntlm_free(struct sso_ntlm **np)
{
	struct sso_ntlm *n = *np;

	if (n == NULL)
		return;
	close(n->to_fd);
	close(n->from_fd);
	kill(n->pid, SIGKILL);
	while (waitpid(n->pid, NULL, 0) < 0 && errno == EINTR)
		;
	explicit_bzero(n->line, sizeof n->line);
	free(n);
	atomic_fetch_sub(&handshakes, 1);
	*np = NULL;
}
