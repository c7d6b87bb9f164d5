/* Store URLs of the Redis transport: redis://, rediss://, redis-sentinel://. */
#include <stdlib.h>

#include "redis_conn.h"
#include "unit.h"

static const char *str(const char *s)
{
	return s;
}

static void test_direct(void)
{
	static const struct {
		const char *url, *host, *port, *user;
		int db;
		bool tls;
	} ok[] = {
		{ "redis://127.0.0.1", "127.0.0.1", "6379", "", 0, false },
		{ "redis://127.0.0.1:6380/3", "127.0.0.1", "6380", "", 3, false },
		{ "rediss://dagate@redis.example.test:6390/", "redis.example.test", "6390", "dagate", 0,
		  true },
		{ "redis://[::1]:7000/2", "::1", "7000", "", 2, false },
	};

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		struct redis_pool pool;
		const char *err = NULL;

		CHECK(redis_is_url(ok[i].url), "%s", ok[i].url);
		CHECK(redis_pool_init(&pool, "tokens", ok[i].url, NULL, NULL, 0, &err) == 0,
		      "%s: %s", ok[i].url, err != NULL ? err : "");
		CHECK(!pool.sentinel, "%s", ok[i].url);
		CHECK_STR(str(pool.host), ok[i].host, ok[i].url);
		CHECK_STR(str(pool.port), ok[i].port, ok[i].url);
		CHECK_STR(str(pool.user), ok[i].user, ok[i].url);
		CHECK(pool.db == ok[i].db && pool.tls == ok[i].tls, "%s", ok[i].url);
		redis_pool_fini(&pool);
	}
}

static void test_sentinel(void)
{
	struct redis_pool pool;
	const char *err = NULL;
	const char *url = "redis-sentinel://dagate@10.0.0.1:26380,sentinel2,[::1]:26381/mymaster.a-b_c/5";

	CHECK(redis_is_url(url), "%s", url);
	CHECK(redis_pool_init(&pool, "tokens", url, NULL, NULL, 0, &err) == 0, "%s",
	      err != NULL ? err : "");
	CHECK(pool.sentinel && !pool.tls, "sentinel pool");
	CHECK(pool.sentinel_count == 3, "3 sentinels, got %u", pool.sentinel_count);
	CHECK_STR(str(pool.sentinels[0].host), "10.0.0.1", "first host");
	CHECK_STR(str(pool.sentinels[0].port), "26380", "first port");
	CHECK_STR(str(pool.sentinels[1].host), "sentinel2", "second host");
	CHECK_STR(str(pool.sentinels[1].port), "26379", "default sentinel port");
	CHECK_STR(str(pool.sentinels[2].host), "::1", "v6 host");
	CHECK_STR(str(pool.sentinels[2].port), "26381", "v6 port");
	CHECK_STR(str(pool.master_name), "mymaster.a-b_c", "master name");
	CHECK_STR(str(pool.user), "dagate", "user");
	CHECK(pool.db == 5, "db %d", pool.db);
	CHECK(pool.master.host[0] == '\0', "nothing discovered before the first call");
	redis_pool_fini(&pool);

	CHECK(redis_pool_init(&pool, "throttle", "redis-sentinel://127.0.0.1:26379/m", NULL, NULL, 0,
			      &err) == 0, "one sentinel, no db");
	CHECK(pool.sentinel_count == 1 && pool.db == 0, "one sentinel, db 0");
	redis_pool_fini(&pool);
}

static void test_refused(void)
{
	static const struct {
		const char *url, *error;
	} bad[] = {
		{ "redis://", "store URL must be redis[s]://" },
		{ "redis://host:0", "store URL must be redis[s]://" },
		{ "redis://host:6379/x", "store URL must be redis[s]://" },
		{ "redis://user:secret@host", "no password in the store URL" },
		{ "redis-sentinel://host:26379", "store URL must be redis-sentinel://" },
		{ "redis-sentinel://host:26379/", "store URL must be redis-sentinel://" },
		{ "redis-sentinel:///m", "store URL must be redis-sentinel://" },
		{ "redis-sentinel://a,,b/m", "store URL must be redis-sentinel://" },
		{ "redis-sentinel://a,/m", "store URL must be redis-sentinel://" },
		{ "redis-sentinel://a:99999/m", "store URL must be redis-sentinel://" },
		{ "redis-sentinel://a/m m", "store URL must be redis-sentinel://" },
		{ "redis-sentinel://a/m/x", "store URL must be redis-sentinel://" },
		{ "redis-sentinel://a/m/1001", "store URL must be redis-sentinel://" },
		{ "redis-sentinel://u:p@a/m", "no password in the store URL" },
		{ "redis-sentinel://a,b,c,d,e,f,g,h,i/m", "at most 8 sentinels" },
		{ "rediss-sentinel://a/m", "rediss-sentinel:// (TLS) is not supported" },
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct redis_pool pool;
		const char *err = NULL;

		CHECK(redis_pool_init(&pool, "tokens", bad[i].url, NULL, NULL, 0, &err) < 0,
		      "%s accepted", bad[i].url);
		CHECK(err != NULL && strncmp(err, bad[i].error, strlen(bad[i].error)) == 0,
		      "%s: got \"%s\", want \"%s...\"", bad[i].url, err != NULL ? err : "(null)",
		      bad[i].error);
		redis_pool_fini(&pool);
	}
	CHECK(!redis_is_url("sentinel://a/m"), "not a Redis URL");
	CHECK(!redis_is_url("lmdb:/x"), "not a Redis URL");
}

int main(void)
{
	test_direct();
	test_sentinel();
	test_refused();
	return unit_done("test_redis_url");
}
