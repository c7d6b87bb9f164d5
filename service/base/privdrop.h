/*
 * Least privilege for `serve`. Before any thread exists: no core files, no
 * ptrace by other users, no new privileges through execve, and (as root
 * with `user` set) an empty capability bounding set. After the sockets are
 * bound and the TLS key read: become `user`, which empties the permitted
 * and effective capability sets of every thread.
 */
#ifndef DAGATE_PRIVDROP_H
#define DAGATE_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct privdrop {
	bool drop;        /* started as root with `user` set */
	uid_t uid;
	gid_t gid;
	char name[64];
};

/* The uid and gid `user` stands for; refused when unknown or root. No
 * change to the process (check-config asks it too). */
int privdrop_lookup(const char *user, uid_t *uid_r, gid_t *gid_r, const char **error_r);
/* Which of `paths` `user` can open for reading (readable[i]), tried by a
 * child process that becomes the user (root only; check-config). -1 when
 * the try itself failed. */
int privdrop_check_readable(const char *user, const char *const *paths, size_t count,
			    bool *readable, const char **error_r);
/* Call first thing in serve, single-threaded. `user` may be NULL. */
int privdrop_prepare(const char *user, struct privdrop *pd, const char **error_r);
/* Become the user (no-op unless pd->drop); verifies root cannot be regained. */
int privdrop_apply(const struct privdrop *pd, const char **error_r);

#endif
