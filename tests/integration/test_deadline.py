"""Time: the deadline is kept end to end, trickling clients are cut off,
a full queue sheds load at once, a slow route does not stall a fast one."""

import socket
import threading
import time
import unittest

from harness import Dagate, Fault, envelope, server_section

MARGIN = 0.5   # scheduling slack on top of a promised bound


def concurrent(fn, args_list, timeout=30):
    """Run fn(*args) in threads; return [(result or exception, t_start, t_end)]."""
    out = [None] * len(args_list)

    def run(i, args):
        t0 = time.monotonic()
        try:
            r = fn(*args)
        except Exception as e:   # noqa: BLE001 - reported to the test
            r = e
        out[i] = (r, t0, time.monotonic())

    threads = [threading.Thread(target=run, args=(i, a), daemon=True) for i, a in enumerate(args_list)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert all(o is not None for o in out), 'requests still running after %s s' % timeout
    return out


class Deadline(unittest.TestCase):
    def test_slow_provider_gets_server_fault_within_deadline(self):
        conf = server_section(extra='deadline = 1s\n') + """
[route]
match = * -> slow

[provider slow]
type = static
result = true
delay = 10s
"""
        with Dagate(conf) as d:
            for form in ('default', 'prefixed'):
                t0 = time.monotonic()
                got = d.authenticate('u@example.com', 'pw', form=form)
                elapsed = time.monotonic() - t0
                self.assertIsInstance(got, Fault)
                self.assertEqual(got.code, 'soap:Server')
                self.assertEqual(got.http_status, 500)
                self.assertLessEqual(elapsed, 1.0 + MARGIN, 'answer after %.2f s, deadline 1 s' % elapsed)
            rec = d.audit(d.wait_for_log(lambda t: len(d.audit(t)) >= 2))[0]
            self.assertEqual(rec.get('answer'), 'fault')
            self.assertEqual(rec.get('outcome'), 'deadline')
            self.assertLessEqual(int(rec.get('ms', '99999')), 1000 + int(MARGIN * 1000))

    def test_provider_within_deadline_answers(self):
        conf = server_section(extra='deadline = 3s\n') + """
[route]
match = * -> slowish

[provider slowish]
type = static
result = true
delay = 1s
"""
        with Dagate(conf) as d:
            t0 = time.monotonic()
            self.assertEqual(d.authenticate('u@example.com', 'pw'), 'true')
            self.assertGreaterEqual(time.monotonic() - t0, 0.9)

    def test_deadline_applies_to_the_fallback_chain(self):
        conf = server_section(extra='deadline = 1s\n') + """
[route]
match = * -> slow, fast

[provider slow]
type = static
result = unavailable
delay = 5s

[provider fast]
type = static
result = true
"""
        with Dagate(conf) as d:
            t0 = time.monotonic()
            got = d.authenticate('u@example.com', 'pw')
            self.assertLessEqual(time.monotonic() - t0, 1.0 + MARGIN)
            self.assertIsInstance(got, Fault)
            self.assertEqual(got.code, 'soap:Server')

    def test_trickling_client_is_cut_off(self):
        conf = server_section(extra='deadline = 2s\n') + """
[route]
match = * -> yes

[provider yes]
type = static
result = true
"""
        with Dagate(conf) as d:
            l = d.server_listeners()[0]
            body = envelope('u@example.com', 'pw')
            req = (b'POST /Sso.asmx HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n'
                   b'Content-Length: %d\r\n\r\n' % len(body) + body)
            for name, prefix in (('headers', 0), ('body', req.index(b'\r\n\r\n') + 4)):
                with self.subTest(trickle=name):
                    s = socket.create_connection((l.host, l.port), timeout=1)
                    t0 = time.monotonic()
                    closed_at = None
                    try:
                        if prefix:
                            s.sendall(req[:prefix])
                        i = prefix
                        while time.monotonic() - t0 < 2.0 + 6 and i < len(req):
                            try:
                                s.sendall(req[i:i + 1])
                            except (BrokenPipeError, ConnectionResetError):
                                closed_at = time.monotonic()
                                break
                            i += 1
                            try:
                                data = s.recv(4096)
                                if not data:
                                    closed_at = time.monotonic()
                                    break
                                # an answer (e.g. 408/500) is fine; wait for the close
                            except socket.timeout:
                                pass
                            except ConnectionResetError:
                                closed_at = time.monotonic()
                                break
                    finally:
                        s.close()
                    self.assertIsNotNone(closed_at, 'trickling connection still open after 8 s')
                    self.assertLessEqual(closed_at - t0, 2.0 + 1.0 + MARGIN,
                                         'cut off after %.2f s, deadline 2 s' % (closed_at - t0))
            self.assertEqual(d.authenticate('u@example.com', 'pw'), 'true')


class Load(unittest.TestCase):
    def test_queue_full_sheds_with_immediate_server_fault(self):
        delay = 2.0
        conf = server_section(extra='deadline = 5s\nworkers = 1\nqueue = 1\n') + """
[route]
match = * -> slow

[provider slow]
type = static
result = true
delay = 2s
"""
        with Dagate(conf) as d:
            res = concurrent(d.authenticate, [('u%d@example.com' % i, 'pw') for i in range(6)])
            immediate = [r for r, t0, t1 in res if isinstance(r, Fault) and t1 - t0 < delay / 2]
            trues = [r for r, t0, t1 in res if r == 'true']
            self.assertGreaterEqual(len(immediate), 1, res)
            for r in immediate:
                self.assertEqual(r.code, 'soap:Server')
            self.assertGreaterEqual(len(trues), 1, res)
            self.assertLessEqual(len(trues), 2, 'one worker + one queue slot: %r' % (res,))
            for r, t0, t1 in res:
                self.assertLessEqual(t1 - t0, 5.0 + MARGIN)
            busy = [r for r in d.audit(d.wait_for_log(lambda t: len(d.audit(t)) >= 6)) if r.get('outcome') == 'busy']
            self.assertEqual(len(busy), len(immediate))

    def test_slow_route_does_not_stall_fast_route(self):
        delay = 3.0
        conf = server_section(extra='deadline = 5s\nworkers = 4\nqueue = 16\n') + """
[route]
match = *@slow.example -> slow
match = * -> fast

[provider slow]
type = static
result = true
delay = 3s

[provider fast]
type = static
result = true
"""
        with Dagate(conf) as d:
            slow_results = []

            def slow(i):
                t0 = time.monotonic()
                slow_results.append((d.authenticate('s%d@slow.example' % i, 'pw'), t0, time.monotonic()))

            threads = [threading.Thread(target=slow, args=(i,), daemon=True) for i in range(2)]
            for t in threads:
                t.start()
            time.sleep(0.3)   # the slow ones are now with their provider
            fast = concurrent(d.authenticate, [('f%d@fast.example' % i, 'pw') for i in range(10)])
            fast_done = max(t1 for _, _, t1 in fast)
            for t in threads:
                t.join(15)
            self.assertEqual([r for r, _, _ in fast], ['true'] * 10)
            for r, t0, t1 in fast:
                self.assertLess(t1 - t0, delay / 3, 'a fast request waited %.2f s' % (t1 - t0))
            self.assertEqual(len(slow_results), 2)
            for r, t0, t1 in slow_results:
                self.assertEqual(r, 'true')
                self.assertGreater(t1, fast_done, 'fast answers came while slow ones were pending')
                self.assertGreaterEqual(t1 - t0, delay - 0.1)


if __name__ == '__main__':
    unittest.main()
