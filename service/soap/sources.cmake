# The SOAP codec (see sf_int.h): the one namespace table and envelope reader,
# the endpoint's side (sf_server.h: request, answers, WSDL) and the relay's
# (sf_client.h).
set(DAGATE_SOAP_SOURCES
  service/soap/sf_context.c service/soap/sf_envelope.c service/soap/sf_text.c
  service/soap/sf_xmlcheck.c
  service/soap/sf_request.c service/soap/sf_answer.c service/soap/sf_wsdl.c
  service/soap/sf_client.c)
dagate_layer(dagate_soap service/soap
  SOURCES ${DAGATE_SOAP_SOURCES} ${GSOAP_GENERATED_SOURCES}
  DEPENDS dagate_base
  LIBS PkgConfig::GSOAP)
target_include_directories(dagate_soap PUBLIC ${GSOAP_GENERATED_INCLUDE_DIR})
# Every file includes the generated headers (through sf_int.h): make sure
# they exist first.
set_source_files_properties(${DAGATE_SOAP_SOURCES} PROPERTIES
  OBJECT_DEPENDS "${GSOAP_GENERATED_INCLUDE_DIR}/soapH.h;${GSOAP_GENERATED_INCLUDE_DIR}/soapStub.h")
dagate_unit_test(test_soap tests/unit/test_soap.c)
dagate_unit_test(test_sf_client tests/unit/test_sf_client.c)
