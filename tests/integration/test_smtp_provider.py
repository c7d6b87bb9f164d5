"""The smtp provider against real SMTP servers (aiosmtpd): STARTTLS and
implicit TLS, AUTH PLAIN and LOGIN, a server that offers AUTH only after
STARTTLS, one that offers AUTH only in clear text, one with no AUTH at all,
an untrusted certificate, a stalling server and a closed port; test-user and
probe; no mail sent and no password logged."""

import shutil
import tempfile
import time
import unittest

from harness import (CountedAnswers, Dagate, Fault, close_checking_log, run_dagate,
                     server_section, trusted_and_other_certs)
from backends.ports import free_port
from backends.smtpd import SmtpServer, StallingServer

USERS = {'joe@corp.example': 'Joe-smtp-pw-1', 'ann': 'Ann-smtp-pw-2'}
BAD_PW = 'Wrong-smtp-pw-9'
DEADLINE_MS = 2000


class SmtpProvider(CountedAnswers, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='dagate-smtp-')
        cls.certs, cls.other = trusted_and_other_certs(cls.tmp)
        cls.servers = []
        try:
            cls.starttls = cls._server(cls.certs, 'starttls')
            cls.implicit = cls._server(cls.certs, 'implicit')
            cls.plain = cls._server(cls.certs, 'plain-auth')
            cls.noauth = cls._server(cls.certs, 'no-auth')
            cls.untrusted = cls._server(cls.other, 'starttls')
            cls.stall = StallingServer()
            cls.servers.append(cls.stall)
            cls.config = cls._config()
            cls.answers = {}
            cls.d = Dagate(cls.config)
        except BaseException:
            cls._stop_servers()
            raise

    @classmethod
    def _server(cls, certs, mode):
        s = SmtpServer(certs, users=USERS, mode=mode)
        cls.servers.append(s)
        return s

    @classmethod
    def _config(cls):
        ca = cls.certs.ca_cert
        return server_section(extra='deadline = %dms\n' % DEADLINE_MS) + """
[route]
match = *@corp.example -> mail
match = *@login.example -> mail-login
match = *@implicit.example -> mails
match = *@plain.example -> plainauth, fallback
match = *@noauth.example -> noauth
match = *@untrusted.example -> untrusted
match = *@stall.example -> stall
match = *@down.example -> down, fallback
match = *@downonly.example -> down

[provider mail]
type = smtp
uri = %(starttls)s
ca_file = %(ca)s
login = %%u

[provider mail-login]
type = smtp
uri = %(starttls)s
ca_file = %(ca)s
login = %%l@corp.example
mechanism = login

[provider mails]
type = smtp
uri = %(implicit)s
ca_file = %(ca)s
login = %%l

[provider plainauth]
type = smtp
uri = %(plain)s
ca_file = %(ca)s

[provider noauth]
type = smtp
uri = %(noauth)s
ca_file = %(ca)s

[provider untrusted]
type = smtp
uri = %(untrusted)s
ca_file = %(ca)s

[provider stall]
type = smtp
uri = %(stall)s
ca_file = %(ca)s

[provider down]
type = smtp
uri = smtp://127.0.0.1:%(down)d
ca_file = %(ca)s

[provider fallback]
type = static
result = false
""" % dict(ca=ca, starttls=cls.starttls.uri, implicit=cls.implicit.uri,
           plain=cls.plain.uri, noauth=cls.noauth.uri, untrusted=cls.untrusted.uri,
           stall=cls.stall.uri('smtp'), down=free_port())

    @classmethod
    def _stop_servers(cls):
        for s in cls.servers:
            s.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        try:
            close_checking_log(cls.d, list(USERS.values()) + [BAD_PW])
        finally:
            cls._stop_servers()

    def clear(self):
        for s in self.servers:
            if isinstance(s, SmtpServer):
                s.auth_attempts.clear()

    # STARTTLS, AUTH only after STARTTLS

    def test_starttls_good_password_is_true(self):
        self.clear()
        self.assertEqual(self.authenticate('joe@corp.example', USERS['joe@corp.example']),
                         'true')
        # AUTH happened, on TLS, with PLAIN; the server only offers AUTH after STARTTLS
        self.assertEqual(self.starttls.auth_attempts, [('joe@corp.example', 'PLAIN', True)])
        self.assertEqual(self.starttls.mail_transactions, [], 'no mail may be sent')
        self.assertEqual(self.last_audit('joe@corp.example').get('provider'), 'mail')

    def test_starttls_bad_password_is_false(self):
        self.assertEqual(self.authenticate('joe@corp.example', BAD_PW), 'false')
        rec = self.last_audit('joe@corp.example')
        self.assertEqual(rec.get('outcome'), 'reject')
        self.assertEqual(rec.get('detail'), 'smtp:535')

    def test_password_the_server_cannot_take_is_false(self):
        """A password too long for the server's AUTH line (aiosmtpd answers
        500) is a wrong password, never a fault: anyone can send one."""
        for size in (600, 1024):
            with self.subTest(size=size):
                self.assertEqual(self.authenticate('joe@corp.example', 'x' * size), 'false')
                rec = self.last_audit('joe@corp.example')
                self.assertEqual(rec.get('answer'), 'false')

    def test_unknown_user_is_false(self):
        self.assertEqual(self.authenticate('nobody@corp.example', 'Some-pw-1'), 'false')

    def test_auth_login_mechanism_and_template(self):
        self.clear()
        self.assertEqual(self.authenticate('joe@login.example', USERS['joe@corp.example']),
                         'true')
        self.assertEqual(self.starttls.auth_attempts, [('joe@corp.example', 'LOGIN', True)])
        self.assertEqual(self.authenticate('joe@login.example', BAD_PW), 'false')

    # Implicit TLS

    def test_implicit_tls(self):
        self.clear()
        self.assertEqual(self.authenticate('ann@implicit.example', USERS['ann']), 'true')
        self.assertEqual(self.implicit.auth_attempts, [('ann', 'PLAIN', True)])
        self.assertEqual(self.authenticate('ann@implicit.example', BAD_PW), 'false')
        self.assertEqual(self.implicit.mail_transactions, [])

    # Servers that must never count as a login

    def test_auth_in_clear_text_only_is_unavailable_and_gets_no_password(self):
        self.clear()
        # no STARTTLS: the next provider of the route answers
        self.assertEqual(self.authenticate('joe@plain.example', 'Joe-smtp-pw-1'), 'false')
        rec = self.last_audit('joe@plain.example')
        self.assertEqual(rec.get('provider'), 'fallback')
        self.assertEqual(self.plain.auth_attempts, [], 'credentials sent without TLS')

    def test_server_without_auth_is_not_a_login(self):
        # libcurl alone would report success here (it skips AUTH when none is offered)
        answer = self.authenticate('joe@noauth.example', 'anything-at-all')
        self.assertIsInstance(answer, Fault)
        self.assertEqual(answer.code, 'soap:Server')
        rec = self.last_audit('joe@noauth.example')
        self.assertEqual(rec.get('outcome'), 'unavailable')
        self.assertIn('no AUTH', rec.get('detail', ''))

    def test_untrusted_certificate_sends_no_credentials(self):
        self.clear()
        answer = self.authenticate('joe@untrusted.example', 'Joe-smtp-pw-1')
        self.assertIsInstance(answer, Fault)
        self.assertEqual(self.untrusted.auth_attempts, [])
        self.assertEqual(self.last_audit('joe@untrusted.example').get('detail'),
                         'certificate not trusted')

    # Down and slow

    def test_stalling_server_faults_within_the_deadline(self):
        started = time.monotonic()
        answer = self.authenticate('joe@stall.example', 'Joe-smtp-pw-1')
        elapsed = time.monotonic() - started
        self.assertIsInstance(answer, Fault)
        self.assertLess(elapsed, DEADLINE_MS / 1000 + 1.0)
        self.assertGreater(elapsed, 1.0, 'the stall should have been waited for')

    def test_server_down_goes_to_the_next_provider(self):
        self.assertEqual(self.authenticate('joe@down.example', 'Joe-smtp-pw-1'), 'false')
        self.assertEqual(self.last_audit('joe@down.example').get('provider'), 'fallback')
        started = time.monotonic()
        answer = self.authenticate('joe@downonly.example', 'Joe-smtp-pw-1')
        self.assertIsInstance(answer, Fault)
        self.assertLess(time.monotonic() - started, 1.0, 'a refused connection is immediate')

    # The command line

    def test_test_user_narrates_and_hides_the_password(self):
        r = run_dagate(['test-user', '-c', self.d.config_path, 'joe@corp.example'],
                       stdin=USERS['joe@corp.example'] + '\n')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('STARTTLS required', r.stdout)
        self.assertIn('TLS up, certificate verified', r.stdout)
        self.assertIn('235', r.stdout)
        self.assertIn('answer: true', r.stdout)
        self.assertNotIn(USERS['joe@corp.example'], r.stdout + r.stderr)
        r = run_dagate(['test-user', '-c', self.d.config_path, 'joe@corp.example'],
                       stdin=BAD_PW + '\n')
        self.assertEqual(r.returncode, 1)
        self.assertIn('535', r.stdout)
        self.assertNotIn(BAD_PW, r.stdout + r.stderr)

    def test_probe_rows(self):
        r = run_dagate(['probe', '-c', self.d.config_path])
        self.assertEqual(r.returncode, 1, r.stdout)   # some providers are broken on purpose
        rows = {line.split()[0]: line for line in r.stdout.splitlines()[1:] if line.strip()}
        self.assertRegex(rows['mail'], r'\bok\b.*STARTTLS verified, AUTH offered')
        self.assertRegex(rows['mails'], r'\bok\b.*implicit TLS verified')
        self.assertRegex(rows['plainauth'], r'\bFAIL\b.*STARTTLS')
        self.assertRegex(rows['noauth'], r'\bFAIL\b.*no AUTH')
        self.assertRegex(rows['untrusted'], r'\bFAIL\b.*certificate not trusted')
        self.assertRegex(rows['stall'], r'\bFAIL\b.*timeout')
        self.assertRegex(rows['down'], r'\bFAIL\b.*cannot connect')


if __name__ == '__main__':
    unittest.main()
