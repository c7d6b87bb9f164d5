list(APPEND DAGATE_CORE_SOURCES
  service/clock.c
  service/log.c
  service/netaddr.c
  service/soap_glue.c
  service/router.c
  service/workers.c
  service/forwarded.c
  service/listeners.c
  service/tls_files.c
  service/http.c
  service/metrics.c
  service/endpoint.c
  service/admin.c
  service/commands.c
  service/privdrop.c
  service/serve.c)
dagate_unit_test(test_router tests/unit/test_router.c)
dagate_unit_test(test_forwarded tests/unit/test_forwarded.c)
