"""HTTPS listeners: RSA and ECDSA certificates, TLS 1.2 accepted, TLS 1.1
refused, tls_min = 1.3 refuses a 1.2-only client, key file permissions."""

import os
import shutil
import socket
import ssl
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
