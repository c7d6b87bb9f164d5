"""Backend state known from the start: serve probes every provider's
backend the way `dagate probe` does, at start-up and every
[server] probe_interval, on its own thread.

A real slapd stopped before dagate starts: the start-up probe logs a
warning naming the provider and dagate_backend_up is 0 before any login;
once slapd is back the next probe says so and the gauge is 1; stopped
again, the failed probe is logged. probe_interval = 0s probes nothing, and
a value under 1 s is a FILE:LINE configuration error.
"""

import json
import unittest

from harness import NO_THROTTLE, Dagate, run_dagate, server_section
from backends.slapd import Slapd
from test_ldap_slapd import ALICE_PW, certs, files, provider
from test_ops_signals import metric


def config(uri, interval):
    return (server_section(extra='probe_interval = %s\n' % interval) + NO_THROTTLE
            + '[route]\nmatch = * -> dir\n' + provider('dir', uri, timeout='2s'))


class BackendProbe(unittest.TestCase):
    def test_backend_down_at_start_is_a_warning_then_followed(self):
        with Slapd(certs()) as s:
            s.stop()
            with Dagate(config(s.ldaps_uri, '1s'), files=files()) as d:
                d.wait_for_log(lambda t: 'provider dir: backend unreachable at start-up: ' in t)
                lines = [l for l in d.log().splitlines() if 'backend unreachable' in l]
                self.assertEqual(len(lines), 1, lines)
                self.assertIn('level=warn', lines[0])
                self.assertIn('127.0.0.1:%d' % s.ldaps_port, lines[0])
                self.assertEqual(d.audit(), [])          # known before any login
                self.assertEqual(metric(d, 'dagate_backend_up', provider='dir'), 0)
                # Not ready for a load balancer: the only route has no backend.
                status, _, body = d.get('/readyz', admin=True)
                self.assertEqual(status, 503)
                self.assertEqual(json.loads(body)['ready'], False)
                self.assertRegex(json.loads(body)['down'], r'^line \d+ \(\*\): dir$')
                self.assertEqual(d.get('/healthz', admin=True)[0], 200)   # alive all along

                s.start()
                d.wait_for_log(lambda t: 'provider dir: backend reachable again: ' in t,
                               timeout=10)
                self.assertEqual(metric(d, 'dagate_backend_up', provider='dir'), 1)
                self.assertEqual(d.get('/readyz', admin=True)[:1], (200,))
                self.assertEqual(d.authenticate('alice@x.test', ALICE_PW), 'true')

                s.stop()
                d.wait_for_log(lambda t: 'provider dir: backend probe failed: ' in t, timeout=10)
                self.assertEqual(metric(d, 'dagate_backend_up', provider='dir'), 0)
                self.assertEqual(d.get('/readyz', admin=True)[0], 503)
                # A warning per change of state, not per probe (each probe
                # is a debug line).
                failed = d.log().count('msg="provider dir: probe failed')
                d.wait_for_log(lambda t: t.count('msg="provider dir: probe failed') >= failed + 2,
                               timeout=10)
                self.assertEqual(d.log().count('backend probe failed'), 1)
                self.assertEqual(d.log().count('backend unreachable'), 1)

    def test_off_probes_nothing(self):
        with Slapd(certs()) as s:
            s.stop()
            with Dagate(config(s.ldaps_uri, '0s'), files=files()) as d:
                self.assertEqual(metric(d, 'dagate_backend_up', provider='dir'), 1)
                self.assertNotIn('backend unreachable', d.log())

    def test_interval_under_a_second_is_a_config_error(self):
        with Slapd(certs()) as s:
            d = Dagate(config(s.ldaps_uri, '500ms'), files=files(), start=False)
            try:
                r = run_dagate(['check-config', '-c', d.config_path], cwd=d.dir)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertRegex(r.stderr, d.config_path.replace('.', r'\.') +
                                 r":\d+: 'probe_interval' must be 0s \(off\) or at least 1s")
            finally:
                d._cleanup_dir()


if __name__ == '__main__':
    unittest.main()
