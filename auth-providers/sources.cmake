list(APPEND DAGATE_CORE_SOURCES
  auth-providers/registry.c
  auth-providers/file.c
  auth-providers/static.c)
