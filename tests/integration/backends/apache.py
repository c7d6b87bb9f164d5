"""A private Apache httpd (Debian's apache2) with HTTP Digest authentication
(mod_auth_digest) over TLS, for the http provider's tests. ServerRoot,
config, logs, pid and mutexes live in a temporary directory; it listens on
a free loopback port and is stopped by PID. The system's apache2 service
and its configuration are never touched.

    with Apache(certs, users={'joe': 'pw'}) as a:
        a.url('/check')      https://127.0.0.1:PORT/check (Digest, realm REALM)

A server that cannot start raises: a missing server is a failure.
"""

import hashlib
import os
import socket
import tempfile
from backends.server import ServerProcess

APACHE = '/usr/sbin/apache2'
MODULES = '/usr/lib/apache2/modules'
REALM = 'dagate test'


def free_port(host='127.0.0.1'):
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


CONF = """
ServerRoot "{dir}"
ServerName localhost
DefaultRuntimeDir "{dir}/run"
PidFile "{dir}/run/httpd.pid"
Mutex file:{dir}/run default
ErrorLog "{dir}/error.log"
LogLevel warn
Listen 127.0.0.1:{port}
{user}
LoadModule mpm_event_module {mods}/mod_mpm_event.so
LoadModule authn_core_module {mods}/mod_authn_core.so
LoadModule authn_file_module {mods}/mod_authn_file.so
LoadModule authz_core_module {mods}/mod_authz_core.so
LoadModule authz_user_module {mods}/mod_authz_user.so
LoadModule auth_digest_module {mods}/mod_auth_digest.so
LoadModule socache_shmcb_module {mods}/mod_socache_shmcb.so
LoadModule ssl_module {mods}/mod_ssl.so
StartServers 1
ServerLimit 1
ThreadsPerChild 16
MaxRequestWorkers 16
SSLEngine on
SSLProtocol -all +TLSv1.2 +TLSv1.3
SSLCertificateFile "{cert}"
SSLCertificateKeyFile "{key}"
SSLSessionCache "shmcb:{dir}/run/ssl_scache(131072)"
DocumentRoot "{dir}/htdocs"
<Directory "{dir}/htdocs">
    Require all granted
</Directory>
<Location "/check">
    AuthType Digest
    AuthName "{realm}"
    AuthDigestProvider file
    AuthUserFile "{dir}/htdigest"
    Require valid-user
</Location>
"""


class Apache(ServerProcess):
    name = 'apache2'

    def __init__(self, certs, *, users):
        self.dir = tempfile.mkdtemp(prefix='dagate-apache-')
        # children run as nobody when started by root: they read htdigest
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        for sub in ('run', 'htdocs'):
            os.makedirs(os.path.join(self.dir, sub))
        with open(os.path.join(self.dir, 'htdocs', 'check'), 'w') as f:
            f.write('ok\n')
        with open(os.path.join(self.dir, 'htdigest'), 'w') as f:
            for user, password in users.items():
                ha1 = hashlib.md5(('%s:%s:%s' % (user, REALM, password)).encode()).hexdigest()
                f.write('%s:%s:%s\n' % (user, REALM, ha1))
        user = 'User nobody\nGroup nogroup' if os.geteuid() == 0 else ''
        with open(os.path.join(self.dir, 'httpd.conf'), 'w') as f:
            f.write(CONF.format(dir=self.dir, port=self.port, mods=MODULES, cert=certs.cert,
                                key=certs.key, realm=REALM, user=user))
        self.proc = None
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        self.start([APACHE, '-f', os.path.join(self.dir, 'httpd.conf'), '-DFOREGROUND'],
                   [self.port], env={'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C'})

    def url(self, path):
        return 'https://127.0.0.1:%d%s' % (self.port, path)
