"""[throttle] through the real binary: per-user and per-sourceIp failure
budgets answered false without asking any provider, a repeated failing
password reaching the backend once, success resetting the count, the
window running out; a real slapd with the ppolicy overlay (pwdMaxFailure 5,
pwdLockout) that dagate never lets lock an account, with the directory's own
failure records proving that throttled answers cause no bind; and two
instances sharing their counts through a real redis-server, still answering
when it goes away."""

import os
import tempfile
import time
import unittest

from harness import Dagate, Fault, hash_password, make_ca_and_cert, run_dagate, server_section
from backends.redis import RedisServer
from backends.slapd import SUFFIX, SVC_DN, SVC_PASSWORD, Slapd, user_dn

WINDOW = 3.0   # seconds: user_failures = 4/3s keeps the suite short

_hash = {}


def pw_hash(password):
    if password not in _hash:
        _hash[password] = hash_password(password)
    return _hash[password]


class Logins:
    """Sends logins for one user and keeps their audit records in order."""

    def __init__(self, test, d, user):
        self.test, self.d, self.user, self.n = test, d, user, 0

    def login(self, password, source_ip='203.0.113.7'):
        """(answer, outcome, provider) of one login."""
        answer = self.d.authenticate(self.user, password, source_ip)
        self.n += 1
        recs = self.d.audit_of(self.user, self.n)
        self.test.assertEqual(len(recs), self.n, self.d.log()[-3000:])
        return answer, recs[-1].get('outcome'), recs[-1].get('provider')


class ThrottleRules(unittest.TestCase):
    """One dagate: a users file (right passwords known) and a static
    provider that says false to everything."""

    @classmethod
    def setUpClass(cls):
        users = ''.join('%s@corp.test:%s\n' % (u, pw_hash('right-' + u))
                        for u in ('joe', 'ann', 'kim', 'lee'))
        conf = (server_section() +
                '[route]\nmatch = *@static.test -> nope\nmatch = * -> users\n\n'
                '[provider users]\ntype = file\npath = users\n\n'
                '[provider nope]\ntype = static\nresult = false\n\n'
                '[throttle]\nuser_failures = 4/3s\nblock_steps = 1s\nsource_failures = 8/3s\nrepeat_window = 2s\n')
        cls.d = Dagate(conf, files={'users': (users, 0o644)})
        cls.d.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def test_user_budget_answers_false_without_a_provider(self):
        u = Logins(self, self.d, 'amy@static.test')
        for i in range(4):
            self.assertEqual(u.login('wrong-%d' % i, '198.51.100.%d' % i), ('false', 'reject', 'nope'))
        for i in range(3):
            t0 = time.monotonic()
            self.assertEqual(u.login('other-%d' % i, '198.51.100.9'),
                             ('false', 'throttled_user', '-'))
            self.assertLess(time.monotonic() - t0, 1.0)

    def test_right_password_refused_while_throttled_then_accepted(self):
        u = Logins(self, self.d, 'kim@corp.test')
        for i in range(4):
            self.assertEqual(u.login('wrong-%d' % i, '198.51.100.20'), ('false', 'reject', 'users'))
        self.assertEqual(u.login('right-kim', '198.51.100.21'), ('false', 'throttled_user', '-'))
        time.sleep(WINDOW + 0.2)
        self.assertEqual(u.login('right-kim', '198.51.100.21'), ('true', 'ok', 'users'))

    def test_repeat_of_the_same_wrong_password_is_asked_once_and_counted_once(self):
        u = Logins(self, self.d, 'ann@corp.test')
        self.assertEqual(u.login('stale', '198.51.100.30'), ('false', 'reject', 'users'))
        for _ in range(6):
            self.assertEqual(u.login('stale', '198.51.100.30'), ('false', 'repeat_failure', '-'))
        # Counted once: three more failures still reach the provider ...
        for i in range(3):
            self.assertEqual(u.login('wrong-%d' % i, '198.51.100.30'), ('false', 'reject', 'users'))
        # ... and the budget of 4 is spent only now.
        self.assertEqual(u.login('right-ann', '198.51.100.30'), ('false', 'throttled_user', '-'))

    def test_success_resets_the_count(self):
        u = Logins(self, self.d, 'joe@corp.test')
        for round_ in range(3):
            for i in range(3):
                self.assertEqual(u.login('wrong-%d-%d' % (round_, i), '198.51.100.4%d' % round_),
                                 ('false', 'reject', 'users'))
            self.assertEqual(u.login('right-joe', '198.51.100.4%d' % round_), ('true', 'ok', 'users'))

    def test_budget_is_per_mapped_user(self):
        # [map] lowercase (the default): LEE and lee are one user.
        u = Logins(self, self.d, 'lee@corp.test')
        for i in range(2):
            self.assertEqual(u.login('a%d' % i, '198.51.100.50'), ('false', 'reject', 'users'))
        for i in range(2):
            answer = self.d.authenticate('LEE@CORP.TEST', 'b%d' % i, '198.51.100.50')
            self.assertEqual(answer, 'false')
            u.n += 1   # audit records carry the mapped user: wait for this one
            self.assertEqual(self.d.audit_of('lee@corp.test', u.n)[-1].get('outcome'), 'reject')
        self.assertEqual(u.login('right-lee', '198.51.100.50'), ('false', 'throttled_user', '-'))

    def test_source_budget(self):
        ip = '192.0.2.77'
        for i in range(8):
            u = Logins(self, self.d, 'spray%d@static.test' % i)
            self.assertEqual(u.login('pw', ip), ('false', 'reject', 'nope'))
        u = Logins(self, self.d, 'spray8@static.test')
        self.assertEqual(u.login('pw', ip), ('false', 'throttled_source', '-'))
        # the same user from elsewhere is asked; a sourceIp that is no
        # address (empty, free text) is no way around the budget: a fault
        self.assertEqual(u.login('pw2', '192.0.2.78'), ('false', 'reject', 'nope'))
        for ip in ('', 'elsewhere'):
            self.assertIsInstance(self.d.authenticate('spray8@static.test', 'pw3', ip), Fault)


def set_max_failure(s, n):
    """pwdMaxFailure of the default policy (slapd.py makes it 3)."""
    path = os.path.join(s.dir, 'policy.ldif')
    with open(path, 'w') as f:
        f.write('dn: cn=default,ou=policies,%s\nchangetype: modify\nreplace: pwdMaxFailure\n'
                'pwdMaxFailure: %d\n' % (SUFFIX, n))
    r = s.ldap_tool('ldapmodify', '-f', path, binddn='cn=admin,' + SUFFIX, password='admin-pw-1')
    if r.returncode != 0:
        raise AssertionError('ldapmodify: %s' % r.stdout)


def policy_state(s, uid):
    """(failed binds recorded by ppolicy, locked?) for uid."""
    r = s.ldap_tool('ldapsearch', '-LLL', '-s', 'base', '-b', user_dn(uid),
                    'pwdFailureTime', 'pwdAccountLockedTime',
                    binddn='cn=admin,' + SUFFIX, password='admin-pw-1')
    lines = r.stdout.splitlines()
    return (sum(1 for l in lines if l.startswith('pwdFailureTime:')),
            any(l.startswith('pwdAccountLockedTime:') for l in lines))


def wait_failures(s, uid, n, timeout=3.0):
    """slapd writes pwdFailureTime after answering the bind: wait for n."""
    end = time.monotonic() + timeout
    while True:
        state = policy_state(s, uid)
        if state[0] >= n or time.monotonic() > end:
            return state
        time.sleep(0.05)


class ThrottleProtectsTheDirectory(unittest.TestCase):
    """slapd + ppolicy: pwdMaxFailure 5, pwdLockout TRUE, no automatic
    unlock. Straight to the directory, five wrong binds lock the account;
    through dagate (4/3s) they never do."""

    def test_wrong_passwords_never_lock_the_account(self):
        certs = make_ca_and_cert(tempfile.mkdtemp(prefix='dagate-thr-ca-'), 'rsa')
        with open(certs.ca_cert) as f:
            ca = f.read()
        with Slapd(certs, ppolicy=True) as s:
            set_max_failure(s, 5)
            conf = (server_section() + '[route]\nmatch = * -> dir\n\n'
                    '[provider dir]\ntype = ldap\nuri = %s\nbase = %s\n'
                    'user_filter = (&(objectClass=inetOrgPerson)(uid=%%l))\ntimeout = 3s\n'
                    'ca_file = ca.crt\nbind_dn = %s\nbind_password_file = svc.secret\n\n'
                    '[throttle]\nuser_failures = 4/3s\nblock_steps = 1s\n' % (s.ldaps_uri, SUFFIX, SVC_DN))
            with Dagate(conf, files={'ca.crt': ca, 'svc.secret': (SVC_PASSWORD + '\n', 0o600)}) as d:
                u = Logins(self, d, 'carol@x.test')
                # Twelve wrong logins (one repeated), then the right password at once.
                self.assertEqual(u.login('wrong-0'), ('false', 'reject', 'dir'))
                self.assertEqual(u.login('wrong-0'), ('false', 'repeat_failure', '-'))
                for i in range(1, 4):
                    self.assertEqual(u.login('wrong-%d' % i), ('false', 'reject', 'dir'))
                self.assertEqual(wait_failures(s, 'carol', 4), (4, False))
                for i in range(4, 12):
                    self.assertEqual(u.login('wrong-%d' % i), ('false', 'throttled_user', '-'))
                self.assertEqual(u.login('carol-pw-1'), ('false', 'throttled_user', '-'))
                # No bind reached slapd: a failed one would add a pwdFailureTime
                # (and the fifth lock the account), a successful one clear them.
                time.sleep(0.3)
                self.assertEqual(policy_state(s, 'carol'), (4, False))
                # After the window the right password works: never locked.
                time.sleep(WINDOW + 0.2)
                self.assertEqual(u.login('carol-pw-1'), ('true', 'ok', 'dir'))
                end = time.monotonic() + 3
                while policy_state(s, 'carol')[0] != 0 and time.monotonic() < end:
                    time.sleep(0.05)
                self.assertEqual(policy_state(s, 'carol'), (0, False))
            # The control: the same five wrong binds straight to slapd lock alice.
            for i in range(5):
                s.ldap_tool('ldapwhoami', binddn=user_dn('alice'), password='wrong-%d' % i)
            end = time.monotonic() + 3
            while not policy_state(s, 'alice')[1] and time.monotonic() < end:
                time.sleep(0.05)
            self.assertTrue(policy_state(s, 'alice')[1], 'five wrong binds should lock alice')


class ThrottleSharedThroughRedis(unittest.TestCase):
    """Two instances, one redis-server, one key_file: one budget and one
    repeat memory; without Redis each instance still answers at once."""

    def test_two_instances_share_one_budget(self):
        key = os.urandom(32).hex() + '\n'
        users = 'sam@corp.test:%s\n' % pw_hash('right-sam')
        with RedisServer() as r:
            conf = (server_section() + '[route]\nmatch = * -> users\n\n'
                    '[provider users]\ntype = file\npath = users\n\n'
                    '[throttle]\nuser_failures = 4/3s\nblock_steps = 1s\nstore = %s/0\nkey_file = throttle.key\n'
                    'timeout = 200ms\n' % r.url)
            files = {'users': (users, 0o644), 'throttle.key': (key, 0o600)}
            with Dagate(conf, files=files) as a, Dagate(conf, files=files) as b:
                ua, ub = Logins(self, a, 'sam@corp.test'), Logins(self, b, 'sam@corp.test')
                self.assertEqual(ua.login('w1'), ('false', 'reject', 'users'))
                self.assertEqual(ub.login('w1'), ('false', 'repeat_failure', '-'))
                self.assertEqual(ub.login('w2'), ('false', 'reject', 'users'))
                self.assertEqual(ua.login('w3'), ('false', 'reject', 'users'))
                self.assertEqual(ub.login('w4'), ('false', 'reject', 'users'))
                self.assertEqual(ua.login('right-sam'), ('false', 'throttled_user', '-'))
                self.assertEqual(ub.login('right-sam'), ('false', 'throttled_user', '-'))
                keys = [k for k in r.dump() if str(k).find('dagate:thr:') >= 0]
                self.assertTrue(keys, 'no dagate:thr: keys in Redis')
                self.assertFalse(any('w1' in str(k) or 'w4' in str(k) for k in keys), keys)
                # No username, no address in Redis: keys are keyed hashes.
                self.assertFalse(any('sam' in str(k) or 'corp.test' in str(k) or '203.0.113' in str(k)
                                     for k in keys), keys)
                time.sleep(WINDOW + 0.2)
                self.assertEqual(ub.login('right-sam'), ('true', 'ok', 'users'))
                # Redis gone: answers come at once from each instance's own state.
                r.stop()
                for i in range(3):
                    t0 = time.monotonic()
                    self.assertEqual(ua.login('x%d' % i), ('false', 'reject', 'users'))
                    self.assertLess(time.monotonic() - t0, 1.0)
                self.assertEqual(ua.login('right-sam'), ('true', 'ok', 'users'))
                a.wait_for_log(lambda t: 'throttle: Redis did not answer' in t)
                self.assertEqual(a.log().count('throttle: Redis did not answer'), 1)


class ThrottleAgainstTheDirectoryPolicy(unittest.TestCase):
    """`directory_lockout` states the directory's policy: check-config
    refuses a budget or window that would let it lock an account, and the
    default budget follows from it."""

    def check(self, throttle):
        d = tempfile.mkdtemp(prefix='dagate-lockout-')
        path = os.path.join(d, 'dagate.conf')
        with open(path, 'w') as f:
            f.write(server_section(admin=False) + '[throttle]\n' + throttle
                    + '\n[route]\nmatch = * -> no\n[provider no]\ntype = static\nresult = false\n')
        return path, run_dagate(['-c', path, 'check-config'])

    def test_check_config(self):
        path, r = self.check('directory_lockout = 5/30m\nuser_failures = 4/15m\n')
        self.assertEqual(r.returncode, 2)
        self.assertRegex(r.stdout + r.stderr, r'%s:\d+: user_failures 4/15m has a window shorter'
                         % path)
        path, r = self.check('directory_lockout = 5/30m\nuser_failures = 5/30m\n')
        self.assertEqual(r.returncode, 2)
        self.assertIn('lets the directory see 5 bad passwords', r.stdout + r.stderr)
        path, r = self.check('directory_lockout = 5/30m\n')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('configuration OK', r.stdout)

    def test_derived_budget_in_the_running_server(self):
        conf = (server_section() + '[throttle]\ndirectory_lockout = 3/30m\nsource_failures = off\n'
                + '\n[route]\nmatch = * -> no\n[provider no]\ntype = static\nresult = false\n')
        with Dagate(conf) as d:
            answers = [d.authenticate('joe@x.example', 'wrong-%d' % i) for i in range(3)]
            self.assertEqual(answers, ['false'] * 3)
            outcomes = [r['outcome'] for r in d.audit_of('joe@x.example', 3)]
            self.assertEqual(outcomes, ['reject', 'reject', 'throttled_user'])


class ThrottleConcurrentRightPasswords(unittest.TestCase):
    """However many logins of one user are in flight, a right password is
    never answered false because of the others: with a budget of 4, eight
    slow logins at once all come back true (the extra ones wait for a
    reservation to end), and wrong ones still never reach the backend more
    than the budget allows."""

    def test_eight_at_once(self):
        import threading
        conf = (server_section(extra='workers = 16\n') +
                '[route]\nmatch = yes@* -> slowyes\nmatch = * -> slowno\n\n'
                '[provider slowyes]\ntype = static\nresult = true\ndelay = 300ms\n\n'
                '[provider slowno]\ntype = static\nresult = false\ndelay = 300ms\n\n'
                '[throttle]\nuser_failures = 4/1m\nsource_failures = off\n')
        with Dagate(conf) as d:
            for user, want in (('yes@corp.test', 'true'), ('no@corp.test', None)):
                answers = [None] * 8

                def login(i, user=user):
                    answers[i] = d.authenticate(user, 'pw-%d' % i, '198.51.100.%d' % (i + 1))

                threads = [threading.Thread(target=login, args=(i,)) for i in range(8)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                if want == 'true':
                    self.assertEqual(answers, ['true'] * 8)
            recs = d.audit_of('no@corp.test', 8)
            asked = [r for r in recs if r['provider'] == 'slowno']
            self.assertEqual(len(asked), 4, 'the backend saw exactly the budget of wrong passwords')
            self.assertTrue(all(r['answer'] == 'false' for r in recs), recs)
            status, _, body = d.get('/metrics', admin=True)
            self.assertRegex(body.decode(), r'dagate_throttle_waits_total [1-9]')


class ThrottleOfficeBehindOneAddress(unittest.TestCase):
    """A source that hosts many users (an office behind NAT) pays back a
    failure with each success, so everyday typos never refuse it; a trusted
    network has no source budget at all. A sprayer, with no successes to pay
    with, is still stopped."""

    CONF = (server_section() +
            '[throttle]\nsource_failures = 30/15m\ntrusted_networks = 192.0.2.0/24\n\n'
            '[route]\nmatch = *@yes.test -> yes\nmatch = * -> no\n\n'
            '[provider yes]\ntype = static\nresult = true\n\n'
            '[provider no]\ntype = static\nresult = false\n')

    def test_office_typos_then_spray(self):
        office = '203.0.113.50'
        with Dagate(self.CONF) as d:
            for i in range(200):
                self.assertEqual(d.authenticate('u%d@no.test' % i, 'typo', office), 'false')
                self.assertEqual(d.authenticate('u%d@yes.test' % i, 'right', office), 'true', i)
            outcomes = {r['outcome'] for r in d.audit()}
            self.assertNotIn('throttled_source', outcomes)
            # A sprayer from another address: stopped after its 30.
            spray = [d.authenticate('v%d@no.test' % i, 'guess', '198.51.100.66') for i in range(32)]
            self.assertEqual(spray, ['false'] * 32)
            recs = d.audit_of('v31@no.test')
            self.assertEqual(recs[-1]['outcome'], 'throttled_source')
            # A trusted network: no source budget.
            for i in range(40):
                d.authenticate('w%d@no.test' % i, 'typo', '192.0.2.10')
            self.assertEqual(d.audit_of('w39@no.test')[-1]['outcome'], 'reject')


class ThrottleOperators(unittest.TestCase):
    """Operators see and lift blocks: the admin API and `dagate throttle`,
    each lift audited with who did it and counted; refused outside the
    admin allow list (closed at accept)."""

    CONF = (server_section() +
            '[throttle]\nuser_failures = 2/15m\nsource_failures = 3/15m\nrepeat_window = 0s\n\n'
            '[map]\nstrip_suffix = .uat\n\n'
            '[route]\nmatch = * -> no\n\n[provider no]\ntype = static\nresult = false\n')

    def test_see_and_lift(self):
        import json
        with Dagate(self.CONF) as d:
            admin = d.admin_url.split('://', 1)[1]
            for i in range(2):
                d.authenticate('joe@corp.test', 'w%d' % i, '198.51.100.%d' % (i + 1))
            self.assertEqual(d.authenticate('joe@corp.test', 'w9', '198.51.100.9'), 'false')
            self.assertEqual(d.audit_of('joe@corp.test', 3)[-1]['outcome'], 'throttled_user')

            status, _, body = d.get('/api/v1/throttle/users/Joe@Corp.test.uat', admin=True)
            self.assertEqual(status, 200)
            st = json.loads(body)
            self.assertEqual((st['name'], st['failures'], st['budget'], st['blocked']),
                             ('joe@corp.test', 2, 2, True))
            self.assertGreater(st['lapses_in_seconds'], 0)

            r = run_dagate(['throttle', 'status', 'joe@corp.test', '--admin', admin])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn('joe@corp.test: 2 failures of 2', r.stdout)
            self.assertIn('BLOCKED', r.stdout)
            r = run_dagate(['throttle', 'unblock', 'joe@corp.test', '--admin', admin])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn('lifted; now 0 failures', r.stdout)
            self.assertNotIn('BLOCKED', r.stdout)
            # Lifted: the next login reaches the provider again.
            d.authenticate('joe@corp.test', 'w3', '198.51.100.20')
            self.assertEqual(d.audit_of('joe@corp.test', 4)[-1]['outcome'], 'reject')
            lifts = [l for l in d.log().splitlines() if 'security=throttle_lift' in l]
            self.assertEqual(len(lifts), 1, lifts)
            self.assertIn('user=joe@corp.test', lifts[0])
            self.assertIn('peer=127.0.0.1', lifts[0])

            # A source.
            for i in range(3):
                d.authenticate('s%d@corp.test' % i, 'x', '203.0.113.77')
            status, _, body = d.get('/api/v1/throttle/sources/203.0.113.77', admin=True)
            self.assertTrue(json.loads(body)['blocked'])
            r = run_dagate(['throttle', 'unblock', '--source', '203.0.113.77', '--admin', admin])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn('203.0.113.77: lifted; now 0 failures of 3', r.stdout)

            # Bad names and methods.
            self.assertEqual(d.get('/api/v1/throttle/users/not%20a%20name', admin=True)[0], 400)
            self.assertEqual(d.get('/api/v1/throttle/sources/not-an-ip', admin=True)[0], 400)
            self.assertEqual(d.get('/api/v1/throttle/other/x', admin=True)[0], 404)
            r = run_dagate(['throttle', 'frobnicate', 'x'])
            self.assertEqual(r.returncode, 2)
            status, _, body = d.get('/metrics', admin=True)
            self.assertIn('dagate_throttle_lifts_total 2', body.decode())

    def test_local_test_user_shows_the_servers_throttle(self):
        from backends.ports import free_port
        port = free_port()
        conf = self.CONF.replace('[admin]\nlisten = 127.0.0.1:0', '[admin]\nlisten = 127.0.0.1:%d'
                                 % port)
        self.assertIn(':%d' % port, conf)
        with Dagate(conf) as d:
            for i in range(2):
                d.authenticate('kim@corp.test', 'w%d' % i, '198.51.100.%d' % (i + 1))
            r = run_dagate(['test-user', 'kim@corp.test', '--source-ip', '198.51.100.1',
                            '-c', d.config_path], stdin='whatever')
            self.assertIn('throttle (running server): user kim@corp.test: 2 failures of 2: '
                          'BLOCKED', r.stdout)
            self.assertIn('throttle (running server): source 198.51.100.1: 1 failures of 3',
                          r.stdout)
        # Without a server to ask, it says so (test_commands.test_test_user_true).


if __name__ == '__main__':
    unittest.main()
