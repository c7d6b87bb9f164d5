"""A private redis-server (Debian's redis-server 7.0) for the token tests.

    with RedisServer(password='pw') as r:
        r.url                      redis://127.0.0.1:PORT
        r.command('GET', 'k')      one command over RESP (bytes/int/list/None)
        r.dump()                   every key with its value(s), for scans
        r.stop(); r.start()        stop (SIGKILL) and start again on the same port

Loopback only, its own port and directory. Persistence is one of
PERSISTENCE: 'none' (the default: `save ""`, `appendonly no`, a restarted
server is empty; dagate takes it, nothing can come back), 'aof-always'
(every write fsync'd before the answer: what dagate asks for), and two it
refuses, 'rdb' (snapshots only) and 'aof-everysec'. A restart keeps the
directory, so what was persisted is loaded again. Stopped by PID. A server
that cannot start raises: a missing server is a failure, not a skip.
"""

import socket

from backends.ports import free_port
from backends.server import ServerProcess

REDIS_BIN = '/usr/bin/redis-server'

PERSISTENCE = {
    'none': ['--save', '', '--appendonly', 'no'],
    'rdb': ['--save', '3600 1', '--appendonly', 'no'],
    'aof-always': ['--save', '', '--appendonly', 'yes', '--appendfsync', 'always'],
    'aof-everysec': ['--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec'],
}


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


class RedisServer(ServerProcess):
    name, prefix = 'redis-server', 'dagate-redis-'
    logs = ('redis.log',)
    start_timeout = 5.0

    def __init__(self, *, password=None, port=None, extra_args=(), persistence='none'):
        self.password = password
        self.persistence = PERSISTENCE[persistence]
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.url = 'redis://127.0.0.1:%d' % self.port
        super().__init__()

    def start(self):
        args = [REDIS_BIN, '--bind', '127.0.0.1', '--port', str(self.port)] + self.persistence + [
            '--dir', self.dir, '--loglevel', 'warning', '--logfile', self.path('redis.log'),
            '--daemonize', 'no']
        if self.password:
            args += ['--requirepass', self.password]
        self.spawn(args + self.extra_args, ready=self._pong, interval=0.02)

    def _pong(self):
        try:
            return self.command('PING') == b'PONG'
        except (OSError, RedisError):
            return False

    def stop(self):
        """SIGKILL: what a crash looks like to dagate (nothing is saved on
        the way down; what was persisted before stays)."""
        self.kill()

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
