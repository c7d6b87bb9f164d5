"""GET /api/v1/status on the admin listener and `dagate status`: what a
running server says about itself -- version, uptime, generation (one more
after each applied reload), listeners, providers with their backends'
state, the queue, throttle and token counters."""

import json
import signal
import unittest

from harness import Dagate, run_dagate, server_section

CONFIG = server_section(level='info') + """
[route]
match = yes@* -> yes
match = down@* -> down

[provider yes]
type = static
result = true

[provider down]
type = static
result = unavailable

[tokens]
store = lmdb:{dir}/var/tokens
key_file = {dir}/var/token.key
"""


class TestStatus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Dagate(CONFIG)
        cls.admin = cls.d.admin_url.split('://', 1)[1]

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def status(self):
        code, headers, body = self.d.get('/api/v1/status', admin=True)
        self.assertEqual(code, 200)
        self.assertEqual(headers['content-type'], 'application/json')
        return json.loads(body)

    def test_1_status(self):
        self.assertEqual(self.d.authenticate('yes@corp.example', 'pw'), 'true')
        self.assertNotIn(self.d.authenticate('down@corp.example', 'pw'), ('true', 'false'))
        st = self.status()
        r = run_dagate(['version'])
        self.assertIn(st['version'], r.stdout)
        self.assertEqual(st['generation'], 1)
        self.assertGreaterEqual(st['uptime_seconds'], 0)
        self.assertEqual(st['config'], self.d.config_path)
        kinds = sorted(l['kind'] for l in st['listeners'])
        self.assertEqual(kinds, ['admin', 'server'])
        providers = {p['name']: p for p in st['providers']}
        self.assertEqual(set(providers), {'yes', 'down'})
        self.assertTrue(providers['yes']['backend_up'])
        self.assertFalse(providers['down']['backend_up'])
        self.assertEqual(providers['yes']['concurrency'], 16)
        self.assertEqual(st['queue']['inflight'], 0)       # the status request is not counted
        self.assertEqual(st['queue']['workers'], 16)
        self.assertEqual(st['queue']['lane_limit'], 12)
        self.assertIn('throttle', st)
        self.assertEqual(st['tokens']['redeemed'], 0)

    def test_2_cli(self):
        r = run_dagate(['status', '--admin', self.admin])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r'^dagate \S+, up \d+s .*generation 1')
        self.assertRegex(r.stdout, r'\n  down +static +DOWN ')
        self.assertRegex(r.stdout, r'\n  yes +static +up ')
        r = run_dagate(['status', '--admin', self.admin, '--json'])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)['generation'], 1)
        r = run_dagate(['status', '--admin', '127.0.0.1:1'])
        self.assertEqual(r.returncode, 1)
        r = run_dagate(['status', 'extra'])
        self.assertEqual(r.returncode, 2)

    def test_3_generation_after_reload(self):
        before = self.d.log().count('reloaded')
        self.d.proc.send_signal(signal.SIGHUP)
        self.d.wait_for_log(lambda t: t.count('reloaded') > before, timeout=10)
        self.assertEqual(self.status()['generation'], 2)


if __name__ == '__main__':
    unittest.main()
