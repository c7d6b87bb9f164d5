"""A private Apache httpd (Debian's apache2) with HTTP Digest authentication
(mod_auth_digest) over TLS, for the http provider's tests. ServerRoot,
config, logs, pid and mutexes live in a temporary directory; it listens on
a free loopback port and is stopped by PID. The system's apache2 service
and its configuration are never touched.

    with Apache(certs, users={'joe': 'pw'}) as a:
        a.url('/check')      https://127.0.0.1:PORT/check (Digest, realm REALM)

ApacheProcess is the private httpd itself; kerberos_web.py's
NegotiateApache is the other one. A server that cannot start raises: a
missing server is a failure.
"""

import hashlib
import os

from backends.ports import free_port
from backends.server import ServerProcess

APACHE = '/usr/sbin/apache2'
MODULES = '/usr/lib/apache2/modules'
REALM = 'dagate test'

# {modules}: LoadModule lines beyond the ones every instance needs;
# {log} and {body}: the instance's own logging and locations.
CONF = """
ServerRoot "{dir}"
ServerName localhost
DefaultRuntimeDir "{dir}/run"
PidFile "{dir}/run/httpd.pid"
Mutex file:{dir}/run default
ErrorLog "{dir}/error.log"
{log}
Listen 127.0.0.1:{port}
{user}
LoadModule mpm_event_module {mods}/mod_mpm_event.so
LoadModule authn_core_module {mods}/mod_authn_core.so
LoadModule authz_core_module {mods}/mod_authz_core.so
LoadModule authz_user_module {mods}/mod_authz_user.so
{modules}
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
{body}
"""

DIGEST_BODY = """
<Location "/check">
    AuthType Digest
    AuthName "{realm}"
    AuthDigestProvider file
    AuthUserFile "{dir}/htdigest"
    Require valid-user
</Location>
"""


class ApacheProcess(ServerProcess):
    """httpd on 127.0.0.1:self.port with TLS from `certs`. Subclasses set
    `modules` (module names), `log` and `pages`, and write what their
    `body()` names in prepare_files()."""

    name, prefix = 'apache2', 'dagate-apache-'
    host = '127.0.0.1'           # in url()
    modules = ()
    log = 'LogLevel warn'        # formatted with dir
    pages = ('check',)           # files in htdocs, each "ok"

    def __init__(self, certs):
        self.certs = certs
        self.port = free_port()
        self.env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C'}
        super().__init__()

    def prepare(self):
        # the children run as nobody when started by root: they read the
        # files prepare_files() writes
        os.chmod(self.dir, 0o755)
        for sub in ('run', 'htdocs'):
            os.makedirs(self.path(sub))
        for page in self.pages:
            with open(self.path('htdocs/' + page), 'w') as f:
                f.write('ok\n')
        self.prepare_files()
        modules = ''.join('LoadModule %s_module %s/mod_%s.so\n' % (m, MODULES, m)
                          for m in self.modules)
        user = 'User nobody\nGroup nogroup' if os.geteuid() == 0 else ''
        with open(self.path('httpd.conf'), 'w') as f:
            f.write(CONF.format(dir=self.dir, port=self.port, mods=MODULES, user=user,
                                cert=self.certs.cert, key=self.certs.key,
                                log=self.log.format(dir=self.dir), modules=modules,
                                body=self.body()))

    def prepare_files(self):
        pass

    def body(self):
        return ''

    def start(self):
        self.spawn([APACHE, '-f', self.path('httpd.conf'), '-DFOREGROUND'],
                   ports=[self.port], env=self.env)

    def url(self, path):
        return 'https://%s:%d%s' % (self.host, self.port, path)


class Apache(ApacheProcess):
    """mod_auth_digest on /check for `users`, realm REALM."""

    modules = ('authn_file', 'auth_digest')

    def __init__(self, certs, *, users):
        self.users = users
        super().__init__(certs)

    def prepare_files(self):
        with open(self.path('htdigest'), 'w') as f:
            for user, password in self.users.items():
                ha1 = hashlib.md5(('%s:%s:%s' % (user, REALM, password)).encode()).hexdigest()
                f.write('%s:%s:%s\n' % (user, REALM, ha1))

    def body(self):
        return DIGEST_BODY.format(realm=REALM, dir=self.dir)
