"""The http provider with `auth = negotiate` against real Kerberos: the Samba
AD DC's KDC (backends/samba.py, in its own network namespace) and Apache
with mod_auth_gssapi holding a keytab exported from that DC
(backends/kerberos_web.py). dagate gets its tickets from the KDC with the
user's password, then requests the URL with SPNEGO.

dagate runs with KRB5_CONFIG pointing at a file that does not exist: its
KDC exchanges use only the provider's `krb5_conf`, and GSS-API finds the
service ticket in dagate's private cache without any configuration.

A KDC that accepts TCP connections but never answers proves that the KDC
exchange is bounded by the request deadline; a closed KDC port that the
provider is unavailable at once."""

import os
import shutil
import socket
import tempfile
import time
import unittest

from harness import (NO_THROTTLE, CountedAnswers, Dagate, Fault, close_checking_log,
                     run_dagate, server_section, trusted_and_other_certs)
from backends.ports import free_port
from backends.samba import REALM, USERS, SambaDC
from backends.kerberos_web import KerberosSetup, NegotiateApache, write_krb5_conf

DEADLINE_MS = 3000
BAD_PW = 'Wrong-Kerberos-pw-9'


def pw(name):
    return USERS[name][0]


class HttpNegotiate(CountedAnswers, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='dagate-negotiate-')
        cls.dc = cls.web = cls.d = None
        # a "KDC" that completes the TCP handshake and then says nothing
        cls.silent = socket.socket()
        cls.silent.bind(('127.0.0.1', 0))
        cls.silent.listen(64)
        try:
            cls.certs, cls.other = trusted_and_other_certs(cls.tmp)
            cls.dc = SambaDC()
            cls.kdc = KerberosSetup(cls.dc, os.path.join(cls.tmp, 'kdc'))
            cls.web = NegotiateApache(cls.certs, cls.kdc)
            cls.answers = {}
            cls.d = Dagate(cls._config(), env={
                'KRB5_CONFIG': os.path.join(cls.tmp, 'no-such-krb5.conf'),
                'KRB5CCNAME': 'FILE:' + os.path.join(cls.tmp, 'no-such-ccache')})
        except BaseException:
            cls._stop_servers()
            raise

    @classmethod
    def _config(cls):
        silent_conf = write_krb5_conf(os.path.join(cls.tmp, 'silent.conf'),
                                      '127.0.0.1:%d' % cls.silent.getsockname()[1])
        closed_conf = write_krb5_conf(os.path.join(cls.tmp, 'closed.conf'),
                                      '127.0.0.1:%d' % free_port())
        good = 'realm = %s\nkrb5_conf = %s\n' % (REALM, cls.kdc.krb5_conf)
        providers = [
            ('neg', '/check', good + 'login = %l\n', cls.certs),
            ('upn', '/check', good + 'login = %u\n', cls.certs),
            ('onlybob', '/only-bob', good + 'login = %l\n', cls.certs),
            ('untrusted', '/check', good + 'login = %l\n', cls.other),
            ('kdcsilent', '/check', 'realm = %s\nkrb5_conf = %s\nlogin = %%l\ntimeout = 1500ms\n'
             % (REALM, silent_conf), cls.certs),
            ('kdcclosed', '/check', 'realm = %s\nkrb5_conf = %s\nlogin = %%l\n'
             % (REALM, closed_conf), cls.certs),
        ]
        # No periodic probes: the tests count the web server's requests.
        text = (server_section(extra='deadline = %dms\nprobe_interval = 0s\n' % DEADLINE_MS)
                + NO_THROTTLE) + """
[route]
match = *@neg.example -> neg
match = *@onlybob.example -> onlybob
match = *@untrusted.example -> untrusted
match = *@silent.example -> kdcsilent
match = *@closed.example -> kdcclosed, fallback
match = * -> upn

[provider fallback]
type = static
result = false
"""
        for name, path, extra, certs in providers:
            text += ('\n[provider %s]\ntype = http\nauth = negotiate\nurl = %s\nca_file = %s\n%s'
                     % (name, cls.web.url(path), certs.ca_cert, extra))
        return text

    @classmethod
    def _stop_servers(cls):
        for s in (cls.web, cls.dc):
            if s is not None:
                s.close()
        cls.silent.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        try:
            close_checking_log(cls.d, [pw(name) for name in USERS] + [BAD_PW])
        finally:
            cls._stop_servers()

    def assert_logged_by_apache(self, entry):
        """(method, path, status, user) appears in Apache's access log, which
        is written just after the answer."""
        end = time.monotonic() + 3
        while entry not in [r[1:] for r in self.web.requests()] and time.monotonic() < end:
            time.sleep(0.02)
        self.assertIn(entry, [r[1:] for r in self.web.requests()])

    def outcome(self, user):
        rec = self.last_audit(user)
        return rec.get('provider'), rec.get('outcome'), rec.get('detail')

    # The KDC's verdicts

    def test_good_password_is_true_and_apache_saw_the_user(self):
        self.assertEqual(self.authenticate('alice@neg.example', pw('alice')), 'true')
        self.assert_logged_by_apache(('GET', '/check', 200, 'alice@' + REALM))

    def test_wrong_password_is_false(self):
        seen = len(self.web.requests())
        self.assertEqual(self.authenticate('gina@neg.example', BAD_PW), 'false')
        self.assertEqual(self.outcome('gina@neg.example'), ('neg', 'reject', 'kdc: wrong password'))
        self.assertEqual(len(self.web.requests()), seen, 'the web server was asked')

    def test_unknown_user_is_false(self):
        self.assertEqual(self.authenticate('nobody@neg.example', 'Some-pw-1x'), 'false')
        self.assertEqual(self.outcome('nobody@neg.example'),
                         ('neg', 'unknown_user', 'kdc: unknown user'))

    def test_disabled_account_is_locked(self):
        self.assertEqual(self.authenticate('dave@neg.example', pw('dave')), 'false')
        self.assertEqual(self.outcome('dave@neg.example')[1], 'locked')

    def test_upn_login_as_enterprise_name(self):
        # bob's UPN is bob@partner.example: only an enterprise name finds him
        self.assertEqual(self.authenticate('bob@partner.example', pw('bob')), 'true')
        self.assertEqual(self.outcome('bob@partner.example')[0], 'upn')
        self.assert_logged_by_apache(('GET', '/check', 200, 'bob@' + REALM))
        self.assertEqual(self.authenticate('alice@corp.test', BAD_PW), 'false')
        self.assertEqual(self.outcome('alice@corp.test'), ('upn', 'reject', 'kdc: wrong password'))

    # The web server's verdict

    def test_web_server_refusing_a_valid_user_is_false(self):
        self.assertEqual(self.authenticate('bob@onlybob.example', pw('bob')), 'true')
        self.assertEqual(self.authenticate('henry@onlybob.example', pw('henry')), 'false')
        self.assertEqual(self.outcome('henry@onlybob.example'), ('onlybob', 'reject', 'http:401'))

    def test_each_check_uses_its_own_connection(self):
        seen = len(self.web.requests())
        for _ in range(2):
            self.assertEqual(self.authenticate('alice@neg.example', pw('alice')), 'true')
        end = time.monotonic() + 3   # Apache logs just after it answered
        while len(self.web.requests()) < seen + 2 and time.monotonic() < end:
            time.sleep(0.02)
        new = self.web.requests()[seen:]
        self.assertEqual([r[3] for r in new], [200, 200], new)
        self.assertNotEqual(new[0][0], new[1][0], 'the second check reused a connection')

    # Failures of the KDC and of TLS

    def test_silent_kdc_is_unavailable_within_the_deadline(self):
        started = time.monotonic()
        answer = self.authenticate('alice@silent.example', pw('alice'))
        elapsed = time.monotonic() - started
        self.assertIsInstance(answer, Fault)
        self.assertEqual(self.outcome('alice@silent.example')[1:], ('unavailable', 'kdc timeout'))
        self.assertLess(elapsed, DEADLINE_MS / 1000 + 1.0)

    def test_closed_kdc_goes_to_the_next_provider(self):
        started = time.monotonic()
        self.assertEqual(self.authenticate('alice@closed.example', pw('alice')), 'false')
        self.assertLess(time.monotonic() - started, 1.5)
        self.assertEqual(self.outcome('alice@closed.example')[0], 'fallback')

    def test_untrusted_certificate_sends_no_request(self):
        seen = len(self.web.requests())
        answer = self.authenticate('alice@untrusted.example', pw('alice'))
        self.assertIsInstance(answer, Fault)
        self.assertEqual(self.outcome('alice@untrusted.example')[1:],
                         ('unavailable', 'certificate not trusted'))
        self.assertEqual(len(self.web.requests()), seen, 'an HTTP request got through')

    # The command line

    def test_test_user(self):
        r = run_dagate(['test-user', '-c', self.d.config_path, 'alice@neg.example'],
                       stdin=pw('alice') + '\n', env=self.d.env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('with negotiate as alice', r.stdout)
        self.assertIn('KDC: password accepted', r.stdout)
        self.assertIn('status 200', r.stdout)
        self.assertNotIn(pw('alice'), r.stdout + r.stderr)

    def test_probe_rows(self):
        r = run_dagate(['probe', '-c', self.d.config_path], env=self.d.env, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout)
        rows = {line.split()[0]: line for line in r.stdout.splitlines()[1:] if line.strip()}
        self.assertRegex(rows['neg'], r'\bok\b.*KDC refuses random principals, TLS verified')
        self.assertRegex(rows['untrusted'], r'\bFAIL\b.*certificate not trusted')
        self.assertRegex(rows['kdcclosed'], r'\bFAIL\b.*kdc unreachable')


if __name__ == '__main__':
    unittest.main()
