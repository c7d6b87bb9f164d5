"""The HTTP surface: 413 before the body is read, 405, 404, 415, 403, and
the connection limits."""

import socket
import threading
import time
import unittest

from harness import Dagate, envelope, parse_answer, raw_request, server_section

STATIC = """
[route]
match = * -> yes

[provider yes]
type = static
result = true
"""


def request_head(path, length, ctype='text/xml; charset=utf-8', method='POST'):
    return ('%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: %s\r\nSOAPAction: ""\r\n'
            'Content-Length: %d\r\n\r\n' % (method, path, ctype, length)).encode()


def status_of(data):
    line = data.split(b'\r\n', 1)[0]
    parts = line.split()
    return int(parts[1]) if len(parts) >= 2 and parts[0].startswith(b'HTTP/') else None


class Statuses(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Dagate(server_section(extra='max_body = 4096\n') + STATIC)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def addr(self):
        l = self.d.server_listeners()[0]
        return l.host, l.port

    def test_413_before_the_body_is_sent(self):
        """Headers announce a huge body that never comes: 413 arrives anyway,
        promptly (the body is not waited for)."""
        with socket.create_connection(self.addr(), timeout=3) as s:
            start = time.monotonic()
            s.sendall(request_head(self.d.path, 100_000_000))
            data = b''
            while b'\r\n' not in data:
                try:
                    chunk = s.recv(4096)
                except socket.timeout:
                    break
                if not chunk:
                    break
                data += chunk
            elapsed = time.monotonic() - start
        self.assertEqual(status_of(data), 413, data[:200])
        self.assertLess(elapsed, 2.0)

    def test_413_just_over_max_body(self):
        body = envelope('u@example.com', 'p')
        body = body + b' ' * (4097 - len(body))
        self.assertEqual(len(body), 4097)
        status, _, _ = self.d.post(body)
        self.assertEqual(status, 413)
        body = body[:4096]
        status, _, resp = self.d.post(body)
        self.assertEqual(parse_answer(status, resp), 'true')

    def test_413_chunked_over_max_body(self):
        chunk = b'<!-- ' + b'x' * 1000 + b' -->'
        req = (b'POST ' + self.d.path.encode() + b' HTTP/1.1\r\nHost: localhost\r\n'
               b'Content-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n')
        for _ in range(8):
            req += b'%x\r\n' % len(chunk) + chunk + b'\r\n'
        req += b'0\r\n\r\n'
        data, _ = raw_request(*self.addr(), req, timeout=5)
        # 413 (body too large) or 411 (chunked refused): an HTTP answer either way
        self.assertIn(status_of(data), (411, 413), data[:200])

    def test_405_other_methods(self):
        for method in ('PUT', 'DELETE', 'PATCH'):
            with self.subTest(method=method):
                status, _, _ = self.d.post(envelope('u@example.com', 'p'), method=method)
                self.assertEqual(status, 405)

    def test_404_other_paths(self):
        for path in ('/', '/sso.asmx', '/Sso.asmx/x', '/Sso', '/healthz'):
            with self.subTest(path=path):
                status, _, _ = self.d.post(envelope('u@example.com', 'p'), path=path)
                self.assertEqual(status, 404)
        self.assertEqual(self.d.get('/nothing-here')[0], 404)

    def test_415_other_content_types(self):
        for ctype in ('application/json', 'text/plain', 'application/x-www-form-urlencoded'):
            with self.subTest(ctype=ctype):
                status, _, _ = self.d.post(envelope('u@example.com', 'p'), headers={'Content-Type': ctype})
                self.assertEqual(status, 415)

    def test_text_xml_variants_accepted(self):
        for ctype in ('text/xml', 'text/xml; charset=UTF-8', 'text/xml;charset=utf-8'):
            with self.subTest(ctype=ctype):
                status, _, resp = self.d.post(envelope('u@example.com', 'p'), headers={'Content-Type': ctype})
                self.assertEqual(parse_answer(status, resp), 'true')

    def test_keep_alive_several_requests_on_one_connection(self):
        conn = self.d.connection()
        try:
            for i in range(5):
                conn.request('POST', self.d.path, body=envelope('u%d@example.com' % i, 'p'),
                             headers={'Content-Type': 'text/xml; charset=utf-8', 'SOAPAction': '""'})
                resp = conn.getresponse()
                self.assertEqual(parse_answer(resp.status, resp.read()), 'true')
        finally:
            conn.close()


class Allow(unittest.TestCase):
    def test_403_peer_not_allowed(self):
        conf = ('[server]\nlisten = 127.0.0.1:0\nallow = 10.0.0.0/8\n\n'
                '[log]\nlevel = info\naudit = -\n' + STATIC)
        with Dagate(conf) as d:
            status, _, body = d.post(envelope('u@example.com', 'p'))
            self.assertEqual(status, 403)
            self.assertNotIn(b'AuthenticateResult', body)
            self.assertEqual(d.audit(), [], 'no decision for a refused peer')

    def test_allow_file(self):
        conf = ('[server]\nlisten = 127.0.0.1:0\nallow_file = {dir}/allow.txt\n\n'
                '[log]\nlevel = info\naudit = -\n' + STATIC)
        with Dagate(conf, files={'allow.txt': ('# Salesforce ranges\n10.0.0.0/8\n127.0.0.1/32\n', 0o644)}) as d:
            status, _, body = d.post(envelope('u@example.com', 'p'))
            self.assertEqual(parse_answer(status, body), 'true')
        with Dagate(conf, files={'allow.txt': ('10.0.0.0/8\n', 0o644)}) as d:
            status, _, body = d.post(envelope('u@example.com', 'p'))
            self.assertEqual(status, 403)

    def test_admin_allow(self):
        conf = ('[server]\nlisten = 127.0.0.1:0\nallow = 127.0.0.0/8\n\n'
                '[admin]\nlisten = 127.0.0.1:0\nallow = 10.0.0.0/8\n\n[log]\nlevel = info\naudit = -\n' + STATIC)
        with Dagate(conf) as d:
            self.assertEqual(d.get('/healthz', admin=True)[0], 403)
            status, _, body = d.post(envelope('u@example.com', 'p'))
            self.assertEqual(parse_answer(status, body), 'true')


class ConnectionLimits(unittest.TestCase):
    def hold(self, host, port, n, source=None):
        socks = []
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if source:
                s.bind((source, 0))
            s.settimeout(5)
            s.connect((host, port))
            s.sendall(b'POST / HTTP/1.1\r\nHost: x\r\n')   # an unfinished request
            socks.append(s)
        time.sleep(0.3)
        return socks

    def refused(self, host, port, source=None):
        """True if a new connection from `source` gets no answer: refused,
        reset or closed without a 200."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if source:
                s.bind((source, 0))
            s.settimeout(3)
            s.connect((host, port))
            body = envelope('u@example.com', 'p')
            s.sendall(b'POST /Sso.asmx HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n'
                      b'Content-Length: %d\r\nConnection: close\r\n\r\n' % len(body) + body)
            data = b''
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return not data.startswith(b'HTTP/1.1 200')
        except (ConnectionError, socket.timeout, OSError):
            return True
        finally:
            s.close()

    def test_per_ip_limit(self):
        conf = server_section(extra='max_connections_per_ip = 3\ndeadline = 5s\n') + STATIC
        with Dagate(conf) as d:
            l = d.server_listeners()[0]
            held = self.hold(l.host, l.port, 3, source='127.0.0.1')
            try:
                self.assertTrue(self.refused(l.host, l.port, source='127.0.0.1'),
                                'a 4th connection from 127.0.0.1 was served')
                # another peer address is not affected
                self.assertFalse(self.refused(l.host, l.port, source='127.0.0.2'),
                                 'a connection from 127.0.0.2 was refused')
            finally:
                for s in held:
                    s.close()
            time.sleep(0.5)
            self.assertFalse(self.refused(l.host, l.port, source='127.0.0.1'),
                             'limit not released after the connections closed')

    def test_global_limit(self):
        conf = server_section(extra='max_connections = 4\ndeadline = 5s\n') + STATIC
        with Dagate(conf) as d:
            l = d.server_listeners()[0]
            held = self.hold(l.host, l.port, 4)
            try:
                self.assertTrue(self.refused(l.host, l.port, source='127.0.0.3'))
            finally:
                for s in held:
                    s.close()
            time.sleep(0.5)
            self.assertFalse(self.refused(l.host, l.port))


if __name__ == '__main__':
    unittest.main()
