# Throttling that protects the directory (issue 6, [throttle]).
list(APPEND DAGATE_CORE_SOURCES
  service/throttle.c
  service/throttle_table.c
  service/throttle_redis.c)
dagate_unit_test(test_throttle tests/unit/test_throttle.c)
