"""Recent non-true decisions: GET /api/v1/decisions on the admin listener
and `dagate decisions`, against a running server that answered a known mix
of true, false and fault. Newest first, filtered by answer, limited, the
request ids those of the audit lines, no password anywhere, bounded."""

import http.client
import json
import re
import unittest

from harness import NO_THROTTLE, Dagate, run_dagate, server_section

PASSWORD = 'decisions-secret-Pw-0451'

CONFIG = server_section(level='info') + NO_THROTTLE + """
[route]
match = yes@* -> yes
match = no@* -> no
match = down@* -> down

[provider yes]
type = static
result = true

[provider no]
type = static
result = false

[provider down]
type = static
result = unavailable
"""


class TestDecisions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Dagate(CONFIG)
        cls.admin = cls.d.admin_url.split('://', 1)[1]

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def query(self, query=''):
        status, headers, body = self.d.get('/api/v1/decisions' + query, admin=True)
        return status, headers, json.loads(body)

    def test_1_mix_of_answers(self):
        d = self.d
        self.assertEqual(d.authenticate('yes@corp.example', PASSWORD, '198.51.100.1'), 'true')
        self.assertEqual(d.authenticate('no@corp.example', PASSWORD, '198.51.100.2'), 'false')
        fault = d.authenticate('down@corp.example', PASSWORD, '198.51.100.3')
        self.assertNotIn(fault, ('true', 'false'))
        self.assertEqual(fault.string, 'no provider could answer')
        self.assertEqual(d.authenticate('yes@corp.example', '', '198.51.100.4'), 'false')
        d.audit_of('yes@corp.example', count=2)

        status, headers, got = self.query()
        self.assertEqual(status, 200)
        self.assertEqual(headers['content-type'], 'application/json')
        self.assertEqual(got['capacity'], 1000)
        self.assertEqual(got['kept'], 3, got)     # the true one is not kept
        entries = got['decisions']
        self.assertEqual([(e['user'], e['answer'], e['outcome']) for e in entries],
                         [('', 'false', 'empty_password'),   # not mapped: refused first
                          ('down@corp.example', 'fault', 'unavailable'),
                          ('no@corp.example', 'false', 'reject')])
        self.assertEqual(entries[2]['source_ip'], '198.51.100.2')
        self.assertEqual(entries[2]['provider'], 'no')
        self.assertTrue(all(e['sent'] for e in entries))
        # Each request id is the audit line's.
        audit_ids = {r['user'] + r['answer']: r['request_id'] for r in d.audit()}
        for e in entries:
            self.assertEqual(e['request_id'], audit_ids[e['user'] + e['answer']])
        # The fault names its request id, for Salesforce's error history.
        self.assertEqual(fault.request_id, entries[1]['request_id'])

        status, _, only_false = self.query('?answer=false&limit=1')
        self.assertEqual(status, 200)
        self.assertEqual([e['outcome'] for e in only_false['decisions']], ['empty_password'])
        _, _, faults = self.query('?answer=fault')
        self.assertEqual([e['user'] for e in faults['decisions']], ['down@corp.example'])

        status, _, raw = d.get('/api/v1/decisions', admin=True)
        self.assertNotIn(PASSWORD.encode(), raw)

    def test_2_bad_queries(self):
        for query in ('?limit=0', '?limit=1001', '?limit=x', '?limit=-1', '?answer=true',
                      '?answer='):
            with self.subTest(query=query):
                status, _, body = self.query(query)
                self.assertEqual(status, 400)
                self.assertIn('error', body)
        host, port = self.admin.rsplit(':', 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request('DELETE', '/api/v1/decisions')
            self.assertEqual(conn.getresponse().status, 405)
        finally:
            conn.close()

    def test_3_cli(self):
        r = run_dagate(['decisions', '--admin', self.admin, '--answer', 'false'])
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith('TIME'), lines)
        self.assertIn('no@corp.example', r.stdout)
        self.assertNotIn('down@corp.example', r.stdout)
        r = run_dagate(['decisions', '--admin', self.admin, '--json', '--limit', '2'])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(json.loads(r.stdout)['decisions']), 2)
        self.assertNotIn(PASSWORD, r.stdout + r.stderr)
        r = run_dagate(['decisions', '--admin', self.admin, '--limit', '5000'])
        self.assertEqual(r.returncode, 2)
        self.assertIn('limit must be', r.stderr)
        r = run_dagate(['-c', self.d.config_path, 'decisions', '--admin', '127.0.0.1:1'])
        self.assertEqual(r.returncode, 1)
        self.assertIn('127.0.0.1:1', r.stderr)

    def test_4_bounded(self):
        for i in range(1010):
            self.d.authenticate('no@corp.example', 'x', '198.51.100.%d' % (i % 250 + 1))
        _, _, got = self.query('?limit=1000')
        self.assertEqual(got['kept'], 1000)
        self.assertEqual(len(got['decisions']), 1000)

    def test_5_test_user_against_the_server(self):
        """`dagate test-user --server URL`: a real Authenticate to the
        running endpoint, answered by the server as it runs."""
        url = self.d.url
        r = run_dagate(['test-user', 'yes@corp.example', '--server', url,
                        '--source-ip', '198.51.100.9'], stdin=PASSWORD + '\n')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('http status: 200\n', r.stdout)
        self.assertIn('answer: true\n', r.stdout)
        r = run_dagate(['test-user', 'no@corp.example', '--server', url], stdin=PASSWORD)
        self.assertEqual(r.returncode, 1)
        self.assertIn('answer: false\n', r.stdout)
        r = run_dagate(['test-user', 'down@corp.example', '--server', url], stdin=PASSWORD)
        self.assertEqual(r.returncode, 1)
        m = re.search(r'answer: fault \(no provider could answer \[request_id=([0-9a-f]{16})\]\)',
                      r.stdout)
        self.assertIsNotNone(m, r.stdout)
        self.assertIn(m.group(1), [a['request_id'] for a in self.d.audit()])
        self.assertNotIn(PASSWORD, r.stdout + r.stderr)
        self.assertNotIn(PASSWORD, self.d.log())
        r = run_dagate(['test-user', 'yes@corp.example', '--server', 'http://127.0.0.1:1/Sso.asmx'],
                       stdin=PASSWORD)
        self.assertEqual(r.returncode, 1)
        self.assertIn('answer: none', r.stdout)
        r = run_dagate(['test-user', 'yes@corp.example', '--server', url, '--provider', 'yes'],
                       stdin=PASSWORD)
        self.assertEqual(r.returncode, 2)


class TestNoAdmin(unittest.TestCase):
    def test_config_without_admin(self):
        with Dagate(server_section(admin=False) + "[route]\nmatch = * -> no\n"
                    "[provider no]\ntype = static\nresult = false\n") as d:
            r = run_dagate(['-c', d.config_path, 'decisions'])
            self.assertEqual(r.returncode, 2)
            self.assertIn('no [admin] listen', r.stderr)


if __name__ == '__main__':
    unittest.main()
