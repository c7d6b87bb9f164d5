"""The http provider against real web servers: nginx with auth_basic (and a
slow, a redirecting, a failing, a forbidding and an open location) and
Apache with mod_auth_digest; the negative control that disables a URL which
accepts anyone; untrusted certificates, a closed port; test-user and probe.

`auth = ntlm` is proven in test_http_ntlm.py (Samba's ntlm_auth) and
`auth = negotiate` in test_http_negotiate.py (Samba's KDC, Apache with
mod_auth_gssapi)."""

import base64
import shutil
import tempfile
import time
import unittest

from harness import (CountedAnswers, Dagate, Fault, close_checking_log, run_dagate,
                     server_section, trusted_and_other_certs)
from backends.apache import Apache
from backends.nginx import Nginx
from backends.ports import free_port

USERS = {'joe': 'Joe-web-pw-1', 'ann': 'Ann-web-pw-2'}
BAD_PW = 'Wrong-web-pw-9'
DEADLINE_MS = 2000


class HttpProvider(CountedAnswers, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='dagate-http-')
        cls.certs, cls.other = trusted_and_other_certs(cls.tmp)
        cls.nginx = cls.apache = None
        try:
            cls.nginx = Nginx(cls.certs, users=USERS)
            cls.apache = Apache(cls.certs, users=USERS)
            cls.answers = {}
            cls.d = Dagate(cls._config())
        except BaseException:
            cls._stop_servers()
            raise

    @classmethod
    def _config(cls):
        n = cls.nginx.url
        providers = [
            ('web', n('/check'), ''),
            ('digest', cls.apache.url('/check'), 'auth = digest\n'),
            ('open', n('/open'), ''),
            ('slow', n('/slow'), ''),
            ('redirect', n('/redirect'), ''),
            ('error', n('/error'), ''),
            ('forbidden', n('/forbidden'), ''),
            ('untrusted', n('/check'), 'ca_file = %s\n' % cls.other.ca_cert),
            ('down', 'https://127.0.0.1:%d/check' % free_port(), ''),
            ('wrongstatus', n('/check'), 'ok_status = 204\n'),
        ]
        # No periodic probes: the tests count the web servers' requests.
        text = server_section(extra='deadline = %dms\nprobe_interval = 0s\n' % DEADLINE_MS) + """
[route]
match = *@basic.example -> web
match = *@digest.example -> digest
match = *@open.example -> open, fallback
match = *@slow.example -> slow
match = *@redirect.example -> redirect
match = *@error.example -> error, fallback
match = *@forbidden.example -> forbidden
match = *@untrusted.example -> untrusted
match = *@down.example -> down, fallback
match = *@status.example -> wrongstatus

[provider fallback]
type = static
result = false
"""
        for name, url, extra in providers:
            text += '\n[provider %s]\ntype = http\nurl = %s\nlogin = %%l\n' % (name, url)
            if 'ca_file' not in extra:
                text += 'ca_file = %s\n' % cls.certs.ca_cert
            text += extra
        return text

    @classmethod
    def _stop_servers(cls):
        for s in (cls.nginx, cls.apache):
            if s is not None:
                s.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        try:
            close_checking_log(cls.d, list(USERS.values()) + [BAD_PW])
        finally:
            cls._stop_servers()

    # Basic (nginx) and digest (Apache)

    def test_basic_good_bad_unknown(self):
        self.assertEqual(self.authenticate('joe@basic.example', USERS['joe']), 'true')
        self.assertIn(('GET', '/check', 200, 'joe'), self.nginx.requests())
        self.assertEqual(self.authenticate('joe@basic.example', BAD_PW), 'false')
        rec = self.last_audit('joe@basic.example')
        self.assertEqual((rec.get('outcome'), rec.get('detail')), ('reject', 'http:401'))
        self.assertEqual(self.authenticate('nobody@basic.example', 'Some-pw-1'), 'false')

    def test_negative_control_ran_at_start_up(self):
        users = [u for (_, path, status, u) in self.nginx.requests()
                 if path == '/check' and status == 401]
        self.assertTrue(any(u.startswith('dagate-control-') for u in users), users)

    def test_digest_good_bad_unknown(self):
        self.assertEqual(self.authenticate('ann@digest.example', USERS['ann']), 'true')
        self.assertEqual(self.authenticate('ann@digest.example', BAD_PW), 'false')
        self.assertEqual(self.authenticate('nobody@digest.example', 'Some-pw-1'), 'false')

    def test_forbidden_is_false(self):
        self.assertEqual(self.authenticate('joe@forbidden.example', USERS['joe']), 'false')
        self.assertEqual(self.last_audit('joe@forbidden.example').get('detail'), 'http:403')

    # A URL that accepts anyone

    def test_url_accepting_random_credentials_is_disabled_loudly(self):
        self.assertIn('provider open: DISABLED', self.d.log())
        before = [r for r in self.nginx.requests() if r[1] == '/open']
        # the route goes on to the next provider; /open never sees the real login
        self.assertEqual(self.authenticate('joe@open.example', USERS['joe']), 'false')
        self.assertEqual(self.last_audit('joe@open.example').get('provider'), 'fallback')
        after = [r for r in self.nginx.requests() if r[1] == '/open']
        self.assertEqual(before, after)
        self.assertTrue(all(u.startswith('dagate-control-') for (_, _, _, u) in after), after)

    # Answers that are not a login

    def test_slow_server_faults_within_the_deadline(self):
        started = time.monotonic()
        answer = self.authenticate('joe@slow.example', USERS['joe'])
        elapsed = time.monotonic() - started
        self.assertIsInstance(answer, Fault)
        self.assertLess(elapsed, DEADLINE_MS / 1000 + 1.0)
        self.assertGreater(elapsed, 1.0)

    def test_redirect_is_not_followed(self):
        checks = len([r for r in self.nginx.requests() if r[1] == '/check'])
        answer = self.authenticate('joe@redirect.example', USERS['joe'])
        self.assertIsInstance(answer, Fault)
        self.assertEqual(self.last_audit('joe@redirect.example').get('detail'),
                         'redirect not followed')
        self.assertEqual(len([r for r in self.nginx.requests() if r[1] == '/check']), checks)

    def test_server_error_goes_to_the_next_provider(self):
        self.assertEqual(self.authenticate('joe@error.example', USERS['joe']), 'false')
        self.assertEqual(self.last_audit('joe@error.example').get('provider'), 'fallback')

    def test_other_2xx_than_ok_status_is_not_a_login(self):
        answer = self.authenticate('joe@status.example', USERS['joe'])
        self.assertIsInstance(answer, Fault)
        self.assertEqual(self.last_audit('joe@status.example').get('detail'), 'unexpected status')

    def test_untrusted_certificate_sends_no_credentials(self):
        seen = len(self.nginx.requests())
        answer = self.authenticate('joe@untrusted.example', USERS['joe'])
        self.assertIsInstance(answer, Fault)
        self.assertEqual(self.last_audit('joe@untrusted.example').get('detail'),
                         'certificate not trusted')
        self.assertEqual(len(self.nginx.requests()), seen, 'an HTTP request got through')

    def test_server_down_goes_to_the_next_provider(self):
        self.assertEqual(self.authenticate('joe@down.example', USERS['joe']), 'false')
        self.assertEqual(self.last_audit('joe@down.example').get('provider'), 'fallback')

    # The command line

    def test_test_user(self):
        r = run_dagate(['test-user', '-c', self.d.config_path, 'joe@basic.example'],
                       stdin=USERS['joe'] + '\n')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('with basic as joe', r.stdout)
        self.assertIn('status 200', r.stdout)
        self.assertNotIn(USERS['joe'], r.stdout + r.stderr)

    def test_probe_rows(self):
        r = run_dagate(['probe', '-c', self.d.config_path])
        self.assertEqual(r.returncode, 1, r.stdout)
        rows = {line.split()[0]: line for line in r.stdout.splitlines()[1:] if line.strip()}
        self.assertRegex(rows['web'], r'\bok\b.*random credentials refused')
        self.assertRegex(rows['digest'], r'\bok\b.*random credentials refused')
        self.assertRegex(rows['open'], r'\bFAIL\b.*random credentials ACCEPTED')
        self.assertRegex(rows['untrusted'], r'\bFAIL\b.*certificate not trusted')
        self.assertRegex(rows['down'], r'\bFAIL\b.*cannot connect')


if __name__ == '__main__':
    unittest.main()


class _SwallowingServer:
    """HTTPS that refuses any Basic login with 401, except that a request
    for user `slow` is read and never answered: the password went out and
    the server may have counted it."""

    def __init__(self, certs):
        import http.server
        import ssl
        import threading

        outer = self
        self.slow_requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                auth = self.headers.get('Authorization', '')
                if auth.startswith('Basic ') and \
                        base64.b64decode(auth[6:]).decode().startswith('slow:'):
                    outer.slow_requests += 1
                    time.sleep(30)      # never answers in time
                    return
                self.send_response(401)
                self.send_header('WWW-Authenticate', 'Basic realm="t"')
                self.send_header('Content-Length', '0')
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certs.cert, certs.key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class HttpUnansweredPassword(unittest.TestCase):
    """A login whose request (with the password) went out and was never
    answered is a fault for Salesforce and a failure for the throttle."""

    def test_unanswered_requests_spend_the_budget(self):
        tmp = tempfile.mkdtemp(prefix='dagate-http-swallow-')
        self.addCleanup(shutil.rmtree, tmp, True)
        certs, _ = trusted_and_other_certs(tmp)
        srv = _SwallowingServer(certs)
        self.addCleanup(srv.close)
        conf = (server_section(extra='deadline = 2s\n')
                + '[throttle]\nuser_failures = 2/15m\nsource_failures = off\n\n'
                + '[route]\nmatch = * -> web\n\n[provider web]\ntype = http\n'
                + 'url = https://127.0.0.1:%d/check\nlogin = %%l\nca_file = %s\ntimeout = 1s\n'
                % (srv.port, certs.ca_cert))
        with Dagate(conf) as d:
            for i in range(2):
                self.assertIsInstance(d.authenticate('slow@x.example', 'pw-%d' % i), Fault)
            self.assertEqual(srv.slow_requests, 2)
            self.assertEqual(d.authenticate('slow@x.example', 'pw-2'), 'false')
            self.assertEqual(srv.slow_requests, 2, 'the third never reached the server')
            for secret in ('pw-0', 'pw-1', 'pw-2'):
                self.assertNotIn(secret, d.log())
