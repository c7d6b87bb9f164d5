#include "privdrop.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

int privdrop_lookup(const char *user, uid_t *uid_r, gid_t *gid_r, const char **error_r)
{
	struct passwd *pw = getpwnam(user);

	if (pw == NULL) {
		*error_r = "no such user";
		return -1;
	}
	if (pw->pw_uid == 0) {
		*error_r = "user must not be root";
		return -1;
	}
	*uid_r = pw->pw_uid;
	*gid_r = pw->pw_gid;
	return 0;
}

int privdrop_prepare(const char *user, struct privdrop *pd, const char **error_r)
{
	struct rlimit no_core = { 0, 0 };

	memset(pd, 0, sizeof *pd);
	/* Memory holds passwords: never in a core file, never readable
	 * through /proc or ptrace by anyone but root. */
	if (setrlimit(RLIMIT_CORE, &no_core) < 0 || prctl(PR_SET_DUMPABLE, 0) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	if (user == NULL || *user == '\0') {
		if (geteuid() == 0)
			log_warnx("running as root without [server] user: every capability is "
				  "kept; set user = to drop to an unprivileged user after binding");
		return 0;
	}
	if (geteuid() != 0) {
		log_warnx("user = %s ignored: dagate was not started as root", user);
		return 0;
	}
	if (privdrop_lookup(user, &pd->uid, &pd->gid, error_r) < 0)
		return -1;
	pd->drop = true;
	snprintf(pd->name, sizeof pd->name, "%s", user);
	/* The bounding set is per thread and inherited: empty it before any
	 * thread exists. What root holds now stays effective until setuid. */
	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno == EINVAL)
			break;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return 0;
}

int privdrop_apply(const struct privdrop *pd, const char **error_r)
{
	if (!pd->drop)
		return 0;
	/* glibc applies the set*id calls to every thread of the process. */
	if (initgroups(pd->name, pd->gid) < 0 || setresgid(pd->gid, pd->gid, pd->gid) < 0 ||
	    setresuid(pd->uid, pd->uid, pd->uid) < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	if (setuid(0) == 0 || seteuid(0) == 0) {
		*error_r = "root could be regained";
		return -1;
	}
	/* Changing credentials resets dumpable to the sysctl default. */
	prctl(PR_SET_DUMPABLE, 0);
	log_info("running as user %s (uid %u)", pd->name, (unsigned)pd->uid);
	return 0;
}

/* In the child: become the user, then one byte per path, '1' when it can
 * be opened for reading. Never returns. */
static void readable_child(const char *user, uid_t uid, gid_t gid, const char *const *paths,
			   size_t count, int out)
{
	if (initgroups(user, gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		_exit(1);
	for (size_t i = 0; i < count; i++) {
		char ok = access(paths[i], R_OK) == 0 ? '1' : '0';

		if (write(out, &ok, 1) != 1)
			_exit(1);
	}
	_exit(0);
}

int privdrop_check_readable(const char *user, const char *const *paths, size_t count,
			    bool *readable, const char **error_r)
{
	uid_t uid;
	gid_t gid;
	size_t got = 0;
	int fds[2], status = 0;
	pid_t pid;

	if (privdrop_lookup(user, &uid, &gid, error_r) < 0)
		return -1;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		*error_r = strerror(errno);
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		readable_child(user, uid, gid, paths, count, fds[1]);
	}
	close(fds[1]);
	while (got < count) {
		char c;
		ssize_t n = read(fds[0], &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n != 1)
			break;
		readable[got++] = c == '1';
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (got < count || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		*error_r = "could not become the user to try";
		return -1;
	}
	return 0;
}
