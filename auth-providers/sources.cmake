list(APPEND DAGATE_CORE_SOURCES
  auth-providers/registry.c
  auth-providers/file.c
  auth-providers/static.c)

# ldap provider (see auth-providers/ldap_int.h)
list(APPEND DAGATE_CORE_SOURCES
  auth-providers/ldap.c auth-providers/ldap_conn.c auth-providers/ldap_pool.c
  auth-providers/ldap_util.c auth-providers/ldap_ad.c)
dagate_unit_test(test_ldap tests/unit/test_ldap.c)

# smtp, http and relay providers on libcurl (see auth-providers/curl_common.h)
list(APPEND DAGATE_CORE_SOURCES
  auth-providers/curl_common.c auth-providers/smtp.c auth-providers/http.c
  auth-providers/http_negotiate.c auth-providers/relay.c)
dagate_unit_test(test_curl tests/unit/test_curl.c)
