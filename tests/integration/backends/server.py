"""A web server process the tests run in a private directory: start it,
wait (bounded) until it listens, show its error log when it does not, stop
it by PID and remove the directory. apache.py, nginx.py, nginx_proxy.py and
kerberos_web.py build their config files and then call start()."""

import os
import shutil
import signal
import socket
import subprocess
import time

START_TIMEOUT = 10.0


class ServerProcess:
    """Subclasses set self.dir (their private directory, removed by stop())
    and self.proc = None, write their config, then call start()."""

    name = 'server'          # for messages

    def start(self, argv, ports, env=None):
        """Run argv; return once every port in `ports` accepts a connection,
        or fail with the server's stderr and error log."""
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + START_TIMEOUT
        for port in ports:
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError('%s exited with %d: %s %s' % (
                        self.name, self.proc.returncode,
                        self.proc.stderr.read().decode('utf-8', 'replace'), self.error_log()))
                try:
                    socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
                    break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError('%s did not listen within %.0f s: %s'
                                         % (self.name, START_TIMEOUT, self.error_log()))
                time.sleep(0.05)

    def error_log(self):
        try:
            with open(os.path.join(self.dir, 'error.log'), errors='replace') as f:
                return f.read()[-4000:]
        except OSError:
            return ''

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            # TERM stops at once; a graceful stop would wait for clients
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
