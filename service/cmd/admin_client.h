/*
 * The commands that ask a running `serve` (decisions, status): one GET on
 * its [admin] listener, plain HTTP, bounded in time.
 */
#ifndef DAGATE_ADMIN_CLIENT_H
#define DAGATE_ADMIN_CLIENT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

/* GET `path_query` from the admin listener: `admin` (HOST:PORT) when not
 * NULL, else the first [admin] listen of the configuration at
 * `config_path` (a wildcard address is asked on loopback). On 200 returns
 * 0 with the body in *body_r (malloc'd); else prints why on stderr as
 * "dagate COMMAND: ..." (nothing when COMMAND is NULL) and returns the
 * exit status: 2 for a
 * configuration without an admin listener or that does not load, 1 when
 * the server did not answer 200. */
int admin_get(const char *command, const char *config_path, const char *admin,
	      const char *path_query, char **body_r);
struct dagate_config;
/* The first [admin] listen of `cfg` as HOST:PORT (a wildcard address asked
 * on loopback); -1 when there is none. */
int admin_authority(const struct dagate_config *cfg, char *out, size_t size);
/* The HOST:PORT admin_call would ask (`admin` itself when not NULL), so
 * that a command calling several times reads the configuration once. 0,
 * or the exit status after printing why. */
int admin_address(const char *command, const char *config_path, const char *admin,
		  char *out, size_t size);
/* The same with another method (POST with an empty body, DELETE); a POST
 * expects 201. */
int admin_call(const char *command, const char *config_path, const char *admin,
	       const char *method, const char *path_query, char **body_r);

/* Fields of an admin API answer: NULL, "-", 0 or false when absent. */
json_object *admin_json_get(json_object *o, const char *key);
const char *admin_json_text(json_object *o, const char *key);
long long admin_json_num(json_object *o, const char *key);
bool admin_json_flag(json_object *o, const char *key);

#endif
