"""Several listen lines, IPv4 and IPv6."""

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


if __name__ == '__main__':
    unittest.main()
