#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"

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
		pd->drop = true;
		pd->uid = pw->pw_uid;
		pd->gid = pw->pw_gid;
		snprintf(pd->name, sizeof pd->name, "%s", user);
	}
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
