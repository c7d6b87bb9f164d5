"""A private redis-server (Debian's redis-server 7.0) for the token tests.

    with RedisServer(password='pw') as r:
        r.url                      redis://127.0.0.1:PORT
        r.command('GET', 'k')      one command over RESP (bytes/int/list/None)
        r.dump()                   every key with its value(s), for scans
        r.stop(); r.start()        stop (SIGKILL) and start again on the same port

Loopback only, its own port and directory, no persistence (`save ""`,
`appendonly no`): a restarted server is empty. Stopped by PID. A server
that cannot start raises: a missing server is a failure, not a skip.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REDIS_BIN = '/usr/bin/redis-server'
START_TIMEOUT = 5.0


def free_port(host='127.0.0.1'):
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class RedisError(Exception):
    pass


def _encode(args):
    out = b'*%d\r\n' % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b'$%d\r\n%s\r\n' % (len(a), a)
    return out


class _Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b''

    def _line(self):
        while b'\r\n' not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError('redis closed the connection')
            self.buf += chunk
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError('redis closed the connection')
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b'+':
            return rest
        if kind == b'-':
            raise RedisError(rest.decode('utf-8', 'replace'))
        if kind == b':':
            return int(rest)
        if kind == b'$':
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b'*':
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RedisError('bad reply %r' % line)


class RedisServer:
    def __init__(self, *, password=None, port=None, extra_args=()):
        self.password = password
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.dir = tempfile.mkdtemp(prefix='dagate-redis-')
        self.proc = None
        self.url = 'redis://127.0.0.1:%d' % self.port
        self.start()

    def start(self):
        args = [REDIS_BIN, '--bind', '127.0.0.1', '--port', str(self.port), '--save', '',
                '--appendonly', 'no', '--dir', self.dir, '--loglevel', 'warning',
                '--logfile', os.path.join(self.dir, 'redis.log'), '--daemonize', 'no']
        if self.password:
            args += ['--requirepass', self.password]
        self.proc = subprocess.Popen(args + self.extra_args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if self.command('PING') == b'PONG':
                    return
            except (OSError, RedisError):
                pass
            if self.proc.poll() is not None:
                raise AssertionError('redis-server exited with %d' % self.proc.returncode)
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError('redis-server did not answer within %.0f s' % START_TIMEOUT)
            time.sleep(0.02)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def command(self, *args, timeout=5.0):
        with socket.create_connection(('127.0.0.1', self.port), timeout=timeout) as s:
            reader = _Reader(s)
            if self.password:
                s.sendall(_encode(['AUTH', self.password]))
                reader.reply()
            s.sendall(_encode(args))
            return reader.reply()

    def dump(self):
        """{key: value} for every key (strings as bytes, sorted sets as the
        list of members and scores)."""
        out = {}
        for key in self.command('KEYS', '*'):
            kind = self.command('TYPE', key)
            if kind == b'string':
                out[key] = self.command('GET', key)
            elif kind == b'zset':
                out[key] = self.command('ZRANGE', key, '0', '-1', 'WITHSCORES')
            else:
                out[key] = kind
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False
