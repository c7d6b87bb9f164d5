"""The HTTP surface: 413 before the body is read, 405, 404, 415, peers
outside `allow` closed at accept, the connection limits, and how long a
connection may stay silent, trickle or idle."""

import http.client
import re
import socket
import struct
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


MARGIN = 0.6   # scheduling slack (reaper tick, ASan) on top of a promised bound


def closed_without_answer(host, port, data=None, *, source=None, timeout=5):
    """Connect (from `source`), send `data` (a request by default) and read
    until the peer closes: True if it closed without sending one byte."""
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    got = b''
    try:
        if source:
            s.bind((source, 0))
        s.settimeout(timeout)
        s.connect((host, port))
        body = envelope('u@example.com', 'p')
        s.sendall(data if data is not None else
                  b'POST /Sso.asmx HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n'
                  b'Content-Length: %d\r\n\r\n' % len(body) + body)
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return got == b''
            got += chunk
    except (ConnectionResetError, BrokenPipeError):
        return got == b''
    except socket.timeout:
        return False
    finally:
        s.close()


def seconds_until_closed(sock, limit):
    """Read (and drop) what arrives until the peer closes; the seconds that
    took, or None if still open after `limit`."""
    start = time.monotonic()
    sock.settimeout(0.1)
    while time.monotonic() - start < limit:
        try:
            if not sock.recv(4096):
                return time.monotonic() - start
        except socket.timeout:
            continue
        except ConnectionResetError:
            return time.monotonic() - start
    return None


def metric(d, name, **labels):
    """The sum of GET /metrics samples of `name` that carry `labels` (and
    any others, e.g. every listener), on the admin listener; 0 if none."""
    status, _, body = d.get('/metrics', admin=True)
    assert status == 200, status
    want = {'%s="%s"' % kv for kv in labels.items()}
    total = 0.0
    for line in body.decode().splitlines():
        m = re.match(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$', line)
        if m and m.group(1) == name and want <= set((m.group(2) or '').split(',')):
            total += float(m.group(3))
    return total


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
    """A peer outside `allow` is closed at accept: no HTTP answer, no
    decision, one log line and a metric."""

    def test_peer_not_allowed_is_closed_at_accept(self):
        conf = ('[server]\nlisten = 127.0.0.1:0\nallow = 10.0.0.0/8\n\n'
                '[admin]\nlisten = 127.0.0.1:0\n\n'
                '[log]\nlevel = info\naudit = -\n' + STATIC)
        with Dagate(conf) as d:
            l = d.server_listeners()[0]
            self.assertTrue(closed_without_answer(l.host, l.port))
            with self.assertRaises(ConnectionError):
                d.post(envelope('u@example.com', 'p'))
            d.wait_for_log(lambda t: 'refused a connection from 127.0.0.1: not in [server] allow' in t)
            self.assertEqual(d.audit(), [], 'no decision for a refused peer')
            self.assertGreaterEqual(metric(d, 'dagate_http_refused_total',
                                           reason='peer_not_allowed'), 2)

    def test_allow_file(self):
        conf = ('[server]\nlisten = 127.0.0.1:0\nallow_file = {dir}/allow.txt\n\n'
                '[log]\nlevel = info\naudit = -\n' + STATIC)
        with Dagate(conf, files={'allow.txt': ('# Salesforce ranges\n10.0.0.0/8\n127.0.0.1/32\n', 0o644)}) as d:
            status, _, body = d.post(envelope('u@example.com', 'p'))
            self.assertEqual(parse_answer(status, body), 'true')
        with Dagate(conf, files={'allow.txt': ('10.0.0.0/8\n', 0o644)}) as d:
            l = d.server_listeners()[0]
            self.assertTrue(closed_without_answer(l.host, l.port))

    def test_admin_allow(self):
        conf = ('[server]\nlisten = 127.0.0.1:0\nallow = 127.0.0.0/8\n\n'
                '[admin]\nlisten = 127.0.0.1:0\nallow = 10.0.0.0/8\n\n[log]\nlevel = info\naudit = -\n' + STATIC)
        with Dagate(conf) as d:
            with self.assertRaises(ConnectionError):
                d.get('/healthz', admin=True)
            d.wait_for_log(lambda t: 'refused a connection from 127.0.0.1: not in [admin] allow' in t)
            status, _, body = d.post(envelope('u@example.com', 'p'))
            self.assertEqual(parse_answer(status, body), 'true')

    def test_outsiders_cannot_take_the_connection_slots(self):
        """Idle connections from outside `allow` used to count against
        max_connections until the request came; now they are closed at
        once and an allowed client is served."""
        conf = ('[server]\nlisten = 127.0.0.1:0\nallow = 127.0.0.2/32\nmax_connections = 8\n\n'
                '[admin]\nlisten = 127.0.0.1:0\n\n[log]\nlevel = info\naudit = -\n' + STATIC)
        with Dagate(conf) as d:
            l = d.server_listeners()[0]
            held = []
            try:
                for _ in range(30):
                    s = socket.socket()
                    s.bind(('127.0.0.6', 0))
                    s.settimeout(5)
                    try:
                        s.connect((l.host, l.port))
                        s.sendall(b'POST / HTTP/1.1\r\n')
                    except OSError:
                        pass
                    held.append(s)
                time.sleep(0.3)
                conn = http.client.HTTPConnection(l.host, l.port, timeout=5,
                                                  source_address=('127.0.0.2', 0))
                try:
                    conn.request('POST', '/Sso.asmx', body=envelope('u@example.com', 'p'),
                                 headers={'Content-Type': 'text/xml'})
                    resp = conn.getresponse()
                    self.assertEqual(parse_answer(resp.status, resp.read()), 'true')
                finally:
                    conn.close()
            finally:
                for s in held:
                    s.close()
            self.assertEqual(metric(d, 'dagate_http_refused_total', reason='peer_not_allowed'), 30)


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


def soap_request(extra_headers=b'', *, length=True, eol=b'\r\n', version=b'HTTP/1.1',
                 body=None):
    """An Authenticate POST with `extra_headers` (raw lines, each ending
    in CRLF) after Host; `length`: add Content-Length."""
    body = envelope('u@example.com', 'p') if body is None else body
    head = (b'POST /Sso.asmx ' + version + b'\r\nHost: x\r\nContent-Type: text/xml\r\n' +
            extra_headers + (b'Content-Length: %d\r\n' % len(body) if length else b'') +
            b'Connection: close\r\n\r\n')
    return head.replace(b'\r\n', eol) + body


class Framing(unittest.TestCase):
    """What two parsers may read differently is refused with 400 and the
    connection closed, as nginx does; so is a header with a NUL or other
    control byte, or a name that is no token."""

    @classmethod
    def setUpClass(cls):
        cls.d = Dagate(server_section(level='info') + STATIC)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def assert_refused(self, data, why, reason):
        l = self.d.server_listeners()[0]
        before = metric(self.d, 'dagate_http_refused_total', reason=reason)
        out, closed = raw_request(l.host, l.port, data)
        self.assertEqual(status_of(out), 400, out[:200])
        self.assertTrue(closed, 'the connection stayed open after a 400')
        self.assertNotIn(b'AuthenticateResult', out)
        self.d.wait_for_log(lambda t: 'refused a request from 127.0.0.1: %s' % why in t)
        self.assertEqual(metric(self.d, 'dagate_http_refused_total', reason=reason), before + 1)

    def assert_served(self, data):
        l = self.d.server_listeners()[0]
        out, _ = raw_request(l.host, l.port, data)
        self.assertEqual(status_of(out), 200, out[:200])
        self.assertEqual(parse_answer(200, out.split(b'\r\n\r\n', 1)[1]), 'true')

    def test_control_bytes_in_a_header_are_refused(self):
        for line in (b'X-Note: abc\x00def\r\n', b'X-Note: abc\x00\r\n', b'X-Note: a\x01b\r\n',
                     b'X-Note: a\x7fb\r\n', b'X-Note: a\rb\r\n', b'X-Note: a\x1bb\r\n',
                     b'SOAPAction: ""\x00x\r\n'):
            with self.subTest(line=line):
                why = ('a NUL byte or a folded line' if b'\x00' in line
                       else 'a control byte in a header')
                self.assert_refused(soap_request(line), why, 'bad_header')

    def test_header_names_that_are_no_token_are_refused(self):
        for line in (b'X Note: v\r\n', b'X-Note : v\r\n', b'X-Note\t: v\r\n', b'X-N\x80te: v\r\n',
                     b'X(Note): v\r\n'):
            with self.subTest(line=line):
                self.assert_refused(soap_request(line), 'a header name that is no token',
                                    'bad_header')

    def test_obs_fold_is_refused(self):
        for lines in (b'X-Note: a\r\n b\r\n', b'X-Note: a\r\n\tb c\r\n',
                      b'X-Forwarded-For: 10.1.2.3\r\n 8.8.8.8\r\n'):
            with self.subTest(lines=lines):
                self.assert_refused(soap_request(lines), 'a NUL byte or a folded line',
                                    'bad_header')

    def test_ambiguous_framing_is_refused(self):
        body = envelope('u@example.com', 'p')
        chunked = b'%x\r\n' % len(body) + body + b'\r\n0\r\n\r\n'
        cases = [
            (soap_request(b'Content-Length: 3\r\n'), 'more than one Content-Length'),
            (soap_request(b'Content-Length: %d\r\n' % len(body)), 'more than one Content-Length'),
            (soap_request(b'Transfer-Encoding: chunked\r\n'),
             'Content-Length with Transfer-Encoding'),
            (soap_request(b'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n',
                          length=False, body=chunked), 'more than one Transfer-Encoding'),
            (soap_request(b'Transfer-Encoding: gzip, chunked\r\n', length=False, body=chunked),
             'a Transfer-Encoding other than chunked'),
            (soap_request(b'Transfer-Encoding: chunked, identity\r\n', length=False,
                          body=chunked), 'a Transfer-Encoding other than chunked'),
            (soap_request(b'Host: y\r\n'), 'more than one Host'),
            (soap_request(b'Transfer-Encoding: chunked\r\n', length=False, body=chunked,
                          version=b'HTTP/1.0'), 'Transfer-Encoding in HTTP/1.0'),
        ]
        for data, why in cases:
            with self.subTest(why=why, data=data[:120]):
                self.assert_refused(data, why, 'ambiguous_framing')

    def test_what_libmicrohttpd_refuses_itself_is_logged_and_counted(self):
        for line in (b'X-No-Colon\r\n', b'Content-Length: 12x\r\n'):
            with self.subTest(line=line):
                self.assert_refused(soap_request(line, length=False), 'malformed (400)',
                                    'malformed')

    def test_ordinary_requests_still_pass(self):
        body = envelope('u@example.com', 'p')
        self.assert_served(soap_request())
        self.assert_served(soap_request(b'SOAPAction: ""\r\nX-Empty:\r\nX-Blank:   \r\n'
                                        b'X-Tab: a\tb\r\nX-Utf8: gr\xc3\xbc\xc3\x9fe\r\n'
                                        b"X-Token-Chars!#$%&'*+.^_`|~: v  \r\n"))
        self.assert_served(soap_request(eol=b'\n'))                 # bare LF line ends
        self.assert_served(soap_request(b'Transfer-Encoding: Chunked\r\n', length=False,
                                        body=b'%x\r\n' % len(body) + body + b'\r\n0\r\n\r\n'))
        self.assert_served(soap_request(b'X-Long: ' + b'v' * 6000 + b'\r\n'))
        self.assert_served(soap_request(b''.join(b'X-H%d: %d\r\n' % (i, i) for i in range(60))))


# Decided on a worker, with the connection suspended meanwhile.
SLOW_STATIC = """
[route]
match = * -> slow

[provider slow]
type = static
result = true
delay = 300ms
"""


class HalfClosed(unittest.TestCase):
    """A client that sends its request and then shuts down its write side
    (some proxies and health checkers do) is answered; the audit line says
    whether an answer was sent."""

    @classmethod
    def setUpClass(cls):
        cls.d = Dagate(server_section() + SLOW_STATIC)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def send(self, user, *, then, keep_alive=False):
        l = self.d.server_listeners()[0]
        data = soap_request(body=envelope(user, 'p'))
        if keep_alive:
            data = data.replace(b'Connection: close\r\n', b'')
        s = socket.create_connection((l.host, l.port), timeout=5)
        s.sendall(data)
        return then(s)

    def test_half_closed_client_is_answered(self):
        def half_close(s):
            s.shutdown(socket.SHUT_WR)
            out = b''
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        return out
                    out += chunk
            finally:
                s.close()

        for user, keep_alive in (('half@example.com', False), ('half2@example.com', True)):
            out = self.send(user, then=half_close, keep_alive=keep_alive)
            status, _, body = out.partition(b'\r\n')
            self.assertIn(b' 200 ', status, out[:200])
            self.assertEqual(parse_answer(200, out.split(b'\r\n\r\n', 1)[1]), 'true')
            rec = self.d.audit_of(user)[-1]
            self.assertEqual(rec['answer'], 'true')
            self.assertNotIn('sent', rec)

    def test_answer_that_cannot_be_sent_is_audited_as_not_sent(self):
        def reset(s):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            time.sleep(0.1)      # the request is on a worker now
            s.close()            # RST: the client is gone before its answer

        before = metric(self.d, 'dagate_answers_unsent_total', answer='true')
        self.send('gone@example.com', then=reset)
        rec = self.d.audit_of('gone@example.com')[-1]
        self.assertEqual((rec['answer'], rec.get('sent')), ('true', 'no'))
        self.assertEqual(metric(self.d, 'dagate_answers_unsent_total', answer='true'),
                         before + 1)


class Idle(unittest.TestCase):
    """A new connection must speak within min(2 s, deadline/2); a request
    (or TLS handshake) must be in within the deadline of its first byte; a
    keep-alive connection may idle 15 s between requests."""

    CONF = ('[server]\nlisten = 127.0.0.1:0\nallow = 127.0.0.0/8\ndeadline = 5s\n\n'
            '[admin]\nlisten = 127.0.0.1:0\n\n[log]\nlevel = debug\naudit = -\n' + STATIC)

    def test_silent_connection_is_cut_well_before_the_deadline(self):
        with Dagate(self.CONF) as d:
            l = d.server_listeners()[0]
            with socket.create_connection((l.host, l.port)) as s:
                took = seconds_until_closed(s, 8)
            self.assertIsNotNone(took, 'a silent connection was kept 8 s')
            self.assertGreaterEqual(took, 1.9)
            self.assertLessEqual(took, 2.0 + MARGIN)
            d.wait_for_log(lambda t: 'cut a connection from 127.0.0.1: sent nothing' in t)
            self.assertEqual(metric(d, 'dagate_http_connections_cut_total', reason='silent'), 1)
            # A client that speaks after a second is served as ever.
            with socket.create_connection((l.host, l.port)) as s:
                time.sleep(1.0)
                body = envelope('u@example.com', 'p')
                s.sendall(b'POST /Sso.asmx HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n'
                          b'Connection: close\r\nContent-Length: %d\r\n\r\n' % len(body) + body)
                s.settimeout(5)
                data = b''
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            self.assertEqual(status_of(data), 200, data[:100])

    def test_request_line_started_at_once_is_held_to_the_deadline(self):
        """Bytes that arrive with the connection itself used to go
        unnoticed (15 s); the request's deadline counts from them."""
        with Dagate(self.CONF) as d:
            l = d.server_listeners()[0]
            with socket.create_connection((l.host, l.port)) as s:
                s.sendall(b'POST /Sso.as')
                took = seconds_until_closed(s, 16)
            self.assertIsNotNone(took)
            self.assertGreaterEqual(took, 4.5)
            self.assertLessEqual(took, 5.0 + MARGIN)
            d.wait_for_log(lambda t: 'cut a connection from 127.0.0.1: request not complete' in t)
            self.assertEqual(metric(d, 'dagate_http_connections_cut_total', reason='slow'), 1)

    def test_keep_alive_connection_idles_15_s(self):
        with Dagate(self.CONF) as d:
            conn = d.connection()
            headers = {'Content-Type': 'text/xml; charset=utf-8', 'SOAPAction': '""'}
            try:
                conn.request('POST', d.path, body=envelope('u@example.com', 'p'), headers=headers)
                resp = conn.getresponse()
                self.assertEqual(parse_answer(resp.status, resp.read()), 'true')
                sock = conn.sock
                time.sleep(7)    # was cut after 4.5-6 s
                conn.request('POST', d.path, body=envelope('v@example.com', 'p'), headers=headers)
                resp = conn.getresponse()
                self.assertEqual(parse_answer(resp.status, resp.read()), 'true')
                self.assertIs(conn.sock, sock, 'the second request needed a new connection')
                took = seconds_until_closed(conn.sock, 20)
            finally:
                conn.close()
            self.assertIsNotNone(took, 'an idle keep-alive connection was kept 20 s')
            self.assertGreaterEqual(took, 14.5)
            self.assertLessEqual(took, 15.0 + MARGIN)
            self.assertEqual(metric(d, 'dagate_http_connections_cut_total', reason='idle'), 1)


if __name__ == '__main__':
    unittest.main()
