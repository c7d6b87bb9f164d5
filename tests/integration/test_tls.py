"""HTTPS listeners: RSA and ECDSA certificates, TLS 1.2 accepted, TLS 1.1
refused, tls_min = 1.3 refuses a 1.2-only client, key file permissions."""

import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest
import warnings

from harness import Dagate, DagateStartError, make_ca_and_cert, run_dagate, server_section
from test_http import seconds_until_closed

STATIC = """
[route]
match = good@* -> yes
match = * -> no

[provider yes]
type = static
result = true

[provider no]
type = static
result = false
"""


def tls_conf(certs, *, tls_min=None, plain_too=False):
    listen = ['127.0.0.1:0']
    extra = 'tls_cert = %s\ntls_key = %s\n' % (certs.cert, certs.key)
    if tls_min:
        extra += 'tls_min = %s\n' % tls_min
    return server_section(listen=listen, extra=extra) + STATIC


def client_context(d, version_min=None, version_max=None, seclevel0=False, ciphers=None):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)   # TLS 1.1 on purpose
        ctx = d.ssl_context(min_version=version_min, max_version=version_max)
    if seclevel0 or ciphers:
        # @SECLEVEL=0 lets OpenSSL 3 offer TLS 1.1 and old suites at all
        ctx.set_ciphers((ciphers or 'DEFAULT') + ':@SECLEVEL=0')
    return ctx


def handshake(d, version_min=None, version_max=None, seclevel0=False, ciphers=None,
              what='version', ctx=None):
    """Handshake with the HTTPS listener; return the negotiated version (or
    cipher suite name) or raise the client's error."""
    if ctx is None:
        ctx = client_context(d, version_min, version_max, seclevel0, ciphers)
    lst = d.server_listeners(tls=True)[0]
    with socket.create_connection((lst.host, lst.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname='localhost') as s:
            return s.version() if what == 'version' else s.cipher()[0]


# TLS 1.2 suites a client may offer that are not AEAD with ECDHE: CBC with
# SHA-1 or SHA-2 MACs, static RSA key exchange, finite-field DHE.
NOT_AEAD_ECDHE = ('ECDHE-RSA-AES128-SHA', 'ECDHE-RSA-AES256-SHA', 'ECDHE-ECDSA-AES128-SHA',
                  'ECDHE-ECDSA-AES256-SHA', 'ECDHE-RSA-AES128-SHA256', 'ECDHE-ECDSA-AES128-SHA256',
                  'AES128-SHA', 'AES256-SHA', 'AES128-GCM-SHA256', 'DHE-RSA-AES128-GCM-SHA256',
                  'DHE-RSA-AES128-SHA')


class TLSBase:
    kind = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='dagate-certs-')
        cls.certs = make_ca_and_cert(cls.tmp, cls.kind)
        cls.d = Dagate(tls_conf(cls.certs), ca_file=cls.certs.ca_cert)
        assert cls.d.https_url and cls.d.https_url.startswith('https://'), cls.d.listeners

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_true_and_false_over_https_verified(self):
        self.assertEqual(self.d.authenticate('good@example.com', 'pw', tls=True), 'true')
        self.assertEqual(self.d.authenticate('bad@example.com', 'pw', tls=True), 'false')
        self.assertEqual(self.d.authenticate('good@example.com', 'pw', tls=True, form='prefixed'), 'true')

    def test_listener_speaks_only_https(self):
        lst = self.d.server_listeners(tls=True)[0]
        self.assertEqual(self.d.server_listeners(tls=False), [])
        with socket.create_connection((lst.host, lst.port), timeout=5) as s:
            s.sendall(b'POST /Sso.asmx HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n')
            s.settimeout(5)
            try:
                data = s.recv(100)
            except (ConnectionResetError, socket.timeout):
                data = b''
            self.assertFalse(data.startswith(b'HTTP/1.1 200'), data)

    def test_tls12_accepted(self):
        self.assertEqual(handshake(self.d, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2), 'TLSv1.2')

    def test_tls12_ecdhe_only_client(self):
        """Salesforce's client offers ECDHE suites."""
        ctx = self.d.ssl_context(min_version=ssl.TLSVersion.TLSv1_2, max_version=ssl.TLSVersion.TLSv1_2)
        ctx.set_ciphers('ECDHE+AESGCM')
        self.assertEqual(self.d.authenticate('good@example.com', 'pw', tls=True, context=ctx), 'true')

    def test_tls12_aead_suites_accepted(self):
        for suite in ('ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384',
                      'ECDHE-RSA-CHACHA20-POLY1305', 'ECDHE-ECDSA-AES128-GCM-SHA256',
                      'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305'):
            if suite.startswith('ECDHE-RSA') != (self.kind == 'rsa'):
                continue
            with self.subTest(suite=suite):
                self.assertEqual(handshake(self.d, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2,
                                           ciphers=suite, what='cipher'), suite)

    def test_tls12_non_aead_suites_refused(self):
        """Only AEAD suites with ECDHE: a client offering nothing else gets
        a handshake failure from the server."""
        for suite in NOT_AEAD_ECDHE:
            with self.subTest(suite=suite):
                # the client can offer it (set_ciphers raises otherwise) ...
                ctx = client_context(self.d, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2,
                                     ciphers=suite)
                self.assertEqual([c['name'] for c in ctx.get_ciphers()
                                  if not c['name'].startswith('TLS_')], [suite])
                # ... and the server refuses it
                with self.assertRaises((ssl.SSLError, ConnectionError)):
                    handshake(self.d, ctx=ctx)

    def test_tls13_accepted(self):
        self.assertEqual(handshake(self.d, ssl.TLSVersion.TLSv1_3), 'TLSv1.3')

    def test_tls11_refused(self):
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)) as cm:
            handshake(self.d, ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_1, seclevel0=True)
        # the refusal must come from the server, not from a client that
        # would not offer TLS 1.1 in the first place
        self.assertNotIn('NO_PROTOCOLS_AVAILABLE', str(cm.exception))


class RSA(TLSBase, unittest.TestCase):
    kind = 'rsa'


class ECDSA(TLSBase, unittest.TestCase):
    kind = 'ec'


def openssl(*args, cwd=None):
    subprocess.run(['openssl'] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=60, cwd=cwd)


def signed_by(certs, directory, name, *, days=None, start=None, end=None):
    """A server certificate for localhost signed by certs' CA: with `days`
    (negative: already expired) by `openssl x509`, or with explicit
    `start`/`end` (YYYYMMDDHHMMSSZ) by `openssl ca`. Returns (cert, key)."""
    key, csr, crt = (os.path.join(directory, name + ext) for ext in ('.key', '.csr', '.crt'))
    openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr,
            '-subj', '/CN=localhost')
    os.chmod(key, 0o600)
    if days is not None:
        ext = os.path.join(directory, name + '.ext')
        with open(ext, 'w') as f:
            f.write('subjectAltName=DNS:localhost,IP:127.0.0.1\n')
        openssl('x509', '-req', '-in', csr, '-CA', certs.ca_cert, '-CAkey', certs.ca_key,
                '-CAcreateserial', '-out', crt, '-days', str(days), '-extfile', ext)
        return crt, key
    ca = os.path.join(directory, name + '-ca')
    os.makedirs(ca)
    with open(os.path.join(ca, 'ca.cnf'), 'w') as f:
        f.write('[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\n'
                'serial = serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n')
    open(os.path.join(ca, 'index.txt'), 'w').close()
    with open(os.path.join(ca, 'serial'), 'w') as f:
        f.write('01\n')
    openssl('ca', '-batch', '-config', 'ca.cnf', '-cert', certs.ca_cert, '-keyfile', certs.ca_key,
            '-in', csr, '-out', crt, '-startdate', start, '-enddate', end, '-notext', cwd=ca)
    return crt, key


class TLSMaterialRefused(unittest.TestCase):
    """What serve refuses in tls_cert / tls_key, check-config refuses too,
    with the same FILE:LINE of the key the problem is about."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='dagate-certs-')
        cls.certs = make_ca_and_cert(os.path.join(cls.tmp, 'good'), 'rsa')
        cls.other = make_ca_and_cert(os.path.join(cls.tmp, 'other'), 'ec')

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def write_conf(self, cert, key):
        """[server] has listen on line 2, allow on 3, tls_cert on 4 and
        tls_key on 5."""
        path = os.path.join(tempfile.mkdtemp(dir=self.tmp), 'dagate.conf')
        with open(path, 'w') as f:
            f.write(server_section(extra='tls_cert = %s\ntls_key = %s\n' % (cert, key)) + STATIC)
        return path

    def assert_refused(self, cert, key, line, message):
        path = self.write_conf(cert, key)
        check = run_dagate(['check-config', '-c', path])
        serve = run_dagate(['serve', '-c', path], timeout=20)
        want = '%s:%d: %s' % (path, line, message)
        for what, r in (('check-config', check), ('serve', serve)):
            self.assertEqual(r.returncode, 2, '%s: %s' % (what, r.stdout + r.stderr))
            self.assertIn(want, r.stdout + r.stderr, what)
        self.assertNotIn('configuration OK', check.stdout)

    def test_key_of_another_certificate(self):
        self.assert_refused(self.certs.cert, self.other.key, 5,
                            'tls_key does not belong to tls_cert')

    def test_key_given_as_the_certificate(self):
        self.assert_refused(self.certs.key, self.certs.key, 4,
                            'tls_cert holds a private key, not a certificate')

    def test_chain_with_the_ca_first(self):
        chain = os.path.join(self.tmp, 'ca-first.crt')
        with open(chain, 'w') as f:
            for part in (self.certs.ca_cert, self.certs.cert):
                with open(part) as p:
                    f.write(p.read())
        self.assert_refused(chain, self.certs.key, 4,
                            "tls_cert must start with the server's own certificate "
                            "(the one tls_key belongs to); it is certificate 2 of 2")

    def test_expired_certificate(self):
        cert, key = signed_by(self.certs, self.tmp, 'expired', days=-1)
        self.assert_refused(cert, key, 4, 'tls_cert expired on ')

    def test_not_yet_valid_certificate(self):
        cert, key = signed_by(self.certs, self.tmp, 'future', start='20300101000000Z',
                              end='20300201000000Z')
        self.assert_refused(cert, key, 4, 'tls_cert is not valid before 2030-01-01 00:00:00 UTC')

    def test_certificate_expiring_soon_is_a_warning(self):
        cert, key = signed_by(self.certs, self.tmp, 'soon', days=5)
        path = self.write_conf(cert, key)
        r = run_dagate(['check-config', '-c', path])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stderr, re.escape(path) + r':4: warning: tls_cert expires on '
                         r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(within 14 days\)')
        with Dagate(server_section(extra='tls_cert = %s\ntls_key = %s\n' % (cert, key)) + STATIC,
                    ca_file=self.certs.ca_cert) as d:
            self.assertIn('warning: tls_cert expires on', d.log())
            self.assertEqual(d.authenticate('good@example.com', 'pw', tls=True), 'true')
        # 30 days left: no warning
        cert, key = signed_by(self.certs, self.tmp, 'later', days=30)
        r = run_dagate(['check-config', '-c', self.write_conf(cert, key)])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn('tls_cert expires', r.stdout + r.stderr)


class TLSConfig(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='dagate-certs-')
        cls.certs = make_ca_and_cert(cls.tmp, 'rsa')

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_tls_min_13_refuses_12_client(self):
        with Dagate(tls_conf(self.certs, tls_min='1.3'), ca_file=self.certs.ca_cert) as d:
            self.assertEqual(handshake(d), 'TLSv1.3')
            with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                handshake(d, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
            self.assertEqual(d.authenticate('good@example.com', 'pw', tls=True), 'true')

    def test_several_https_listeners_ipv4_and_ipv6(self):
        conf = server_section(listen=['127.0.0.1:0', '[::1]:0'],
                              extra='tls_cert = %s\ntls_key = %s\n' % (self.certs.cert, self.certs.key)) + STATIC
        with Dagate(conf, ca_file=self.certs.ca_cert) as d:
            self.assertEqual(len(d.server_listeners(tls=True)), 2, d.listeners)
            for lst in d.server_listeners(tls=True):
                self.assertEqual(d.authenticate('good@example.com', 'pw', tls=True, listener=lst), 'true')

    def test_group_readable_key_refused(self):
        key = os.path.join(self.tmp, 'loose.key')
        shutil.copy(self.certs.key, key)
        os.chmod(key, 0o640)
        conf = server_section(extra='tls_cert = %s\ntls_key = %s\n' % (self.certs.cert, key)) + STATIC
        with tempfile.TemporaryDirectory() as t:
            path = os.path.join(t, 'dagate.conf')
            with open(path, 'w') as f:
                f.write(conf)
            r = run_dagate(['check-config', '-c', path])
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            out = r.stdout + r.stderr
            self.assertIn(path + ':', out)
            self.assertIn('loose.key', out)
        with self.assertRaises(DagateStartError) as cm:
            Dagate(conf)
        self.assertIn('exited with 2', str(cm.exception))

    def test_world_readable_key_refused(self):
        key = os.path.join(self.tmp, 'world.key')
        shutil.copy(self.certs.key, key)
        os.chmod(key, 0o604)
        conf = server_section(extra='tls_cert = %s\ntls_key = %s\n' % (self.certs.cert, key)) + STATIC
        with self.assertRaises(DagateStartError):
            Dagate(conf)


# The first 40 bytes of a TLS 1.2 ClientHello whose record announces 512.
HALF_CLIENT_HELLO = (b'\x16\x03\x01\x02\x00' + b'\x01\x00\x01\xfc' + b'\x03\x03' +
                     bytes(range(29)))


class Stalls(unittest.TestCase):
    """A TLS handshake is part of the request: it must be done within the
    deadline of its first byte (it was held for the 15 s idle timeout), and
    a connection that sends nothing is cut within deadline/2."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='dagate-certs-')
        cls.certs = make_ca_and_cert(cls.tmp, 'rsa')
        conf = server_section(extra='tls_cert = %s\ntls_key = %s\ndeadline = 2s\n'
                              % (cls.certs.cert, cls.certs.key)) + STATIC
        cls.d = Dagate(conf, ca_file=cls.certs.ca_cert)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_stalled_handshake_is_cut_at_the_deadline(self):
        lst = self.d.server_listeners(tls=True)[0]
        with socket.create_connection((lst.host, lst.port)) as s:
            s.sendall(HALF_CLIENT_HELLO)
            took = seconds_until_closed(s, 17)
        self.assertIsNotNone(took, 'a stalled handshake was kept 17 s')
        self.assertGreaterEqual(took, 1.9)
        self.assertLessEqual(took, 2.0 + 0.6)
        self.d.wait_for_log(lambda t: 'cut a connection from 127.0.0.1: request not complete' in t)

    def test_handshake_then_nothing_is_cut_at_the_deadline(self):
        lst = self.d.server_listeners(tls=True)[0]
        ctx = self.d.ssl_context()
        with socket.create_connection((lst.host, lst.port)) as raw:
            with ctx.wrap_socket(raw, server_hostname='localhost') as s:
                took = seconds_until_closed(s, 17)
        self.assertIsNotNone(took)
        self.assertLessEqual(took, 2.0 + 0.6)

    def test_silent_connection_is_cut_at_half_the_deadline(self):
        lst = self.d.server_listeners(tls=True)[0]
        with socket.create_connection((lst.host, lst.port)) as s:
            took = seconds_until_closed(s, 17)
        self.assertIsNotNone(took)
        self.assertGreaterEqual(took, 0.9)
        self.assertLessEqual(took, 1.0 + 0.6)

    def test_a_normal_client_is_unaffected(self):
        self.assertEqual(self.d.authenticate('good@example.com', 'pw', tls=True), 'true')


if __name__ == '__main__':
    unittest.main()
