/*
 * The subcommands of `dagate`, one file each (cmd_NAME.c). Each returns the
 * process exit status: 0 success, 1 negative answer or runtime failure,
 * 2 usage or configuration error. `argv[0]` is the command's name.
 */
#ifndef DAGATE_COMMANDS_H
#define DAGATE_COMMANDS_H

int cmd_serve(const char *config_path, int argc, char **argv);
int cmd_check_config(const char *config_path, int argc, char **argv);
int cmd_test_user(const char *config_path, int argc, char **argv);
int cmd_probe(const char *config_path, int argc, char **argv);
int cmd_hash_password(const char *config_path, int argc, char **argv);
int cmd_token(const char *config_path, int argc, char **argv);
int cmd_decisions(const char *config_path, int argc, char **argv);
int cmd_config(const char *config_path, int argc, char **argv);
int cmd_status(const char *config_path, int argc, char **argv);
int cmd_trace(const char *config_path, int argc, char **argv);
int cmd_throttle(const char *config_path, int argc, char **argv);
int cmd_sso_check(const char *config_path, int argc, char **argv);

#endif
