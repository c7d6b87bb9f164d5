"""The relay provider: a second dagate over verified HTTPS as the target, and
fake targets that answer HTML, a SOAP fault, two Authenticated elements, a
`true` outside the result, a redirect, the right body with the wrong
content type, or nothing for too long; an untrusted certificate and a closed
port; test-user, probe and configuration checks."""

import http.server
import os
import re
import shutil
import ssl
import tempfile
import threading
import time
import unittest
import xml.etree.ElementTree as ET

from harness import (CountedAnswers, Dagate, Fault, SF_NS, SOAP_ENV_NS, hash_password,
                     run_dagate, server_section, trusted_and_other_certs)
from backends.ports import free_port

PW = {'joe@corp.example': 'Joe-relay-pw-1'}
BAD_PW = 'Wrong-relay-pw-9'
DEADLINE_MS = 2000
SLOW_SECONDS = 5

ENV = ('<?xml version="1.0" encoding="UTF-8"?>\n'
       '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
       '<soapenv:Body>%s</soapenv:Body></soapenv:Envelope>')
RESULT = '<AuthenticateResult xmlns="urn:authentication.soap.sforce.com">%s</AuthenticateResult>'

# path -> (status, content type, body)
FAKE_ANSWERS = {
    '/html': (200, 'text/html', '<html><body>Authenticated: true</body></html>'),
    '/fault': (500, 'text/xml; charset=utf-8', ENV % (
        '<soapenv:Fault><faultcode>soapenv:Server</faultcode>'
        '<faultstring>backend down</faultstring></soapenv:Fault>')),
    '/twice': (200, 'text/xml; charset=utf-8', ENV % (RESULT % (
        '<Authenticated>false</Authenticated><Authenticated>true</Authenticated>'))),
    '/elsewhere': (200, 'text/xml; charset=utf-8', ENV % (
        RESULT % '<Authenticated>false</Authenticated>'
        + '<AuthenticateResult xmlns="urn:authentication.soap.sforce.com">'
          '<Authenticated>true</Authenticated></AuthenticateResult>')),
    '/wrongtype': (200, 'text/html', ENV % (RESULT % '<Authenticated>true</Authenticated>')),
    '/true': (200, 'text/xml; charset=utf-8', ENV % (RESULT % '<Authenticated>true</Authenticated>')),
    # Identity Connect's form, which Salesforce accepts: another media type
    # and element name.
    '/response': (200, 'application/soap+xml; charset=utf-8', ENV % (
        '<AuthenticateResponse xmlns="urn:authentication.soap.sforce.com">'
        '<Authenticated>true</Authenticated></AuthenticateResponse>')),
    # An empty Body, then a result outside it.
    '/emptybody': (200, 'text/xml; charset=utf-8',
                   '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
                   '<soapenv:Body/>' + (RESULT % '<Authenticated>true</Authenticated>')
                   + '</soapenv:Envelope>'),
}


class FakeTarget:
    """An HTTPS server that answers Authenticate POSTs from FAKE_ANSWERS
    (plus /slow and /redirect) and records what it received."""

    def __init__(self, certs):
        self.requests = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(404)
                self.send_header('Content-Length', '0')
                self.end_headers()

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('Content-Length', '0')))
                owner.requests.append((self.path, dict(self.headers), body))
                if self.path == '/slow':
                    time.sleep(SLOW_SECONDS)
                    status, ctype, text = FAKE_ANSWERS['/true']
                elif self.path == '/redirect':
                    self.send_response(307)
                    self.send_header('Location', '/true')
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                    return
                else:
                    status, ctype, text = FAKE_ANSWERS[self.path]
                data = text.encode()
                self.send_response(status)
                self.send_header('Content-Type', ctype)
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    pass

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certs.cert, certs.key)
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return 'https://127.0.0.1:%d%s' % (self.port, path)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class RelayProvider(CountedAnswers, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='dagate-relay-')
        cls.certs, cls.other = trusted_and_other_certs(cls.tmp)
        cls.fake = cls.target = cls.d = None
        cls.answers = {}
        try:
            cls.fake = FakeTarget(cls.certs)
            users = ''.join('%s:%s\n' % (u, hash_password(p)) for u, p in PW.items())
            cls.target = Dagate(server_section(extra='tls_cert = %s\ntls_key = %s\n' % (
                cls.certs.cert, cls.certs.key)) + """
[route]
match = * -> local

[provider local]
type = file
path = users
""", files={'users': (users, 0o600)})
            assert cls.target.https_url, cls.target.listeners
            cls.d = Dagate(cls._config())
        except BaseException:
            cls._stop_all()
            raise

    @classmethod
    def _config(cls):
        ca = cls.certs.ca_cert
        relays = [
            ('legacy', cls.target.https_url, ca),
            ('untrusted', cls.target.https_url, cls.other.ca_cert),
            ('down', 'https://127.0.0.1:%d/Sso.asmx' % free_port(), ca),
        ] + [(p.strip('/'), cls.fake.url(p), ca)
             for p in ('/html', '/fault', '/twice', '/elsewhere', '/wrongtype', '/slow',
                       '/redirect', '/true', '/response', '/emptybody')]
        text = server_section(extra='deadline = %dms\n' % DEADLINE_MS) + """
[map]
strip_suffix = .uat

[route]
match = *@corp.example -> legacy
match = *@untrusted.example -> untrusted
match = *@down.example -> down, fallback
match = *@fault.example -> fault, fallback
"""
        for name in ('html', 'twice', 'elsewhere', 'wrongtype', 'slow', 'redirect', 'true',
                     'response', 'emptybody'):
            text += 'match = *@%s.example -> %s\n' % (name, name)
        text += '\n[provider fallback]\ntype = static\nresult = false\n'
        for name, url, ca_file in relays:
            text += '\n[provider %s]\ntype = relay\nurl = %s\nca_file = %s\n' % (
                name, url, ca_file)
        return text

    @classmethod
    def _stop_all(cls):
        for d in (cls.d, cls.target):
            if d is not None:
                d.__exit__(None, None, None)
        if cls.fake is not None:
            cls.fake.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        logs = cls.d.log() + cls.target.log()
        cls._stop_all()
        for pw in list(PW.values()) + [BAD_PW]:
            assert pw not in logs, 'a password reached a log'

    def last_audit(self, user):
        """As CountedAnswers.last_audit, but at least as many records as
        answers."""
        want = self.answers.get(user, 0)
        recs = self.d.audit_of(user, want)
        self.assertGreaterEqual(len(recs), want, 'audit records for %s' % user)
        return recs[-1]

    # A real DA endpoint: a second dagate

    def test_good_password_is_true_and_fields_are_forwarded(self):
        seen = len(self.target.audit())
        # the sandbox suffix is mapped away before the relay; sourceIp goes along
        self.assertEqual(self.authenticate('joe@corp.example.uat', PW['joe@corp.example'],
                                           '198.51.100.23'), 'true')
        recs = self.target.wait_for_log(lambda t: len(self.target.audit(t)) > seen) and \
            self.target.audit()
        rec = recs[-1]
        self.assertEqual(rec.get('user'), 'joe@corp.example')
        self.assertEqual(rec.get('source_ip'), '198.51.100.23')
        self.assertEqual(rec.get('answer'), 'true')

    def test_bad_password_and_unknown_user_are_false(self):
        self.assertEqual(self.authenticate('joe@corp.example', BAD_PW), 'false')
        self.assertEqual(self.last_audit('joe@corp.example').get('outcome'), 'reject')
        self.assertEqual(self.authenticate('nobody@corp.example', 'Some-pw-1'), 'false')

    def test_untrusted_certificate_sends_nothing(self):
        seen = len(self.target.audit())
        answer = self.authenticate('joe@untrusted.example', PW['joe@corp.example'])
        self.assertIsInstance(answer, Fault)
        self.assertEqual(self.last_audit('joe@untrusted.example').get('detail'),
                         'certificate not trusted')
        time.sleep(0.2)
        self.assertEqual(len(self.target.audit()), seen)

    def test_target_down_goes_to_the_next_provider(self):
        self.assertEqual(self.authenticate('joe@down.example', 'Some-pw-1'), 'false')
        self.assertEqual(self.last_audit('joe@down.example').get('provider'), 'fallback')

    # Targets that answer something else than one AuthenticateResult

    def test_fault_is_unavailable(self):
        self.assertEqual(self.authenticate('joe@fault.example', 'Some-pw-1'), 'false')
        self.assertEqual(self.last_audit('joe@fault.example').get('provider'), 'fallback')

    def test_garbage_answers_are_unavailable(self):
        for name, detail in (('html', 'answer is not text/xml or application/soap+xml'),
                             ('twice', 'not an AuthenticateResult'),
                             ('elsewhere', 'not an AuthenticateResult'),
                             ('emptybody', 'not an AuthenticateResult'),
                             ('wrongtype', 'answer is not text/xml or application/soap+xml'),
                             ('redirect', 'unexpected HTTP status')):
            with self.subTest(target=name):
                user = 'joe@%s.example' % name
                answer = self.authenticate(user, 'Some-pw-1')
                self.assertIsInstance(answer, Fault)
                rec = self.last_audit(user)
                self.assertEqual((rec.get('outcome'), rec.get('detail')),
                                 ('unavailable', detail))
        # the redirect was not followed to /true
        self.assertNotIn('/true', [p for (p, _, _) in self.fake.requests])

    def test_well_formed_true_from_a_fake_target_counts(self):
        # the control for the garbage cases: the same server, a proper answer
        self.assertEqual(self.authenticate('joe@true.example', 'Some-pw-1'), 'true')
        path, headers, body = [r for r in self.fake.requests if r[0] == '/true'][-1]
        self.assertRegex(headers.get('X-Dagate-Relay', ''), r'^[0-9a-f]{64}$')
        self.assertTrue(headers.get('Content-Type', '').startswith('text/xml'))
        root = ET.fromstring(body)
        op = root.find('{%s}Body/{%s}Authenticate' % (SOAP_ENV_NS, SF_NS))
        self.assertIsNotNone(op, body)
        self.assertEqual([c.tag.split('}')[1] for c in op], ['username', 'password', 'sourceIp'])
        self.assertEqual(op.findtext('{%s}username' % SF_NS), 'joe@true.example')
        self.assertEqual(op.findtext('{%s}password' % SF_NS), 'Some-pw-1')
        self.assertEqual(op.findtext('{%s}sourceIp' % SF_NS), '203.0.113.7')
        # Salesforce's own form, for services that find fields by pattern
        text = body.decode()
        self.assertIn('<Authenticate xmlns="%s">' % SF_NS, text)
        self.assertIn('<username>joe@true.example</username>', text)
        self.assertIn('<sourceIp>203.0.113.7</sourceIp>', text)
        self.assertNotIn('sf:', text)

    def test_identity_connect_answer_form_counts(self):
        self.assertEqual(self.authenticate('joe@response.example', 'Some-pw-1'), 'true')
        self.assertEqual(self.last_audit('joe@response.example').get('provider'), 'response')

    def test_slow_target_faults_within_the_deadline(self):
        started = time.monotonic()
        answer = self.authenticate('joe@slow.example', 'Some-pw-1')
        elapsed = time.monotonic() - started
        self.assertIsInstance(answer, Fault)
        self.assertLess(elapsed, DEADLINE_MS / 1000 + 1.0)
        self.assertGreater(elapsed, 1.0)

    # The command line

    def test_test_user(self):
        r = run_dagate(['test-user', '-c', self.d.config_path, 'joe@corp.example'],
                       stdin=PW['joe@corp.example'] + '\n')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('relay: POST %s' % self.target.https_url, r.stdout)
        self.assertIn('TLS verified, HTTP 200', r.stdout)
        self.assertIn('Authenticated = true', r.stdout)
        self.assertNotIn(PW['joe@corp.example'], r.stdout + r.stderr)

    def test_probe_rows(self):
        r = run_dagate(['probe', '-c', self.d.config_path])
        self.assertEqual(r.returncode, 1, r.stdout)
        rows = {line.split()[0]: line for line in r.stdout.splitlines()[1:] if line.strip()}
        self.assertRegex(rows['legacy'], r'\bok\b.*WSDL served')
        self.assertRegex(rows['untrusted'], r'\bFAIL\b.*certificate not trusted')
        self.assertRegex(rows['down'], r'\bFAIL\b.*cannot connect')
        self.assertRegex(rows['html'], r'\bFAIL\b.*WSDL is not served')

    def test_plain_http_url_is_a_configuration_error(self):
        path = os.path.join(self.tmp, 'plain.conf')
        with open(path, 'w') as f:
            f.write(server_section() + '[route]\nmatch = * -> legacy\n\n'
                    '[provider legacy]\ntype = relay\nurl = http://127.0.0.1:1/Sso.asmx\n')
        r = run_dagate(['check-config', '-c', path])
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertRegex(r.stderr, r'plain\.conf:\d+: url must be https://')


if __name__ == '__main__':
    unittest.main()
