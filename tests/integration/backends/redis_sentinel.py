"""A private redis-sentinel (Debian's redis-sentinel 7.0) watching one
master, for the sentinel store tests.

    with SentinelServer('mymaster', master_port, password='pw') as s:
        s.port
        s.master_addr()            ('127.0.0.1', port) or None, as this sentinel sees it
        s.kill()                   SIGKILL

Loopback only, its own port and directory (the sentinel rewrites its
configuration file there). down-after-milliseconds 1000 and a short
failover-timeout, so a killed master is replaced within seconds. A
sentinel that cannot start raises: a missing server is a failure, not a
skip.
"""

import socket

from backends.ports import free_port
from backends.redis import RedisError, _encode, _Reader
from backends.server import ServerProcess

SENTINEL_BIN = '/usr/bin/redis-sentinel'


class SentinelServer(ServerProcess):
    name, prefix = 'redis-sentinel', 'dagate-sentinel-'
    logs = ('sentinel.log',)
    start_timeout = 5.0

    def __init__(self, master_name, master_port, *, password=None, quorum=2):
        self.master_name = master_name
        self.master_port = master_port
        self.password = password
        self.quorum = quorum
        self.port = free_port()
        super().__init__()

    def prepare(self):
        lines = [
            'port %d' % self.port,
            'bind 127.0.0.1',
            'daemonize no',
            'dir %s' % self.dir,
            'logfile %s' % self.path('sentinel.log'),
            'sentinel monitor %s 127.0.0.1 %d %d' % (self.master_name, self.master_port,
                                                     self.quorum),
            'sentinel down-after-milliseconds %s 1000' % self.master_name,
            'sentinel failover-timeout %s 3000' % self.master_name,
            'sentinel parallel-syncs %s 1' % self.master_name,
        ]
        if self.password:
            lines.append('sentinel auth-pass %s %s' % (self.master_name, self.password))
        with open(self.path('sentinel.conf'), 'w') as f:
            f.write('\n'.join(lines) + '\n')

    def start(self):
        self.spawn([SENTINEL_BIN, self.path('sentinel.conf')], ready=self._answers,
                   interval=0.02)

    def _answers(self):
        try:
            return self.master_addr() is not None
        except (OSError, RedisError):
            return False

    def command(self, *args, timeout=5.0):
        with socket.create_connection(('127.0.0.1', self.port), timeout=timeout) as s:
            reader = _Reader(s)
            s.sendall(_encode(args))
            return reader.reply()

    def master_addr(self):
        r = self.command('SENTINEL', 'get-master-addr-by-name', self.master_name)
        return None if r is None else (r[0].decode(), int(r[1]))
