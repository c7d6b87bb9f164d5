"""The file provider's re-read, and the subcommands: check-config (which
never talks to a backend), hash-password, test-user."""

import glob
import os
import re
import select
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import Dagate, REPO, hash_password, run_dagate, server_section, NO_THROTTLE

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')

FILE_CONF = server_section() + NO_THROTTLE + """
[route]
match = * -> local

[provider local]
type = file
path = users
"""


def write_private_key(path):
    """A private key made now, so that none is committed: the line of its
    body that must never appear in dagate's output."""
    subprocess.run(['openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt',
                    'ec_paramgen_curve:P-256', '-out', path], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(path) as f:
        return f.read().splitlines()[1]


class FileProviderReload(unittest.TestCase):
    def test_users_file_is_reread_when_it_changes(self):
        ha, hb = hash_password('pass-a'), hash_password('pass-b')
        with Dagate(FILE_CONF, files={'users': ('a@example.com:%s\n' % ha, 0o644)}) as d:
            self.assertEqual(d.authenticate('a@example.com', 'pass-a'), 'true')
            self.assertEqual(d.authenticate('b@example.com', 'pass-b'), 'false')
            # replaced atomically (rename), as editors and config tools do
            path = d.write_file('users', 'a@example.com:%s\nb@example.com:%s\n' % (ha, hb))
            future = time.time() + 5
            os.utime(path, (future, future))
            self.assertEqual(self.poll(d, 'b@example.com', 'pass-b', 'true'), 'true')
            # rewritten in place: a removed
            with open(path, 'w') as f:
                f.write('# only b now\nb@example.com:%s\n' % hb)
            os.utime(path, (future + 5, future + 5))
            self.assertEqual(self.poll(d, 'a@example.com', 'pass-a', 'false'), 'false')
            self.assertEqual(d.authenticate('b@example.com', 'pass-b'), 'true')

    def poll(self, d, user, pw, want, timeout=5.0):
        end = time.monotonic() + timeout
        while True:
            got = d.authenticate(user, pw)
            if got == want or time.monotonic() > end:
                return got
            time.sleep(0.2)

    def test_missing_users_file_is_a_config_error(self):
        with tempfile.TemporaryDirectory() as t:
            path = os.path.join(t, 'dagate.conf')
            with open(path, 'w') as f:
                f.write(FILE_CONF.replace('path = users', 'path = %s/no-such-file' % t))
            r = run_dagate(['check-config', '-c', path])
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertRegex(r.stdout + r.stderr, re.escape(path) + r':\d+: ')


class CheckConfig(unittest.TestCase):
    def test_shipped_config_is_ok(self):
        r = run_dagate(['check-config', '-c', 'conf/dagate.conf'], cwd=REPO)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('configuration OK', r.stdout)

    def test_config_from_environment(self):
        r = run_dagate(['check-config'], cwd=REPO, env={'DAGATE_CONFIG': 'conf/dagate.conf'})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('configuration OK', r.stdout)

    def check(self, server_lines, files=()):
        """check-config of a config whose [server] is `server_lines`; returns
        (exit status, stdout, warning lines, path)."""
        t = tempfile.mkdtemp(prefix='dagate-check-')
        self.addCleanup(shutil.rmtree, t, True)
        os.chmod(t, 0o755)    # user = nobody reads its files after the drop
        path = os.path.join(t, 'dagate.conf')
        for name, text in files:
            with open(os.path.join(t, name), 'w') as f:
                f.write(text)
        with open(path, 'w') as f:
            f.write('[server]\n%s\nuser = nobody\n\n[route]\nmatch = * -> yes\n\n'
                    '[provider yes]\ntype = static\nresult = true\n' % server_lines)
        r = run_dagate(['check-config', '-c', path], cwd=t)
        return r.returncode, r.stdout, [l for l in r.stderr.splitlines() if 'warning:' in l], path

    def test_non_loopback_listener_open_to_everyone_is_a_warning(self):
        cases = [
            ('listen = 0.0.0.0:8443', 2, 'has no allow or allow_file'),
            ('listen = 127.0.0.1:8080\nlisten = [::]:8443\nallow = 192.0.2.0/24, ::/0', 4,
             'allow includes ::/0'),
            ('listen = 192.0.2.10:8443\nallow = 0.0.0.0/0', 3, 'allow includes 0.0.0.0/0'),
        ]
        for lines, line, what in cases:
            with self.subTest(lines=lines):
                rc, out, warnings, path = self.check(lines)
                self.assertEqual(rc, 0, warnings)
                self.assertIn('configuration OK', out)
                self.assertEqual(len(warnings), 1, warnings)
                self.assertTrue(warnings[0].startswith('%s:%d: warning: ' % (path, line)),
                                warnings)
                self.assertIn(what, warnings[0])
                self.assertIn('scripts/salesforce-ranges', warnings[0])

    def test_restricted_or_loopback_listeners_are_not_warned_about(self):
        ranges = ('ranges', '# Salesforce\n192.0.2.0/24\n2001:db8::/32\n')
        for lines, files in (('listen = 0.0.0.0:8443\nallow = 192.0.2.0/24', ()),
                             ('listen = [::]:8443\nallow_file = ranges', (ranges,)),
                             ('listen = 127.0.0.1:8080\nlisten = [::1]:8081', ())):
            with self.subTest(lines=lines):
                rc, out, warnings, _ = self.check(lines, files)
                self.assertEqual((rc, warnings), (0, []))
                self.assertIn('configuration OK', out)

    def check_both(self, lines, files=()):
        """check-config and serve of the same [server]: both must refuse it
        with the same FILE:LINE messages. Returns check-config's output."""
        _, _, _, path = self.check(lines, files)
        here = os.path.dirname(path)
        r = run_dagate(['check-config', '-c', path], cwd=here)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 2, out)
        self.assertNotIn('configuration OK', out)
        r = run_dagate(['serve', '-c', path], cwd=here, timeout=20)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        for line in out.splitlines():
            if ': warning: ' not in line:
                self.assertIn(line, r.stdout + r.stderr)
        return out, path

    def test_public_url_and_allow_file_refused_with_file_and_line(self):
        out, path = self.check_both('listen = 127.0.0.1:0\npath = /sso\n'
                                    'public_url = https://sso.example/Sso.asmx')
        self.assertIn("%s:4: the path of 'public_url' differs from 'path'" % path, out)
        bad = ('partners', '# partners\n192.0.2.0/24\n192.0.2.1/24\n'
               '198.51.100.0/24 office\n')
        out, path = self.check_both('listen = 127.0.0.1:0\nallow_file = partners', (bad,))
        # every bad line, named as the file is configured
        self.assertIn('partners:3: host bits set in 192.0.2.1/24\n'
                      'partners:4: not an IP address or CIDR in office', out)
        out, path = self.check_both('listen = 127.0.0.1:0\nallow_file = partners',
                                    (('partners', '# to do\n'),))
        self.assertIn('%s:3: allow_file partners lists no address' % path, out)

    def test_redis_ca_file_holding_a_key_refused(self):
        t = tempfile.mkdtemp(prefix='dagate-check-')
        self.addCleanup(shutil.rmtree, t, True)
        secret = write_private_key(os.path.join(t, 'key.pem'))
        path = os.path.join(t, 'dagate.conf')
        with open(path, 'w') as f:
            f.write(server_section() + '[route]\nmatch = * -> s\n\n'
                    '[provider s]\ntype = static\nresult = false\n\n'
                    '[tokens]\nstore = rediss://127.0.0.1:1/0\nkey_file = tokens.key\n'
                    'ca_file = key.pem\n\n'
                    '[throttle]\nstore = rediss://127.0.0.1:1/1\nkey_file = throttle.key\n'
                    'ca_file = key.pem\n')
        with open(path) as f:
            lines = f.read().splitlines()
        at = [i + 1 for i, l in enumerate(lines) if l == 'ca_file = key.pem']
        r = run_dagate(['check-config', '-c', path], cwd=t, timeout=20)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 2, out)
        for line in at:
            self.assertIn('%s:%d: ca_file key.pem holds a private key' % (path, line), out)
        self.assertNotIn(secret, out)

    def test_provider_tls_settings_refused_with_file_and_line(self):
        t = tempfile.mkdtemp(prefix='dagate-check-')
        self.addCleanup(shutil.rmtree, t, True)
        secret = write_private_key(os.path.join(t, 'key.pem'))
        path = os.path.join(t, 'dagate.conf')
        with open(path, 'w') as f:
            f.write(server_section() + NO_THROTTLE +
                    '[route]\nmatch = *@a -> a\nmatch = *@b -> b\nmatch = * -> c\n'
                    '\n[provider a]\ntype = ldap\nuri = ldaps://dc1 ldaps://dc2\n'
                    'base = dc=example\nstarttls = yes\n'
                    '\n[provider b]\ntype = ldap\nuri = ldaps://dc1:0\nbase = dc=example\n'
                    '\n[provider c]\ntype = http\nurl = https://sso.example/check\n'
                    'ca_file = key.pem\n')
        lines = open(path).read().splitlines()
        at = {text: '%s:%d: ' % (path, lines.index(text) + 1)
              for text in ('starttls = yes', 'uri = ldaps://dc1:0', 'ca_file = key.pem')}
        # the section check comes first: the CA bundle that is a key
        for cmd in ('check-config', 'serve'):
            r = run_dagate([cmd, '-c', path], cwd=t, timeout=20)
            out = r.stdout + r.stderr
            self.assertEqual(r.returncode, 2, out)
            self.assertIn(at['ca_file = key.pem'] + 'ca_file key.pem holds a private key', out)
            self.assertNotIn(secret, out)
        # then each provider's own settings
        with open(os.path.join(t, 'key.pem'), 'w') as f:
            f.write('-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n')
        for cmd in ('check-config', 'serve'):
            r = run_dagate([cmd, '-c', path], cwd=t, timeout=20)
            out = r.stdout + r.stderr
            self.assertEqual(r.returncode, 2, out)
            self.assertIn(at['starttls = yes'] + 'starttls = yes but every URI is ldaps://', out)
            self.assertIn(at['uri = ldaps://dc1:0'] + 'port 0 in a URI', out)

    def test_broken_fixtures(self):
        """Each tests/integration/fixtures/broken/*.conf names the lines
        that must be reported, in a first line "# expect-lines: N M ..."."""
        files = sorted(glob.glob(os.path.join(FIXTURES, 'broken', '*.conf')))
        self.assertGreater(len(files), 10)
        for path in files:
            with self.subTest(fixture=os.path.basename(path)):
                with open(path) as f:
                    first = f.readline()
                m = re.match(r'#\s*expect-lines:\s*([\d ]+)', first)
                self.assertIsNotNone(m, 'fixture lacks "# expect-lines:"')
                want = sorted(int(n) for n in m.group(1).split())
                r = run_dagate(['check-config', '-c', path], cwd=os.path.dirname(path))
                out = r.stdout + r.stderr
                self.assertEqual(r.returncode, 2, out)
                self.assertNotIn('configuration OK', out)
                got = sorted({int(n) for n in re.findall(re.escape(path) + r':(\d+): \S', out)})
                self.assertEqual(got, want, out)

    def test_serve_refuses_a_broken_config(self):
        path = os.path.join(FIXTURES, 'broken', 'unknown-key.conf')
        r = run_dagate(['serve', '-c', path], cwd=os.path.dirname(path), timeout=20)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn(path + ':', r.stdout + r.stderr)

    def test_usage_errors(self):
        self.assertEqual(run_dagate(['no-such-command']).returncode, 2)
        r = run_dagate(['--help'])
        self.assertEqual(r.returncode, 0)
        self.assertIn('check-config', r.stdout + r.stderr)
        r = run_dagate(['version'])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r'\d+\.\d+')


class _Doorbell:
    """Listening sockets that note which of them a connection reached
    (accepted and closed at once, so that nothing waits on them)."""

    def __init__(self, names):
        self.socks = {}
        for name in names:
            s = socket.socket()
            s.bind(('127.0.0.1', 0))
            s.listen(16)
            self.socks[name] = s
        self.rung = set()
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def port(self, name):
        return self.socks[name].getsockname()[1]

    def _run(self):
        by_sock = {s: n for n, s in self.socks.items()}
        while not self.done.is_set():
            ready, _, _ = select.select(list(by_sock), [], [], 0.05)
            for s in ready:
                conn, _ = s.accept()
                conn.close()
                with self.lock:
                    self.rung.add(by_sock[s])

    def seen(self, settle=0.5):
        """What rang so far, after `settle` seconds for late arrivals."""
        time.sleep(settle)
        with self.lock:
            return set(self.rung)

    def close(self):
        self.done.set()
        self.thread.join()
        for s in self.socks.values():
            s.close()


class CheckConfigStaysOffTheNetwork(unittest.TestCase):
    """Validation never touches the network: check-config parses every
    provider and starts none. probe and serve, with the same config, do
    reach the backends, which shows that the config points at them."""

    def setUp(self):
        self.bell = _Doorbell(('web', 'relay', 'mail', 'dir'))
        self.tmp = tempfile.mkdtemp(prefix='dagate-offnet-')
        p = self.bell.port
        self.text = server_section() + NO_THROTTLE + """
[route]
match = * -> web, relay, mail, dir

[provider web]
type = http
url = https://127.0.0.1:%d/check
timeout = 1s

[provider relay]
type = relay
url = https://127.0.0.1:%d/Sso.asmx
timeout = 1s

[provider mail]
type = smtp
uri = smtps://127.0.0.1:%d
timeout = 1s

[provider dir]
type = ldap
uri = ldaps://127.0.0.1:%d
base = dc=example
timeout = 1s
""" % (p('web'), p('relay'), p('mail'), p('dir'))
        self.path = os.path.join(self.tmp, 'dagate.conf')
        with open(self.path, 'w') as f:
            f.write(self.text)

    def tearDown(self):
        self.bell.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_check_config_connects_to_no_backend(self):
        r = run_dagate(['check-config', '-c', self.path])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('configuration OK', r.stdout)
        self.assertEqual(self.bell.seen(), set(), 'check-config opened a connection')
        # the control: probe asks every backend, so each socket rings
        r = run_dagate(['probe', '-c', self.path])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(self.bell.seen(), {'web', 'relay', 'mail', 'dir'}, r.stdout)

    def test_serve_runs_the_negative_control_at_start(self):
        """serve starts its providers: the http provider's negative control
        reaches its URL before the first login."""
        with Dagate(self.text) as d:
            self.assertIn('web', self.bell.seen())
            d.wait_for_log(lambda text: 'negative control not possible at start-up' in text)


class HashPasswordAndTestUser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='dagate-cmd-')
        cls.hash = hash_password('Tëst pass 1')
        cls.conf = os.path.join(cls.tmp, 'dagate.conf')
        with open(os.path.join(cls.tmp, 'users'), 'w') as f:
            f.write('tu@example.com:%s\n' % cls.hash)
        with open(cls.conf, 'w') as f:
            f.write(server_section() + '[map]\nlowercase = yes\nstrip_suffix = .uat\n\n[route]\n'
                    'match = *@example.com -> local\n\n[provider local]\ntype = file\npath = %s/users\n\n'
                    '[provider other]\ntype = static\nresult = false\n' % cls.tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_hash_is_yescrypt_and_salted(self):
        self.assertTrue(self.hash.startswith('$y$'), self.hash)
        self.assertNotEqual(hash_password('Tëst pass 1'), self.hash)
        self.assertNotIn('Tëst', self.hash)

    def test_hash_password_strips_the_newline_of_echo(self):
        r = run_dagate(['hash-password'], stdin='Tëst pass 1\n')
        self.assertEqual(r.returncode, 0)
        h = r.stdout.strip().splitlines()[-1]
        with open(os.path.join(self.tmp, 'users2'), 'w') as f:
            f.write('tu@example.com:%s\n' % h)
        conf2 = os.path.join(self.tmp, 'dagate2.conf')
        with open(self.conf) as f, open(conf2, 'w') as g:
            g.write(f.read().replace('/users\n', '/users2\n'))
        r = run_dagate(['test-user', 'tu@example.com', '-c', conf2], stdin='Tëst pass 1')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_test_user_true(self):
        r = run_dagate(['test-user', 'TU@example.com.uat', '-c', self.conf], stdin='Tëst pass 1')
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        self.assertIn('answer: true', out)
        self.assertIn('tu@example.com', out)     # the mapped name is shown
        self.assertIn('local', out)              # the route's provider is shown
        # the throttle's state is the running server's: said, not guessed
        self.assertIn("throttle: not applied here: its state is in the running server's memory",
                      out)
        self.assertNotIn('Tëst pass 1', out)
        self.assertNotIn(self.hash, out)
        # with every budget off, it says so
        off = os.path.join(self.tmp, 'dagate-off.conf')
        with open(self.conf) as f, open(off, 'w') as g:
            g.write(f.read() + '\n' + NO_THROTTLE)
        r = run_dagate(['test-user', 'TU@example.com.uat', '-c', off], stdin='Tëst pass 1')
        self.assertIn('throttle: off in this configuration', r.stdout, r.stderr)

    def test_test_user_false(self):
        r = run_dagate(['test-user', 'tu@example.com', '--source-ip', '198.51.100.9', '-c', self.conf],
                       stdin='wrong password')
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 1, out)
        self.assertIn('answer: false', out)
        self.assertNotIn('wrong password', out)

    def test_test_user_no_route(self):
        r = run_dagate(['test-user', 'x@elsewhere.test', '-c', self.conf], stdin='pw')
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn('answer: false', r.stdout + r.stderr)

    def test_test_user_provider_option(self):
        r = run_dagate(['test-user', 'tu@example.com', '--provider', 'other', '-c', self.conf],
                       stdin='Tëst pass 1')
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn('answer: false', r.stdout + r.stderr)
        r = run_dagate(['test-user', 'tu@example.com', '--provider', 'nosuch', '-c', self.conf],
                       stdin='Tëst pass 1')
        self.assertNotEqual(r.returncode, 0)

    def test_test_user_empty_password(self):
        r = run_dagate(['test-user', 'tu@example.com', '-c', self.conf], stdin='')
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn('answer: false', r.stdout + r.stderr)

    def test_test_user_against_shipped_config(self):
        r = run_dagate(['test-user', 'demo@example.com', '-c', 'conf/dagate.conf'], stdin='dagate-demo',
                       cwd=REPO)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('answer: true', r.stdout + r.stderr)


if __name__ == '__main__':
    unittest.main()
