"""[sso] fallback = ntlm against the real thing: the Samba AD DC
(backends/samba.py) with its winbindd checks the NTLM answers through
Samba's `ntlm_auth --helper-protocol=squid-2.5-ntlmssp`, which dagate runs
once per connection mid-handshake; `curl --ntlm` is the browser, and the
stand-in Salesforce login server (backends/sign_on.py) posts the page's
form and calls Authenticate."""

import os
import re
import socket
import subprocess
import time
import unittest

from harness import run_dagate
from backends.ntlm_server import wait_for_winbindd
from backends.samba import DOMAIN, REALM, USERS
from backends.sign_on import (NTLM_NEGOTIATE, SF_DOMAIN, SSO_HOST, FormReader, SignOnServers,
                              sso_config)

BAD_PW = 'Wrong-ntlm-pw-7'
# The head of an NTLMSSP AUTHENTICATE message (type 3)
NTLM_AUTHENTICATE = 'TlRMTVNTUAADAAAAGAAYAEAAAAA='
# A stand-in helper for the limits: a challenge for every YR, then silence.
SLOW_HELPER = '''#!/bin/sh
while read cmd blob; do
    case $cmd in
    YR) echo "TT TlRMTVNTUAACAAAADAAMADAAAAA1goni" ;;
    *) exec sleep 30 ;;
    esac
done
'''


def pw(name):
    return USERS[name][0]


def helper_children(pid, name='ntlm_auth'):
    """Processes named `name` (None: any) whose parent is `pid`."""
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index('(') + 1:stat.rindex(')')]
        ppid = int(stat[stat.rindex(')') + 2:].split()[1])
        if name in (None, comm) and ppid == pid:
            found.append(int(entry))
    return found


def ntlm_config(login_url, smbconf, extra=''):
    return sso_config(login_url).replace('realms = %s' % REALM, 'realms = %s %s' % (REALM, DOMAIN)) \
        + 'fallback = ntlm\nntlm_auth_config = %s\n' % smbconf + extra


class NtlmSignOn(SignOnServers, unittest.TestCase):
    prefix = 'dagate-sso-ntlm-'

    @classmethod
    def prepare(cls):
        wait_for_winbindd(cls.dc.smbconf)

    @classmethod
    def first_config(cls):
        return ntlm_config(cls.sf.url, cls.dc.smbconf)

    @classmethod
    def secrets(cls):
        return [pw('alice'), BAD_PW]

    def port(self, d=None):
        return [l for l in (d or self.d).listeners if l.kind == 'sso'][0].port

    def curl(self, userpass=None, query='', extra=()):
        """GET the entry path, with curl --ntlm as `userpass`: [(status,
        {lower header: [values]})] of every response, and the last body."""
        r = subprocess.run(['curl', '-sS', '-D', '-', '--max-time', '20']
                           + (['--ntlm', '-u', userpass] if userpass else []) + list(extra)
                           + ['http://127.0.0.1:%d/%s' % (self.port(), query)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        parts = re.split(r'\r?\n\r?\n', r.stdout)
        answers = []
        while parts and parts[0].startswith('HTTP/'):
            lines = parts.pop(0).splitlines()
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(':')
                headers.setdefault(k.strip().lower(), []).append(v.strip())
            answers.append((int(lines[0].split()[1]), headers))
        return answers, '\n\n'.join(parts)

    def sso_records(self, outcome, count=1, d=None):
        d = d or self.d
        d.wait_for_log(lambda t: len([r for r in d.log_records(t) if r.get('security') == 'sso'
                                      and r.get('outcome') == outcome]) >= count)
        return [r for r in d.log_records() if r.get('security') == 'sso'
                and r.get('outcome') == outcome]

    def wait_no_children(self, d=None, name='ntlm_auth'):
        pid = (d or self.d).proc.pid
        deadline = time.monotonic() + 5
        while helper_children(pid, name) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(helper_children(pid, name), [])

    def handshake_start(self, port, message=NTLM_NEGOTIATE, s=None):
        """A type 1 on a (new) keep-alive connection: (socket, status line
        and headers of the answer)."""
        s = s or socket.create_connection(('127.0.0.1', port), timeout=10)
        s.sendall(('GET / HTTP/1.1\r\nHost: %s\r\nAuthorization: NTLM %s\r\n\r\n'
                   % (SSO_HOST, message)).encode())
        head = b''
        while b'\r\n\r\n' not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
        return s, head.decode('latin-1')

    def test_ntlm_signs_on_once(self):
        answers, body = self.curl('%s\\alice:%s' % (DOMAIN, pw('alice')), '?startURL=/001/o')
        self.assertEqual([a[0] for a in answers], [401, 200], body)
        self.assertTrue(answers[0][1]['www-authenticate'][0].startswith('NTLM TlRMTVNTUAAC'))
        form = FormReader()
        form.feed(body)
        self.assertEqual(form.fields['username'], 'alice@' + SF_DOMAIN)
        self.assertEqual(form.fields['startURL'], '/001/o')
        self.assertEqual(self.sf.post(form.action, form.fields),
                         (200, 'logged in as alice@' + SF_DOMAIN))
        self.assertEqual(self.sf.post(form.action, form.fields)[0], 401)   # replayed
        self.assertEqual([p[2] for p in self.sf.posts[-2:]], ['true', 'false'])
        rec = self.sso_records('sso_ok')[-1]
        self.assertEqual((rec['method'], rec['principal'], rec['user']),
                         ('ntlm', 'alice@' + DOMAIN, 'alice@' + SF_DOMAIN))
        self.assertEqual(self.sso_records('sso_ntlm_challenge')[-1]['method'], 'ntlm')
        self.assertNotIn(form.fields['pw'], self.d.log())
        self.assertNotIn('TlRMTVNT', self.d.log())      # no NTLM message is ever logged
        self.wait_no_children()

    def test_wrong_password_refused(self):
        answers, body = self.curl('%s\\alice:%s' % (DOMAIN, BAD_PW))
        self.assertEqual([a[0] for a in answers], [401, 401], body)
        self.assertEqual(answers[-1][1]['www-authenticate'], ['Negotiate', 'NTLM'])
        self.assertIn('password', body)
        self.assertIn('sso_ntlm_refused', body)
        self.assertNotIn('dgt1_', body)
        rec = self.sso_records('sso_ntlm_refused')[-1]
        self.assertEqual(rec['method'], 'ntlm')
        self.assertIn('ntlm_auth NA', rec['detail'])
        status, _, metrics = self.d.get('/metrics', admin=True)
        self.assertRegex(metrics.decode(),
                         r'dagate_sso_requests_total\{outcome="sso_ntlm_refused"\} [1-9]')
        self.wait_no_children()

    def test_no_credentials_get_both_challenges(self):
        answers, body = self.curl()
        self.assertEqual(answers[0][0], 401)
        self.assertEqual(answers[0][1]['www-authenticate'], ['Negotiate', 'NTLM'])
        self.assertIn('sso_no_ticket', body)

    def test_ntlm_inside_negotiate_is_answered_under_negotiate(self):
        answers, _ = self.curl(extra=('-H', 'Authorization: Negotiate ' + NTLM_NEGOTIATE))
        self.assertEqual(answers[0][0], 401)
        challenge = answers[0][1]['www-authenticate']
        self.assertEqual(len(challenge), 1)
        self.assertTrue(challenge[0].startswith('Negotiate TlRMTVNTUAAC'), challenge)
        self.wait_no_children()   # curl closed the connection: its helper is gone

    def test_authenticate_without_handshake_refused(self):
        answers, body = self.curl(extra=('-H', 'Authorization: NTLM ' + NTLM_AUTHENTICATE))
        self.assertEqual(answers[0][0], 401)
        rec = self.sso_records('sso_ntlm_refused')[-1]
        self.assertEqual(rec['detail'], 'no NTLM handshake on this connection')

    def test_helper_lives_with_its_connection(self):
        """Mid-handshake the connection holds one helper; closing the
        connection kills and reaps it."""
        socks = []
        try:
            for _ in range(3):
                s, head = self.handshake_start(self.port())
                socks.append(s)
                self.assertIn('WWW-Authenticate: NTLM TlRMTVNTUAAC', head)
            self.assertEqual(len(helper_children(self.d.proc.pid)), 3)
            # a second type 1 on the same connection replaces its helper
            _, head = self.handshake_start(self.port(), s=socks[0])
            self.assertIn('WWW-Authenticate: NTLM TlRMTVNTUAAC', head)
            self.assertEqual(len(helper_children(self.d.proc.pid)), 3)
        finally:
            for s in socks:
                s.close()
        self.wait_no_children()

    def test_limits(self):
        """At most SSO_NTLM_MAX_HANDSHAKES helpers (then 503), and a helper
        that does not answer costs the request no more than the deadline."""
        config = ntlm_config(self.sf.url, self.dc.smbconf, 'ntlm_auth = {dir}/ntlm_auth\n')
        config = config.replace('[server]\n', '[server]\ndeadline = 2s\n'
                                'max_connections_per_ip = 100\n', 1)
        with self.start_dagate(config, files={'ntlm_auth': (SLOW_HELPER, 0o755)}) as d:
            port, socks = self.port(d), []
            try:
                for _ in range(64):
                    s, head = self.handshake_start(port)
                    socks.append(s)
                    self.assertTrue(head.startswith('HTTP/1.1 401'), head)
                self.assertEqual(len(helper_children(d.proc.pid)), 64)
                s, head = self.handshake_start(port)
                socks.append(s)
                self.assertTrue(head.startswith('HTTP/1.1 503'), head)
                rec = self.sso_records('sso_ntlm_unavailable', d=d)[-1]
                self.assertEqual(rec['detail'], 'too many NTLM handshakes at once')
                # the type 3 the helper never answers: 503 within the deadline
                started = time.monotonic()
                _, head = self.handshake_start(port, NTLM_AUTHENTICATE, s=socks[0])
                self.assertLess(time.monotonic() - started, 2.0)
                self.assertTrue(head.startswith('HTTP/1.1 503'), head)
                rec = self.sso_records('sso_ntlm_unavailable', 2, d=d)[-1]
                self.assertEqual(rec['detail'], 'ntlm_auth did not answer in time')
                self.assertEqual(len(helper_children(d.proc.pid, None)), 63)
            finally:
                for s in socks:
                    s.close()
            self.wait_no_children(d, None)
            status, _, metrics = d.get('/metrics', admin=True)
            self.assertRegex(metrics.decode(),
                             r'dagate_sso_requests_total\{outcome="sso_ntlm_unavailable"\} 2')

    def test_check_config_refuses_a_missing_helper(self):
        config = ntlm_config(self.sf.url, self.dc.smbconf, 'ntlm_auth = /nonexistent/ntlm_auth\n')
        d = self.start_dagate(config, start=False)
        try:
            line = d.config_text.splitlines().index('ntlm_auth = /nonexistent/ntlm_auth') + 1
            r = run_dagate(['check-config', '-c', d.config_path])
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertRegex(r.stderr, r'dagate\.conf:%d: ntlm_auth /nonexistent/ntlm_auth '
                             r'cannot be run' % line)
        finally:
            d._cleanup_dir()

    def test_check_config_accepts_the_helper(self):
        r = run_dagate(['check-config', '-c', self.d.config_path])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == '__main__':
    unittest.main()
