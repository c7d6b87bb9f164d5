"""Integrated Windows sign-on ([sso]) against real Kerberos: the Samba AD
DC (backends/samba.py) is the KDC; a service account with the SPN
HTTP/sso.corp.test gives the keytab (backends/kerberos_web.py); test users
get tickets with kinit, and `curl --negotiate` opens the sign-on listener
with the SSO host name resolved to 127.0.0.1.

A stand-in Salesforce login server (backends/sign_on.py) receives the
form the page posts (the test parses the page and posts it as a browser
would), calls dagate's Authenticate as Salesforce does, and says who
logged in: the token is good exactly once."""

import json
import os
import re
import subprocess
import unittest
import urllib.parse

from harness import make_ca_and_cert, run_dagate
from test_ops_reload import sighup_and_wait
from backends.kerberos_web import KerberosSetup
from backends.samba import BASE, GROUP_DN, REALM, SVC_DN, SVC_PASSWORD, USERS
from backends.sign_on import (NTLM_NEGOTIATE, SF_DOMAIN, SSO_HOST, FormReader, SignOnServers,
                              sso_config)


def pw(name):
    return USERS[name][0]


class SignOn(SignOnServers, unittest.TestCase):
    @classmethod
    def prepare(cls):
        cls.other = KerberosSetup(cls.dc, os.path.join(cls.tmp, 'other'),
                                  host='other.corp.test', svc='svc-other')
        cls.ccache = {}
        for name in ('alice', 'gina'):
            cls.ccache[name] = os.path.join(cls.tmp, 'cc-' + name)
            r = cls.kdc.kinit('%s@%s' % (name, REALM), pw(name), cls.ccache[name])
            if r.returncode != 0:
                raise AssertionError('kinit %s: %s' % (name, r.stdout))

    @classmethod
    def secrets(cls):
        return [pw(n) for n in USERS]

    @classmethod
    def start_dagate(cls, config, *, keytab=None, files=None, start=True):
        """With the DC's CA and the service account's password (lookup)."""
        with open(cls.dc.ca_cert) as f:
            more = {'ca.crt': f.read(), 'svc.secret': (SVC_PASSWORD + '\n', 0o600)}
        more.update(files or {})
        return super().start_dagate(config, keytab=keytab, files=more, start=start)

    def curl(self, d, user=None, query='', extra=(), host=SSO_HOST, prefix=(), verbose=None):
        """GET the entry path with curl --negotiate as `user` (None: no
        ticket), `prefix` before curl (faketime). (status, {lower header:
        [values]}, body); with a `verbose` list, curl's -v lines go there."""
        port = self.sso_port(d)
        env = dict(os.environ, KRB5_CONFIG=self.kdc.krb5_conf,
                   KRB5CCNAME='FILE:' + (self.ccache[user] if user else
                                         os.path.join(self.tmp, 'no-ccache')))
        url = 'http://%s:%d/%s' % (host, port, query)
        r = subprocess.run(list(prefix) + ['curl', '-sS', '-D', '-', '--negotiate', '-u', ':',
                           '--resolve', '%s:%d:127.0.0.1' % (host, port), '--max-time', '20']
                           + (['-v'] if verbose is not None else [])
                           + list(extra) + [url], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        if verbose is not None:
            verbose.extend(r.stderr.splitlines())
        if r.returncode != 0:
            return None, {}, r.stderr
        # the last response's head (after a 401 round, curl prints both)
        heads = re.split(r'\r?\n\r?\n', r.stdout)
        blocks, i = [], 0
        while i < len(heads) and heads[i].startswith('HTTP/'):
            blocks.append(heads[i])
            i += 1
        body = '\n\n'.join(heads[i:])
        lines = blocks[-1].splitlines()
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(':')
            headers.setdefault(k.strip().lower(), []).append(v.strip())
        return status, headers, body

    def sso_records(self, d, outcome, count=1):
        d.wait_for_log(lambda t: len([r for r in d.log_records(t) if r.get('security') == 'sso'
                                      and r.get('outcome') == outcome]) >= count)
        return [r for r in d.log_records() if r.get('security') == 'sso'
                and r.get('outcome') == outcome]

    def sign_on(self, user, query=''):
        status, headers, body = self.curl(self.d, user, query)
        self.assertEqual(status, 200, body)
        form = FormReader()
        form.feed(body)
        return headers, body, form

    def test_user_lands_under_mapped_username_once(self):
        headers, body, form = self.sign_on('alice', '?startURL=/001/o')
        self.assertEqual(headers['cache-control'], ['no-store'])
        self.assertEqual(headers['x-frame-options'], ['DENY'])
        csp = headers['content-security-policy'][0]
        self.assertRegex(csp, r"script-src 'sha256-[A-Za-z0-9+/=]+'")
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertIn("default-src 'none'", csp)
        self.assertEqual(form.action, self.sf.url)
        self.assertTrue(form.script and form.button)
        self.assertEqual(form.fields['username'], 'alice@' + SF_DOMAIN)
        self.assertEqual(form.fields['startURL'], '/001/o')
        self.assertTrue(form.fields['pw'].startswith('dgt1_'))
        status, text = self.sf.post(form.action, form.fields)
        self.assertEqual((status, text), (200, 'logged in as alice@' + SF_DOMAIN))
        status, text = self.sf.post(form.action, form.fields)      # the same token again
        self.assertEqual(status, 401)
        self.assertEqual([p[2] for p in self.sf.posts[-2:]], ['true', 'false'])
        rec = self.sso_records(self.d, 'sso_ok')[-1]
        self.assertEqual(rec['principal'], 'alice@' + REALM)
        self.assertEqual(rec['user'], 'alice@' + SF_DOMAIN)
        self.assertNotIn(form.fields['pw'], self.d.log())
        issued = [r for r in self.d.log_records() if r.get('security') == 'token_issue'
                  and r.get('requester') == 'sso' and r.get('user') == 'alice@' + SF_DOMAIN]
        self.assertTrue(issued)

    def test_start_url_filter(self):
        for start, passed in (('//evil.example/', False), ('https://evil.example/', False),
                              ('/\\evil.example', False), ('/001/o', True)):
            _, _, form = self.sign_on('gina', '?' + urllib.parse.urlencode({'startURL': start}))
            self.assertEqual(form.fields.get('startURL'), start if passed else None, start)
            self.assertEqual(form.fields['username'], 'gina@' + SF_DOMAIN)
        self.assertTrue(any(r.get('start_url') == 'dropped'
                            for r in self.sso_records(self.d, 'sso_ok')))

    def test_no_ticket_gets_negotiate_only(self):
        status, headers, body = self.curl(self.d, None)
        self.assertEqual(status, 401, body)
        self.assertEqual(headers['www-authenticate'], ['Negotiate'])   # never Basic over http
        self.assertEqual(headers['cache-control'], ['no-store'])
        self.assertIn('sso_no_ticket', body)
        self.assertIn('Windows account', body)
        self.sso_records(self.d, 'sso_no_ticket')
        status, _, metrics = self.d.get('/metrics', admin=True)
        self.assertRegex(metrics.decode(), r'dagate_sso_requests_total\{outcome="sso_no_ticket"\} [1-9]')

    def test_status_lists_the_sso_listener(self):
        status, _, body = self.d.get('/api/v1/status', admin=True)
        self.assertEqual(status, 200)
        sso = [l for l in json.loads(body)['listeners'] if l['kind'] == 'sso']
        self.assertEqual(sso, [{'address': '127.0.0.1:0', 'kind': 'sso', 'tls': False}])

    def test_other_paths_and_methods(self):
        status, _, _ = self.curl(self.d, 'alice', 'elsewhere')
        self.assertEqual(status, 404)
        status, headers, _ = self.curl(self.d, 'alice', '', extra=('-X', 'POST', '-d', 'x=1'))
        self.assertEqual(status, 405)

    def test_realm_outside_realms_refused(self):
        config = sso_config(self.sf.url).replace('realms = %s' % REALM, 'realms = ELSEWHERE.TEST')
        with self.start_dagate(config) as d:
            status, headers, body = self.curl(d, 'alice')
            self.assertEqual(status, 403, body)
            self.assertIn('sso_realm', body)
            self.assertNotIn('dgt1_', body)
            rec = self.sso_records(d, 'sso_realm')[-1]
            self.assertEqual(rec['principal'], 'alice@' + REALM)

    def test_allow_enforced(self):
        with self.start_dagate(sso_config(self.sf.url, allow='192.0.2.0/24')) as d:
            status, _, err = self.curl(d, 'alice')
            self.assertIsNone(status, 'a peer outside allow was answered')
            d.wait_for_log(lambda t: 'not in [sso] allow' in t)
            self.assertNotIn('security=sso ', d.log())

    def test_keytab_of_another_principal(self):
        # check-config: the keytab does not hold the principal
        d = self.start_dagate(sso_config(self.sf.url), keytab=self.other, start=False)
        try:
            r = run_dagate(['check-config', '-c', d.config_path])
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertRegex(r.stderr, r'dagate\.conf:\d+: keytab .* holds no key for HTTP/%s@%s'
                             % (re.escape(SSO_HOST), REALM))
        finally:
            d._cleanup_dir()
        # at request time: any key of that keytab, a ticket for HTTP/sso
        with self.start_dagate(sso_config(self.sf.url, principal=None), keytab=self.other) as d:
            status, _, body = self.curl(d, 'alice')
            self.assertEqual(status, 403, body)
            self.assertNotIn('dgt1_', body)
            self.sso_records(d, 'sso_wrong_service')

    def test_ntlm_in_negotiate_without_basic_is_refused(self):
        status, headers, body = self.curl(self.d, None,
                                          extra=('-H', 'Authorization: Negotiate ' + NTLM_NEGOTIATE))
        self.assertEqual(status, 403, body)
        self.assertNotIn('www-authenticate', headers)
        rec = self.sso_records(self.d, 'sso_no_ticket')[-1]
        self.assertIn('NTLM', rec['detail'])

    def test_replayed_authenticator_refused(self):
        lines = []
        status, _, body = self.curl(self.d, 'gina', verbose=lines)
        self.assertEqual(status, 200, body)
        sent = [l.split(': ', 1)[1] for l in lines
                if l.lower().startswith('> authorization: negotiate ')]
        self.assertEqual(len(sent), 1, lines)
        status, _, body = self.curl(self.d, None, extra=('-H', 'Authorization: ' + sent[0]))
        self.assertEqual(status, 403, body)
        self.assertNotIn('dgt1_', body)
        self.sso_records(self.d, 'sso_replay')

    def test_ticket_for_another_service_refused(self):
        # curl asks the KDC for HTTP/other.corp.test: a real ticket, not ours
        status, _, body = self.curl(self.d, 'alice', host='other.corp.test')
        self.assertEqual(status, 403, body)
        self.assertNotIn('dgt1_', body)
        rec = self.sso_records(self.d, 'sso_wrong_service')[-1]
        self.assertEqual(rec['principal'], '-')

    def test_clock_skew_refused_with_its_page(self):
        # the service ticket first, with the right time; then an
        # authenticator written by a PC whose clock is 20 minutes ahead
        env = dict(os.environ, KRB5_CONFIG=self.kdc.krb5_conf,
                   KRB5CCNAME='FILE:' + self.ccache['alice'])
        r = subprocess.run(['kvno', 'HTTP/%s@%s' % (SSO_HOST, REALM)], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stdout)
        status, _, body = self.curl(self.d, 'alice', prefix=('faketime', '-f', '+20m'))
        self.assertEqual(status, 403, body)
        self.assertIn('clock is off', body)
        self.sso_records(self.d, 'sso_clock_skew')

    def test_sighup_reads_sso_again(self):
        with self.start_dagate(sso_config(self.sf.url)) as d:
            port = self.sso_port(d)
            self.assertEqual(self.curl(d, 'alice')[0], 200)
            with open(d.config_path, 'w') as f:
                f.write(d.config_text.replace('realms = %s' % REALM, 'realms = ELSEWHERE.TEST'))
            sighup_and_wait(d)
            self.assertEqual(self.sso_port(d), port)
            status, _, body = self.curl(d, 'alice')
            self.assertEqual(status, 403, body)
            self.sso_records(d, 'sso_realm')
            # a broken [sso] is refused; the running one goes on
            with open(d.config_path, 'w') as f:
                f.write(d.config_text.replace('user = %l@', 'user = %u@'))
            sighup_and_wait(d, refused=True)
            self.assertEqual(self.curl(d, 'alice')[0], 403)

    def test_sso_check_command(self):
        r = run_dagate(['sso-check', '-c', self.d.config_path, 'alice@' + REALM])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('username: alice@%s' % SF_DOMAIN, r.stdout)
        self.assertIn('requester sso, bound to alice@%s' % SF_DOMAIN, r.stdout)
        self.assertIn('answer: signed on', r.stdout)
        for principal, outcome in (('alice@ELSEWHERE.TEST', 'sso_realm'),
                                   ('alice/admin@' + REALM, 'sso_map')):
            r = run_dagate(['sso-check', '-c', self.d.config_path, principal])
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn('outcome: ' + outcome, r.stdout)
            self.assertIn('answer: refused', r.stdout)

    def lookup_config(self):
        return sso_config(self.sf.url).replace('user = %%l@%s\n' % SF_DOMAIN, 'lookup = ad mail\n') + (
            '\n[provider ad]\ntype = ldap\nuri = %s\nca_file = {dir}/ca.crt\nbase = %s\n'
            'bind_dn = %s\nbind_password_file = {dir}/svc.secret\ngroup = %s\ntimeout = 4s\n'
            % (self.dc.ldaps_uri, BASE, SVC_DN, GROUP_DN))

    def test_lookup_through_an_ldap_provider(self):
        with self.start_dagate(self.lookup_config()) as d:
            self.sf.dagate = d
            try:
                # alice is in the group (nested): her mail attribute is the username
                status, _, body = self.curl(d, 'alice')
                self.assertEqual(status, 200, body)
                form = FormReader()
                form.feed(body)
                self.assertEqual(form.fields['username'], USERS['alice'][1])
                self.assertEqual(self.sf.post(form.action, form.fields),
                                 (200, 'logged in as ' + USERS['alice'][1]))
                # gina is not in the group: refused as the provider would
                status, _, body = self.curl(d, 'gina')
                self.assertEqual(status, 403, body)
                self.assertNotIn('dgt1_', body)
                rec = self.sso_records(d, 'sso_lookup')[-1]
                self.assertIn('not in the required group', rec['detail'])
            finally:
                self.sf.dagate = self.d
            # disabled and expired accounts (no ticket to be had): sso-check
            for name, why in (('dave', 'account disabled'), ('erin', 'account expired'),
                              ('nobody', 'no entry matches')):
                r = run_dagate(['sso-check', '-c', d.config_path, '%s@%s' % (name, REALM)])
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn('outcome: sso_lookup', r.stdout)
                self.assertIn(why, r.stdout)
            r = run_dagate(['sso-check', '-c', d.config_path, 'alice@' + REALM])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn('username: %s (mail of the entry provider ad found)' % USERS['alice'][1],
                          r.stdout)

    def test_basic_fallback_over_https(self):
        certs = make_ca_and_cert(os.path.join(self.tmp, 'tls'))
        config = self.lookup_config().replace('lookup = ad mail\n', 'user = %%l@%s\n' % SF_DOMAIN)
        config = config.replace('[route]\nmatch = * -> nobody', '[route]\nmatch = * -> ad')
        config += 'user_filter = (sAMAccountName=%l)\n'
        config = config.replace('[sso]\n', '[sso]\ntls_cert = %s\ntls_key = %s\nfallback = basic\n'
                                % (certs.cert, certs.key))
        with self.start_dagate(config) as d:
            port = self.sso_port(d)

            def get(userpass=None, header=None):
                r = subprocess.run(['curl', '-sS', '-D', '-', '--cacert', certs.ca_cert,
                                    '--max-time', '20'] + (['-u', userpass] if userpass else [])
                                   + (['-H', header] if header else [])
                                   + ['https://localhost:%d/?startURL=/001/o' % port],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr)
                head, _, body = r.stdout.partition('\n\n')   # text mode: \r\n read as \n
                challenges = re.findall(r'(?im)^www-authenticate: (.*?)\r?$', head)
                return int(head.split()[1]), challenges, body

            status, challenges, _ = get()
            self.assertEqual(status, 401)
            self.assertEqual(challenges[0], 'Negotiate')
            self.assertTrue(challenges[1].startswith('Basic realm='), challenges)
            # a PC outside the domain offers NTLM inside Negotiate: Basic alone
            status, challenges, _ = get(header='Authorization: Negotiate ' + NTLM_NEGOTIATE)
            self.assertEqual(status, 401)
            self.assertEqual(len(challenges), 1)
            self.assertTrue(challenges[0].startswith('Basic realm='), challenges)
            self.sf.dagate = d
            try:
                for login in ('alice', 'CORP\\alice', 'alice@corp.test'):
                    status, _, body = get('%s:%s' % (login, pw('alice')))
                    self.assertEqual(status, 200, (login, body))
                    form = FormReader()
                    form.feed(body)
                    self.assertEqual(form.fields.get('username'), 'alice@' + SF_DOMAIN, body)
                    self.assertEqual(form.fields['startURL'], '/001/o')
                self.assertEqual(self.sf.post(form.action, form.fields),
                                 (200, 'logged in as alice@' + SF_DOMAIN))
            finally:
                self.sf.dagate = self.d
            status, challenges, body = get('alice:Wrong-Pass-1x')
            self.assertEqual(status, 401, body)
            self.assertEqual(len(challenges), 2)
            self.assertNotIn('dgt1_', body)
            rec = self.sso_records(d, 'sso_basic_refused')[-1]
            self.assertEqual(rec['method'], 'basic')
            self.assertIn('provider ad: reject', rec['detail'])
            self.assertNotIn('Wrong-Pass-1x', d.log())
            self.assertNotIn(pw('alice'), d.log())
            self.assertEqual(len([r for r in self.sso_records(d, 'sso_ok')
                                  if r.get('method') == 'basic']), 3)
            # each password check has its event=auth line, like the endpoint's
            auths = [r for r in d.audit_of('alice@' + SF_DOMAIN, 5)
                     if r['provider'] != 'tokens']   # the stand-in's redemption
            self.assertEqual([(r['outcome'], r['answer'], r['provider']) for r in auths],
                             [('ok', 'true', 'ad')] * 3 + [('reject', 'false', 'ad')])
            self.assertEqual({r['source_ip'] for r in auths}, {'127.0.0.1'})

    def test_check_config_accepts_the_right_keytab(self):
        r = run_dagate(['check-config', '-c', self.d.config_path])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == '__main__':
    unittest.main()
