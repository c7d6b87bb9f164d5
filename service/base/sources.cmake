# Base: clock, log, addresses, worker threads, privilege drop, the Redis
# transport, username mapping. Includes nothing else of dagate.
dagate_layer(dagate_base service/base
  SOURCES
    service/base/clock.c service/base/log.c service/base/netaddr.c
    service/base/workers.c service/base/privdrop.c service/base/redis_conn.c
    service/base/redis_url.c service/base/redis_sentinel.c
    service/base/usermap.c service/base/parse.c service/base/hex.c
    service/base/netio.c service/base/utf8.c service/base/request_id.c service/base/pem.c
  LIBS PkgConfig::HIREDIS OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
dagate_unit_test(test_netaddr tests/unit/test_netaddr.c)
dagate_unit_test(test_log tests/unit/test_log.c)
dagate_unit_test(test_workers tests/unit/test_workers.c)
dagate_unit_test(test_pem tests/unit/test_pem.c)
dagate_unit_test(test_redis_url tests/unit/test_redis_url.c)
