# The token issuer and its stores (issue: one-time impersonation tokens).
list(APPEND DAGATE_CORE_SOURCES
  tokens/token.c
  tokens/store_lmdb.c
  tokens/redis_conn.c
  tokens/store_redis.c
  tokens/issuer.c
  tokens/api.c
  tokens/cli.c)
dagate_unit_test(test_tokens tests/unit/test_tokens.c)
dagate_unit_test(test_token_redis tests/unit/test_token_redis.c)
