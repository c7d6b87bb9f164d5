"""A server process the tests run in a private directory: prepare it, start
it, wait (bounded) until it is ready, show its logs when it is not, stop it
by PID and remove the directory. Every backend that runs a program (slapd,
redis-server, nginx, Apache, Samba) is one of these.

    class Thing(ServerProcess):
        name, prefix = 'thing', 'dagate-thing-'
        def __init__(self, ...): keep the arguments; super().__init__()
        def prepare(self): write config files under self.dir
        def start(self): self.spawn(argv, ports=[...])  (or ready=...)

    with Thing(...) as t: t.stop(); t.start(); t.kill()   the process only
                          t.close()                       and the directory
"""

import os
import shutil
import signal
import subprocess
import tempfile

from backends.ports import wait_for_ports, wait_until

START_TIMEOUT = 10.0


def run_checked(argv, *, timeout=180, env=None):
    """Run a set-up command to completion; its output, or AssertionError
    with that output when it fails."""
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout, env=env)
    if r.returncode != 0:
        raise AssertionError('%s failed (%d):\n%s'
                             % (' '.join(argv), r.returncode, r.stdout[-4000:]))
    return r.stdout


class ServerProcess:
    name = 'server'              # for messages
    prefix = 'dagate-server-'    # of the private directory
    output = 'output.log'        # the process's stdout and stderr, in self.dir
    logs = ('error.log',)        # shown, after the output, when it does not start
    start_timeout = START_TIMEOUT
    stop_timeout = 10.0

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix=self.prefix)
        self.proc = None
        self._out = None
        try:
            self.prepare()
            self.start()
        except BaseException:
            self.close()
            raise

    def path(self, name):
        return os.path.join(self.dir, name)

    def prepare(self):
        pass

    def start(self):
        raise NotImplementedError

    def spawn(self, argv, *, ports=(), host='127.0.0.1', ready=None, env=None, interval=0.05):
        """Run argv; return once every port in `ports` on `host` accepts a
        connection (or ready() is true), or fail with the server's logs."""
        self._out = open(self.path(self.output), 'ab')
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT, env=env)
        wait = dict(name=self.name, timeout=self.start_timeout, proc=self.proc,
                    details=self.error_log, interval=interval)
        try:
            if ready is None:
                wait_for_ports(ports, host=host, **wait)
            else:
                wait_until(ready, **wait)
        except BaseException:
            self.stop()
            raise

    def log(self, name=None):
        try:
            with open(self.path(name or self.output), errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def error_log(self):
        return ''.join(self.log(n)[-4000:] for n in (self.output,) + tuple(self.logs))

    def _close_output(self):
        if self._out is not None:
            self._out.close()
            self._out = None

    def stop(self):
        """SIGTERM (a graceful stop would wait for clients), then SIGKILL."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        self._close_output()

    def kill(self):
        """SIGKILL: connections die without a goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        self._close_output()

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
