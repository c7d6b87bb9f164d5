"""The `file` provider against inputs an attacker chooses (issue 10): a
password crypt(3) cannot take is a wrong password, never a fault, and an
unknown user is checked against a dummy of the file's own scheme and cost,
so that how long a wrong answer takes does not tell who is listed."""

import crypt
import unittest
import warnings

from harness import Dagate, hash_password, server_section

CONF = server_section() + """
[route]
match = * -> local

[provider local]
type = file
path = users
"""


def legacy_hash(method, password):
    """sha512crypt or bcrypt hashes, as other tools write them."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        return crypt.crypt(password, crypt.mksalt(method, rounds=None))


class LongPasswords(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        users = 'joe@file.example:%s\n' % hash_password('joe-password')
        # Eight wrong passwords for joe: the throttle would refuse the ninth.
        cls.d = Dagate(CONF + '\n[throttle]\nuser_failures = off\n',
                       files={'users': (users, 0o600)})

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def test_too_long_for_crypt_is_false_not_fault(self):
        # libxcrypt takes at most 511 bytes; the endpoint takes 1024.
        for size in (511, 512, 600, 1024):
            for user, outcome in (('joe@file.example', 'reject'),
                                  ('nobody@file.example', 'unknown_user')):
                with self.subTest(size=size, user=user):
                    self.assertEqual(self.d.authenticate(user, 'x' * size), 'false')
                    rec = self.d.audit(self.d.wait_for_log(
                        lambda t: any(r.get('user') == user for r in self.d.audit(t))))[-1]
                    self.assertEqual(rec.get('user'), user)
                    self.assertEqual(rec.get('outcome'), outcome)
                    self.assertEqual(rec.get('answer'), 'false')
        self.assertEqual(self.d.authenticate('joe@file.example', 'joe-password'), 'true')


class UnknownUsersCostTheSame(unittest.TestCase):
    """The dummy hash follows the scheme and cost most of the file's users
    have (the debug line names the setting; timing is measured, not
    asserted)."""

    def check(self, users, want_setting):
        with Dagate(CONF, files={'users': (users, 0o600)}) as d:
            line = d.wait_for_log(lambda t: 'unknown users cost a' in t)
            self.assertIn('unknown users cost a %s check' % want_setting, line)
            self.assertEqual(d.authenticate('nobody@file.example', 'pw'), 'false')
            self.assertEqual(d.authenticate('a@file.example', 'pw-a'), 'true')

    def test_bcrypt_file(self):
        users = ''.join('%s@file.example:%s\n' % (n, legacy_hash(crypt.METHOD_BLOWFISH, 'pw-' + n))
                        for n in ('a', 'b'))
        self.check(users, '$2b$12$')

    def test_sha512crypt_file(self):
        users = ''.join('%s@file.example:%s\n' % (n, legacy_hash(crypt.METHOD_SHA512, 'pw-' + n))
                        for n in ('a', 'b'))
        self.check(users, '$6$')

    def test_mixed_file_follows_the_majority(self):
        users = ('a@file.example:%s\n' % legacy_hash(crypt.METHOD_SHA512, 'pw-a')
                 + 'b@file.example:%s\n' % legacy_hash(crypt.METHOD_SHA512, 'pw-b')
                 + 'c@file.example:%s\n' % hash_password('pw-c'))
        self.check(users, '$6$')

    def test_yescrypt_file(self):
        self.check('a@file.example:%s\n' % hash_password('pw-a'), '$y$j9T$')


if __name__ == '__main__':
    unittest.main()
