"""[tokens] and [throttle] on redis-sentinel:// (issue 10, Redis as a single
point of failure), with real servers on loopback: one master, two replicas
(after a failover the new master still has one, so WAIT 1 can succeed),
three sentinels (quorum 2, down-after-milliseconds 1000), and two `dagate
serve` instances.

- tokens issue and redeem through the sentinel-discovered master;
- the master is SIGKILLed under a running loop of password logins, wrong
  logins (throttle writes) and redemptions: once the sentinels name a new
  master, logins and redemptions succeed again through both instances
  without restarting dagate, the change is logged and counted;
- no token is ever true twice (every issued token redeemed again from both
  instances at the end);
- with the master's replicas stopped (WAIT gets 0) a redemption answers
  false, audited not_replicated, and the token stays burnt;
- persistence is checked per master: a failover to a node keeping RDB
  snapshots makes tokens fault until the next failover to a durable one;
- a stalled first sentinel costs only its share of the deadline;
- a store whose sentinels are all down gives a fault within the request
  deadline, never true; a malformed URL is a FILE:LINE configuration error.

The sentinels' failover is waited for with a bound (FAILOVER_WAIT), not
timed: on a loaded machine they may even fail over twice.
"""

import os
import re
import shutil
import socket
import tempfile
import threading
import time
import unittest

from backends.ports import free_port
from backends.redis import RedisError, RedisServer
from backends.redis_sentinel import SentinelServer
from harness import Dagate, Fault, run_dagate
from test_tokens import TOKEN_RE, api, basic, security_events, tokens_files
from test_tokens_redis import REDIS_PASSWORD, redis_config, write_shared

MASTER = 'dagatemaster'
FAILOVER_WAIT = 60.0        # bound on the sentinels' failover, not a product promise
REQUEST_DEADLINE = 5.0      # [server] deadline's default: the product's promise
USER = 'joe@corp.example'
SOURCE = '203.0.113.7'


def sentinel_config(url, shared):
    return redis_config(url, shared, throttle=True)


def metric(d, name):
    status, _, body = d.get('/metrics', admin=True)
    assert status == 200, status
    m = re.search(r'^%s (\d+)$' % re.escape(name), body.decode(), re.M)
    return int(m.group(1)) if m else None


class SentinelCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.shared = tempfile.mkdtemp(prefix='dagate-sentinel-shared-')
        write_shared(cls.shared)
        cls.servers = []
        try:
            auth = ['--masterauth', REDIS_PASSWORD]
            cls.master = cls.track(RedisServer(password=REDIS_PASSWORD, extra_args=auth))
            cls.replicas = [
                cls.track(RedisServer(password=REDIS_PASSWORD, extra_args=auth + [
                    '--replicaof', '127.0.0.1', str(cls.master.port)]))
                for _ in range(2)]
            cls.wait_replicas(cls.master, 2)
            cls.sentinels = [cls.track(SentinelServer(MASTER, cls.master.port,
                                                      password=REDIS_PASSWORD))
                             for _ in range(3)]
            cls.url = 'redis-sentinel://%s/%s' % (
                ','.join('127.0.0.1:%d' % s.port for s in cls.sentinels), MASTER)
            cfg = sentinel_config(cls.url, cls.shared)
            cls.a = cls.track(Dagate(cfg, files=tokens_files()))
            cls.b = cls.track(Dagate(cfg, files=tokens_files()))
        except BaseException:
            cls.tearDownClass()
            raise
        cls.issued = []
        cls.outcomes = {}       # token -> every redemption answer it got

    @classmethod
    def track(cls, server):
        cls.servers.append(server)
        return server

    @classmethod
    def tearDownClass(cls):
        try:
            for s in reversed(cls.servers):
                try:
                    s.__exit__(None, None, None) if isinstance(s, Dagate) else s.close()
                except Exception:       # every one is stopped, whatever happens
                    pass
        finally:
            shutil.rmtree(cls.shared, ignore_errors=True)

    @staticmethod
    def wait_replicas(redis, count, timeout=FAILOVER_WAIT):
        """Until `redis` reports `count` replicas online (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            info = redis.command('INFO', 'replication').decode()
            online = len(re.findall(r'^slave\d+:.*state=online', info, re.M))
            if online >= count:
                return
            if time.monotonic() > deadline:
                raise AssertionError('%d replicas online, want %d:\n%s' % (online, count, info))
            time.sleep(0.05)

    def issue(self, d):
        status, _, out = api(d, {'user': USER}, auth=basic('sync'))
        if status != 201:
            return None
        self.assertRegex(out['token'], TOKEN_RE)
        self.issued.append(out['token'])
        return out['token']

    def redis_lines(self):
        """What both instances and the sentinels said about Redis, for failures."""
        out = []
        for name, d in (('a', self.a), ('b', self.b)):
            out += ['%s: %s' % (name, l) for l in d.log().splitlines() if '(redis)' in l]
        for i, s in enumerate(self.sentinels):
            out += ['sentinel%d: %s' % (i, l) for l in s.log('sentinel.log').splitlines()]
        return '\n'.join(out[-300:])

    def current_master(self):
        """The node the sentinels name, once a majority agree."""
        addrs = []
        for s in self.sentinels:
            try:
                addrs.append(s.master_addr())
            except OSError:
                pass
        best = max(set(addrs), key=addrs.count) if addrs else None
        return best if best is not None and addrs.count(best) >= 2 else None

    def server_at(self, addr):
        for r in [self.master] + self.replicas:
            if addr == ('127.0.0.1', r.port):
                return r
        self.fail('the sentinels name an unknown master %r' % (addr,))


class TestSentinelStore(SentinelCase):

    def test_1_issue_and_redeem(self):
        tok = self.issue(self.a)
        self.assertIsNotNone(tok)
        self.assertEqual(self.b.authenticate(USER, tok, SOURCE), 'true')
        self.assertEqual(self.a.authenticate(USER, tok, SOURCE), 'false')
        # the token lived on the master the sentinels name
        self.assertEqual(self.current_master(), ('127.0.0.1', self.master.port))
        self.assertIn('master %s is 127.0.0.1:%d' % (MASTER, self.master.port), self.a.log())

    def test_2_failover_under_load(self):
        stop = threading.Event()
        answers = []            # (phase, kind, answer, instance that answered)
        lock = threading.Lock()
        phase = {'now': 'before'}

        def loop(d, other, name, other_name):
            i = 0
            while not stop.is_set():
                i += 1
                pw = d.authenticate(USER, 'joe-password', SOURCE)
                wrong = d.authenticate('nobody%d@corp.example' % (i % 50), 'wrong', SOURCE)
                tok = self.issue(d)
                red = other.authenticate(USER, tok, SOURCE) if tok else None
                with lock:
                    answers.append((phase['now'], 'password', pw, name))
                    answers.append((phase['now'], 'wrong', wrong, name))
                    answers.append((phase['now'], 'issue', 'true' if tok else 'false', name))
                    if tok:
                        answers.append((phase['now'], 'redeem', red, other_name))
                        self.outcomes.setdefault(tok, []).append(red)
                time.sleep(0.01)

        def recovered():
            """The last 10 issues and redemptions through each instance succeeded."""
            with lock:
                after = [a for a in answers if a[0] == 'after']
            for name in ('a', 'b'):
                for kind in ('issue', 'redeem'):
                    last = [v for _, k, v, n in after if k == kind and n == name][-10:]
                    if len(last) < 10 or set(last) != {'true'}:
                        return False
            return True

        threads = [threading.Thread(target=loop, args=args, daemon=True)
                   for args in ((self.a, self.b, 'a', 'b'), (self.b, self.a, 'b', 'a'))]
        for t in threads:
            t.start()
        try:
            deadline = time.monotonic() + FAILOVER_WAIT
            while True:         # a redemption through each instance first
                with lock:
                    redeemers = {n for p, k, v, n in answers if k == 'redeem' and v == 'true'}
                if redeemers == {'a', 'b'}:
                    break
                self.assertLess(time.monotonic(), deadline, answers[-12:])
                time.sleep(0.05)
            old = ('127.0.0.1', self.master.port)
            phase['now'] = 'failover'
            self.master.kill()
            deadline = time.monotonic() + FAILOVER_WAIT
            while self.current_master() in (old, None):
                self.assertLess(time.monotonic(), deadline, 'no failover')
                time.sleep(0.1)
            phase['now'] = 'after'
            # both instances succeed again, without a restart (bounded wait: a
            # loaded machine can make the sentinels fail over twice)
            deadline = time.monotonic() + FAILOVER_WAIT
            while not recovered():
                with lock:
                    tail = answers[-12:]
                self.assertLess(time.monotonic(), deadline,
                                '%r\n%s' % (tail, self.redis_lines()))
                time.sleep(0.1)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        before = [a for a in answers if a[0] == 'before']
        self.assertTrue(before)
        self.assertEqual({v for _, k, v, _ in before}, {'true', 'false'})
        self.assertEqual({v for _, k, v, _ in before if k == 'redeem'}, {'true'})
        # password logins never depend on Redis
        self.assertEqual({v for _, k, v, _ in answers if k == 'password'}, {'true'})
        # never true for a wrong password, whatever Redis was doing
        self.assertNotIn('true', [v for _, k, v, _ in answers if k == 'wrong'])
        for d in (self.a, self.b):
            self.assertIn('master %s moved from 127.0.0.1:%d to 127.0.0.1:' % (MASTER, old[1]),
                          d.log())
            self.assertGreaterEqual(
                metric(d, 'dagate_redis_master_changes_total{store="tokens"}'), 1)
            self.assertGreaterEqual(
                metric(d, 'dagate_redis_master_changes_total{store="throttle"}'), 1)

    def test_3_no_token_true_twice(self):
        """Every token issued so far, redeemed again from both instances:
        across the run, no token was ever true twice. (One whose redemption
        met the failover as a fault may be true now, once.)"""
        self.assertGreater(len(self.issued), 20)
        for tok in self.issued:
            for d in (self.a, self.b):
                self.outcomes.setdefault(tok, []).append(d.authenticate(USER, tok, SOURCE))
        twice = {t: o for t, o in self.outcomes.items() if o.count('true') > 1}
        self.assertEqual(twice, {})
        self.assertGreater(sum(o.count('true') for o in self.outcomes.values()), 10)

    def test_4_redemption_without_a_replica_is_false(self):
        new = self.server_at(self.current_master())
        self.wait_replicas(new, 1)
        tok = self.issue(self.a)
        self.assertIsNotNone(tok)
        live = [r for r in self.replicas + [self.master]
                if r is not new and r.proc is not None]
        for r in live:
            r.kill()
        try:
            def not_replicated():
                return [e for e in security_events(self.b, 'token_reject')
                        if e.get('outcome') == 'not_replicated']

            before, events = (metric(self.b, 'dagate_token_redemptions_not_replicated_total'),
                              len(not_replicated()))
            self.assertEqual(self.b.authenticate(USER, tok, SOURCE), 'false')
            self.assertEqual(len(not_replicated()), events + 1)
            self.assertEqual(metric(self.b, 'dagate_token_redemptions_not_replicated_total'),
                             before + 1)
            self.assertIn('no replica acknowledged', self.b.log())
        finally:
            for r in live:
                r.start()
                r.command('REPLICAOF', '127.0.0.1', str(new.port))
        # burnt on the master: never true afterwards either
        self.wait_replicas(new, 1)
        for d in (self.a, self.b):
            self.assertEqual(d.authenticate(USER, tok, SOURCE), 'false')


    def test_5_new_master_persistence_checked(self):
        """Persistence is per node: after a failover to a master that keeps
        RDB snapshots, tokens fault until the next master is durable."""
        nodes = [r for r in [self.master] + self.replicas if r.proc is not None]
        old = self.server_at(self.current_master())
        self.wait_replicas(old, len(nodes) - 1)
        kept = self.issue(self.a)
        self.assertIsNotNone(kept)
        deadline = time.monotonic() + FAILOVER_WAIT
        while {r.command('DBSIZE') for r in nodes} != {old.command('DBSIZE')}:
            self.assertLess(time.monotonic(), deadline, 'replicas do not catch up')
            time.sleep(0.05)
        for r in nodes:
            if r is not old:
                r.command('CONFIG', 'SET', 'save', '3600 1')
        unsafe = self.failover(old)
        self.assertIsNone(self.issue(self.a))
        ans = self.b.authenticate(USER, kept, SOURCE)
        self.assertIsInstance(ans, Fault)
        for d in (self.a, self.b):
            self.assertIn('the new master: Redis persists by RDB snapshots', d.log())
        for r in nodes:
            r.command('CONFIG', 'SET', 'save', '')
        self.wait_replicas(unsafe, len(nodes) - 1)
        self.failover(unsafe)
        tok = self.issue(self.a)
        self.assertIsNotNone(tok)
        self.assertEqual(self.b.authenticate(USER, tok, SOURCE), 'true')

    def failover(self, old):
        """SENTINEL FAILOVER, and wait (bounded) until the sentinels agree on
        another master with a replica online; that master."""
        deadline = time.monotonic() + FAILOVER_WAIT
        while True:
            try:        # until the sentinels see the replica as healthy again
                self.sentinels[0].command('SENTINEL', 'FAILOVER', MASTER)
                break
            except RedisError as e:
                self.assertLess(time.monotonic(), deadline, str(e))
                time.sleep(0.2)
        while self.current_master() in (('127.0.0.1', old.port), None):
            self.assertLess(time.monotonic(), deadline, 'no failover')
            time.sleep(0.1)
        new = self.server_at(self.current_master())
        self.wait_replicas(new, 1)
        return new


class TestStalledSentinel(SentinelCase):
    """A sentinel that takes the connection and never answers, first in the
    list, gets only its share of the deadline: the next one answers."""

    def test_stalled_first_sentinel_costs_only_its_share(self):
        silent = socket.socket()
        try:
            silent.bind(('127.0.0.1', 0))
            silent.listen(64)           # connections complete, nothing is read
            url = 'redis-sentinel://127.0.0.1:%d,%s' % (silent.getsockname()[1],
                                                        self.url.split('://', 1)[1])
            with Dagate(sentinel_config(url, self.shared), files=tokens_files()) as d:
                # the start-up persistence check (timeout = 1s) got its answer
                # from the second sentinel after the first one's share ran out
                self.assertIn('sentinel 127.0.0.1:%d did not answer' % silent.getsockname()[1],
                              d.log())
                self.assertNotIn('checked before the first token', d.log())
                tok = self.issue(d)
                self.assertIsNotNone(tok, d.log())
                started = time.monotonic()
                self.assertEqual(d.authenticate(USER, tok, SOURCE), 'true')
                self.assertLess(time.monotonic() - started, REQUEST_DEADLINE)
                self.assertEqual(self.a.authenticate(USER, tok, SOURCE), 'false')
        finally:
            silent.close()


class TestSentinelsDown(unittest.TestCase):

    def setUp(self):
        self.shared = tempfile.mkdtemp(prefix='dagate-sentinel-shared-')
        write_shared(self.shared)

    def tearDown(self):
        shutil.rmtree(self.shared, ignore_errors=True)

    def test_all_sentinels_down_faults_within_the_deadline(self):
        url = 'redis-sentinel://127.0.0.1:%d,127.0.0.1:%d/%s' % (free_port(), free_port(), MASTER)
        with Dagate(sentinel_config(url, self.shared), files=tokens_files()) as d:
            self.assertIn('no sentinel named the master', d.log())
            started = time.monotonic()
            ans = d.authenticate(USER, 'dgt1_' + '0' * 52, SOURCE)
            self.assertLess(time.monotonic() - started, REQUEST_DEADLINE)
            self.assertIsInstance(ans, Fault)
            self.assertEqual(ans.code, 'soap:Server')
            status, _, _ = api(d, {'user': USER}, auth=basic('sync'))
            self.assertEqual(status, 503)
            self.assertEqual(d.authenticate(USER, 'joe-password', SOURCE), 'true')

    def test_bad_urls_are_config_errors(self):
        for url, words in (('redis-sentinel://127.0.0.1:26379', 'redis-sentinel://'),
                           ('redis-sentinel://a,,b/m', 'redis-sentinel://'),
                           ('rediss-sentinel://127.0.0.1/m', 'not supported')):
            d = Dagate(sentinel_config(url, self.shared), files=tokens_files(), start=False)
            try:
                r = run_dagate(['check-config', '-c', d.config_path], cwd=d.dir, timeout=20)
            finally:
                d._cleanup_dir()
            out = r.stdout + r.stderr
            self.assertNotEqual(r.returncode, 0, out)
            # both [tokens] store and [throttle] store are refused, by line
            lines = re.findall(re.escape(d.config_path) + r':(\d+): .*store', out)
            self.assertGreaterEqual(len(set(lines)), 2, out)
            self.assertIn(words, out)


if __name__ == '__main__':
    unittest.main()
