# Integrated Windows sign-on ([sso]): the section, the pure rules (mapping,
# startURL filter, pages) and the GSS-API acceptor; the listener is in http.
dagate_layer(dagate_sso service/sso
  SOURCES
    service/sso/sso_config.c service/sso/sso_rules.c service/sso/sso_gss.c service/sso/sso_ntlm.c
  DEPENDS dagate_decide
  LIBS PkgConfig::KRB5 OpenSSL::Crypto)
dagate_unit_test(test_sso tests/unit/test_sso.c)
