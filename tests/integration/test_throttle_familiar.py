"""Familiar networks and growing blocks through the real binary (issue 11):
a stranger who knows a username spends only the budget of the networks
unfamiliar to its owner, who still logs in from a familiar one; a user
with no familiar network keeps the user budget alone; blocks grow as
configured and an operator lifts them; two instances sharing a real
redis-server agree on familiar networks, blocks and lifts."""

import json
import os
import time
import unittest

from harness import Dagate, run_dagate, server_section
from backends.redis import RedisServer
from test_throttle import Logins, pw_hash

OFFICE, OFFICE_TOO = '203.0.113.10', '203.0.113.20'   # one /24


def stranger(i):
    """A sourceIp in a /24 of its own."""
    return '10.%d.%d.1' % (i // 200 + 1, i % 200)


def users_file(*names):
    return ''.join('%s@corp.test:%s\n' % (n, pw_hash('right-' + n)) for n in names)


def conf(throttle):
    return (server_section() + '[route]\nmatch = * -> users\n\n'
            '[provider users]\ntype = file\npath = users\n\n'
            '[throttle]\nsource_failures = off\nrepeat_window = 0s\n' + throttle)


class FamiliarNetworks(unittest.TestCase):
    NAMES = ('joe', 'ann', 'lee')

    @classmethod
    def setUpClass(cls):
        cls.d = Dagate(conf('user_failures = 4/15m\n'),
                       files={'users': (users_file(*cls.NAMES), 0o644)})
        cls.d.__enter__()
        cls.admin = cls.d.admin_url.split('://', 1)[1]

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def test_a_stranger_cannot_keep_the_user_out(self):
        u = Logins(self, self.d, 'joe@corp.test')
        self.assertEqual(u.login('right-joe', OFFICE), ('true', 'ok', 'users'))
        answers = [u.login('guess-%d' % i, stranger(i)) for i in range(50)]
        # Half the user budget (2 of 4) for networks unfamiliar to joe.
        self.assertEqual(answers[:2], [('false', 'reject', 'users')] * 2)
        self.assertEqual(set(answers[2:]), {('false', 'throttled_unfamiliar', '-')})
        r = run_dagate(['throttle', 'status', 'joe@corp.test', '--admin', self.admin])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('joe@corp.test: 2 failures of 4', r.stdout)
        self.assertNotIn(': BLOCKED', r.stdout.splitlines()[0])
        self.assertIn('1 familiar networks; from elsewhere 2 failures of 2: '
                      'UNFAMILIAR NETWORKS BLOCKED', r.stdout)
        # joe, at the office (another address of the same /24), is asked.
        self.assertEqual(u.login('right-joe', OFFICE_TOO), ('true', 'ok', 'users'))
        st = json.loads(self.d.get('/api/v1/throttle/users/joe@corp.test', admin=True)[2])
        self.assertEqual((st['failures'], st['unfamiliar_failures'], st['unfamiliar_blocked'],
                          st['familiar_networks']), (0, 0, False, 1))
        body = self.d.get('/metrics', admin=True)[2].decode()
        self.assertRegex(body, r'dagate_throttled_total\{reason="unfamiliar_budget"\} 4[89]')
        self.assertRegex(body, r'dagate_throttle_blocks_total\{kind="unfamiliar"\} [1-9]')
        self.assertRegex(body, r'dagate_throttle_familiar_hits_total [1-9]')

    def test_no_familiar_network_keeps_the_user_budget(self):
        u = Logins(self, self.d, 'ann@corp.test')
        answers = [u.login('guess-%d' % i, stranger(i)) for i in range(50)]
        self.assertEqual(answers[:4], [('false', 'reject', 'users')] * 4)
        self.assertEqual(set(answers[4:]), {('false', 'throttled_user', '-')})
        self.assertEqual(u.login('right-ann', OFFICE), ('false', 'throttled_user', '-'))

    def test_the_office_typos_spend_the_rest(self):
        u = Logins(self, self.d, 'lee@corp.test')
        self.assertEqual(u.login('right-lee', OFFICE), ('true', 'ok', 'users'))
        for i in range(3):
            self.assertEqual(u.login('guess-%d' % i, stranger(100 + i))[1],
                             'reject' if i < 2 else 'throttled_unfamiliar')
        # Every failure counts against the user budget: 2 + 2 = 4, then no one.
        for i in range(2):
            self.assertEqual(u.login('typo-%d' % i, OFFICE), ('false', 'reject', 'users'))
        self.assertEqual(u.login('right-lee', OFFICE), ('false', 'throttled_user', '-'))


class TestUserShowsFamiliarity(unittest.TestCase):
    def test_test_user_names_the_sources_network(self):
        from backends.ports import free_port
        port = free_port()
        c = conf('user_failures = 4/15m\n').replace('[admin]\nlisten = 127.0.0.1:0',
                                                     '[admin]\nlisten = 127.0.0.1:%d' % port)
        self.assertIn(':%d' % port, c)
        with Dagate(c, files={'users': (users_file('pat'), 0o644)}) as d:
            u = Logins(self, d, 'pat@corp.test')
            self.assertEqual(u.login('right-pat', OFFICE), ('true', 'ok', 'users'))
            for i in range(2):
                u.login('guess-%d' % i, stranger(i))
            r = run_dagate(['test-user', 'pat@corp.test', '--source-ip', OFFICE_TOO,
                            '-c', d.config_path], stdin='whatever',
                           cwd=os.path.dirname(d.config_path))
            self.assertIn('throttle (running server)', r.stdout, r.stderr)
            self.assertIn("1 familiar networks, this source's among them; from others 2 failures "
                          "of 2: BLOCKED from unfamiliar networks", r.stdout)
            r = run_dagate(['test-user', 'pat@corp.test', '--source-ip', stranger(7),
                            '-c', d.config_path], stdin='whatever',
                           cwd=os.path.dirname(d.config_path))
            self.assertIn("1 familiar networks, not this source's", r.stdout)
            status, _, body = d.get('/api/v1/throttle/users/pat@corp.test?source=nope',
                                    admin=True)
            self.assertEqual(status, 400)


class GrowingBlocks(unittest.TestCase):
    def test_blocks_grow_then_an_operator_lifts(self):
        with Dagate(conf('user_failures = 2/1s\nblock_steps = 2s,4s\n'),
                    files={'users': (users_file('kim'), 0o644)}) as d:
            admin = d.admin_url.split('://', 1)[1]
            u = Logins(self, d, 'kim@corp.test')
            # Trip 1: a 2 s block (longer than the 1 s window).
            for i in range(2):
                self.assertEqual(u.login('w%d' % i, '198.51.100.1'), ('false', 'reject', 'users'))
            st = json.loads(d.get('/api/v1/throttle/users/kim@corp.test', admin=True)[2])
            self.assertEqual((st['blocked'], st['blocks']), (True, 1))
            self.assertIn(st['block_ends_in_seconds'], (1, 2))
            time.sleep(1.3)   # the window is over, the block is not
            self.assertEqual(u.login('right-kim', '198.51.100.1'), ('false', 'throttled_user', '-'))
            time.sleep(1.0)
            # Trip 2: 4 s.
            for i in range(2):
                self.assertEqual(u.login('v%d' % i, '198.51.100.1'), ('false', 'reject', 'users'))
            time.sleep(2.5)
            self.assertEqual(u.login('right-kim', '198.51.100.1'), ('false', 'throttled_user', '-'))
            r = run_dagate(['throttle', 'status', 'kim@corp.test', '--admin', admin])
            self.assertRegex(r.stdout, r'BLOCKED for [12]s')
            r = run_dagate(['throttle', 'unblock', 'kim@corp.test', '--admin', admin])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn('lifted; now 0 failures', r.stdout)
            self.assertEqual(u.login('right-kim', '198.51.100.1'), ('true', 'ok', 'users'))
            lifts = [l for l in d.log().splitlines() if 'security=throttle_lift' in l]
            self.assertEqual(len(lifts), 1, lifts)
            self.assertIn('user=kim@corp.test', lifts[0])
            body = d.get('/metrics', admin=True)[2].decode()
            self.assertIn('dagate_throttle_blocks_total{kind="user"} 2', body)
            r = run_dagate(['status', '--admin', admin])
            self.assertIn('2 blocks (0 unfamiliar)', r.stdout)


class SharedFamiliarNetworks(unittest.TestCase):
    def test_two_instances_agree(self):
        key = os.urandom(32).hex() + '\n'
        with RedisServer() as r:
            c = conf('user_failures = 4/2s\nblock_steps = 3s\nstore = %s/0\n'
                     'key_file = throttle.key\ntimeout = 200ms\n' % r.url)
            files = {'users': (users_file('sam', 'tom'), 0o644), 'throttle.key': (key, 0o600)}
            with Dagate(c, files=files) as a, Dagate(c, files=files) as b:
                ua, ub = Logins(self, a, 'sam@corp.test'), Logins(self, b, 'sam@corp.test')
                self.assertEqual(ua.login('right-sam', OFFICE), ('true', 'ok', 'users'))
                self.assertEqual(ub.login('g1', stranger(1)), ('false', 'reject', 'users'))
                self.assertEqual(ua.login('g2', stranger(2)), ('false', 'reject', 'users'))
                self.assertEqual(ub.login('g3', stranger(3)), ('false', 'throttled_unfamiliar', '-'))
                self.assertEqual(ua.login('g4', stranger(4)), ('false', 'throttled_unfamiliar', '-'))
                # b knows the network a saw succeed.
                self.assertEqual(ub.login('right-sam', OFFICE_TOO), ('true', 'ok', 'users'))
                keys = [str(k) for k in r.dump() if 'dagate:thr:' in str(k)]
                self.assertTrue(any('dagate:thr:f:' in k for k in keys), keys)
                self.assertFalse(any('sam' in k or '203.0.113' in k or '10.' in k for k in keys))
                # A user block set through a, seen by b, lifted through b, gone on a.
                ta, tb = Logins(self, a, 'tom@corp.test'), Logins(self, b, 'tom@corp.test')
                for i in range(4):
                    self.assertEqual((ta if i % 2 else tb).login('w%d' % i, stranger(9))[1],
                                     'reject')
                self.assertEqual(tb.login('right-tom', stranger(9)), ('false', 'throttled_user', '-'))
                time.sleep(2.2)   # past the window, inside the 3 s block
                self.assertEqual(ta.login('right-tom', stranger(9)), ('false', 'throttled_user', '-'))
                st = json.loads(b.get('/api/v1/throttle/users/tom@corp.test', admin=True)[2])
                self.assertEqual((st['blocked'], st['shared']), (True, True))
                r2 = run_dagate(['throttle', 'unblock', 'tom@corp.test', '--admin',
                                 b.admin_url.split('://', 1)[1]])
                self.assertEqual(r2.returncode, 0, r2.stderr)
                self.assertIn('(shared store)', r2.stdout)
                self.assertEqual(ta.login('right-tom', stranger(9)), ('true', 'ok', 'users'))


if __name__ == '__main__':
    unittest.main()
