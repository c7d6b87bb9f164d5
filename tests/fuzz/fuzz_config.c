/*
 * The configuration reader as `dagate check-config` runs it: config_load
 * with every section kind, then providers parsed and the router built
 * (decider_build; nothing starts, nothing talks to a backend). The input
 * is the file: config_load reads a path, so the harness hands it an
 * in-memory file (memfd) by its /proc/self/fd name.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "decider.h"
#include "log.h"

static int config_fd = -1;
static char config_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	config_fd = memfd_create("dagate-fuzz.conf", MFD_CLOEXEC);
	if (config_fd < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(config_path, sizeof config_path, "/proc/self/fd/%d", config_fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_errors errors = { 0 };
	struct dagate_config *cfg = NULL;
	struct decider dec;

	if (ftruncate(config_fd, 0) < 0 || pwrite(config_fd, data, size, 0) != (ssize_t)size)
		abort();
	if (decider_config_load(config_path, &cfg, &errors) == 0) {
		if (cfg == NULL || errors.count != 0)
			abort();
		/* providers' start-up warnings would drown libFuzzer's output */
		cfg->log.level = LOG_LEVEL_ERROR;
		if (decider_build(&dec, cfg, NULL, NULL, &errors) == 0)
			decider_free(&dec);
		else
			config_free(&cfg);
	} else if (cfg != NULL || errors.count == 0) {
		abort();   /* a refused config says why */
	}
	conf_errors_clear(&errors);
	return 0;
}
