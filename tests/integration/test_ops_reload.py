"""SIGHUP and SIGTERM on a serving dagate.

SIGHUP builds a new configuration generation, hands it the listening
sockets and drains the old one: under steady load from several client
threads (keep-alive and one connection per request) no request fails, and
what changed (a route, the allow file, the TLS certificate, the users
file) takes effect; a broken configuration is refused with its errors
logged and the old one keeps serving; the audit file is reopened
(logrotate). SIGTERM stops accepting, answers every request already sent
and exits 0 within the deadline.
"""

import http.client
import os
import shutil
import signal
import socket
import ssl
import tempfile
import threading
import time
import unittest

from harness import NO_THROTTLE, Dagate, envelope, hash_password, make_ca_and_cert, parse_answer

# Bounds of every load loop.
MAX_REQUESTS_PER_THREAD = 20000
MAX_LOAD_SECONDS = 20.0


def config(*, flip='yes', extra_server='', log_extra='', users='users',
           slow_delay='30ms', deadline='3s'):
    return """
[server]
listen = 127.0.0.1:0
allow = 127.0.0.0/8
deadline = %(deadline)s
workers = 8
queue = 512
max_connections_per_ip = 512
%(extra_server)s
[admin]
listen = 127.0.0.1:0

[log]
level = info
audit = -
%(log_extra)s
%(no_throttle)s
[route]
match = slow@* -> slow
match = flip@* -> %(flip)s
match = *@file.example -> local
match = * -> no

[provider yes]
type = static
result = true

[provider no]
type = static
result = false

[provider slow]
type = static
result = true
delay = %(slow_delay)s

[provider local]
type = file
path = %(users)s
""" % dict(locals(), no_throttle=NO_THROTTLE)


def read(path):
    with open(path) as f:
        return f.read()


def reloads(d):
    return d.log().count('msg="reloaded: ')


def reload_counts(d):
    """dagate_reloads_total by result, from GET /metrics."""
    status, _, body = d.get('/metrics', admin=True)
    assert status == 200, status
    out = {}
    for line in body.decode().splitlines():
        if line.startswith('dagate_reloads_total{result="'):
            result, value = line[len('dagate_reloads_total{result="'):].split('"} ')
            out[result] = int(value)
    return out


def sighup_and_wait(d, *, refused=False, timeout=10.0):
    """SIGHUP; wait for the reload to finish (or be refused)."""
    marker = 'reload refused' if refused else 'msg="reloaded: '
    before = d.log().count(marker)
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for_log(lambda t: t.count(marker) > before, timeout=timeout)
    return time.monotonic()


class Result:
    __slots__ = ('user', 'keepalive', 'started', 'sent', 'ended', 'status', 'answer', 'error')

    def __init__(self, user, keepalive):
        self.user, self.keepalive = user, keepalive
        self.started = self.sent = self.ended = None
        self.status = self.answer = self.error = None

    def ok(self):
        return self.error is None and self.status == 200 and self.answer in ('true', 'false')

    def __repr__(self):
        return '<%s ka=%s status=%s answer=%s error=%r t=%.3f..%s>' % (
            self.user, self.keepalive, self.status, self.answer, self.error,
            self.started, '%.3f' % self.ended if self.ended else '-')


class Load:
    """Client threads sending Authenticate in a loop until stop(), each
    bounded by MAX_REQUESTS_PER_THREAD and MAX_LOAD_SECONDS. Keep-alive
    threads reuse one connection (reconnecting when the server says
    Connection: close); the others open one connection per request."""

    def __init__(self, host, port, users, *, keepalive=3, fresh=3, tls_context=None):
        self.host, self.port, self.users = host, port, users
        self.tls_context = tls_context
        self.results = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i, True), daemon=True)
                        for i in range(keepalive)]
        self.threads += [threading.Thread(target=self._run, args=(i, False), daemon=True)
                         for i in range(fresh)]

    def _connect(self):
        if self.tls_context:
            return http.client.HTTPSConnection(self.host, self.port, timeout=10,
                                               context=self.tls_context)
        return http.client.HTTPConnection(self.host, self.port, timeout=10)

    def _run(self, index, keepalive):
        end = time.monotonic() + MAX_LOAD_SECONDS
        conn = None
        mine = []
        for n in range(MAX_REQUESTS_PER_THREAD):
            if self.stopping.is_set() or time.monotonic() > end:
                break
            user = self.users[(index + n) % len(self.users)]
            r = Result(user, keepalive)
            body = envelope(user, 'pw')
            r.started = time.monotonic()
            try:
                if conn is None:
                    conn = self._connect()
                conn.putrequest('POST', '/Sso.asmx')
                conn.putheader('Content-Type', 'text/xml; charset=utf-8')
                conn.putheader('SOAPAction', '""')
                conn.putheader('Content-Length', str(len(body)))
                conn.endheaders(body)
                r.sent = time.monotonic()
                resp = conn.getresponse()
                data = resp.read()
                r.status = resp.status
                r.answer = parse_answer(resp.status, data)
                if not keepalive or resp.will_close:
                    conn.close()
                    conn = None
            except Exception as e:   # every failure is a result, judged later
                r.error = '%s: %s' % (type(e).__name__, e)
                if conn is not None:
                    conn.close()
                conn = None
            r.ended = time.monotonic()
            mine.append(r)
        if conn is not None:
            conn.close()
        with self.lock:
            self.results.extend(mine)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(MAX_LOAD_SECONDS + 15)
        assert not any(t.is_alive() for t in self.threads), 'a load thread hangs'
        return self.results


class TestReloadUnderLoad(unittest.TestCase):
    def test_sighup_under_load_drops_nothing_and_switches_routes(self):
        """Six reloads alternating flip@ between true and false while six
        client threads (three keep-alive) send requests: every answer is a
        200 true/false, and every request started after a reload finished
        gets the new configuration's answer."""
        with Dagate(config(flip='yes'), files={'users': ''}) as d:
            port = d.server_listeners()[0].port
            load = Load('127.0.0.1', port, ['flip@corp.example', 'slow@corp.example'])
            load.start()
            time.sleep(0.4)
            phases = []    # (flip answer expected, from, to)
            expected, t_from = 'true', time.monotonic()
            t0 = time.monotonic()
            for i in range(6):
                flip = 'no' if i % 2 == 0 else 'yes'
                d.write_file('dagate.conf', config(flip=flip))
                t_hup = time.monotonic()
                phases.append((expected, t_from, t_hup))
                done = sighup_and_wait(d)
                expected, t_from = ('false' if flip == 'no' else 'true'), done
                time.sleep(0.35)
            phases.append((expected, t_from, time.monotonic()))
            results = load.stop()
            elapsed = time.monotonic() - t0

            failed = [r for r in results if not r.ok()]
            self.assertEqual(failed, [], '%d of %d requests failed' % (len(failed), len(results)))
            self.assertGreater(len(results), 300, 'too little load to prove anything')
            self.assertGreater(sum(r.keepalive for r in results), 100)
            slow = [r for r in results if r.user.startswith('slow@')]
            self.assertTrue(all(r.answer == 'true' for r in slow))
            # Within each phase, flip@ answers as that phase's config says.
            checked = 0
            for want, start, end in phases:
                for r in results:
                    if r.user.startswith('flip@') and r.started >= start and r.ended <= end:
                        self.assertEqual(r.answer, want, (r, want, start, end))
                        checked += 1
            self.assertGreater(checked, 100)
            # The listening socket never changed hands visibly.
            self.assertEqual(d.server_listeners()[0].port, port)
            self.assertEqual(reloads(d), 6)
            self.assertEqual(len([r for r in d.audit()]), len(results))
            print('\n  reload under load: %d requests (%d keep-alive), 6 reloads in %.1f s'
                  % (len(results), sum(r.keepalive for r in results), elapsed))


class TestReload(unittest.TestCase):
    def test_broken_config_is_refused_and_the_old_one_keeps_serving(self):
        with Dagate(config(flip='yes'), files={'users': ''}) as d:
            self.assertEqual(d.authenticate('flip@corp.example', 'pw'), 'true')
            broken = config(flip='nowhere', deadline='30s', extra_server='bogus_key = 1\n')
            d.write_file('dagate.conf', broken)
            load = Load('127.0.0.1', d.server_listeners()[0].port, ['flip@corp.example'],
                        keepalive=2, fresh=2).start()
            try:
                sighup_and_wait(d, refused=True)
                time.sleep(0.3)
            finally:
                results = load.stop()
            self.assertTrue(results and all(r.ok() and r.answer == 'true' for r in results),
                            [r for r in results if not (r.ok() and r.answer == 'true')][:5])
            log = d.log()
            refused = [l for l in log.splitlines() if 'reload refused' in l]
            # Every error, each with FILE:LINE.
            path = d.config_path
            self.assertTrue(any('reload refused, the old configuration keeps serving: %s:' % path in l
                                and 'deadline' in l for l in refused), refused)
            self.assertTrue(any('bogus_key' in l for l in refused), refused)
            self.assertTrue(any("unknown provider 'nowhere'" in l for l in refused), refused)
            self.assertEqual(len(refused), 3, refused)
            self.assertEqual(reloads(d), 0)
            self.assertEqual(d.authenticate('flip@corp.example', 'pw'), 'true')
            self.assertTrue(d.running())
            # Fixed: the next SIGHUP takes it.
            d.write_file('dagate.conf', config(flip='no'))
            sighup_and_wait(d)
            self.assertEqual(d.authenticate('flip@corp.example', 'pw'), 'false')

    def test_restart_only_change_is_named_and_counted_partial(self):
        """A reload applies what it can (here a route) and names the
        sections only a restart applies ([throttle]) in a warning, counted
        as dagate_reloads_total{result="partial"}; a reload that changes
        none of them says no such thing."""
        with Dagate(config(flip='yes'), files={'users': ''}) as d:
            warning = 'changed and applies only after a restart'
            d.write_file('dagate.conf', config(flip='no'))
            sighup_and_wait(d)
            self.assertEqual(d.authenticate('flip@corp.example', 'pw'), 'false')
            self.assertNotIn(warning, d.log())
            self.assertEqual(reload_counts(d), {'ok': 1, 'partial': 0, 'refused': 0})

            d.write_file('dagate.conf', config(flip='yes').replace(
                'repeat_window = 0s', 'repeat_window = 1s'))
            sighup_and_wait(d)
            self.assertEqual(d.authenticate('flip@corp.example', 'pw'), 'true')   # applied
            lines = [l for l in d.log().splitlines() if warning in l]
            self.assertEqual(len(lines), 1, lines)
            self.assertIn('level=warn msg="reloaded; [throttle] %s"' % warning, lines[0])
            self.assertEqual(reload_counts(d), {'ok': 1, 'partial': 1, 'refused': 0})

            # Still differs from what runs: said again on the next reload.
            sighup_and_wait(d)
            self.assertEqual(d.log().count(warning), 2)
            self.assertEqual(reload_counts(d), {'ok': 1, 'partial': 2, 'refused': 0})

    def test_unusable_tls_pair_is_refused(self):
        tmp = tempfile.mkdtemp(prefix='dagate-reload-certs-')
        try:
            rsa, ec = make_ca_and_cert(tmp, 'rsa'), make_ca_and_cert(tmp, 'ec')
            files = {'users': '', 'tls.crt': read(rsa.cert),
                     'tls.key': (read(rsa.key), 0o600)}
            tls = 'tls_cert = {dir}/tls.crt\ntls_key = {dir}/tls.key\n'
            with Dagate(config(extra_server=tls), files=files) as d:
                self.assertEqual(d.authenticate('flip@corp.example', 'pw', tls=True), 'true')
                # A key that does not belong to the certificate.
                d.write_file('tls.key', read(ec.key), 0o600)
                sighup_and_wait(d, refused=True)
                self.assertIn('tls_key does not belong to tls_cert', d.log())
                self.assertEqual(d.authenticate('flip@corp.example', 'pw', tls=True), 'true')
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_allow_file_change_takes_effect_on_sighup(self):
        def call(source):
            conn = http.client.HTTPConnection('127.0.0.1', d.server_listeners()[0].port,
                                              timeout=10, source_address=(source, 0))
            try:
                conn.request('POST', '/Sso.asmx', body=envelope('flip@corp.example', 'pw'),
                             headers={'Content-Type': 'text/xml; charset=utf-8'})
                return conn.getresponse().status
            except ConnectionError:
                return 'closed'   # outside allow: closed at accept
            finally:
                conn.close()

        allow = 'allow_file = {dir}/allow\n'
        cfg = config(extra_server=allow).replace('allow = 127.0.0.0/8\n', '')
        with Dagate(cfg, files={'users': '', 'allow': '# test\n127.0.0.2/32\n'}) as d:
            self.assertEqual((call('127.0.0.2'), call('127.0.0.5')), (200, 'closed'))
            d.write_file('allow', '127.0.0.5/32 # moved\n')
            # Nothing changes until SIGHUP: dagate reads the file then.
            self.assertEqual((call('127.0.0.2'), call('127.0.0.5')), (200, 'closed'))
            sighup_and_wait(d)
            self.assertEqual((call('127.0.0.2'), call('127.0.0.5')), ('closed', 200))
            # A broken allow file is refused with FILE:LINE; the old list stays.
            d.write_file('allow', '127.0.0.2/32\n10.0.0.1/8\n')
            sighup_and_wait(d, refused=True)
            self.assertIn('%s/allow:2: host bits set' % d.dir, d.log())
            self.assertEqual((call('127.0.0.2'), call('127.0.0.5')), ('closed', 200))

    def test_new_tls_certificate_is_served_after_sighup(self):
        tmp = tempfile.mkdtemp(prefix='dagate-reload-certs-')
        try:
            first, second = make_ca_and_cert(os.path.join(tmp, 'a')), \
                make_ca_and_cert(os.path.join(tmp, 'b'))
            files = {'users': '', 'tls.crt': read(first.cert),
                     'tls.key': (read(first.key), 0o600)}
            tls = 'tls_cert = {dir}/tls.crt\ntls_key = {dir}/tls.key\n'
            with Dagate(config(extra_server=tls), files=files) as d:
                lst = d.server_listeners(tls=True)[0]

                def peer_cert(ca):
                    ctx = ssl.create_default_context(cafile=ca)
                    with socket.create_connection((lst.host, lst.port), timeout=10) as raw:
                        with ctx.wrap_socket(raw, server_hostname='localhost') as s:
                            return s.getpeercert(binary_form=True)

                def pem_der(path):
                    with open(path) as f:
                        return ssl.PEM_cert_to_DER_cert(f.read())

                self.assertEqual(peer_cert(first.ca_cert), pem_der(first.cert))
                load = Load(lst.host, lst.port, ['flip@corp.example', 'slow@corp.example'],
                            keepalive=2, fresh=2,
                            tls_context=ssl.create_default_context(cafile=first.ca_cert))
                load.start()
                try:
                    time.sleep(0.3)
                    d.write_file('tls.crt', read(second.cert))
                    d.write_file('tls.key', read(second.key), 0o600)
                    # Until SIGHUP, the old pair is served.
                    self.assertEqual(peer_cert(first.ca_cert), pem_der(first.cert))
                    load.stopping.set()   # the old CA's clients stop before the switch
                finally:
                    results = load.stop()
                self.assertTrue(results and all(r.ok() for r in results),
                                [r for r in results if not r.ok()][:5])
                sighup_and_wait(d)
                self.assertEqual(peer_cert(second.ca_cert), pem_der(second.cert))
                self.assertEqual(lst.port, d.server_listeners(tls=True)[0].port)
                with self.assertRaises(ssl.SSLCertVerificationError):
                    peer_cert(first.ca_cert)
                self.assertEqual(d.authenticate('flip@corp.example', 'pw', tls=True,
                                                context=ssl.create_default_context(
                                                    cafile=second.ca_cert)), 'true')
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_users_file_change_is_picked_up(self):
        old, new = hash_password('old secret'), hash_password('new secret')
        files = {'users': 'joe@file.example:%s\n' % old,
                 'users2': 'joe@file.example:%s\nann@file.example:%s\n' % (old, new)}
        with Dagate(config(), files=files) as d:
            self.assertEqual(d.authenticate('joe@file.example', 'old secret'), 'true')
            self.assertEqual(d.authenticate('ann@file.example', 'new secret'), 'false')
            # Same file, new content.
            d.write_file('users', 'joe@file.example:%s\n' % new)
            sighup_and_wait(d)
            self.assertEqual(d.authenticate('joe@file.example', 'new secret'), 'true')
            self.assertEqual(d.authenticate('joe@file.example', 'old secret'), 'false')
            # The config names another file.
            d.write_file('dagate.conf', config(users='users2'))
            sighup_and_wait(d)
            self.assertEqual(d.authenticate('ann@file.example', 'new secret'), 'true')
            self.assertEqual(d.authenticate('joe@file.example', 'old secret'), 'true')

    def test_empty_users_file_serves_and_fills_on_sighup(self):
        # An empty users file (no user yet) is valid: everyone unknown.
        with Dagate(config(), files={'users': '# no users yet\n'}) as d:
            self.assertEqual(d.authenticate('joe@file.example', 'pw'), 'false')
            # the audit line is written just after the answer: wait for it
            recs = d.audit_of('joe@file.example')
            self.assertEqual([r.get('outcome') for r in recs], ['unknown_user'])
            d.write_file('users', 'joe@file.example:%s\n' % hash_password('pw'))
            sighup_and_wait(d)
            self.assertEqual(d.authenticate('joe@file.example', 'pw'), 'true')

    def test_audit_file_is_reopened_after_rename(self):
        """logrotate: rename the file, SIGHUP, the next lines go to a new
        file of the old name; nothing is lost."""
        cfg = config().replace('audit = -', 'audit = {dir}/audit.log')
        with Dagate(cfg, files={'users': ''}) as d:
            path = os.path.join(d.dir, 'audit.log')
            self.assertEqual(d.authenticate('before@corp.example', 'pw'), 'false')
            os.rename(path, path + '.1')
            self.assertEqual(d.authenticate('between@corp.example', 'pw'), 'false')
            sighup_and_wait(d)
            self.assertEqual(d.authenticate('after@corp.example', 'pw'), 'false')
            deadline = time.monotonic() + 5
            while 'after@' not in read(path) and time.monotonic() < deadline:
                time.sleep(0.05)
            rotated, current = read(path + '.1'), read(path)
            self.assertIn('user=before@corp.example ', rotated)
            self.assertIn('user=between@corp.example ', rotated)
            self.assertNotIn('after@', rotated)
            self.assertIn('user=after@corp.example ', current)
            self.assertNotIn('before@', current)
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o640)
            # Audit lines never went to stderr.
            self.assertEqual(d.audit(), [])

    def test_audit_file_is_reopened_even_when_the_reload_is_refused(self):
        """logrotate's postrotate sends SIGHUP whatever state the config
        file is in: a refused reload must still reopen the audit file."""
        cfg = config().replace('audit = -', 'audit = {dir}/audit.log')
        with Dagate(cfg, files={'users': ''}) as d:
            path = os.path.join(d.dir, 'audit.log')
            self.assertEqual(d.authenticate('before@corp.example', 'pw'), 'false')
            os.rename(path, path + '.1')
            d.write_file('dagate.conf', cfg.replace('{dir}', d.dir) + '\n[bogus]\n')
            sighup_and_wait(d, refused=True)
            self.assertEqual(d.authenticate('after@corp.example', 'pw'), 'false')
            deadline = time.monotonic() + 5
            while not (os.path.exists(path) and 'after@' in read(path)) \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertTrue(os.path.exists(path), 'audit file not reopened')
            self.assertIn('user=after@corp.example ', read(path))
            self.assertNotIn('after@', read(path + '.1'))


class TestSigterm(unittest.TestCase):
    def test_sigterm_under_load_answers_everything_sent_and_exits_0(self):
        """Requests to a provider that takes 400 ms are in flight when
        SIGTERM comes: every request whose bytes were sent before SIGTERM
        gets its complete answer; dagate exits 0 within deadline + 1 s."""
        deadline_s = 2.0
        d = Dagate(config(slow_delay='400ms', deadline='2s'), files={'users': ''})
        try:
            port = d.server_listeners()[0].port
            load = Load('127.0.0.1', port, ['slow@corp.example', 'flip@corp.example'],
                        keepalive=4, fresh=4).start()
            time.sleep(1.0)
            t_term = time.monotonic()
            d.proc.send_signal(signal.SIGTERM)
            rc = d.proc.wait(deadline_s + 5)
            t_exit = time.monotonic()
            results = load.stop()
            log = d.log()
        finally:
            if d.proc is not None and d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
            d.proc = None
            d._logf.close()
            d._cleanup_dir()
        self.assertEqual(rc, 0, log[-4000:])
        self.assertLess(t_exit - t_term, deadline_s + 1.0)
        sent_before = [r for r in results if r.sent is not None and r.sent < t_term]
        cut = [r for r in sent_before if not r.ok()]
        self.assertEqual(cut, [], 'requests sent before SIGTERM were cut off')
        in_flight = [r for r in sent_before if r.ended > t_term]
        self.assertGreaterEqual(len(in_flight), 4, 'SIGTERM came when nothing was in flight')
        self.assertTrue(any(r.user.startswith('slow@') for r in in_flight))
        self.assertIn('SIGTERM: draining', log)
        # After SIGTERM nothing new is answered: no answer started after
        # the drain began and ended successfully on a fresh connection.
        late = [r for r in results if r.started > t_term + 0.05 and r.ok() and not r.keepalive]
        self.assertEqual(late, [])
        print('\n  SIGTERM under load: %d requests sent before it, %d in flight, exit after %.2f s'
              % (len(sent_before), len(in_flight), t_exit - t_term))


if __name__ == '__main__':
    unittest.main()
