"""dagate behind reverse proxies: X-Forwarded-For is believed only from
`trusted_proxies`, read from the right; `allow` is checked against the
client that the trusted hops name; the audit line's peer= is that client.

A real nginx (nginx_proxy.py) terminates TLS in front of dagate: one proxy
(edge, source 127.0.0.4) or two in a row (outer 127.0.0.3 -> inner
127.0.0.4). Clients play distinct machines by binding their sockets to
127.0.0.2 (allowed), 127.0.0.6 (not allowed) on loopback.
"""

import http.client
import itertools
import os
import shutil
import socket
import ssl
import tempfile
import unittest

from harness import Dagate, envelope, make_ca_and_cert, parse_answer
from backends.nginx_proxy import EDGE_SOURCE, OUTER_SOURCE, NginxProxy

GOOD_CLIENT = '127.0.0.2'      # in allow
BAD_CLIENT = '127.0.0.6'       # not in allow, not a proxy
SALESFORCE = '198.51.100.7'    # in allow (a documentation range plays Salesforce)

CONFIG = """
[server]
listen = 127.0.0.1:0
allow = 127.0.0.2/32, 198.51.100.0/24
trusted_proxies = %(trusted)s

[log]
level = info
audit = -

[route]
match = * -> yes

[provider yes]
type = static
result = true
"""

_names = itertools.count(1)


def call(port, *, source, tls=False, ctx=None, xff=(), path='/Sso.asmx'):
    """One Authenticate from `source` to 127.0.0.1:port, with the given
    X-Forwarded-For header lines. Returns (status, answer, username)."""
    user = 'u%d@corp.example' % next(_names)
    if tls:
        conn = http.client.HTTPSConnection('127.0.0.1', port, timeout=15, context=ctx,
                                           source_address=(source, 0))
    else:
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=15,
                                          source_address=(source, 0))
    try:
        body = envelope(user, 'pw')
        conn.putrequest('POST', path)
        conn.putheader('Content-Type', 'text/xml; charset=utf-8')
        conn.putheader('SOAPAction', '""')
        conn.putheader('Content-Length', str(len(body)))
        for value in xff:
            conn.putheader('X-Forwarded-For', value)
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    answer = parse_answer(resp.status, data) if resp.status in (200, 500) else None
    return resp.status, answer, user


class ProxyBase(unittest.TestCase):
    trusted = '%s, %s' % (OUTER_SOURCE, EDGE_SOURCE)

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='dagate-proxy-certs-')
        cls.certs = make_ca_and_cert(cls.tmp, 'rsa')
        cls.ctx = ssl.create_default_context(cafile=cls.certs.ca_cert)
        cls.d = Dagate(CONFIG % {'trusted': cls.trusted})
        try:
            cls.nginx = NginxProxy(cls.certs, cls.d.server_listeners()[0].port)
        except BaseException:
            cls.d.__exit__(None, None, None)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.nginx.close()
        try:
            cls.d.__exit__(None, None, None)
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @property
    def port(self):
        return self.d.server_listeners()[0].port

    def audit_of(self, user):
        """The audit record of `user`'s call (written before the answer)."""
        text = self.d.wait_for_log(lambda t: 'user=%s ' % user in t, timeout=5)
        recs = [r for r in self.d.audit(text) if r.get('user') == user]
        self.assertEqual(len(recs), 1, recs)
        return recs[0]

    def assert_accepted(self, result, client):
        status, answer, user = result
        self.assertEqual((status, answer), (200, 'true'))
        self.assertEqual(self.audit_of(user).get('peer'), client)

    def assert_closed_at_accept(self, source, xff):
        """A peer outside allow and trusted_proxies is closed at accept,
        whatever it would have claimed."""
        with self.assertRaises(ConnectionError):
            call(self.port, source=source, xff=xff)
        self.d.wait_for_log(lambda t: 'refused a connection from %s: not in [server] allow'
                            % source in t)

    def assert_refused(self, result):
        status, answer, user = result
        self.assertEqual(status, 403)
        self.assertNotIn('user=%s ' % user, self.d.log())


class TestThroughNginx(ProxyBase):
    def test_allowed_client_through_one_proxy(self):
        """The proxy's own address (127.0.0.4) is not in allow: the client
        it names is what counts, and what the audit line shows."""
        r = call(self.nginx.edge_port, source=GOOD_CLIENT, tls=True, ctx=self.ctx)
        self.assert_accepted(r, GOOD_CLIENT)

    def test_refused_client_through_one_proxy(self):
        r = call(self.nginx.edge_port, source=BAD_CLIENT, tls=True, ctx=self.ctx)
        self.assert_refused(r)
        self.d.wait_for_log(lambda t: 'refused a request from %s via %s' % (BAD_CLIENT, EDGE_SOURCE) in t)

    def test_forged_header_is_not_believed_beyond_the_trusted_hop(self):
        """A client outside allow forges an allowed address; nginx appends
        the real one and only that hop is vouched for."""
        for forged in (GOOD_CLIENT, SALESFORCE, '%s, %s' % (SALESFORCE, GOOD_CLIENT),
                       'not-an-address'):
            with self.subTest(forged=forged):
                r = call(self.nginx.edge_port, source=BAD_CLIENT, tls=True, ctx=self.ctx,
                         xff=[forged])
                self.assert_refused(r)

    def test_allowed_client_forging_another_address_is_still_itself(self):
        r = call(self.nginx.edge_port, source=GOOD_CLIENT, tls=True, ctx=self.ctx,
                 xff=['203.0.113.99'])
        self.assert_accepted(r, GOOD_CLIENT)

    def test_chain_of_two_trusted_proxies(self):
        """client -> outer (127.0.0.3) -> inner (127.0.0.4) -> dagate: dagate
        sees "client, 127.0.0.3" from 127.0.0.4; both trusted, so the
        client is the hop before them."""
        r = call(self.nginx.outer_port, source=GOOD_CLIENT, tls=True, ctx=self.ctx)
        self.assert_accepted(r, GOOD_CLIENT)
        self.assert_refused(call(self.nginx.outer_port, source=BAD_CLIENT, tls=True,
                                 ctx=self.ctx))
        # Forged through both proxies: still the address outer saw.
        self.assert_refused(call(self.nginx.outer_port, source=BAD_CLIENT, tls=True,
                                 ctx=self.ctx, xff=[GOOD_CLIENT]))


class TestDirect(ProxyBase):
    """Headers sent straight to dagate, from trusted and untrusted peers."""

    def test_forged_header_from_untrusted_peer_is_ignored(self):
        # Allowed peer claims to be someone else: audit shows the peer.
        self.assert_accepted(call(self.port, source=GOOD_CLIENT, xff=[SALESFORCE]),
                             GOOD_CLIENT)
        # Refused peer claims to be allowed: closed before it can say so.
        for xff in ([GOOD_CLIENT], [SALESFORCE], ['%s, %s' % (GOOD_CLIENT, EDGE_SOURCE)]):
            with self.subTest(xff=xff):
                self.assert_closed_at_accept(BAD_CLIENT, xff)

    def test_trusted_peer_without_header_is_the_client(self):
        """A trusted proxy that names nobody is itself the client: 127.0.0.4
        is not in allow."""
        self.assert_refused(call(self.port, source=EDGE_SOURCE))

    def test_rightmost_untrusted_hop_wins(self):
        cases = [
            # (X-Forwarded-For lines, expected client or None for 403)
            (['%s' % SALESFORCE], SALESFORCE),
            (['%s, %s' % (BAD_CLIENT, SALESFORCE)], SALESFORCE),       # left of it: ignored
            (['%s, %s' % (SALESFORCE, BAD_CLIENT)], None),              # rightmost untrusted
            (['%s, %s, %s' % (BAD_CLIENT, SALESFORCE, OUTER_SOURCE)], SALESFORCE),
            ([SALESFORCE, OUTER_SOURCE], SALESFORCE),                   # two header lines,
            ([BAD_CLIENT, SALESFORCE], SALESFORCE),                     # joined in order
            (['%s,%s' % (OUTER_SOURCE, OUTER_SOURCE)], OUTER_SOURCE),   # all trusted: leftmost
        ]
        for xff, client in cases:
            with self.subTest(xff=xff):
                r = call(self.port, source=EDGE_SOURCE, xff=xff)
                if client is None or client == OUTER_SOURCE:
                    self.assert_refused(r)   # neither is in allow
                else:
                    self.assert_accepted(r, client)

    def test_ipv4_mapped_addresses_are_normalised(self):
        # The client as ::ffff:a.b.c.d matches the IPv4 allow entry and is
        # logged as IPv4.
        self.assert_accepted(call(self.port, source=EDGE_SOURCE, xff=['::ffff:198.51.100.9']),
                             '198.51.100.9')
        self.assert_accepted(call(self.port, source=EDGE_SOURCE, xff=['[::ffff:127.0.0.2]']),
                             GOOD_CLIENT)
        # A trusted proxy written as IPv4-mapped is still a trusted proxy.
        self.assert_accepted(call(self.port, source=EDGE_SOURCE,
                                  xff=['%s, ::ffff:%s' % (SALESFORCE, OUTER_SOURCE)]),
                             SALESFORCE)
        # And an untrusted, not allowed one stays refused.
        self.assert_refused(call(self.port, source=EDGE_SOURCE, xff=['::ffff:%s' % BAD_CLIENT]))

    def test_unreadable_hop_from_trusted_peer_is_refused(self):
        for xff in ('garbage', '198.51.100.7:4711', '[198.51.100.7]', '%s, unknown' % SALESFORCE,
                    '198.51.100.7, '):
            with self.subTest(xff=xff):
                self.assert_refused(call(self.port, source=EDGE_SOURCE, xff=[xff]))
        self.d.wait_for_log(lambda t: 'unreadable X-Forwarded-For' in t)
        # An unreadable hop left of the client is never read: accepted.
        self.assert_accepted(call(self.port, source=EDGE_SOURCE,
                                  xff=['garbage, %s' % SALESFORCE]), SALESFORCE)


    def test_nul_in_forwarded_for_is_refused(self):
        """The client writes "allowed<NUL>", its proxy appends the real
        address: read as a C string, the header named the allowed one."""
        body = envelope('nul@corp.example', 'pw')
        for xff in (b'%s\x00, %s' % (GOOD_CLIENT.encode(), BAD_CLIENT.encode()),
                    b'%s\x00' % SALESFORCE.encode(),
                    b'%s, %s\x00' % (SALESFORCE.encode(), GOOD_CLIENT.encode())):
            with self.subTest(xff=xff):
                with socket.socket() as s:
                    s.bind((EDGE_SOURCE, 0))
                    s.settimeout(5)
                    s.connect(('127.0.0.1', self.port))
                    s.sendall(b'POST /Sso.asmx HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n'
                              b'X-Forwarded-For: ' + xff + b'\r\n'
                              b'Content-Length: %d\r\n\r\n' % len(body) + body)
                    data = b''
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                self.assertTrue(data.startswith(b'HTTP/1.1 400 '), data[:100])
        self.d.wait_for_log(lambda t: 'refused a request from %s: a NUL byte' % EDGE_SOURCE in t)
        self.assertNotIn('user=nul@corp.example', self.d.log())


class TestOnlyTheLastProxyTrusted(ProxyBase):
    """trusted_proxies names only the proxy next to dagate: the hop before
    it (the outer proxy) is the client, whatever that proxy was told."""
    trusted = EDGE_SOURCE

    def test_outer_proxy_is_the_client(self):
        # 127.0.0.3 is not in allow: refused, though the real client is.
        self.assert_refused(call(self.nginx.outer_port, source=GOOD_CLIENT, tls=True,
                                 ctx=self.ctx))
        self.d.wait_for_log(lambda t: 'refused a request from %s via %s' % (OUTER_SOURCE, EDGE_SOURCE) in t)
        # One proxy: as before.
        self.assert_accepted(call(self.nginx.edge_port, source=GOOD_CLIENT, tls=True,
                                  ctx=self.ctx), GOOD_CLIENT)


if __name__ == '__main__':
    unittest.main()
