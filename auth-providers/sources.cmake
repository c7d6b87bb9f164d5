# The provider contract (provider.h), the registry, the %u/%l/%d templates
# (template.h) and every provider type.
dagate_layer(dagate_providers auth-providers
  SOURCES
    auth-providers/registry.c auth-providers/template.c
    auth-providers/file.c auth-providers/static.c
    # ldap (see ldap_int.h)
    auth-providers/ldap.c auth-providers/ldap_conn.c auth-providers/ldap_pool.c
    auth-providers/ldap_util.c auth-providers/ldap_ad.c auth-providers/ldap_tls_diag.c
    auth-providers/ldap_probe.c
    # smtp, http and relay on libcurl (see curl_common.h)
    auth-providers/curl_common.c auth-providers/smtp.c auth-providers/http.c
    auth-providers/http_negotiate.c auth-providers/relay.c
  DEPENDS dagate_conf dagate_soap
  LIBS PkgConfig::LDAP PkgConfig::CURL PkgConfig::KRB5 ${CRYPT_LIB})
dagate_unit_test(test_ldap tests/unit/test_ldap.c)
dagate_unit_test(test_curl tests/unit/test_curl.c)
