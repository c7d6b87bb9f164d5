/*
 * Backend state known from the start: a thread of `serve` that probes
 * every provider's backend the way `dagate probe` does (provider.h), once
 * when a configuration generation starts and then every `[server]
 * probe_interval`, off the request path. Each result feeds the provider's
 * last_unavailable (dagate_backend_up) until a login says otherwise. A
 * backend unreachable at the first probe is a warning line; later ones
 * are logged when the state changes.
 */
#ifndef DAGATE_CMD_BACKEND_PROBER_H
#define DAGATE_CMD_BACKEND_PROBER_H

#include <stdint.h>

#include "provider.h"

struct backend_prober;

/* Start probing `set` (which must outlive the prober) every `interval_ms`
 * (> 0). `when` names the first round in its warnings ("at start-up",
 * "after reload"; static text). 0, or -1 when the thread cannot start
 * (*prober_r NULL; logged). */
int backend_prober_start(struct provider_set *set, int64_t interval_ms, const char *when,
			 struct backend_prober **prober_r);
/* Stop and free; waits for a probe in progress (bounded by its
 * provider's timeout). NULL is fine. */
void backend_prober_stop(struct backend_prober **prober);

#endif
