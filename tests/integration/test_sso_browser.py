"""Integrated sign-on in a real browser: headless Chromium
(backends/browser.py) with a user's Kerberos ticket cache, the sign-on host
in its --auth-server-allowlist and resolved to 127.0.0.1, opens dagate's
sign-on entry URL. The Samba AD DC is the KDC. Chromium must do SPNEGO by
itself, run the page's auto-submit script under dagate's strict
Content-Security-Policy (the script is allowed by its hash only), and land
on the stand-in Salesforce login server (backends/sign_on.py), which
redeems the token through dagate's Authenticate exactly as Salesforce
does. Without a ticket the browser shows dagate's page that says what to
do, and no token is issued."""

import os
import unittest

from backends.browser import Browser
from backends.samba import REALM, USERS
from backends.sign_on import SF_DOMAIN, SSO_HOST, SignOnServers


class BrowserSignOn(SignOnServers, unittest.TestCase):
    prefix = 'dagate-sso-browser-'

    @classmethod
    def prepare(cls):
        cls.ccache = os.path.join(cls.tmp, 'cc-alice')
        r = cls.kdc.kinit('alice@' + REALM, USERS['alice'][0], cls.ccache)
        if r.returncode != 0:
            raise AssertionError('kinit alice: %s' % r.stdout)

    @classmethod
    def secrets(cls):
        return [USERS[n][0] for n in USERS]

    def setUp(self):
        self.entry = 'http://%s:%d/' % (SSO_HOST, self.sso_port(self.d))

    def browser(self, ccache):
        return Browser(self.tmp, ccache='FILE:' + ccache if ccache else None,
                       krb5_conf=self.kdc.krb5_conf, hosts={SSO_HOST: '127.0.0.1'},
                       allow=SSO_HOST)

    def issued(self):
        return [r for r in self.d.log_records() if r.get('security') == 'token_issue'
                and r.get('requester') == 'sso']

    def test_domain_user_lands_logged_in(self):
        before = len(self.sf.posts)
        with self.browser(self.ccache) as b:
            b.open(self.entry + '?startURL=/001/o')
            b.wait_for_url(lambda u: u.startswith(self.sf.url))
            self.assertIn('logged in as alice@' + SF_DOMAIN, b.page_text())
        # one post, the token good, startURL passed on
        self.assertEqual(self.sf.posts[before:], [('alice@' + SF_DOMAIN, '/001/o', 'true')])
        rec = [r for r in self.d.log_records() if r.get('security') == 'sso'][-1]
        self.assertEqual((rec['outcome'], rec['principal'], rec['method']),
                         ('sso_ok', 'alice@' + REALM, 'negotiate'))

    def test_open_redirect_dropped_in_the_browser(self):
        before = len(self.sf.posts)
        with self.browser(self.ccache) as b:
            b.open(self.entry + '?startURL=//evil.example/')
            b.wait_for_url(lambda u: u.startswith(self.sf.url))
        self.assertEqual(self.sf.posts[before:], [('alice@' + SF_DOMAIN, None, 'true')])

    def test_no_ticket_shows_what_to_do(self):
        issued = len(self.issued())
        posts = len(self.sf.posts)
        with self.browser(None) as b:
            b.open(self.entry)
            text = b.page_text()
            self.assertTrue(b.current_url().startswith(self.entry), b.current_url())
        self.assertNotIn('logged in', text)
        self.assertIn('Use a PC joined to the domain', text)
        self.assertIn('Reference: sso_no_ticket', text)
        self.assertEqual(len(self.issued()), issued)
        self.assertEqual(len(self.sf.posts), posts)


if __name__ == '__main__':
    unittest.main()
