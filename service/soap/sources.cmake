# The SOAP codec: strict Authenticate parsing, answers, the WSDL.
dagate_layer(dagate_soap service/soap
  SOURCES service/soap/soap_glue.c ${GSOAP_GENERATED_SOURCES}
  DEPENDS dagate_base
  LIBS PkgConfig::GSOAP)
target_include_directories(dagate_soap PUBLIC ${GSOAP_GENERATED_INCLUDE_DIR})
dagate_unit_test(test_soap tests/unit/test_soap.c)
