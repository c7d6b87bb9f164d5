"""A private nginx (Debian's nginx-light) with HTTP Basic authentication over
TLS, for the http provider's tests. Prefix, config, logs and pid live in a
temporary directory; it listens on free loopback ports and is stopped by PID.

    with Nginx(certs, users={'joe': 'pw'}) as n:
        n.url('/check')      https://127.0.0.1:PORT/check
        n.requests()         [(method, path, status, remote_user)] from the access log

Locations on the TLS port (all but /open require valid Basic credentials):
  /check      200 "ok"
  /open       200 to anyone (the negative control must catch it)
  /slow       200 after SLOW_SECONDS (echo_sleep)
  /redirect   302 to /check (proxied, so only after authentication)
  /error      500 (proxied, after authentication)
  /forbidden  403 to everyone (deny all)

A server that cannot start raises: a missing server is a failure.
"""

import os
import subprocess

from backends.ports import free_port
from backends.server import ServerProcess

NGINX = '/usr/sbin/nginx'
ECHO_MODULE = '/usr/lib/nginx/modules/ngx_http_echo_module.so'
SLOW_SECONDS = 5


# Every private nginx: in the foreground, one worker, every file under
# {dir}. The instance's CONF goes on with its http settings and servers.
HEAD = """
{load}
daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections {connections}; }}
http {{
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
"""

CONF = HEAD + """
    log_format dagate '$request_method $uri $status "$remote_user"';
    access_log {dir}/access.log dagate;
    default_type text/plain;

    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        auth_basic "dagate test";
        auth_basic_user_file {dir}/htpasswd;

        location = /check {{ echo "ok"; }}
        location = /open {{ auth_basic off; echo "anyone"; }}
        location = /slow {{ echo_sleep {slow}; echo "ok"; }}
        location = /redirect {{ proxy_pass http://127.0.0.1:{inner}/r302; }}
        location = /error {{ proxy_pass http://127.0.0.1:{inner}/r500; }}
        location = /forbidden {{ deny all; echo "never"; }}
    }}
    server {{
        listen 127.0.0.1:{inner};
        location = /r302 {{ return 302 https://127.0.0.1:{port}/check; }}
        location = /r500 {{ return 500; }}
    }}
}}
"""


def _sha512_crypt(password):
    r = subprocess.run(['openssl', 'passwd', '-6', '-stdin'], input=password.encode(),
                       stdout=subprocess.PIPE, check=True, timeout=30)
    return r.stdout.decode().strip()


class NginxProcess(ServerProcess):
    """nginx -p self.dir with the config conf() returns; ready when every
    port in self.ports accepts."""

    name = 'nginx'

    def prepare(self):
        # workers run as nobody when started by root: they read what
        # prepare_files() writes
        os.chmod(self.dir, 0o755)
        os.makedirs(self.path('tmp'))
        self.prepare_files()
        with open(self.path('nginx.conf'), 'w') as f:
            f.write(self.conf())

    def prepare_files(self):
        pass

    def start(self):
        self.spawn([NGINX, '-p', self.dir, '-e', self.path('error.log'),
                    '-c', self.path('nginx.conf')], ports=self.ports)


class Nginx(NginxProcess):
    prefix = 'dagate-nginx-'

    def __init__(self, certs, *, users):
        self.certs, self.users = certs, users
        self.port = free_port()
        self.inner = free_port()
        self.ports = [self.port]
        super().__init__()

    def prepare_files(self):
        with open(self.path('htpasswd'), 'w') as f:
            for user, password in self.users.items():
                f.write('%s:%s\n' % (user, _sha512_crypt(password)))

    def conf(self):
        return CONF.format(load='load_module %s;' % ECHO_MODULE, connections=128, dir=self.dir,
                           port=self.port, inner=self.inner, cert=self.certs.cert,
                           key=self.certs.key, slow=SLOW_SECONDS)

    def url(self, path):
        return 'https://127.0.0.1:%d%s' % (self.port, path)

    def requests(self):
        """[(method, path, status, remote_user)] from the access log."""
        out = []
        try:
            with open(self.path('access.log'), errors='replace') as f:
                for line in f:
                    parts = line.split(' ', 3)
                    if len(parts) == 4:
                        out.append((parts[0], parts[1], int(parts[2]), parts[3].strip().strip('"')))
        except FileNotFoundError:
            pass
        return out
