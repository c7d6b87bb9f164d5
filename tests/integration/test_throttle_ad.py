"""[throttle] against a real Active Directory: a Samba 4 DC (backends/samba.py)
with an account lockout threshold of 5 and "reset after" 30 minutes, and
`directory_lockout = 5/30m` in dagate. AD's own badPwdCount and lockoutTime
prove what reached it: concurrent right passwords all succeed; binds the
DC answers too late (a delaying proxy) are counted, so six of them do not
lock the account (without the throttle they do); an attacker from 50
networks never locks a user; a user's familiar network (a /24 he logged in
from) still gets in while strangers are refused; 200 users failing once then
succeeding from one address are never refused. Each test has fresh users of its own (the DC's
spare ones). Needs root."""

import os
import threading
import time
import unittest

from harness import Dagate, Fault, NO_THROTTLE, server_section
from backends.redis import RedisServer
from backends.samba import (BASE, LOCKOUT_THRESHOLD, REALM, SPARE_PASSWORD, SPARE_USERS, SVC_DN,
                            SVC_PASSWORD, SambaDC)
from backends.tcp_delay import DelayingProxy

PASSWORD = SPARE_PASSWORD
MANY = 200          # users in test_many_users_behind_one_address: spare000...
# The provider's timeout, and how long the proxy holds the DC's answers to
# user binds: the search and the bind must be sent well inside TIMEOUT even
# in the ASan build on a loaded machine (at 1 s one CI run sent a bind too
# late, uncounted, as it should be), and the answer must come after it.
TIMEOUT = 2.5
SLOW = 4.0
FILTER = '(&(objectClass=user)(userPrincipalName=%u))'
THROTTLE = '[throttle]\ndirectory_lockout = %d/30m\nrepeat_window = 0s\n\n' % LOCKOUT_THRESHOLD


def upn(name):
    return '%s@%s' % (name, REALM.lower())


def spare(i):
    assert i < SPARE_USERS
    return 'spare%03d' % i


# one fresh user (badPwdCount 0) for each test, after the MANY
CONC, CONC2, CONC3, SLOW_USER, SLOW_CONTROL, NOFAM, FAM = (spare(MANY + i) for i in range(7))


class ThrottleAgainstAD(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # plain binds: the proxy must tell the service account's
        # connection from the users' (dagate binds over ldap:// to it)
        cls.dc = SambaDC(plain_binds=True)
        cls.started = []
        try:
            cls.dc.__enter__()
            cls.proxy = DelayingProxy(cls.dc.ip, 389, SLOW,
                                      slow=lambda first: b'svc-dagate' not in first)
            cls.d = cls.start(cls.provider(cls.dc.ldaps_uri, 'timeout = 4s\n') + THROTTLE)
            slow = cls.provider('ldap://127.0.0.1:%d' % cls.proxy.port,
                                'insecure = yes\ntimeout = %dms\n' % (TIMEOUT * 1000))
            cls.s = cls.start(slow + THROTTLE)
            cls.c = cls.start(slow + NO_THROTTLE)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            for d in cls.started:
                d.__exit__(None, None, None)
            if getattr(cls, 'proxy', None) is not None:
                cls.proxy.close()
        finally:
            cls.dc.close()

    @classmethod
    def start(cls, conf, more_files=None):
        with open(cls.dc.ca_cert) as f:
            files = {'ca.crt': f.read(), 'svc.secret': (SVC_PASSWORD + '\n', 0o600)}
        files.update(more_files or {})
        d = Dagate(conf, files=files)
        d.__enter__()
        cls.started.append(d)
        return d

    @classmethod
    def provider(cls, uri, extra):
        return (server_section(extra='workers = 16\nprobe_interval = 0s\n') +
                '[route]\nmatch = * -> ad\n\n[provider ad]\ntype = ldap\nuri = %s\n'
                'ca_file = {dir}/ca.crt\nbase = %s\nbind_dn = %s\n'
                'bind_password_file = {dir}/svc.secret\nuser_filter = %s\n%s\n'
                % (uri, BASE, SVC_DN, FILTER, extra))

    def ad_state(self, name):
        """(badPwdCount, lockoutTime) of the user, as AD has them."""
        got = self.dc.admin_search('CN=%s,CN=Users,%s' % (name, BASE), 'badPwdCount',
                                   'lockoutTime')
        return int(got.get('badPwdCount', '0')), int(got.get('lockoutTime', '0'))

    def wait_ad_state(self, name, done, timeout=5.0):
        """AD's state once done(state) holds, or after timeout."""
        end = time.monotonic() + timeout
        while True:
            state = self.ad_state(name)
            if done(state) or time.monotonic() > end:
                return state
            time.sleep(0.1)

    def binds_at_the_dc(self, name, password):
        """Whether a bind as the user straight to the DC (no dagate) works."""
        r = self.dc.ldap_tool('ldapsearch', '-LLL', '-s', 'base', '-b', '', 'namingContexts',
                              binddn=upn(name), password=password)
        self.assertIn(r.returncode, (0, 49), r.stdout)
        return r.returncode == 0

    def outcomes(self, d, user, n):
        recs = d.audit_of(user, n)
        self.assertEqual(len(recs), n, d.log()[-3000:])
        return [r.get('outcome') for r in recs]

    def eight_at_once(self, user, sources, d=None):
        d, answers = d or self.d, [None] * 8

        def login(i):
            answers[i] = d.authenticate(user, PASSWORD, '%s.%d' % (sources, i + 1))

        before = len(d.audit_of(user, 0))
        threads = [threading.Thread(target=login, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(answers, ['true'] * 8, d.log()[-3000:])
        self.assertEqual(self.outcomes(d, user, before + 8)[before:], ['ok'] * 8)

    def test_eight_concurrent_right_passwords(self):
        self.eight_at_once(upn(CONC), '198.51.100')

    def test_eight_concurrent_right_passwords_with_redis(self):
        with RedisServer() as r:
            d = self.start(self.provider(self.dc.ldaps_uri, 'timeout = 4s\n') + THROTTLE
                           + 'store = %s/0\nkey_file = {dir}/throttle.key\n' % r.url,
                           {'throttle.key': (os.urandom(32).hex() + '\n', 0o600)})
            try:
                self.eight_at_once(upn(CONC3), '198.51.100', d)
                self.assertTrue(any('dagate:thr:' in str(k) for k in r.dump()), 'Redis unused')
            finally:
                self.started.remove(d)
                d.__exit__(None, None, None)

    def test_eight_concurrent_right_passwords_after_a_dc_restart(self):
        # the pooled connections are dead and must be found so, not counted
        self.eight_at_once(upn(CONC2), '198.51.100')
        self.dc.stop()
        self.dc.start()
        self.eight_at_once(upn(CONC2), '198.51.100')
        self.assertEqual(self.ad_state(CONC2), (0, 0))

    def test_binds_answered_too_late_are_counted(self):
        user, slowed = upn(SLOW_USER), self.proxy.slowed
        answers = [self.s.authenticate(user, 'Wrong-Pass-%dx' % i, '198.51.100.%d' % (i + 20))
                   for i in range(6)]
        self.assertTrue(all(isinstance(a, Fault) for a in answers[:4]), answers)
        self.assertEqual(answers[4:], ['false', 'false'])
        self.assertEqual(self.outcomes(self.s, user, 6),
                         ['unavailable'] * 4 + ['throttled_user'] * 2)
        self.assertEqual(self.proxy.slowed - slowed, 4, 'one slowed user connection per bind')
        # Each unanswered bind reached the DC and counted there; the throttle
        # counted them too, so the fifth never came.
        self.assertEqual(self.wait_ad_state(SLOW_USER, lambda s: s[0] >= 4), (4, 0))
        time.sleep(SLOW)
        self.assertEqual(self.ad_state(SLOW_USER), (4, 0))
        self.assertTrue(self.binds_at_the_dc(SLOW_USER, PASSWORD))

    def test_binds_answered_too_late_lock_the_account_without_the_throttle(self):
        user = upn(SLOW_CONTROL)
        answers = [self.c.authenticate(user, 'Wrong-Pass-%dx' % i, '198.51.100.%d' % (i + 40))
                   for i in range(6)]
        self.assertTrue(all(isinstance(a, Fault) for a in answers), answers)
        bad, locked = self.wait_ad_state(SLOW_CONTROL, lambda s: s[1] != 0)
        self.assertNotEqual(locked, 0, 'six slow wrong binds should lock the account')
        self.assertFalse(self.binds_at_the_dc(SLOW_CONTROL, PASSWORD))

    def test_attacker_from_many_networks_never_locks_a_user(self):
        name = NOFAM
        user = upn(name)
        for i in range(50):
            self.assertEqual(self.d.authenticate(user, 'Guess-%02d-Xy' % i, '198.18.%d.9' % i),
                             'false')
            if i in (3, 9, 24, 49):
                bad, locked = self.ad_state(name)
                self.assertLess(bad, LOCKOUT_THRESHOLD)
                self.assertEqual(locked, 0)
        outcomes = self.outcomes(self.d, user, 50)
        self.assertEqual(outcomes, ['reject'] * 4 + ['throttled_user'] * 46)
        # exactly the four that reached AD, one bad bind each
        self.assertEqual(self.wait_ad_state(name, lambda s: s[0] >= 4), (4, 0))

    def test_familiar_network_gets_in_while_strangers_are_refused(self):
        name = FAM
        user, home = upn(name), '203.0.113.10'
        self.assertEqual(self.d.authenticate(user, PASSWORD, home), 'true')
        for i in range(50):
            self.assertEqual(self.d.authenticate(user, 'Guess-%02d-Xy' % i, '198.19.%d.9' % i),
                             'false')
            if i in (1, 4, 24, 49):
                bad, locked = self.ad_state(name)
                self.assertLess(bad, LOCKOUT_THRESHOLD)
                self.assertEqual(locked, 0)
        outcomes = self.outcomes(self.d, user, 51)[1:]
        # the unfamiliar budget: half the user's 4
        self.assertEqual(outcomes, ['reject'] * 2 + ['throttled_unfamiliar'] * 48)
        self.assertEqual(self.wait_ad_state(name, lambda s: s[0] >= 2), (2, 0))
        # The user at home (same /24) is still asked: a typo reaches AD,
        # and the right password gets in.
        self.assertEqual(self.d.authenticate(user, 'Typo-Pass-7q', '203.0.113.20'), 'false')
        self.assertEqual(self.d.authenticate(user, PASSWORD, '203.0.113.20'), 'true')
        self.assertEqual(self.outcomes(self.d, user, 53)[51:], ['reject', 'ok'])
        self.assertEqual(self.wait_ad_state(name, lambda s: s[0] == 0), (0, 0))

    def test_many_users_behind_one_address(self):
        # An office behind one NAT address: each user mistypes once, then
        # gets it right; four at a time.
        office, answers = '203.0.113.99', {}

        def logins(first):
            for i in range(first, MANY, 4):
                user = upn(spare(i))
                answers[i] = (self.d.authenticate(user, 'Typo-Pass-7q', office),
                              self.d.authenticate(user, PASSWORD, office))

        t0 = time.monotonic()
        threads = [threading.Thread(target=logins, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print('\n%d logins in %.1f s' % (2 * MANY, time.monotonic() - t0))
        refused = [i for i in range(MANY) if answers.get(i) != ('false', 'true')]
        self.assertEqual(refused, [], [answers.get(i) for i in refused[:5]])
        for i in (0, MANY // 2, MANY - 1):
            self.assertEqual(self.outcomes(self.d, upn(spare(i)), 2), ['reject', 'ok'])
        office_users = {upn(spare(i)) for i in range(MANY)}
        throttled = [r for r in self.d.audit() if r.get('outcome', '').startswith('throttled')
                     and r.get('user') in office_users]
        self.assertEqual(throttled, [])


if __name__ == '__main__':
    unittest.main()
