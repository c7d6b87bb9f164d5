"""A private nginx (Debian's nginx-light) as a TLS-terminating reverse proxy
in front of dagate, the way operators deploy it (README, operator's guide).
Prefix, config, logs and pid live in a temporary directory; it listens on
free loopback ports and is stopped by PID.

    with NginxProxy(certs, upstream_port) as n:
        n.edge_port    client -> edge (TLS) -> dagate; edge connects from EDGE_SOURCE
        n.outer_port   client -> outer (TLS) -> inner -> dagate: two proxies;
                       outer connects from OUTER_SOURCE, inner from EDGE_SOURCE

Every hop sets `X-Forwarded-For $proxy_add_x_forwarded_for` (what the
client sent, plus the address the proxy saw). `proxy_bind` gives each proxy
its own loopback source address, so dagate can tell them from clients.

A server that cannot start raises: a missing server is a failure.
"""

from backends.nginx import HEAD, NginxProcess
from backends.ports import free_port

EDGE_SOURCE = '127.0.0.4'    # the proxy that talks to dagate
OUTER_SOURCE = '127.0.0.3'   # the first of two chained proxies


CONF = HEAD + """
    log_format xff '$remote_addr "$http_x_forwarded_for" $status';
    access_log {dir}/access.log xff;

    # The operator's guide's snippet: TLS here, plain HTTP to dagate.
    server {{
        listen 127.0.0.1:{edge} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_bind {edge_source};
        }}
    }}
    # Two proxies in a row: outer (TLS) -> inner -> dagate.
    server {{
        listen 127.0.0.1:{outer} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{
            proxy_pass http://127.0.0.1:{inner};
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_bind {outer_source};
        }}
    }}
    server {{
        listen 127.0.0.1:{inner};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_bind {edge_source};
        }}
    }}
}}
"""


class NginxProxy(NginxProcess):
    prefix = 'dagate-nginx-proxy-'

    def __init__(self, certs, upstream_port):
        self.certs, self.upstream_port = certs, upstream_port
        self.edge_port = free_port()
        self.outer_port = free_port()
        self.inner_port = free_port()
        self.ports = (self.edge_port, self.outer_port, self.inner_port)
        super().__init__()

    def conf(self):
        return CONF.format(load='', connections=256, dir=self.dir, edge=self.edge_port,
                           outer=self.outer_port, inner=self.inner_port,
                           upstream=self.upstream_port, cert=self.certs.cert,
                           key=self.certs.key, edge_source=EDGE_SOURCE,
                           outer_source=OUTER_SOURCE)
