/*
 * The Redis token store against a real redis-server on loopback (started
 * here on a free port, stopped by PID): single use under concurrency,
 * expiry by Redis's PX, max_outstanding, revoke/list, AUTH, TLS with
 * certificate verification, and Redis going away and coming back.
 * Fails when redis-server is not installed (scripts/deps test installs it).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "issuer.h"
#include "log.h"
#include "store.h"
#include "tokens.h"
#include "redis_server.h"
#include "unit.h"

#define THREADS 16
#define ROUNDS 100

static char tmpdir[256];

static void make_hash(uint8_t *hash, int i)
{
	memset(hash, 0, TOKEN_HASH_LEN);
	hash[0] = 0xab;
	hash[1] = (uint8_t)(i >> 8);
	hash[2] = (uint8_t)i;
}

static void make_record(struct token_record *rec, const char *requester, int64_t now,
			int64_t ttl)
{
	memset(rec, 0, sizeof *rec);
	rec->issued_ms = now;
	rec->expires_ms = now + ttl;
	snprintf(rec->requester, sizeof rec->requester, "%s", requester);
	snprintf(rec->user, sizeof rec->user, "joe@corp.example");
}

static int64_t wall(void)
{
	return (int64_t)time(NULL) * 1000;
}

/* Of THREADS consumers of one hash, exactly one wins. */
struct race {
	struct token_store *store;
	pthread_barrier_t start, done;
	uint8_t hash[TOKEN_HASH_LEN];
	_Atomic int wins, unavailable;
};

static void *racer(void *arg)
{
	struct race *r = arg;
	struct token_record *rec = malloc(sizeof *rec);

	for (int round = 0; round < ROUNDS; round++) {
		pthread_barrier_wait(&r->start);
		switch (r->store->ops->consume(r->store, r->hash, wall(), clock_now_ms() + 2000, rec)) {
		case TS_OK: r->wins++; break;
		case TS_UNAVAILABLE: r->unavailable++; break;
		default: break;
		}
		pthread_barrier_wait(&r->done);
	}
	free(rec);
	return NULL;
}

static void test_store(int port, pid_t *pid)
{
	struct token_store_options opt = { .timeout_ms = 1000 };
	struct token_store *st = NULL;
	struct token_record rec, back;
	const char *err = NULL;
	char spec[64];
	uint8_t hash[TOKEN_HASH_LEN];
	size_t n;

	snprintf(spec, sizeof spec, "redis://127.0.0.1:%d/3", port);
	CHECK(token_store_open(spec, &opt, &st, &err) == 0, "open: %s", err ? err : "");
	if (st == NULL)
		return;
	make_hash(hash, 1);
	make_record(&rec, "sync", wall(), 60000);
	CHECK(st->ops->put(st, hash, &rec, 10, wall(), clock_now_ms() + 2000) == TS_OK, "put");
	CHECK(st->ops->consume(st, hash, wall(), clock_now_ms() + 2000, &back) == TS_OK, "consume");
	CHECK_STR(back.user, "joe@corp.example", "user back");
	CHECK(st->ops->consume(st, hash, wall(), clock_now_ms() + 2000, &back) == TS_NOT_FOUND,
	      "replay");

	/* expiry runs on Redis's clock (PX) */
	make_record(&rec, "sync", wall(), 300);
	CHECK(st->ops->put(st, hash, &rec, 10, wall(), clock_now_ms() + 2000) == TS_OK, "put short");
	usleep(450000);
	CHECK(st->ops->consume(st, hash, wall(), clock_now_ms() + 2000, &back) == TS_NOT_FOUND,
	      "expired by PX");

	/* max_outstanding via the requester's set; consuming frees a slot */
	for (int i = 0; i < 3; i++) {
		make_hash(hash, 100 + i);
		make_record(&rec, "bounded", wall(), 60000);
		CHECK(st->ops->put(st, hash, &rec, 3, wall(), clock_now_ms() + 2000) == TS_OK,
		      "fill %d", i);
	}
	make_hash(hash, 103);
	CHECK(st->ops->put(st, hash, &rec, 3, wall(), clock_now_ms() + 2000) == TS_FULL, "full");
	make_hash(hash, 100);
	CHECK(st->ops->consume(st, hash, wall(), clock_now_ms() + 2000, &back) == TS_OK, "use one");
	make_hash(hash, 103);
	CHECK(st->ops->put(st, hash, &rec, 3, wall(), clock_now_ms() + 2000) == TS_OK, "room again");

	/* revoke by requester */
	CHECK(st->ops->revoke(st, NULL, "bounded", wall(), clock_now_ms() + 5000, &n) == TS_OK &&
	      n == 3, "revoked %zu", n);
	make_hash(hash, 101);
	CHECK(st->ops->consume(st, hash, wall(), clock_now_ms() + 2000, &back) == TS_NOT_FOUND,
	      "revoked is gone");

	/* the race */
	struct race *r = calloc(1, sizeof *r);
	pthread_t th[THREADS];

	r->store = st;
	make_hash(r->hash, 7);
	pthread_barrier_init(&r->start, NULL, THREADS + 1);
	pthread_barrier_init(&r->done, NULL, THREADS + 1);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, racer, r);
	int exact = 0;
	for (int round = 0; round < ROUNDS; round++) {
		int before = r->wins;

		make_record(&rec, "race", wall(), 60000);
		st->ops->put(st, r->hash, &rec, 0, wall(), clock_now_ms() + 2000);
		pthread_barrier_wait(&r->start);
		pthread_barrier_wait(&r->done);
		exact += r->wins - before == 1;
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	CHECK(exact == ROUNDS && r->unavailable == 0, "exactly one winner in %d of %d rounds "
	      "(%d unavailable)", exact, ROUNDS, (int)r->unavailable);
	pthread_barrier_destroy(&r->start);
	pthread_barrier_destroy(&r->done);
	free(r);

	/* Redis restarts between two calls: every pooled connection is dead,
	 * yet the very next call succeeds (one retry on a fresh connection). */
	redis_stop(*pid);
	*pid = redis_start(tmpdir, port, NULL);
	CHECK(redis_wait_port(port), "redis restarted");
	make_hash(hash, 8);
	make_record(&rec, "sync", wall(), 60000);
	CHECK(st->ops->put(st, hash, &rec, 0, wall(), clock_now_ms() + 2000) == TS_OK,
	      "first call after a restart");
	token_store_close(&st);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
}

static struct conf_entry *entry(const char *k, const char *v, struct conf_entry *next)
{
	struct conf_entry *e = calloc(1, sizeof *e);

	e->key = strdup(k);
	e->value = strdup(v);
	e->line = 1;
	e->next = next;
	return e;
}

static void entries_free(struct conf_entry *e)
{
	while (e != NULL) {
		struct conf_entry *next = e->next;

		free(e->key);
		free(e->value);
		free(e);
		e = next;
	}
}

/* Through the issuer, then Redis goes away and comes back. */
static void test_issuer(int port, pid_t *pid, const char *password)
{
	char spec[64], key[300], secret[300], pwfile[300], tok[TOKEN_LEN + 1];
	char mapped[MAPPED_USER_MAX + 1];
	struct conf_section t = { .kind = "tokens", .file = "t.conf", .line = 1 };
	struct conf_section r = { .kind = "requester", .name = "sync", .file = "t.conf", .line = 9 };
	struct dagate_config cfg = { .sections = &t };
	struct conf_errors errors = { 0 };
	struct token_issuer *ti = NULL;
	const char *detail = NULL;
	int64_t exp, t0;

	snprintf(spec, sizeof spec, "redis://127.0.0.1:%d", port);
	snprintf(key, sizeof key, "%s/token.key", tmpdir);
	snprintf(secret, sizeof secret, "%s/secret", tmpdir);
	snprintf(pwfile, sizeof pwfile, "%s/redis.pw", tmpdir);
	write_file(secret, "s\n");
	write_file(pwfile, password);
	t.next = &r;
	t.entries = entry("store", spec, entry("key_file", key, entry("timeout", "300ms",
			  entry("password_file", pwfile, NULL))));
	r.entries = entry("secret_file", secret, entry("allow", "127.0.0.1",
			  entry("users", "*", entry("max_outstanding", "2", NULL))));
	CHECK(token_issuer_create(&cfg, &errors, &ti) == 0 && ti != NULL, "create");
	for (size_t i = 0; i < errors.count; i++)
		fprintf(stderr, "%s\n", errors.lines[i]);
	conf_errors_clear(&errors);
	if (ti == NULL)
		goto out;
	CHECK(token_issue(ti, &cfg.map, "sync", "joe@corp.example", 0, clock_now_ms() + 1000, tok, mapped,
			  &exp, NULL) == TOKEN_ISSUE_OK, "issue");
	CHECK(token_redeem(ti, "eve@corp.example", tok, TOKEN_LEN, "1.2.3.4", "r", clock_now_ms() + 1000,
			   &detail) == AUTH_REJECT && strcmp(detail, "user_mismatch") == 0,
	      "wrong user burns");
	CHECK(token_redeem(ti, "joe@corp.example", tok, TOKEN_LEN, "1.2.3.4", "r", clock_now_ms() + 1000,
			   &detail) == AUTH_REJECT, "burnt");
	CHECK(token_issue(ti, &cfg.map, "sync", "joe@corp.example", 0, clock_now_ms() + 1000, tok, mapped,
			  &exp, NULL) == TOKEN_ISSUE_OK, "issue 2");

	/* Redis goes away: redemption is unavailable (a fault), issuance refused, fast. */
	redis_stop(*pid);
	*pid = -1;
	t0 = clock_now_ms();
	CHECK(token_redeem(ti, "joe@corp.example", tok, TOKEN_LEN, "1.2.3.4", "r", clock_now_ms() + 5000,
			   &detail) == AUTH_UNAVAILABLE, "store down -> unavailable");
	CHECK(token_issue(ti, &cfg.map, "sync", "joe@corp.example", 0, clock_now_ms() + 1000, tok, mapped,
			  &exp, NULL) == TOKEN_ISSUE_UNAVAILABLE, "issue while down");
	CHECK(clock_now_ms() - t0 < 1000, "failing fast (%lld ms)", (long long)(clock_now_ms() - t0));

	/* It comes back (empty: nothing persisted): service resumes. */
	*pid = redis_start(tmpdir, port, (const char *const[]){ "--requirepass", password, NULL });
	CHECK(redis_wait_port(port), "redis back");
	CHECK(token_issue(ti, &cfg.map, "sync", "joe@corp.example", 0, clock_now_ms() + 1000, tok, mapped,
			  &exp, NULL) == TOKEN_ISSUE_OK, "issue after recovery");
	CHECK(token_redeem(ti, "joe@corp.example", tok, TOKEN_LEN, "1.2.3.4", "r", clock_now_ms() + 1000,
			   &detail) == AUTH_OK, "redeem after recovery");
	token_issuer_free(&ti);

	/* A wrong password: every operation is unavailable. */
	write_file(pwfile, "wrong");
	CHECK(token_issuer_create(&cfg, &errors, &ti) == 0 && ti != NULL, "create (wrong pw)");
	if (ti != NULL)
		CHECK(token_issue(ti, &cfg.map, "sync", "joe@corp.example", 0, clock_now_ms() + 1000, tok,
				  mapped, &exp, NULL) == TOKEN_ISSUE_UNAVAILABLE, "wrong password");
	token_issuer_free(&ti);
	conf_errors_clear(&errors);
out:
	entries_free(t.entries);
	entries_free(r.entries);
}

static void test_tls(void)
{
	char cert[300], keyf[300], ca[300], other_ca[300], spec[64];
	struct token_store_options opt = { .timeout_ms = 2000 };
	struct token_store *st = NULL;
	struct token_record rec, back;
	uint8_t hash[TOKEN_HASH_LEN];
	const char *err = NULL;
	int port = redis_free_port();
	pid_t pid;

	char cmd[2048];

	snprintf(cmd, sizeof cmd, "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	       "-keyout ca.key -out ca.crt -subj /CN=dagate-test-ca -days 1 2>/dev/null && "
	       "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	       "-keyout other.key -out other.crt -subj /CN=other-ca -days 1 2>/dev/null && "
	       "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key "
	       "-out srv.csr -subj /CN=localhost 2>/dev/null && "
	       "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext && "
	       "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
	       "-out srv.crt -days 1 -extfile san.ext 2>/dev/null", tmpdir);
	if (system(cmd) != 0) {
		CHECK(0, "could not make test certificates");
		return;
	}
	snprintf(cert, sizeof cert, "%s/srv.crt", tmpdir);
	snprintf(keyf, sizeof keyf, "%s/srv.key", tmpdir);
	snprintf(ca, sizeof ca, "%s/ca.crt", tmpdir);
	snprintf(other_ca, sizeof other_ca, "%s/other.crt", tmpdir);
	char port_text[16];
	snprintf(port_text, sizeof port_text, "%d", port);
	pid = redis_start(tmpdir, 0, (const char *const[]){
		"--tls-port", port_text, "--tls-cert-file", cert, "--tls-key-file", keyf,
		"--tls-ca-cert-file", ca, "--tls-auth-clients", "no", NULL });
	CHECK(redis_wait_port(port), "TLS redis up");

	snprintf(spec, sizeof spec, "rediss://127.0.0.1:%d", port);
	opt.ca_file = ca;
	CHECK(token_store_open(spec, &opt, &st, &err) == 0, "open rediss");
	make_hash(hash, 9);
	make_record(&rec, "tls", wall(), 60000);
	CHECK(st != NULL && st->ops->put(st, hash, &rec, 0, wall(), clock_now_ms() + 2000) == TS_OK,
	      "put over TLS");
	CHECK(st != NULL && st->ops->consume(st, hash, wall(), clock_now_ms() + 2000, &back) == TS_OK,
	      "consume over TLS");
	token_store_close(&st);

	/* A server whose certificate the configured CA did not sign: refused. */
	opt.ca_file = other_ca;
	CHECK(token_store_open(spec, &opt, &st, &err) == 0, "open rediss (other CA)");
	CHECK(st != NULL && st->ops->put(st, hash, &rec, 0, wall(), clock_now_ms() + 2000) ==
	      TS_UNAVAILABLE, "untrusted certificate refused");
	token_store_close(&st);
	redis_stop(pid);
}

int main(void)
{
	struct log_config lc = { LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, "-" };
	const char *err = NULL;
	char cmd[400];
	int port;
	pid_t pid;

	if (access(REDIS_BIN, X_OK) != 0) {
		/* A test that cannot run must fail, never pass silently. */
		fprintf(stderr, "test_token_redis: FAILED: no %s (scripts/deps test installs it)\n",
			REDIS_BIN);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	log_setup(&lc, &err);
	log_set_level(LOG_LEVEL_ERROR);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/dagate-test-redis-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;

	port = redis_free_port();
	pid = redis_start(tmpdir, port, NULL);
	CHECK(redis_wait_port(port), "redis up on %d", port);
	test_store(port, &pid);
	redis_stop(pid);

	port = redis_free_port();
	pid = redis_start(tmpdir, port, (const char *const[]){ "--requirepass", "pw-123", NULL });
	CHECK(redis_wait_port(port), "redis (AUTH) up");
	test_issuer(port, &pid, "pw-123");
	redis_stop(pid);

	test_tls();

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return unit_done("test_token_redis");
}
