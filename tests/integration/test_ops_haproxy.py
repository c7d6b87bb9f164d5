"""Two dagate instances behind a real HAProxy, configured as README's
deployment section says: a graceful stop (SIGTERM) of one of them under
load costs the clients nothing. The stopping instance closes its listening
sockets at once (HAProxy's next connection is refused and retried on the
other), answers what it accepted, and says Connection: close on those
answers."""

import http.client
import signal
import threading
import time
import unittest

from backends.haproxy import HAProxy
from harness import Dagate, envelope, parse_answer, server_section

SLOW_SECONDS = 2.5

# Every answer takes a little while, so that requests are in flight (on a
# worker, the connection suspended) when SIGTERM comes; one takes long, so
# that the drain lasts.
SLOW_YES = """
[route]
match = slow@* -> slow
match = * -> yes

[provider yes]
type = static
result = true
delay = 50ms

[provider slow]
type = static
result = true
delay = %dms
""" % int(SLOW_SECONDS * 1000)

CLIENTS = 4
# What one answer through HAProxy may take, a retry elsewhere included: far
# less than the drain, which a connection left waiting in a backlog of a
# stopping instance would have to sit out.
ANSWER_MAX = 1.2


class Load:
    """CLIENTS threads sending Authenticate through HAProxy until stopped,
    each on its own keep-alive connection (a new one after any error)."""

    def __init__(self, port):
        self.port = port
        self.ok = 0
        self.slowest = 0.0
        self.failures = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(i,)) for i in range(CLIENTS)]

    def client(self, n):
        body = envelope('client%d@example.com' % n, 'pw')
        conn = None
        while not self.stopping.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=10)
                started = time.monotonic()
                conn.request('POST', '/Sso.asmx', body=body,
                             headers={'Content-Type': 'text/xml; charset=utf-8',
                                      'SOAPAction': '""'})
                resp = conn.getresponse()
                answer = parse_answer(resp.status, resp.read())
                if resp.getheader('Connection', '').lower() == 'close':
                    conn.close()
                    conn = None
                with self.lock:
                    self.slowest = max(self.slowest, time.monotonic() - started)
                    if answer == 'true':
                        self.ok += 1
                    else:
                        self.failures.append('answer %r' % (answer,))
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.failures.append('%s: %s' % (type(e).__name__, e))
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in self.threads:
            t.join(15)
        return False

    def count(self):
        with self.lock:
            return self.ok, list(self.failures), self.slowest


def wait_for(predicate, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def served(d):
    return len(d.audit())


def slow_request(d, result):
    """Authenticate slow@ on `d` directly; result gets (answer, Connection)."""
    srv = d.server_listeners()[0]
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=15)
    try:
        conn.request('POST', '/Sso.asmx', body=envelope('slow@example.com', 'pw'),
                     headers={'Content-Type': 'text/xml; charset=utf-8', 'SOAPAction': '""'})
        resp = conn.getresponse()
        result.append((parse_answer(resp.status, resp.read()), resp.getheader('Connection')))
    except (OSError, http.client.HTTPException) as e:
        result.append((repr(e), None))
    finally:
        conn.close()


class GracefulStopBehindHAProxy(unittest.TestCase):
    def test_sigterm_under_load_costs_no_client_a_failure(self):
        conf = server_section(level='info') + SLOW_YES
        with Dagate(conf) as a, Dagate(conf) as b:
            backends = []
            for d in (a, b):
                srv = d.server_listeners()[0]
                admin = [l for l in d.listeners if l.kind == 'admin'][0]
                backends.append((srv.host, srv.port, admin.port))
            with HAProxy(backends) as h, Load(h.port) as load:
                self.assertTrue(wait_for(lambda: served(a) >= 10 and served(b) >= 10, 10),
                                'both instances serve before the stop:\n' + h.log()[-3000:])
                slow = []
                in_flight = threading.Thread(target=slow_request, args=(a, slow))
                in_flight.start()
                time.sleep(0.3)
                a.proc.send_signal(signal.SIGTERM)
                a.proc.wait(15)
                in_flight.join(15)
                stopped_at = load.count()[0]
                # The survivor carries the whole load for a while.
                self.assertTrue(wait_for(lambda: load.count()[0] >= stopped_at + 40, 10),
                                'load goes on after the stop')
                hlog = h.log()
            ok, failures, slowest = load.count()
            self.assertEqual(a.stop(), 0)
            log = a.log()
            self.assertEqual(failures, [], 'client-visible failures (of %d answers):\n%s'
                             % (ok + len(failures), hlog[-3000:]))
            self.assertLess(slowest, ANSWER_MAX, 'an answer waited for the stopping instance')
            self.assertEqual(slow, [('true', 'close')], 'the request in flight is answered')
            self.assertIn('closed 2 listening sockets', log)
            self.assertIn('SIGTERM: draining', log)


if __name__ == '__main__':
    unittest.main()
