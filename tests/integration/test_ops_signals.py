"""Signals a daemon is commonly sent, on a serving dagate.

SIGUSR1 reopens the audit file and the log file by name (logrotate's
postrotate, the nginx habit): after both are renamed away, the next lines
go to new files of the old names, created with the same mode. SIGUSR2 and
SIGALRM leave the process serving and say so in the log; SIGQUIT drains
and exits 0 like SIGTERM. Every signal is counted in /metrics.
"""

import http.client
import os
import signal
import socket
import tempfile
import time
import unittest

from prometheus_client.parser import text_string_to_metric_families

from harness import NO_THROTTLE, Dagate, run_dagate

CONFIG = """
[server]
listen = 127.0.0.1:0
allow = 127.0.0.0/8

[admin]
listen = 127.0.0.1:0

[log]
level = info
audit = {dir}/audit.log
file = {dir}/dagate.log

%(no_throttle)s
[route]
match = * -> no

[provider no]
type = static
result = false
""" % {'no_throttle': NO_THROTTLE}


def read(path):
    with open(path) as f:
        return f.read()


def metric(d, family, **labels):
    """One sample of GET /metrics, parsed by the Prometheus client."""
    host, port = d.admin_url.split('://', 1)[1].rsplit(':', 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request('GET', '/metrics')
        body = conn.getresponse().read().decode('utf-8')
    finally:
        conn.close()
    for fam in text_string_to_metric_families(body):
        if fam.name == family:
            for s in fam.samples:
                if s.labels == labels:
                    return s.value
    raise AssertionError('no %s%r in /metrics' % (family, labels))


def wait_for_file_text(path, text, timeout=5.0):
    end = time.monotonic() + timeout
    while not (os.path.exists(path) and text in read(path)):
        if time.monotonic() > end:
            raise AssertionError('%r never reached %s' % (text, path))
        time.sleep(0.05)
    return read(path)


class TestSignals(unittest.TestCase):
    def test_sigusr1_reopens_the_audit_file_and_the_log_file(self):
        with Dagate(CONFIG) as d:
            audit = os.path.join(d.dir, 'audit.log')
            log = d.log_path    # [log] file is the file the harness reads
            self.assertEqual(d.authenticate('before@corp.example', 'pw'), 'false')
            wait_for_file_text(audit, 'user=before@corp.example ')
            os.rename(audit, audit + '.1')
            os.rename(log, log + '.1')
            self.assertEqual(d.authenticate('between@corp.example', 'pw'), 'false')
            wait_for_file_text(audit + '.1', 'user=between@corp.example ')
            self.assertFalse(os.path.exists(audit))
            d.proc.send_signal(signal.SIGUSR1)
            current_log = wait_for_file_text(log, 'SIGUSR1: reopened log files')
            self.assertEqual(d.authenticate('after@corp.example', 'pw'), 'false')
            current_audit = wait_for_file_text(audit, 'user=after@corp.example ')

            rotated_audit, rotated_log = read(audit + '.1'), read(log + '.1')
            self.assertIn('user=before@corp.example ', rotated_audit)
            self.assertNotIn('after@', rotated_audit)
            self.assertNotIn('before@', current_audit)
            self.assertIn('serving', rotated_log)
            self.assertNotIn('reopened log files', rotated_log)
            self.assertNotIn('serving', current_log)
            for path in (audit, log):
                self.assertEqual(os.stat(path).st_mode & 0o777, 0o640, path)
            # Audit lines never went to the operational log.
            self.assertEqual(d.audit(), [])
            self.assertEqual(metric(d, 'dagate_signals', signal='SIGUSR1'), 1)
            self.assertEqual(metric(d, 'dagate_log_reopens', result='ok'), 1)
            self.assertEqual(metric(d, 'dagate_log_reopens', result='failed'), 0)
            # SIGHUP reopens them too (a logrotate set up for reload).
            os.rename(audit, audit + '.2')
            before = d.log().count('msg="reloaded: ')
            d.proc.send_signal(signal.SIGHUP)
            d.wait_for_log(lambda t: t.count('msg="reloaded: ') > before)
            self.assertEqual(d.authenticate('later@corp.example', 'pw'), 'false')
            wait_for_file_text(audit, 'user=later@corp.example ')
            self.assertEqual(metric(d, 'dagate_log_reopens', result='ok'), 2)

    def test_sigusr1_that_cannot_reopen_keeps_the_old_files_and_says_so(self):
        with Dagate(CONFIG) as d:
            audit = os.path.join(d.dir, 'audit.log')
            os.rename(audit, audit + '.1')
            os.mkdir(audit)     # the name is taken by a directory: open fails
            d.proc.send_signal(signal.SIGUSR1)
            d.wait_for_log(lambda t: 'cannot reopen audit log ' + audit in t)
            self.assertIn('could not reopen every log file', d.log())
            self.assertEqual(d.authenticate('still@corp.example', 'pw'), 'false')
            wait_for_file_text(audit + '.1', 'user=still@corp.example ')
            self.assertEqual(metric(d, 'dagate_log_reopens', result='failed'), 1)
            os.rmdir(audit)

    def test_sigusr1_without_log_files_says_so(self):
        cfg = CONFIG.replace('audit = {dir}/audit.log\nfile = {dir}/dagate.log\n', 'audit = -\n')
        self.assertNotIn('audit.log', cfg)
        with Dagate(cfg) as d:
            d.proc.send_signal(signal.SIGUSR1)
            d.wait_for_log(lambda t: 'SIGUSR1: no log file to reopen' in t)
            self.assertEqual(d.authenticate('u@corp.example', 'pw'), 'false')
            self.assertEqual(len(d.audit_of('u@corp.example')), 1)   # still on stderr
            self.assertEqual(metric(d, 'dagate_signals', signal='SIGUSR1'), 1)
            self.assertEqual(metric(d, 'dagate_log_reopens', result='ok'), 0)

    def test_sigusr2_and_sigalrm_are_logged_and_ignored(self):
        with Dagate(CONFIG) as d:
            for sig, name in ((signal.SIGUSR2, 'SIGUSR2'), (signal.SIGALRM, 'SIGALRM')):
                d.proc.send_signal(sig)
                d.wait_for_log(lambda t: 'msg="%s: ignored' % name in t)
                self.assertTrue(d.running(), '%s ended dagate' % name)
                self.assertEqual(d.authenticate('u@corp.example', 'pw'), 'false')
                self.assertEqual(metric(d, 'dagate_signals', signal=name), 1)

    def test_sigquit_drains_and_exits_0(self):
        with Dagate(CONFIG) as d:
            self.assertEqual(d.authenticate('u@corp.example', 'pw'), 'false')
            d.proc.send_signal(signal.SIGQUIT)
            self.assertEqual(d.proc.wait(15), 0)
            self.assertIn('msg="SIGQUIT: draining"', d.log())
            self.assertIn('msg="closed 2 listening sockets; ', d.log())


class TestLogFile(unittest.TestCase):
    def test_a_failed_start_is_told_on_stderr_too(self):
        """With [log] file set, a start that fails still says so where
        serve was started (the terminal, the journal), and the file has
        the reason."""
        with socket.socket() as taken, tempfile.TemporaryDirectory() as tmp:
            taken.bind(('127.0.0.1', 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            cfg = CONFIG.replace('{dir}', tmp).replace('listen = 127.0.0.1:0\nallow',
                                                        'listen = 127.0.0.1:%d\nallow' % port, 1)
            self.assertIn(':%d' % port, cfg)
            path = os.path.join(tmp, 'dagate.conf')
            with open(path, 'w') as f:
                f.write(cfg)
            r = run_dagate(['serve', '-c', path], timeout=30)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn('dagate could not start; %s/dagate.log says why' % tmp, r.stderr)
            logged = read(os.path.join(tmp, 'dagate.log'))
            self.assertIn('127.0.0.1:%d' % port, logged)
            self.assertNotIn('could not start', logged)


if __name__ == '__main__':
    unittest.main()
