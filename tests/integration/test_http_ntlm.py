"""The http provider with `auth = ntlm` against a real NTLM endpoint: an
HTTPS server whose NTLM messages are checked by Samba's ntlm_auth and the
winbindd of the Samba AD DC (backends/ntlm_server.py, backends/samba.py).
Proves good / wrong / unknown answers and that an NTLM-authenticated
connection is never reused for another check."""

import os
import shutil
import tempfile
import unittest

from harness import (NO_THROTTLE, CountedAnswers, Dagate, close_checking_log, make_ca_and_cert,
                     server_section)
from backends.ntlm_server import NtlmServer
from backends.samba import USERS, SambaDC

BAD_PW = 'Wrong-ntlm-pw-9'


def pw(name):
    return USERS[name][0]


class HttpNtlm(CountedAnswers, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='dagate-ntlm-')
        cls.dc = cls.web = None
        try:
            cls.certs = make_ca_and_cert(os.path.join(cls.tmp, 'good'), 'rsa')
            cls.dc = SambaDC()
            cls.web = NtlmServer(cls.certs, cls.dc)
            cls.answers = {}
            cls.d = Dagate(server_section() + NO_THROTTLE + """
[route]
match = * -> ntlm

[provider ntlm]
type = http
auth = ntlm
url = %s
login = %%l
ca_file = %s
""" % (cls.web.url('/check'), cls.certs.ca_cert))
        except BaseException:
            cls._stop_servers()
            raise

    @classmethod
    def _stop_servers(cls):
        if cls.web is not None:
            cls.web.stop()
        if cls.dc is not None:
            cls.dc.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        try:
            close_checking_log(cls.d, (pw('alice'), pw('gina'), BAD_PW))
        finally:
            cls._stop_servers()

    def test_negative_control_was_refused_at_start_up(self):
        self.assertTrue(any(status == 401 for (_, status, _) in self.web.log), self.web.log)
        self.assertNotIn('DISABLED', self.d.log())

    def test_good_password_is_true(self):
        self.assertEqual(self.authenticate('alice@corp.test', pw('alice')), 'true')
        self.assertIn('CORP\\alice', [u for (_, s, u) in self.web.log if s == 200])

    def test_wrong_password_is_false(self):
        self.assertEqual(self.authenticate('gina@corp.test', BAD_PW), 'false')
        rec = self.last_audit('gina@corp.test')
        self.assertEqual((rec.get('outcome'), rec.get('detail')), ('reject', 'http:401'))

    def test_unknown_user_is_false(self):
        self.assertEqual(self.authenticate('nobody@corp.test', 'Some-pw-1x'), 'false')
        self.assertEqual(self.last_audit('nobody@corp.test').get('outcome'), 'reject')

    def test_two_checks_use_two_connections(self):
        seen = len(self.web.log)
        self.assertEqual(self.authenticate('alice@corp.test', pw('alice')), 'true')
        self.assertEqual(self.authenticate('gina@corp.test', pw('gina')), 'true')
        new = self.web.log[seen:]
        ok = [(port, user) for (port, status, user) in new if status == 200]
        self.assertEqual([u for (_, u) in ok], ['CORP\\alice', 'CORP\\gina'], new)
        self.assertNotEqual(ok[0][0], ok[1][0], 'the second user came on the first connection')
        # every request of the first check, and only those, came on its connection
        first = {port for (port, _, user) in new if user == 'CORP\\alice'}
        self.assertEqual(len([r for r in new if r[0] in first]), 2, new)


if __name__ == '__main__':
    unittest.main()
