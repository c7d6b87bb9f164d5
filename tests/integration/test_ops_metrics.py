"""GET /metrics on the admin listener, parsed by a real Prometheus
text-format parser (Debian's python3-prometheus-client).

A fresh dagate gets a known mix of requests: true, false (reject,
empty_password, no_route), faults (unavailable, bad_request, busy from a
full queue) and a token issued, redeemed and replayed. Every counter must
equal exactly what was sent; histograms are cumulative with _count equal
to the +Inf bucket; gauges show the queue and provider use while requests
wait; the TLS expiry is the certificate's notAfter; /healthz stays ok;
and /metrics is refused to a peer outside [admin] allow.
"""

import base64
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from prometheus_client.parser import text_string_to_metric_families

from harness import NO_THROTTLE, Dagate, envelope, make_ca_and_cert, parse_answer, run_dagate

SECRET = 'metrics-requester-secret-0123'

CONFIG = """
[server]
listen = 127.0.0.1:0
allow = 127.0.0.0/8
tls_cert = %(cert)s
tls_key = %(key)s
deadline = 4s
workers = 1
queue = 1

[admin]
listen = 127.0.0.1:0
allow = 127.0.0.1/32

[log]
level = info
audit = -

# Repeated failures here are on purpose: every one must be counted as its
# provider's answer, not as a throttled one.
%(no_throttle)s
[route]
match = yes@* -> yes
match = no@* -> no
match = down@* -> down
match = slow@* -> slow
match = *@token.example -> no

[provider yes]
type = static
result = true

[provider no]
type = static
result = false

[provider down]
type = static
result = unavailable

[provider slow]
type = static
result = true
delay = 700ms
concurrency = 3

[tokens]
store = lmdb:{dir}/var/tokens
key_file = {dir}/var/token.key

[requester ops]
secret_file = {dir}/ops.secret
allow = 127.0.0.1/32
users = *@token.example
"""


def scrape(d, *, source=None):
    """(status, content type, {name: Metric}) of GET /metrics."""
    host, port = d.admin_url.split('://', 1)[1].rsplit(':', 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request('GET', '/metrics')
        resp = conn.getresponse()
        body = resp.read().decode('utf-8')
    finally:
        conn.close()
    if resp.status != 200:
        return resp.status, resp.getheader('Content-Type'), None
    families = {f.name: f for f in text_string_to_metric_families(body)}
    return resp.status, resp.getheader('Content-Type'), families


def samples(families, family, sample_name=None):
    """{frozenset(labels): value} of one family's samples."""
    fam = families[family]
    return {frozenset(s.labels.items()): s.value for s in fam.samples
            if sample_name is None or s.name == sample_name}


def value(families, family, sample_name=None, **labels):
    fam = families[family]
    for s in fam.samples:
        if (sample_name is None or s.name == sample_name) and s.labels == labels:
            return s.value
    raise AssertionError('no sample %s%r in %s' % (sample_name or family, labels, fam.samples))


class TestMetrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='dagate-metrics-certs-')
        cls.certs = make_ca_and_cert(cls.tmp, 'rsa')
        cls.ctx = ssl.create_default_context(cafile=cls.certs.ca_cert)
        cls.d = Dagate(CONFIG % {'cert': cls.certs.cert, 'key': cls.certs.key,
                                 'no_throttle': NO_THROTTLE},
                       files={'ops.secret': (SECRET + '\n', 0o600)}, ca_file=cls.certs.ca_cert)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.__exit__(None, None, None)
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def auth(self, user, password='pw'):
        return self.d.authenticate(user, password, tls=True, context=self.ctx)

    def healthz(self):
        status, _, body = self.d.get('/healthz', admin=True)
        self.assertEqual((status, body), (200, b'ok\n'))

    def issue_token(self, user):
        host, port = self.d.admin_url.split('://', 1)[1].rsplit(':', 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request('POST', '/api/v1/tokens', body=json.dumps({'user': user}),
                         headers={'Content-Type': 'application/json', 'Authorization': 'Basic '
                                  + base64.b64encode(('ops:' + SECRET).encode()).decode()})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read() or b'{}')
        finally:
            conn.close()

    def test_counts_histograms_gauges_and_expiry(self):
        d = self.d
        status, ctype, fams = scrape(d)
        self.assertEqual(status, 200)
        self.assertEqual(ctype, 'text/plain; version=0.0.4; charset=utf-8')
        self.assertEqual(samples(fams, 'dagate_requests'), {})   # nothing decided yet
        self.assertEqual(value(fams, 'dagate_workers'), 1)
        self.assertEqual(value(fams, 'dagate_queue_capacity'), 1)
        self.assertEqual(value(fams, 'dagate_queue_depth'), 0)

        # The mix
        for i in range(5):
            self.assertEqual(self.auth('yes@corp.example'), 'true')
        for i in range(3):
            self.assertEqual(self.auth('no@corp.example'), 'false')
        for i in range(2):
            self.assertEqual(self.auth('down@corp.example').code, 'soap:Server')
        self.assertEqual(self.auth('yes@corp.example', ''), 'false')        # empty_password
        self.assertEqual(self.auth('nobody@elsewhere.example'), 'false')    # no_route
        for bad in (b'<not xml', envelope('x@corp.example', 'pw', None)):
            status, _, body = d.post(bad, tls=True, context=self.ctx)
            self.assertEqual(parse_answer(status, body).code, 'soap:Client')
        # Not decisions, not counted: a 404 and a 405.
        self.assertEqual(d.post(b'', path='/elsewhere', tls=True, context=self.ctx)[0], 404)
        self.assertEqual(d.post(b'', method='PUT', tls=True, context=self.ctx)[0], 405)
        # Tokens: issued, redeemed once, replayed.
        status, out = self.issue_token('tok@token.example')
        self.assertEqual(status, 201, out)
        self.assertEqual(self.auth('tok@token.example', out['token']), 'true')
        self.assertEqual(self.auth('tok@token.example', out['token']), 'false')
        self.assertEqual(self.issue_token('tok@corp.example')[0], 403)   # user not allowed

        # Busy: one slow login on the only worker, one waiting in the
        # queue of one; two more are shed at once.
        answers, threads = [], []
        for i in range(2):
            t = threading.Thread(target=lambda: answers.append(self.auth('slow@corp.example')))
            t.start()
            threads.append(t)
            end = time.monotonic() + 3
            while time.monotonic() < end:
                fams = scrape(d)[2]
                if (value(fams, 'dagate_provider_inflight', provider='slow', type='static') == 1
                        and value(fams, 'dagate_queue_depth') == i):
                    break
                time.sleep(0.02)
        fams = scrape(d)[2]
        self.assertEqual(value(fams, 'dagate_queue_depth'), 1)
        self.assertEqual(value(fams, 'dagate_provider_inflight', provider='slow', type='static'), 1)
        t_shed = time.monotonic()
        for i in range(2):
            fault = self.auth('slow@corp.example')
            self.assertEqual((fault.code, fault.http_status), ('soap:Server', 500))
        self.assertLess(time.monotonic() - t_shed, 0.5, 'a shed request must not wait')
        self.healthz()     # cheap and ok while workers are busy
        for t in threads:
            t.join(10)
        self.assertEqual(answers, ['true', 'true'])

        # What /metrics says
        t_before = time.time()
        status, _, fams = scrape(d)
        t_after = time.time()
        self.assertEqual(status, 200)
        expected = {
            ('yes', 'ok', 'true'): 5,
            ('slow', 'ok', 'true'): 2,
            ('no', 'reject', 'false'): 3,
            ('down', 'unavailable', 'fault'): 2,
            ('-', 'empty_password', 'false'): 1,
            ('-', 'no_route', 'false'): 1,
            ('-', 'bad_request', 'fault'): 2,
            ('-', 'busy', 'fault'): 2,
            ('tokens', 'ok', 'true'): 1,
        }
        got = {(dict(k)['provider'], dict(k)['outcome'], dict(k)['answer']): v
               for k, v in samples(fams, 'dagate_requests', 'dagate_requests_total').items()}
        replay = [k for k in got if k[0] == 'tokens' and k[2] == 'false']
        self.assertEqual(len(replay), 1, got)     # a replayed token: false, outcome as audited
        self.assertEqual(got.pop(replay[0]), 1)
        audited = [r for r in d.audit() if r.get('provider') == 'tokens' and r.get('answer') == 'false']
        self.assertEqual([a.get('outcome') for a in audited], [replay[0][1]])
        self.assertEqual(got, expected)
        # Every counted decision has its audit line, and vice versa.
        self.assertEqual(len(d.audit()), sum(expected.values()) + 1)
        self.assertEqual(fams['dagate_requests'].type, 'counter')
        self.assertEqual(value(fams, 'dagate_metrics_series_dropped'), 0)

        # Histograms: by answer, cumulative, _count == +Inf == decisions.
        hist = fams['dagate_request_duration_seconds']
        self.assertEqual(hist.type, 'histogram')
        per_answer = {'true': 8, 'false': 6, 'fault': 6}
        for answer, count in per_answer.items():
            buckets = sorted(((float(s.labels['le']), s.value) for s in hist.samples
                              if s.name.endswith('_bucket') and s.labels['answer'] == answer))
            self.assertEqual(buckets[-1][0], float('inf'))
            self.assertGreaterEqual(len(buckets), 10)
            values = [v for _, v in buckets]
            self.assertEqual(values, sorted(values), (answer, buckets))   # cumulative
            self.assertEqual(buckets[-1][1], count, answer)
            self.assertEqual(value(fams, 'dagate_request_duration_seconds',
                                   'dagate_request_duration_seconds_count', answer=answer), count)
        # The two slow logins took 0.7 s and 1.4 s (one waited): the sum
        # says so, and neither is in a bucket below 0.5 s.
        true_sum = value(fams, 'dagate_request_duration_seconds',
                         'dagate_request_duration_seconds_sum', answer='true')
        self.assertGreater(true_sum, 2.0)
        self.assertLess(true_sum, 4.0)
        le_half = value(fams, 'dagate_request_duration_seconds',
                        'dagate_request_duration_seconds_bucket', answer='true', le='0.5')
        self.assertEqual(le_half, 6)

        # Decision latency by the provider that decided (none for "-").
        hist = fams['dagate_decision_seconds']
        self.assertEqual(hist.type, 'histogram')
        per_provider = {'yes': 5, 'slow': 2, 'no': 3, 'down': 2, 'tokens': 2}
        self.assertEqual({s.labels['provider'] for s in hist.samples}, set(per_provider))
        for provider, count in per_provider.items():
            buckets = sorted(((float(s.labels['le']), s.value) for s in hist.samples
                              if s.name.endswith('_bucket') and s.labels['provider'] == provider))
            self.assertEqual([le for le, _ in buckets],
                             [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
                              float('inf')])
            values = [v for _, v in buckets]
            self.assertEqual(values, sorted(values), (provider, buckets))
            self.assertEqual(buckets[-1][1], count, provider)
            self.assertEqual(value(fams, 'dagate_decision_seconds', 'dagate_decision_seconds_count',
                                   provider=provider), count)
        # The slow provider's delay is 0.7 s: none of its two under 0.5 s.
        self.assertEqual(value(fams, 'dagate_decision_seconds', 'dagate_decision_seconds_bucket',
                               provider='slow', le='0.5'), 0)
        self.assertGreater(value(fams, 'dagate_decision_seconds', 'dagate_decision_seconds_sum',
                                 provider='slow'), 1.4)

        # Gauges.
        self.assertEqual(value(fams, 'dagate_queue_depth'), 0)
        for name, limit in (('yes', 16), ('no', 16), ('down', 16), ('slow', 3)):
            self.assertEqual(value(fams, 'dagate_provider_inflight', provider=name,
                                   type='static'), 0)
            self.assertEqual(value(fams, 'dagate_provider_concurrency_limit', provider=name),
                             limit)
        self.assertEqual(value(fams, 'dagate_backend_up', provider='down'), 0)
        for name in ('yes', 'no', 'slow'):
            self.assertEqual(value(fams, 'dagate_backend_up', provider=name), 1)

        # Tokens.
        self.assertEqual(value(fams, 'dagate_tokens_issued'), 1)
        self.assertEqual(value(fams, 'dagate_tokens_issue_refused'), 1)
        self.assertEqual(value(fams, 'dagate_token_redemptions', outcome='ok'), 1)
        self.assertEqual(value(fams, 'dagate_token_redemptions', outcome='rejected'), 1)
        self.assertEqual(value(fams, 'dagate_token_redemptions', outcome='unavailable'), 0)

        # TLS: seconds until the certificate's notAfter.
        r = subprocess.run(['openssl', 'x509', '-noout', '-enddate', '-in', self.certs.cert],
                           stdout=subprocess.PIPE, check=True, timeout=30)
        not_after = ssl.cert_time_to_seconds(r.stdout.decode().strip().split('=', 1)[1])
        expiry = value(fams, 'dagate_tls_cert_expiry_seconds')
        self.assertGreaterEqual(expiry, not_after - t_after - 1)
        self.assertLessEqual(expiry, not_after - t_before + 1)
        self.assertGreater(expiry, 86400)        # the test certificate lives 2 days
        self.healthz()

    def test_metrics_refused_outside_admin_allow(self):
        admin = self.d.admin_url.split('://', 1)[1]
        server = [('%s:%d' % (l.host, l.port)) for l in self.d.listeners if l.kind == 'server'][0]
        fams = scrape(self.d)[2]
        before = value(fams, 'dagate_http_refused', listener=admin, reason='peer_not_allowed')
        with self.assertRaises(ConnectionError):     # closed at accept
            scrape(self.d, source='127.0.0.2')
        self.d.wait_for_log(lambda t: 'refused a connection from 127.0.0.2: not in [admin] allow'
                            ' (listener %s)' % admin in t)
        status, _, fams = scrape(self.d)
        self.assertEqual(status, 200)
        self.assertEqual(value(fams, 'dagate_http_refused', listener=admin,
                               reason='peer_not_allowed'), before + 1)
        self.assertEqual(value(fams, 'dagate_http_refused', listener=server,
                               reason='peer_not_allowed'), 0)
        self.healthz()

    def test_process_build_and_reloads(self):
        d = self.d
        t_now = time.time()
        fams = scrape(d)[2]
        version = run_dagate(['version']).stdout.split()[-1]
        self.assertEqual(samples(fams, 'dagate_build_info'), {frozenset({('version', version)}): 1})
        started = value(fams, 'dagate_process_start_time_seconds')
        self.assertLessEqual(started, t_now)
        self.assertGreater(started, os.stat(d.config_path).st_mtime - 1)
        self.assertEqual({dict(k)['result']: v for k, v in samples(fams, 'dagate_reloads').items()},
                         {'ok': 0, 'partial': 0, 'refused': 0})

        def hup(marker, count):
            before = d.log().count(marker)
            d.proc.send_signal(signal.SIGHUP)
            d.wait_for_log(lambda t: t.count(marker) > before, timeout=10)
            fams = scrape(d)[2]
            self.assertEqual({dict(k)['result']: v for k, v in samples(fams, 'dagate_reloads').items()},
                             count)

        hup('msg="reloaded: ', {'ok': 1, 'partial': 0, 'refused': 0})
        with open(d.config_path) as f:
            good = f.read()
        try:
            d.write_file('dagate.conf', good + '\n[bogus]\n')
            hup('reload refused', {'ok': 1, 'partial': 0, 'refused': 1})
        finally:
            d.write_file('dagate.conf', good)
        hup('msg="reloaded: ', {'ok': 2, 'partial': 0, 'refused': 1})
        self.healthz()


class TestRefusedByListener(unittest.TestCase):
    """403s and accept-time refusals counted by listener; the log line
    names where the allow rule came from."""

    def test_allow_file_refusals_name_their_source_and_listener(self):
        cfg = """
[server]
listen = 127.0.0.1:0
listen = 127.0.0.1:0
allow_file = {dir}/allow
trusted_proxies = 127.0.0.2/32

[admin]
listen = 127.0.0.1:0

[log]
level = info

[route]
match = * -> no

[provider no]
type = static
result = false
"""
        with Dagate(cfg, files={'allow': '198.51.100.0/24\n'}) as d:
            first, second = [l for l in d.listeners if l.kind == 'server']
            first_label = '%s:%d' % (first.host, first.port)
            second_label = '%s:%d' % (second.host, second.port)
            source = '[server] allow_file %s/allow' % d.dir
            # 127.0.0.1 is neither allowed nor a trusted proxy: closed at accept.
            with self.assertRaises(ConnectionError):
                d.post(envelope('u@corp.example', 'pw'), listener=first)
            d.wait_for_log(lambda t: 'refused a connection from 127.0.0.1: not in %s (listener %s)'
                           % (source, first_label) in t)
            # Through the trusted proxy 127.0.0.2, a client outside allow_file: 403.
            conn = http.client.HTTPConnection(second.host, second.port, timeout=10,
                                              source_address=('127.0.0.2', 0))
            try:
                conn.request('POST', d.path, body=envelope('u@corp.example', 'pw'),
                             headers={'Content-Type': 'text/xml; charset=utf-8',
                                      'X-Forwarded-For': '203.0.113.9'})
                self.assertEqual(conn.getresponse().status, 403)
            finally:
                conn.close()
            d.wait_for_log(lambda t: 'refused a request from 203.0.113.9 via 127.0.0.2: not in %s'
                           % source in t)
            fams = scrape(d)[2]
            got = {(dict(k)['listener'], dict(k)['reason']): v
                   for k, v in samples(fams, 'dagate_http_refused').items() if v}
            self.assertEqual(got, {(first_label, 'peer_not_allowed'): 1,
                                   (second_label, 'client_not_allowed'): 1})
            # Every listener's series exists from the start, at 0.
            labels = {dict(k)['listener'] for k in samples(fams, 'dagate_http_refused')}
            self.assertEqual(labels, {first_label, second_label, d.admin_url.split('://', 1)[1]})


if __name__ == '__main__':
    unittest.main()
