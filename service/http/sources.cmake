# The HTTP front: listeners, the libmicrohttpd daemons, the endpoint
# Salesforce calls and the admin listener (token API, health, metrics).
dagate_layer(dagate_http service/http
  SOURCES
    service/http/forwarded.c service/http/listeners.c service/http/tls_material.c
    service/http/server.c service/http/conn.c service/http/request.c
    service/http/respond.c service/http/peer.c service/http/metrics.c
    service/http/metrics_process.c
    service/http/metrics_latency.c
    service/http/endpoint.c service/http/admin.c service/http/refusal.c
    service/http/header_check.c service/http/decisions.c service/http/status.c
    service/http/trace.c service/http/throttle_api.c service/http/sso_listener.c
  DEPENDS dagate_sso dagate_decide dagate_soap
  LIBS PkgConfig::MHD PkgConfig::JSONC)
dagate_unit_test(test_forwarded tests/unit/test_forwarded.c)
dagate_unit_test(test_decisions tests/unit/test_decisions.c)
dagate_unit_test(test_tls_material tests/unit/test_tls_material.c)
