"""Least privilege: started as root with `user = nobody`, dagate binds a
port below 1024, then becomes nobody in all four uid/gid fields, with no
capabilities left (not even in the bounding set), no_new_privs set and not
dumpable (its /proc files belong to root, so nobody cannot read its
environment or memory, and no core file is written). Started as an
ordinary user with `user` set, it warns and serves as itself, still not
dumpable and with no_new_privs. Started as root without `user`, it keeps
every capability, and says so at start and in check-config.
"""

import os
import pwd
import re
import grp
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest
from unittest import mock

import harness
from harness import Dagate

NOBODY = pwd.getpwnam('nobody')
NOGROUP = grp.getgrgid(NOBODY.pw_gid)


def free_low_port():
    """A free port below 1024 on 127.0.0.1 (tries a bounded range)."""
    for port in range(987, 900, -1):
        s = socket.socket()
        try:
            s.bind(('127.0.0.1', port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise AssertionError('no free port in 901..987 on 127.0.0.1')


def config(listen, user):
    return """
[server]
listen = %s
allow = 127.0.0.0/8
user = %s

[admin]
listen = 127.0.0.1:0

[log]
level = info
audit = -

[route]
match = *@file.example -> local
match = * -> yes

[provider yes]
type = static
result = true

[provider local]
type = file
path = users
""" % (listen, user)


def proc_status(pid, tid=None):
    path = '/proc/%d/status' % pid if tid is None else '/proc/%d/task/%d/status' % (pid, tid)
    out = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.partition(':')
            out[key] = value.split()
    return out


def threads(pid):
    return sorted(int(t) for t in os.listdir('/proc/%d/task' % pid))


def as_nobody(args):
    """Run a command as nobody:nogroup without supplementary groups."""
    return subprocess.run(['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups']
                          + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)


class PrivilegeChecks:
    def assert_not_dumpable(self, pid):
        # A non-dumpable process's /proc files belong to root ...
        st = os.stat('/proc/%d/environ' % pid)
        self.assertEqual((st.st_uid, st.st_gid), (0, 0))
        # ... so not even the user it runs as can read its environment
        # or memory.
        for name in ('environ', 'mem'):
            r = as_nobody(['cat', '/proc/%d/%s' % (pid, name)])
            self.assertNotEqual(r.returncode, 0, name)
            self.assertIn(b'Permission denied', r.stderr, name)
        with open('/proc/%d/limits' % pid) as f:
            core = [l for l in f if l.startswith('Max core file size')]
        self.assertEqual(core[0].split()[4:6], ['0', '0'], core)

    def assert_runs_as_nobody(self, pid, *, caps_zero):
        tids = threads(pid)
        self.assertGreater(len(tids), 3, 'expected event, worker and reaper threads')
        for tid in tids:      # credentials are per thread: check every one
            st = proc_status(pid, tid)
            self.assertEqual(st['Uid'], [str(NOBODY.pw_uid)] * 4, (tid, st['Uid']))
            self.assertEqual(st['Gid'], [str(NOBODY.pw_gid)] * 4, (tid, st['Gid']))
            self.assertTrue(set(st.get('Groups', [])) <= {str(NOBODY.pw_gid)}, st.get('Groups'))
            self.assertEqual(st['NoNewPrivs'], ['1'], tid)
            if caps_zero:
                for cap in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'):
                    self.assertEqual(int(st[cap][0], 16), 0, (tid, cap, st[cap]))
            else:
                for cap in ('CapPrm', 'CapEff', 'CapAmb'):
                    self.assertEqual(int(st[cap][0], 16), 0, (tid, cap, st[cap]))


class TestStartedAsRoot(PrivilegeChecks, unittest.TestCase):
    def test_drops_to_nobody_after_binding_a_low_port(self):
        self.assertEqual(os.geteuid(), 0, 'this test starts dagate as root')
        port = free_low_port()
        hashed = harness.hash_password('file pw')
        d = Dagate(config('127.0.0.1:%d' % port, 'nobody'), start=False,
                   files={'users': 'joe@file.example:%s\n' % hashed})
        # nobody reads the users file after the drop (the config and the
        # sockets were dealt with as root).
        os.chmod(d.dir, 0o755)
        with d:
            d.start()
            self.assertEqual(d.server_listeners()[0].port, port)
            pid = d.proc.pid
            self.assertIn('running as user nobody (uid %d)' % NOBODY.pw_uid, d.log())
            self.assert_runs_as_nobody(pid, caps_zero=True)
            self.assert_not_dumpable(pid)
            # Still serving, with a provider that reads a file as nobody.
            self.assertEqual(d.authenticate('anyone@corp.example', 'pw'), 'true')
            self.assertEqual(d.authenticate('joe@file.example', 'file pw'), 'true')
            self.assertEqual(d.authenticate('joe@file.example', 'wrong'), 'false')
            self.assertEqual(d.get('/healthz', admin=True)[0], 200)
            # Root cannot be regained: the threads that exist now still
            # run as nobody after serving requests.
            self.assert_runs_as_nobody(pid, caps_zero=True)

    def test_sighup_after_the_drop_reads_files_as_the_user(self):
        """A reload runs as `user`: a TLS key owned by it reloads; a key
        only root can read is refused and the old pair keeps serving."""
        tmp = tempfile.mkdtemp(prefix='dagate-priv-certs-')
        try:
            os.chmod(tmp, 0o755)
            certs = harness.make_ca_and_cert(tmp, 'rsa')
            os.chown(certs.key, NOBODY.pw_uid, NOBODY.pw_gid)     # 0600, the user's
            cfg = config('127.0.0.1:0', 'nobody').replace(
                'user = nobody', 'user = nobody\ntls_cert = %s\ntls_key = %s' % (certs.cert, certs.key))
            d = Dagate(cfg, start=False, files={'users': ''}, ca_file=certs.ca_cert)
            os.chmod(d.dir, 0o755)
            with d:
                d.start()
                self.assertEqual(d.authenticate('a@corp.example', 'pw', tls=True), 'true')

                def hup(marker):
                    before = d.log().count(marker)
                    d.proc.send_signal(signal.SIGHUP)
                    d.wait_for_log(lambda t: t.count(marker) > before, timeout=10)

                hup('msg="reloaded: ')
                self.assertEqual(d.authenticate('b@corp.example', 'pw', tls=True), 'true')
                os.chown(certs.key, 0, 0)
                hup('reload refused')
                self.assertIn('Permission denied', d.log())
                self.assertEqual(d.authenticate('c@corp.example', 'pw', tls=True), 'true')
                self.assert_runs_as_nobody(d.proc.pid, caps_zero=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_log_files_belong_to_the_user_at_start_and_after_sigusr1(self):
        """Created as root at start-up, the audit and log files are given
        to `user`, so that after rotation (rename, SIGUSR1) the process,
        now that user, can create them again: same owner, same mode."""
        cfg = config('127.0.0.1:0', 'nobody').replace(
            'audit = -', 'audit = {dir}/logs/audit.log\nfile = {dir}/logs/dagate.log')
        d = Dagate(cfg, start=False, files={'users': ''})
        os.chmod(d.dir, 0o755)
        logs = os.path.join(d.dir, 'logs')
        os.mkdir(logs)
        os.chown(logs, NOBODY.pw_uid, NOBODY.pw_gid)
        d.log_path = os.path.join(logs, 'dagate.log')   # where the listeners are logged
        with d:
            d.start()
            audit = os.path.join(logs, 'audit.log')
            # (the harness itself created the log file, as root, to read it)
            st = os.stat(audit)
            self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777),
                             (NOBODY.pw_uid, NOBODY.pw_gid, 0o640), audit)
            for path in (audit, d.log_path):
                os.rename(path, path + '.1')
            d.proc.send_signal(signal.SIGUSR1)
            d.wait_for_log(lambda t: 'SIGUSR1: reopened log files' in t)
            self.assertEqual(d.authenticate('anyone@corp.example', 'pw'), 'true')
            for path in (audit, d.log_path):
                st = os.stat(path)
                self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777),
                                 (NOBODY.pw_uid, NOBODY.pw_gid, 0o640), path)

    def test_root_without_user_warns_at_start_and_in_check_config(self):
        warning = 'running as root without [server] user: every capability is kept'
        cfg = config('127.0.0.1:0', '').replace('user = \n', '')
        with Dagate(cfg, files={'users': ''}) as d:
            self.assertEqual(d.log().count(warning), 1, d.log())
            self.assertEqual(d.authenticate('anyone@corp.example', 'pw'), 'true')
            r = harness.run_dagate(['check-config', '-c', d.config_path], cwd=d.dir)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn('configuration OK', r.stdout)
            self.assertRegex(r.stderr, re.escape(d.config_path) +
                             r':\d+: warning: user is not set: `dagate serve` started as root')
        # With user set, neither says anything.
        d = Dagate(config('127.0.0.1:0', 'nobody'), start=False, files={'users': ''})
        os.chmod(d.dir, 0o755)
        with d:
            d.start()
            self.assertNotIn(warning, d.log())
            r = harness.run_dagate(['check-config', '-c', d.config_path], cwd=d.dir)
            self.assertEqual((r.returncode, r.stderr.count('warning:')), (0, 0), r.stderr)

    def test_check_config_names_a_file_the_user_cannot_read(self):
        """Started as root with `user`, serve reads its files again as the
        user (reload, a changed users file): check-config tries each as
        that user and names the one it cannot read."""
        d = Dagate(config('127.0.0.1:0', 'nobody'), start=False, files={'users': ''})
        try:
            os.chmod(d.dir, 0o755)
            users = os.path.join(d.dir, 'users')
            os.chmod(users, 0o600)     # root's alone
            lines = open(d.config_path).read().splitlines()
            line = next(i + 1 for i, l in enumerate(lines) if l.startswith('path = '))
            r = harness.run_dagate(['check-config', '-c', d.config_path], cwd=d.dir)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn('%s:%d: path %s is not readable by user nobody'
                          % (d.config_path, line, lines[line - 1].split(' = ', 1)[1]), r.stderr)
            self.assertEqual(r.stderr.count('not readable by user'), 1, r.stderr)
            os.chown(users, NOBODY.pw_uid, NOBODY.pw_gid)
            r = harness.run_dagate(['check-config', '-c', d.config_path], cwd=d.dir)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            # an unknown user: serve refuses it as root, and so does check-config
            with open(d.config_path, 'w') as f:
                f.write('\n'.join(lines).replace('user = nobody', 'user = no-such-user-dagate'))
            r = harness.run_dagate(['check-config', '-c', d.config_path], cwd=d.dir)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertRegex(r.stderr, re.escape(d.config_path) +
                             r':\d+: user no-such-user-dagate: no such user')
        finally:
            d._cleanup_dir()

    def test_unknown_user_is_a_configuration_error(self):
        d = Dagate(config('127.0.0.1:0', 'no-such-user-dagate'), start=False)
        try:
            with self.assertRaises(harness.DagateStartError) as cm:
                d.start()
            self.assertIn('no such user', str(cm.exception))
        finally:
            d._cleanup_dir()

    def test_root_is_refused_as_user(self):
        d = Dagate(config('127.0.0.1:0', 'root'), start=False)
        try:
            with self.assertRaises(harness.DagateStartError) as cm:
                d.start()
            self.assertIn('user must not be root', str(cm.exception))
        finally:
            d._cleanup_dir()


class TestStartedAsNobody(PrivilegeChecks, unittest.TestCase):
    def test_user_is_ignored_with_a_warning_and_it_serves_as_itself(self):
        wrapper_dir = tempfile.mkdtemp(prefix='dagate-setpriv-')
        try:
            wrapper = os.path.join(wrapper_dir, 'dagate-as-nobody')
            with open(wrapper, 'w') as f:
                f.write('#!/bin/sh\nexec setpriv --reuid=nobody --regid=nogroup '
                        '--clear-groups --inh-caps=-all %s "$@"\n' % harness.dagate_bin())
            os.chmod(wrapper, 0o755)
            d = Dagate(config('127.0.0.1:0', 'daemon'), start=False,
                       files={'users': ''})
            os.chmod(d.dir, 0o755)    # nobody reads its config there
            with d, mock.patch.object(harness, 'dagate_bin', return_value=wrapper):
                d.start()
                pid = d.proc.pid
                self.assertIn('user = daemon ignored: dagate was not started as root', d.log())
                self.assertNotIn('running as user', d.log())
                self.assert_runs_as_nobody(pid, caps_zero=False)
                self.assert_not_dumpable(pid)
                self.assertEqual(d.authenticate('anyone@corp.example', 'pw'), 'true')
        finally:
            shutil.rmtree(wrapper_dir, ignore_errors=True)


if __name__ == '__main__':
    unittest.main()
