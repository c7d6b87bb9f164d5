# The configuration reader: INI, typed key tables, FILE:LINE errors.
dagate_layer(dagate_conf conf
  SOURCES conf/config.c conf/config_load.c conf/config_read.c conf/config_warn.c
    conf/config_dump.c
    conf/config_check.c
  DEPENDS dagate_base
  LIBS PkgConfig::INIH)
dagate_unit_test(test_config tests/unit/test_config.c)
