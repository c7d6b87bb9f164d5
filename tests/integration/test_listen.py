"""Several listen lines, IPv4 and IPv6; max_connections_per_ip counts an
IPv6 client's /64."""

import os
import subprocess
import sys
import unittest

from harness import Dagate, server_section

STATIC = """
[route]
match = * -> yes

[provider yes]
type = static
result = true
"""


class Listen(unittest.TestCase):
    def test_ipv6_only(self):
        with Dagate(server_section(listen=['[::1]:0']) + STATIC) as d:
            lst = d.server_listeners()
            self.assertEqual(len(lst), 1)
            self.assertEqual(lst[0].host, '::1')
            self.assertTrue(d.url.startswith('http://[::1]:'), d.url)
            self.assertEqual(d.authenticate('u@example.com', 'p'), 'true')

    def test_several_listen_lines(self):
        conf = server_section(listen=['127.0.0.1:0', '127.0.0.1:0', '[::1]:0']) + STATIC
        with Dagate(conf) as d:
            lst = d.server_listeners()
            self.assertEqual(len(lst), 3, d.listeners)
            self.assertEqual(len({(l.host, l.port) for l in lst}), 3)
            for l in lst:
                with self.subTest(listener=l):
                    self.assertNotEqual(l.port, 0)
                    self.assertEqual(d.authenticate('u@example.com', 'p', listener=l), 'true')

    def test_json_listening_lines(self):
        conf = server_section(listen=['127.0.0.1:0', '[::1]:0'], fmt='json') + STATIC
        with Dagate(conf) as d:
            self.assertEqual(len(d.server_listeners()), 2)
            self.assertIsNotNone(d.admin_url)
            self.assertEqual(d.get('/healthz', admin=True)[0], 200)
            for l in d.server_listeners():
                self.assertEqual(d.authenticate('u@example.com', 'p', listener=l), 'true')


PER_NETWORK_CHILD = r'''"""Run by test_listen.PerNetworkLimit in a network namespace of its own,
whose loopback holds addresses of two /64s: the listener, two clients of
one /64, one client of another."""

import socket
import subprocess
import time

from harness import Dagate, envelope

subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
for a in ('2001:db8:1:2::1', '2001:db8:1:2::a', '2001:db8:1:2::b', '2001:db8:1:3::c'):
    subprocess.run(['ip', '-6', 'addr', 'add', a + '/64', 'dev', 'lo', 'nodad'], check=True)

CONF = """
[server]
listen = [2001:db8:1:2::1]:0
allow = 2001:db8::/32
max_connections_per_ip = 2
deadline = 5s

[log]
level = info
audit = -

[route]
match = * -> yes

[provider yes]
type = static
result = true
"""


def served(l, source):
    s = socket.socket(socket.AF_INET6)
    s.bind((source, 0))
    s.settimeout(3)
    try:
        s.connect((l.host, l.port))
        body = envelope('u@example.com', 'p')
        s.sendall(b'POST /Sso.asmx HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n'
                  b'Connection: close\r\nContent-Length: %d\r\n\r\n' % len(body) + body)
        data = b''
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return data.startswith(b'HTTP/1.1 200')
            data += chunk
    except OSError:
        return False
    finally:
        s.close()


with Dagate(CONF) as d:
    l = d.server_listeners()[0]
    held = []
    for _ in range(2):
        s = socket.socket(socket.AF_INET6)
        s.bind(('2001:db8:1:2::a', 0))
        s.connect((l.host, l.port))
        s.sendall(b'POST / HTTP/1.1\r\n')
        held.append(s)
    time.sleep(0.3)
    print('same /64, other address:', 'served' if served(l, '2001:db8:1:2::b') else 'refused')
    print('other /64:', 'served' if served(l, '2001:db8:1:3::c') else 'refused')
    print('logged:', 'max_connections_per_ip reached for 2001:db8:1:2::/64' in d.log())
    for s in held:
        s.close()
    time.sleep(0.3)
    print('after they closed:', 'served' if served(l, '2001:db8:1:2::b') else 'refused')
'''


class PerNetworkLimit(unittest.TestCase):
    def test_ipv6_clients_count_by_their_64(self):
        """Needs root (a network namespace with addresses of its own):
        without it the test fails, it does not skip."""
        self.assertEqual(os.geteuid(), 0, 'this test makes a network namespace')
        here = os.path.dirname(os.path.abspath(__file__))
        r = subprocess.run(['unshare', '--net', sys.executable, '-c', PER_NETWORK_CHILD],
                           cwd=here, env=dict(os.environ, PYTHONPATH=here),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        out = r.stdout.decode()
        self.assertEqual(r.returncode, 0, out)
        self.assertIn('same /64, other address: refused', out)
        self.assertIn('other /64: served', out)
        self.assertIn('logged: True', out)
        self.assertIn('after they closed: served', out)


if __name__ == '__main__':
    unittest.main()
