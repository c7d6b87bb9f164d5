# placeholder: replaced by the gSOAP generation rules
set(GSOAP_GENERATED_SOURCES "")
set(GSOAP_GENERATED_INCLUDE_DIR ${CMAKE_BINARY_DIR}/gsoap)
