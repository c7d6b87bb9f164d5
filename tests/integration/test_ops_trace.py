"""`dagate trace USER`: a live trace of one user in the running server.
While other users log in, the trace shows every step of the traced
user's decisions -- what arrived, mapping, route, throttle, provider,
answer -- with the audit line's request id, never a password and never
another user; it ends by itself. The admin API refuses bad requests and
more than four traces at once."""

import http.client
import json
import subprocess
import time
import unittest

from harness import Dagate, dagate_bin, hash_password, run_dagate, server_section

GOOD, BAD, OTHER = 'trace-right-Pw-81', 'trace-wrong-Pw-82', 'trace-other-Pw-83'

CONFIG = server_section(level='info') + """
[map]
strip_suffix = .uat

[route]
match = * -> users

[provider users]
type = file
path = {dir}/users
"""


class TestTrace(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        users = 'joe@corp.example:%s\nann@corp.example:%s\n' % (hash_password(GOOD),
                                                                hash_password(OTHER))
        cls.d = Dagate(CONFIG, files={'users': (users, 0o600)})
        cls.admin = cls.d.admin_url.split('://', 1)[1]

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def api(self, method, path):
        host, port = self.admin.rsplit(':', 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request(method, path)
            resp = conn.getresponse()
            body = resp.read()
            if resp.getheader('Content-Type') == 'application/json':
                return resp.status, json.loads(body)
            return resp.status, body
        finally:
            conn.close()

    def test_1_trace_one_user(self):
        # The name as Salesforce sends it from a sandbox: traced as mapped.
        p = subprocess.Popen([dagate_bin(), 'trace', 'joe@corp.example.uat', '--for', '3s',
                              '--admin', self.admin], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        first = p.stdout.readline()
        self.assertIn('tracing joe@corp.example (as mapped) for 3s', first)
        self.assertEqual(self.d.authenticate('joe@corp.example.uat', GOOD), 'true')
        self.assertEqual(self.d.authenticate('ann@corp.example', OTHER), 'true')
        self.assertEqual(self.d.authenticate('joe@corp.example', BAD), 'false')
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0, err)
        self.assertTrue(out.rstrip().endswith('ended'), out)
        audit = {r['user'] + r['answer']: r['request_id'] for r in self.d.audit()}
        ok_id, bad_id = audit['joe@corp.exampletrue'], audit['joe@corp.examplefalse']
        ok_steps = [l for l in out.splitlines() if ' %s ' % ok_id in l]
        bad_steps = [l for l in out.splitlines() if ' %s ' % bad_id in l]
        wanted = ('received: user joe@corp.example.uat', 'mapped username: joe@corp.example',
                  'route: line', 'throttle: within', 'asking provider users',
                  'decided: ok, answer true, provider users')
        for w in wanted:
            self.assertTrue(any(w in l for l in ok_steps), (w, ok_steps))
        self.assertTrue(any('decided: reject, answer false' in l for l in bad_steps), bad_steps)
        self.assertNotIn('ann@corp.example', out)
        self.assertNotIn(audit['ann@corp.exampletrue'], out)
        log = self.d.log()
        for secret in (GOOD, BAD, OTHER):
            self.assertNotIn(secret, out + err + log)
        self.assertIn('event=trace', log)
        # After the trace: nothing more is narrated.
        self.assertEqual(self.d.authenticate('joe@corp.example', GOOD), 'true')
        time.sleep(0.3)
        self.assertEqual(self.d.log().count('event=trace '), log.count('event=trace '))

    def test_2_api_refusals(self):
        self.assertEqual(self.api('POST', '/api/v1/trace')[0], 400)
        self.assertEqual(self.api('POST', '/api/v1/trace?user=not%20a%20name')[0], 400)
        self.assertEqual(self.api('POST', '/api/v1/trace?user=a@b.example&for=0')[0], 400)
        self.assertEqual(self.api('POST', '/api/v1/trace?user=a@b.example&for=3601')[0], 400)
        self.assertEqual(self.api('GET', '/api/v1/trace')[0], 405)
        self.assertEqual(self.api('GET', '/api/v1/trace/999999')[0], 404)
        self.assertEqual(self.api('GET', '/api/v1/trace/x')[0], 400)
        r = run_dagate(['trace', 'joe@corp.example', '--for', '2h', '--admin', self.admin])
        self.assertEqual(r.returncode, 2)
        # Four at once, not five (test_1's has ended, its slot is free again later).
        started = []
        for i in range(5):
            status, body = self.api('POST', '/api/v1/trace?user=u%d@corp.example&for=60' % i)
            started.append(status)
        self.assertIn(503, started)
        self.assertLessEqual(started.count(201), 4)


if __name__ == '__main__':
    unittest.main()
