# One-time impersonation tokens: the issuer, its API and its stores.
dagate_layer(dagate_tokens tokens
  SOURCES
    tokens/token.c tokens/store_lmdb.c tokens/store_redis.c tokens/issuer.c
    tokens/api.c tokens/api_limit.c
  DEPENDS dagate_providers
  LIBS PkgConfig::LMDB PkgConfig::JSONC)
dagate_unit_test(test_tokens tests/unit/test_tokens.c)
dagate_unit_test(test_token_api tests/unit/test_token_api.c)
dagate_unit_test(test_token_redis tests/unit/test_token_redis.c)
