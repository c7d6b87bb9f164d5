"""The relay loop guard end to end: a dagate that relays to itself, and two
dagates that relay to each other, answer a fault at once instead of
bouncing the login until the deadline. Needs the endpoint to call
relay_loop_detected() (auth-providers/relay.h)."""

import os
import shutil
import tempfile
import time
import unittest

from harness import Dagate, Fault, make_ca_and_cert, server_section
from backends.ports import free_port

DEADLINE_MS = 3000


def relay_config(certs, own_port, target_port):
    return server_section(listen=('127.0.0.1:%d' % own_port,),
                          extra='deadline = %dms\ntls_cert = %s\ntls_key = %s\n' % (
                              DEADLINE_MS, certs.cert, certs.key)) + """
[route]
match = * -> onward

[provider onward]
type = relay
url = https://127.0.0.1:%d/Sso.asmx
ca_file = %s
""" % (target_port, certs.ca_cert)


class RelayLoop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='dagate-loop-')
        cls.certs = make_ca_and_cert(os.path.join(cls.tmp, 'c'), 'rsa')

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def ask(self, d):
        started = time.monotonic()
        answer = d.authenticate('joe@corp.example', 'Joe-loop-pw-1', tls=True,
                                context=d.ssl_context(ca_file=self.certs.ca_cert))
        return answer, time.monotonic() - started

    def loop_records(self, d):
        d.wait_for_log(lambda t: any(r.get('outcome') == 'relay_loop' for r in d.audit(t)))
        return [r for r in d.audit() if r.get('outcome') == 'relay_loop']

    def test_relay_to_itself(self):
        port = free_port()
        with Dagate(relay_config(self.certs, port, port)) as a:
            answer, elapsed = self.ask(a)
            self.assertIsInstance(answer, Fault)
            self.assertLess(elapsed, 1.0, 'the loop was not cut at once')
            self.assertEqual(len(self.loop_records(a)), 1)
            self.assertNotIn('Joe-loop-pw-1', a.log())

    def test_two_instances_relaying_to_each_other(self):
        pa, pb = free_port(), free_port()
        with Dagate(relay_config(self.certs, pb, pa)) as b, \
                Dagate(relay_config(self.certs, pa, pb)) as a:
            answer, elapsed = self.ask(a)
            self.assertIsInstance(answer, Fault)
            self.assertLess(elapsed, 1.0, 'the loop was not cut at once')
            # A sent it to B, B back to A: A recognises its own login in flight
            self.assertEqual(len(self.loop_records(a)), 1)
            self.assertEqual([r for r in b.audit() if r.get('outcome') == 'relay_loop'], [])
            self.assertNotIn('Joe-loop-pw-1', a.log() + b.log())


if __name__ == '__main__':
    unittest.main()
