list(APPEND DAGATE_CORE_SOURCES
  conf/config.c)
