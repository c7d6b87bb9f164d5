# The commands (main.c is the program's own source).
dagate_layer(dagate_cmd service/cmd
  SOURCES
    service/cmd/decider.c service/cmd/tty.c service/cmd/cmd_serve.c service/cmd/restart_only.c
    service/cmd/backend_prober.c
    service/cmd/cmd_check_config.c service/cmd/cmd_test_user.c
    service/cmd/cmd_probe.c service/cmd/cmd_hash_password.c service/cmd/cmd_token.c
    service/cmd/cmd_decisions.c service/cmd/cmd_config.c service/cmd/admin_client.c
    service/cmd/cmd_status.c service/cmd/test_user_server.c
    service/cmd/cmd_trace.c service/cmd/cmd_throttle.c service/cmd/cmd_sso_check.c
  DEPENDS dagate_http)
dagate_unit_test(test_restart_only tests/unit/test_restart_only.c)
