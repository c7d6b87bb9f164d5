"""Tokens shared through a real Redis by two `dagate serve` instances
(issue 4): single use under 200 concurrent redemptions split across both
instances (100 rounds), Redis stopped mid-run (token logins fault, never
true; password logins go on; issuance 503; recovery), Redis AUTH from a
password_file, and a scan of Redis's contents and the logs for raw tokens.
Redis's persistence (issue 10): serve refuses a Redis whose crash can bring
a used token back (RDB snapshots, appendfsync everysec, CONFIG refused)
unless accept_replay_after_crash = yes, and with appendfsync always a used
token stays used across a SIGKILL of Redis.
"""

import os
import re
import secrets
import shutil
import tempfile
import threading
import time
import unittest

from backends.redis import RedisServer
from harness import Dagate, Fault, envelope, parse_answer, run_dagate, server_section
from test_tokens import TOKEN_RE, api, basic, security_events, tokens_files

CONCURRENCY = 200
ROUNDS = 100
REDIS_PASSWORD = 'redis-' + secrets.token_hex(8)


def write_shared(shared):
    """The key files and Redis password every instance of one store shares
    (test_redis_sentinel uses them too)."""
    for name, content in (('token.key', secrets.token_hex(32) + '\n'),
                          ('throttle.key', secrets.token_hex(32) + '\n'),
                          ('redis.pw', REDIS_PASSWORD + '\n')):
        path = os.path.join(shared, name)
        with open(path, 'w') as f:
            f.write(content)
        os.chmod(path, 0o600)


def redis_config(url, shared, *, throttle=False):
    """Tokens (and with `throttle`, the throttle) in the Redis at `url`."""
    return server_section(extra='max_connections_per_ip = 512\nqueue = 1024\n', level='info') + '''
[map]
lowercase = yes

[route]
match = * -> local

[provider local]
type = file
path = {dir}/users

[tokens]
store = %(url)s
key_file = %(shared)s/token.key
password_file = %(shared)s/redis.pw
timeout = 1s
%(throttle)s
[requester sync]
secret_file = {dir}/sync.secret
allow = 127.0.0.1/32
source_ip = 203.0.113.0/24
users = *@corp.example
rate = 100000/1s
max_outstanding = 5000
''' % {'url': url, 'shared': shared, 'throttle': THROTTLE % {'url': url, 'shared': shared}
       if throttle else ''}


THROTTLE = '''
[throttle]
store = %(url)s
key_file = %(shared)s/throttle.key
password_file = %(shared)s/redis.pw
user_failures = 1000/1m
source_failures = 100000/1m
'''


class RedisCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.shared = tempfile.mkdtemp(prefix='dagate-tokshared-')
        # Every instance must hold the same HMAC key: one key file for both.
        write_shared(cls.shared)
        cls.redis = RedisServer(password=REDIS_PASSWORD)
        cfg = redis_config(cls.redis.url, cls.shared)
        cls.a = Dagate(cfg, files=tokens_files())
        cls.b = Dagate(cfg, files=tokens_files())
        cls.issued = []

    @classmethod
    def tearDownClass(cls):
        try:
            for d in (cls.a, cls.b):
                d.__exit__(None, None, None)
        finally:
            cls.redis.__exit__(None, None, None)
            shutil.rmtree(cls.shared, ignore_errors=True)

    def issue(self, d=None, user='joe@corp.example'):
        status, hdrs, out = api(d or self.a, {'user': user}, auth=basic('sync'))
        self.assertEqual(status, 201, out)
        self.assertEqual(hdrs.get('cache-control'), 'no-store')
        self.assertRegex(out['token'], TOKEN_RE)
        self.issued.append(out['token'])
        return out['token']


class TestSharedRedis(RedisCase):

    def test_1_issued_on_one_redeemed_on_the_other(self):
        tok = self.issue(self.a)
        self.assertEqual(self.b.authenticate('joe@corp.example', tok, '203.0.113.7'), 'true')
        self.assertEqual(self.a.authenticate('joe@corp.example', tok, '203.0.113.7'), 'false')
        tok = self.issue(self.b)
        self.assertEqual(self.a.authenticate('eve@corp.example', tok, '203.0.113.7'), 'false')
        self.assertEqual(self.b.authenticate('joe@corp.example', tok, '203.0.113.7'), 'false')

    def test_2_concurrent_redemptions_give_exactly_one_true(self):
        """200 concurrent Authenticate calls with one token, split across both
        instances, 100 times: exactly one true each time, the rest false."""
        state = {'token': None, 'stop': False}
        results = [None] * CONCURRENCY
        start = threading.Barrier(CONCURRENCY + 1)
        done = threading.Barrier(CONCURRENCY + 1)

        def worker(i):
            d = self.a if i % 2 == 0 else self.b
            while True:
                start.wait()
                if state['stop']:
                    return
                body = envelope('joe@corp.example', state['token'], '203.0.113.7')
                try:
                    status, _, data = d.post(body, timeout=20)
                    results[i] = parse_answer(status, data)
                except Exception as e:      # recorded, asserted below
                    results[i] = 'error: %r' % e
                done.wait()

        threads = [threading.Thread(target=worker, args=(i,), daemon=True)
                   for i in range(CONCURRENCY)]
        for t in threads:
            t.start()
        bad_rounds = []
        try:
            for rnd in range(ROUNDS):
                state['token'] = self.issue(self.a if rnd % 2 else self.b)
                start.wait(timeout=60)
                done.wait(timeout=60)
                trues = results.count('true')
                falses = results.count('false')
                if trues != 1 or falses != CONCURRENCY - 1:
                    others = [r for r in results if r not in ('true', 'false')]
                    bad_rounds.append((rnd, trues, falses, others[:3]))
        finally:
            state['stop'] = True
            start.wait(timeout=60)
            for t in threads:
                t.join(timeout=10)
        self.assertEqual(bad_rounds, [])
        # each round's losers were logged as rejects of a token already used
        rejects = security_events(self.a, 'token_reject') + security_events(self.b, 'token_reject')
        self.assertGreaterEqual(len(rejects), ROUNDS * (CONCURRENCY - 1))

    def test_3_redis_stopped_mid_run(self):
        before = [self.issue() for _ in range(4)]
        self.assertEqual(self.a.authenticate('joe@corp.example', before[0], '203.0.113.7'), 'true')

        # password logins keep going while Redis goes away and comes back
        stop = threading.Event()
        pw_answers = []

        def password_logins():
            while not stop.is_set():
                d = self.a if len(pw_answers) % 2 else self.b
                pw_answers.append(d.authenticate('joe@corp.example', 'joe-password'))
                time.sleep(0.02)

        t = threading.Thread(target=password_logins, daemon=True)
        t.start()
        try:
            time.sleep(0.2)
            self.redis.stop()
            for tok in before[1:]:
                for d in (self.a, self.b):
                    ans = d.authenticate('joe@corp.example', tok, '203.0.113.7')
                    self.assertIsInstance(ans, Fault, 'token login while Redis is down: %r' % (ans,))
                    self.assertEqual(ans.code, 'soap:Server')
            status, hdrs, out = api(self.a, {'user': 'joe@corp.example'}, auth=basic('sync'))
            self.assertEqual(status, 503, out)
            self.assertEqual(hdrs.get('cache-control'), 'no-store')
            time.sleep(0.3)
            self.redis.start()      # empty: nothing was persisted
            time.sleep(0.2)
        finally:
            stop.set()
            t.join(timeout=20)
        self.assertTrue(pw_answers)
        self.assertEqual(set(pw_answers), {'true'}, pw_answers)
        # tokens from before the outage never turn true (Redis lost them)
        for tok in before[1:]:
            self.assertEqual(self.b.authenticate('joe@corp.example', tok, '203.0.113.7'), 'false')
        # recovery without restarting dagate
        tok = self.issue(self.a)
        self.assertEqual(self.b.authenticate('joe@corp.example', tok, '203.0.113.7'), 'true')
        unavailable = [e for e in security_events(self.a) + security_events(self.b)
                       if e.get('outcome') == 'store_unavailable']
        self.assertTrue(unavailable)

    def test_4_redis_and_logs_hold_no_raw_token(self):
        for _ in range(3):
            self.issue()      # some outstanding ones too
        dump = self.redis.dump()
        self.assertTrue(any(k.startswith(b'dagate:t:') for k in dump), dump.keys())
        blob = b'\n'.join(k + b'=' + (v if isinstance(v, bytes) else repr(v).encode())
                          for k, v in dump.items())
        logs = (self.a.log() + self.b.log()).encode()
        with open(os.path.join(self.shared, 'token.key'), 'rb') as f:
            key = f.read().strip()
        self.assertNotIn(key, blob)
        self.assertNotIn(bytes.fromhex(key.decode()), blob)
        self.assertNotIn(REDIS_PASSWORD.encode(), logs)
        self.assertTrue(self.issued)
        for tok in self.issued:
            for name, data in (('redis', blob), ('logs', logs)):
                self.assertNotIn(tok.encode(), data, name)
                self.assertNotIn(tok[5:30].encode(), data, name)


class TestPersistence(unittest.TestCase):
    """A crash of Redis must not bring a used token back."""

    def setUp(self):
        self.shared = tempfile.mkdtemp(prefix='dagate-tokshared-')
        write_shared(self.shared)

    def tearDown(self):
        shutil.rmtree(self.shared, ignore_errors=True)

    def serve_refused(self, redis, extra=''):
        d = Dagate(redis_config(redis.url, self.shared) + extra, files=tokens_files(),
                   start=False)
        try:
            r = run_dagate(['serve', '-c', d.config_path], cwd=d.dir, timeout=20)
            return r.returncode, r.stdout + r.stderr, d.config_path
        finally:
            d._cleanup_dir()

    def test_rdb_snapshots_refused(self):
        with RedisServer(password=REDIS_PASSWORD, persistence='rdb') as redis:
            code, out, path = self.serve_refused(redis)
        self.assertEqual(code, 2, out)
        self.assertRegex(out, re.escape(path) + r':\d+: store redis://.*RDB snapshots')
        for words in ('appendonly yes', 'appendfsync always', 'save ""',
                      'accept_replay_after_crash = yes'):
            self.assertIn(words, out)
        self.assertNotIn(REDIS_PASSWORD, out)

    def test_everysec_and_refused_config_refused(self):
        with RedisServer(password=REDIS_PASSWORD, persistence='aof-everysec') as redis:
            code, out, _ = self.serve_refused(redis)
        self.assertEqual(code, 2, out)
        self.assertIn('appendfsync everysec', out)
        # managed Redis renames CONFIG: nothing to judge by, so refused too
        with RedisServer(password=REDIS_PASSWORD, persistence='aof-always',
                         extra_args=['--rename-command', 'CONFIG', '']) as redis:
            code, out, _ = self.serve_refused(redis)
        self.assertEqual(code, 2, out)
        self.assertIn('refused CONFIG GET', out)
        # the CLI opens the same store and refuses it the same way
        with RedisServer(password=REDIS_PASSWORD, persistence='rdb') as redis:
            d = Dagate(redis_config(redis.url, self.shared), files=tokens_files(), start=False)
            try:
                r = run_dagate(['-c', d.config_path, 'token', 'issue', '--requester', 'sync',
                                '--user', 'joe@corp.example'], cwd=d.dir)
            finally:
                d._cleanup_dir()
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip(), '')

    def test_rdb_accepted_warns_and_replays_after_a_crash(self):
        """What the option accepts, shown: a token redeemed after the last
        snapshot is accepted again once Redis has crashed."""
        with RedisServer(password=REDIS_PASSWORD, persistence='rdb') as redis:
            cfg = redis_config(redis.url, self.shared).replace(
                'timeout = 1s\n', 'timeout = 1s\naccept_replay_after_crash = yes\n')
            with Dagate(cfg, files=tokens_files()) as d:
                warn = [l for l in d.log().splitlines() if 'RDB snapshots' in l]
                self.assertEqual(len(warn), 1, d.log())
                self.assertIn('accept_replay_after_crash = yes', warn[0])
                tok = api(d, {'user': 'joe@corp.example'}, auth=basic('sync'))[2]['token']
                redis.command('SAVE')
                self.assertEqual(d.authenticate('joe@corp.example', tok, '203.0.113.7'), 'true')
                redis.stop()
                redis.start()
                self.assertEqual(d.authenticate('joe@corp.example', tok, '203.0.113.7'), 'true')

    def test_aof_always_keeps_a_used_token_used_across_a_crash(self):
        with RedisServer(password=REDIS_PASSWORD, persistence='aof-always') as redis:
            with Dagate(redis_config(redis.url, self.shared), files=tokens_files()) as d:
                self.assertNotIn('accept_replay_after_crash', d.log())
                used, kept = (api(d, {'user': 'joe@corp.example'}, auth=basic('sync'))[2]['token']
                              for _ in range(2))
                redis.command('SAVE')        # a snapshot too: it must not matter
                self.assertEqual(d.authenticate('joe@corp.example', used, '203.0.113.7'), 'true')
                redis.stop()                 # SIGKILL right after the redemption
                redis.start()
                self.assertEqual(d.authenticate('joe@corp.example', used, '203.0.113.7'),
                                 'false')
                # an unused token was persisted and survives
                self.assertEqual(d.authenticate('joe@corp.example', kept, '203.0.113.7'), 'true')

    def test_redis_down_at_start_is_checked_before_first_use(self):
        """Redis may come up after dagate: serve starts, and the check runs
        before the first token is issued or redeemed; an unsafe Redis then
        gets 503 and faults, never a token."""
        redis = RedisServer(password=REDIS_PASSWORD, persistence='rdb')
        port = redis.port
        redis.stop()
        try:
            with Dagate(redis_config(redis.url, self.shared), files=tokens_files()) as d:
                self.assertIn('checked before the first token', d.log())
                redis.start()
                self.assertEqual(redis.port, port)
                for _ in range(2):
                    status, _, out = api(d, {'user': 'joe@corp.example'}, auth=basic('sync'))
                    self.assertEqual(status, 503, out)
                ans = d.authenticate('joe@corp.example', 'dgt1_' + '0' * 52, '203.0.113.7')
                self.assertIsInstance(ans, Fault)
                self.assertEqual(d.log().count('RDB snapshots'), 1, d.log())
                self.assertEqual(redis.command('DBSIZE'), 0)
        finally:
            redis.__exit__(None, None, None)


if __name__ == '__main__':
    unittest.main()
