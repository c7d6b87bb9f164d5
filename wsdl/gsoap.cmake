# The SOAP binding, generated at build time from wsdl/authentication.wsdl into
# ${CMAKE_BINARY_DIR}/gsoap (nothing generated is committed):
#   wsdl2h  -c  C; -d xsd:any as DOM nodes (sf_request.c inspects their
#               namespace and name); -L fewer comments; -t our typemap ("sf").
#   soapcpp2 -c C; -S server side only; -L no soapServerLib; -x no sample
#               messages; -w no WSDL/XSD copies; -1 SOAP 1.1.
# Only soapC.c (the (de)serializers) is compiled: dagate never calls
# soap_serve(), so soapServer.c is a by-product and needs no stub for
# __sf__Authenticate. sf_context.c defines its own strict namespaces[] table
# (the one the endpoint and the relay share), so the generated .nsmap is
# unused too.
find_program(GSOAP_WSDL2H wsdl2h REQUIRED)
find_program(GSOAP_SOAPCPP2 soapcpp2 REQUIRED)
find_path(GSOAP_IMPORT_DIR dom.h
  PATHS /usr/share/gsoap/import /usr/local/share/gsoap/import
  NO_DEFAULT_PATH REQUIRED)

set(GSOAP_GENERATED_INCLUDE_DIR ${CMAKE_BINARY_DIR}/gsoap)
set(_gs ${GSOAP_GENERATED_INCLUDE_DIR})
set(_gs_wsdl ${CMAKE_SOURCE_DIR}/wsdl/authentication.wsdl)
set(_gs_typemap ${CMAKE_SOURCE_DIR}/wsdl/typemap.dat)
file(MAKE_DIRECTORY ${_gs})

add_custom_command(
  OUTPUT ${_gs}/authentication.h
  COMMAND ${GSOAP_WSDL2H} -c -d -L -t ${_gs_typemap} -o ${_gs}/authentication.h ${_gs_wsdl}
  DEPENDS ${_gs_wsdl} ${_gs_typemap}
  WORKING_DIRECTORY ${_gs}
  COMMENT "wsdl2h: authentication.wsdl -> authentication.h"
  VERBATIM)

add_custom_command(
  OUTPUT ${_gs}/soapC.c ${_gs}/soapH.h ${_gs}/soapStub.h
  BYPRODUCTS ${_gs}/soapServer.c ${_gs}/AuthenticationBinding.nsmap
  COMMAND ${GSOAP_SOAPCPP2} -c -S -L -x -w -1 -I${GSOAP_IMPORT_DIR} -d${_gs}
          ${_gs}/authentication.h
  DEPENDS ${_gs}/authentication.h
  WORKING_DIRECTORY ${_gs}
  COMMENT "soapcpp2: authentication.h -> soapC.c"
  VERBATIM)

add_custom_command(
  OUTPUT ${_gs}/wsdl_embed.c
  COMMAND ${CMAKE_COMMAND} -DIN=${_gs_wsdl} -DOUT=${_gs}/wsdl_embed.c
          -DNAME=sf_wsdl_template -P ${CMAKE_SOURCE_DIR}/wsdl/embed.cmake
  DEPENDS ${_gs_wsdl} ${CMAKE_SOURCE_DIR}/wsdl/embed.cmake
  COMMENT "embedding authentication.wsdl"
  VERBATIM)

set(GSOAP_GENERATED_SOURCES ${_gs}/soapC.c ${_gs}/wsdl_embed.c)
# soapC.c is gSOAP's code, not ours: do not hold it to our warning flags.
set_source_files_properties(${_gs}/soapC.c PROPERTIES COMPILE_OPTIONS "-w")
