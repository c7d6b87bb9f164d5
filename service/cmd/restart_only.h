/*
 * What a reload cannot apply. The token store, the requesters that may use
 * it and the throttle (with its counts) are built once at start-up and
 * outlive configuration generations; the process became `[server] user`
 * once. A SIGHUP that loads something else for them applies everything
 * else and says which of these wait for a restart.
 */
#ifndef DAGATE_CMD_RESTART_ONLY_H
#define DAGATE_CMD_RESTART_ONLY_H

#include <stddef.h>

#include "config.h"

/* A copy of the restart-only parts of the configuration serve started
 * with (it outlives that config, which the first reload frees). */
struct restart_only {
	struct conf_section *sections;   /* [tokens], [requester NAME], [throttle] */
	char *user;                      /* [server] user, NULL when unset or empty */
};

/* 0, or -1 when out of memory (`ro` is then empty, and every section
 * present in a later config counts as changed). */
int restart_only_save(const struct dagate_config *cfg, struct restart_only *ro);
void restart_only_clear(struct restart_only *ro);

/* The restart-only parts that differ between what started (`ro`) and
 * `loaded`, as text for a log line ("[tokens], [requester ops], [server]
 * user") in `out`; the number of them (0: `out` is ""). Sections are
 * compared by their entries (key and value, in order), not by line numbers
 * or comments; files they name are not read. */
size_t restart_only_changes(const struct restart_only *ro, const struct dagate_config *loaded,
			    char *out, size_t size);

#endif
