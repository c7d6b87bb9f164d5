list(APPEND DAGATE_CORE_SOURCES
  conf/config.c
  conf/config_load.c
  conf/config_read.c)
dagate_unit_test(test_config tests/unit/test_config.c)
dagate_unit_test(test_netaddr tests/unit/test_netaddr.c)
