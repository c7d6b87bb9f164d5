# The decision: the router and the throttle.
dagate_layer(dagate_decide service/decide
  SOURCES
    service/decide/decision.c service/decide/router.c
    service/decide/throttle.c service/decide/throttle_config.c service/decide/throttle_table.c
    service/decide/throttle_redis.c service/decide/throttle_admin.c service/decide/throttle_rules.c
  DEPENDS dagate_tokens)
dagate_unit_test(test_router tests/unit/test_router.c)
dagate_unit_test(test_throttle tests/unit/test_throttle.c)
dagate_unit_test(test_throttle_familiar tests/unit/test_throttle_familiar.c)
