"""The ldap provider against a real Active Directory: a Samba 4 domain
controller in its own network namespace (backends/samba.py). Login by UPN,
by mail, by a UPN outside the domain's suffix; nested group membership;
disabled, expired, must-change and locked accounts mapped from AD's
"data XXX" codes; N failed logins cost at most N bad binds; ldaps and
StartTLS. Needs root: without it the tests fail, they do not skip."""

import unittest

from harness import Dagate, Fault, server_section, NO_THROTTLE
from backends.samba import (BASE, GROUP_DN, LOCKOUT_THRESHOLD, SVC_DN, SVC_PASSWORD, USERS,
                            SambaDC)

FILTER = '(&(objectClass=user)(|(userPrincipalName=%u)(mail=%u)))'


def pw(name):
    return USERS[name][0]


def user_dn(name):
    return 'CN=%s,CN=Users,%s' % (name, BASE)


class SambaAD(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dc = SambaDC()
        try:
            cls.d = Dagate(cls.config(cls.dc.ldaps_uri), files=cls.files())
            cls.g = Dagate(cls.config(cls.dc.ldaps_uri, 'group = %s\n' % GROUP_DN),
                           files=cls.files())
            cls.s = Dagate(cls.config(cls.dc.ldap_uri, 'starttls = yes\n'), files=cls.files())
        except BaseException:
            cls.dc.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            for d in (cls.d, cls.g, cls.s):
                d.__exit__(None, None, None)
        finally:
            cls.dc.close()

    @classmethod
    def config(cls, uri, extra=''):
        return (server_section() + NO_THROTTLE + '[route]\nmatch = * -> ad\n\n[provider ad]\ntype = ldap\n'
                'uri = %s\nca_file = {dir}/ca.crt\nbase = %s\nbind_dn = %s\n'
                'bind_password_file = {dir}/svc.secret\nuser_filter = %s\ntimeout = 4s\n%s'
                % (uri, BASE, SVC_DN, FILTER, extra))

    @classmethod
    def files(cls):
        with open(cls.dc.ca_cert) as f:
            return {'ca.crt': f.read(), 'svc.secret': (SVC_PASSWORD + '\n', 0o600)}

    def ask(self, d, user, password):
        """authenticate(), then wait for its audit line (written after
        the answer)."""
        before = len([r for r in d.audit() if r.get('user') == user])
        got = d.authenticate(user, password)
        d.audit_of(user, before + 1)
        return got

    def last_audit(self, d, user):
        recs = [r for r in d.audit() if r.get('user') == user]
        self.assertTrue(recs, 'no audit record for %s:\n%s' % (user, d.log()[-3000:]))
        return recs[-1]

    def expect(self, d, user, password, answer, outcome, detail=None):
        got = self.ask(d, user, password)
        self.assertEqual(got, answer, '%s: %s\n%s' % (user, got, d.log()[-2000:]))
        rec = self.last_audit(d, user)
        self.assertEqual(rec.get('outcome'), outcome, rec)
        if detail is not None:
            self.assertIn(detail, rec.get('detail', ''), rec)

    def test_login_by_upn(self):
        self.expect(self.d, 'alice@corp.test', pw('alice'), 'true', 'ok')
        self.expect(self.d, 'alice@corp.test', 'Wrong-Pass-1x', 'false', 'reject', 'ad:52e')

    def test_login_by_mail(self):
        self.expect(self.d, 'alice.mail@corp.test', pw('alice'), 'true', 'ok')

    def test_upn_with_another_suffix(self):
        self.expect(self.d, 'bob@partner.example', pw('bob'), 'true', 'ok')
        self.expect(self.d, 'bob@corp.test', pw('bob'), 'true', 'ok')   # his mail

    def test_unknown_user(self):
        self.expect(self.d, 'nobody@corp.test', 'Some-Pass-1x', 'false', 'unknown_user')

    def test_nested_group(self):
        # alice is in "Sales EU", which is in "Salesforce Users"
        self.expect(self.g, 'alice@corp.test', pw('alice'), 'true', 'ok')
        self.expect(self.g, 'bob@partner.example', pw('bob'), 'false', 'reject', 'group')

    def test_disabled(self):
        self.expect(self.d, 'dave@corp.test', pw('dave'), 'false', 'locked', 'ad:533')

    def test_expired(self):
        self.expect(self.d, 'erin@corp.test', pw('erin'), 'false', 'locked', 'ad:701')

    def test_must_change_password(self):
        self.expect(self.d, 'frank@corp.test', pw('frank'), 'false', 'locked', 'ad:773')

    def test_locked(self):
        for i in range(LOCKOUT_THRESHOLD):
            self.assertEqual(self.d.authenticate('gina@corp.test', 'Bad-Pass-%dx' % i), 'false')
        # the right password no longer helps
        self.expect(self.d, 'gina@corp.test', pw('gina'), 'false', 'locked', 'ad:775')

    def test_failed_logins_cost_at_most_one_bind_each(self):
        dn = user_dn('henry')
        self.assertEqual(self.dc.admin_search(dn, 'badPwdCount').get('badPwdCount', '0'), '0')
        # one short of the lockout threshold, with a repeat
        logins = ['Bad-Pass-a1', 'Bad-Pass-b2', 'Bad-Pass-c3', 'Bad-Pass-c3']
        self.assertLess(len(logins), LOCKOUT_THRESHOLD)
        for p in logins:
            self.assertEqual(self.ask(self.d, 'henry@corp.test', p), 'false')
        count = int(self.dc.admin_search(dn, 'badPwdCount').get('badPwdCount', '0'))
        self.assertLessEqual(count, len(logins))
        # exactly one bad bind per login that reached the directory (the
        # router may answer repeats or throttled users itself)
        asked = [r for r in self.d.audit() if r.get('user') == 'henry@corp.test'
                 and r.get('provider') == 'ad' and r.get('outcome') == 'reject']
        self.assertEqual(count, len(asked))
        self.expect(self.d, 'henry@corp.test', pw('henry'), 'true', 'ok')

    def test_starttls(self):
        self.expect(self.s, 'alice@corp.test', pw('alice'), 'true', 'ok')
        self.expect(self.s, 'bob@partner.example', 'Wrong-Pass-1x', 'false', 'reject', 'ad:52e')

    def test_empty_password(self):
        self.assertEqual(self.d.authenticate('alice@corp.test', ''), 'false')


if __name__ == '__main__':
    unittest.main()
