"""A private HAProxy (Debian's haproxy) load-balancing several dagate
instances, configured the way README's deployment section tells operators
to: a failed connection or an empty answer is retried, on another server.
Config, logs and stats socket live in a temporary directory; it listens on
a free loopback port, runs in the foreground and is stopped by PID.

    with HAProxy([(host, port, admin_port), ...]) as h:
        h.port             clients connect here
        h.log()            HAProxy's own output (warnings, server state changes)

Each server is health-checked with GET /healthz on its admin port.

A server that cannot start raises: a missing server is a failure.
"""

from backends.ports import free_port
from backends.server import ServerProcess

HAPROXY = '/usr/sbin/haproxy'

# README's snippet, plus what a private test instance needs (no chroot,
# no system log, no user switch, short health-check interval).
CONF = """
global
    maxconn 512

defaults
    mode http
    log stdout format raw local0
    option httplog
    timeout connect 2s
    timeout client 15s
    timeout server 15s
    # A connection refused or reset, or closed with no answer, is retried
    # on another server: dagate answers each Authenticate at most once, so
    # a request that got no answer is safe to send again.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
    option http-buffer-request

frontend sso
    bind 127.0.0.1:{port}
    default_backend dagate

backend dagate
    balance roundrobin
    option httpchk GET /healthz
    default-server check inter 500ms fall 2 rise 2
{servers}
"""


class HAProxy(ServerProcess):
    name, prefix = 'haproxy', 'dagate-haproxy-'
    output = 'haproxy.log'
    logs = ()

    def __init__(self, servers):
        self.servers = list(servers)
        self.port = free_port()
        super().__init__()

    def prepare(self):
        lines = ''.join('    server s%d %s:%d port %d\n' % (i, host, port, admin)
                        for i, (host, port, admin) in enumerate(self.servers))
        with open(self.path('haproxy.cfg'), 'w') as f:
            f.write(CONF.format(port=self.port, servers=lines))

    def start(self):
        # -db: foreground, no daemon; -W not needed for one process.
        self.spawn([HAPROXY, '-db', '-f', self.path('haproxy.cfg')], ports=[self.port])
