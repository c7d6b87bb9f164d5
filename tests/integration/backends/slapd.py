"""A private OpenLDAP slapd: cn=config built with slapadd -n0, users with
slapadd -n1, ldap:// and ldaps:// on free loopback ports, TLS from a CA made
at test time.

    with Slapd(certs, users=[...]) as s:
        s.ldap_uri, s.ldaps_uri, s.stop(), s.start(), s.kill()
"""

import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

SUFFIX = 'dc=example,dc=test'
SVC_DN = 'cn=svc,' + SUFFIX
SVC_PASSWORD = 'svc-secret-1'
GROUP_DN = 'cn=sf-users,ou=groups,' + SUFFIX
SLAPD = '/usr/sbin/slapd'
SLAPADD = '/usr/sbin/slapadd'
START_TIMEOUT = 10.0


def free_port(host='127.0.0.1'):
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ssha(password):
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return '{SSHA}' + base64.b64encode(digest + salt).decode()


def user_dn(uid):
    return 'uid=%s,ou=people,%s' % (uid, SUFFIX)


# uid, password, mail
DEFAULT_USERS = [
    ('alice', 'alice-pw-1', 'alice@example.test'),
    ('bob', 'bob-pw-1', 'bob@example.test'),
    ('carol', 'carol-pw-1', 'carol@example.test'),
    ('dup1', 'dup-pw-1', 'dup@example.test'),
    ('dup2', 'dup-pw-1', 'dup@example.test'),
]
GROUP_MEMBERS = ['alice', 'carol']


def _config_ldif(d, certs, *, bind_anon_dn, ppolicy):
    mods = ['back_mdb'] + (['ppolicy'] if ppolicy else [])
    out = ['dn: cn=config', 'objectClass: olcGlobal', 'cn: config',
           'olcPidFile: %s/slapd.pid' % d,
           'olcTLSCACertificateFile: %s' % certs.ca_cert,
           'olcTLSCertificateFile: %s' % certs.cert,
           'olcTLSCertificateKeyFile: %s' % certs.key]
    if bind_anon_dn:
        out.append('olcAllows: bind_anon_dn')
    out += ['', 'dn: cn=module{0},cn=config', 'objectClass: olcModuleList', 'cn: module{0}',
            'olcModulePath: /usr/lib/ldap'] + ['olcModuleLoad: %s' % m for m in mods]
    out += ['', 'dn: cn=schema,cn=config', 'objectClass: olcSchemaConfig', 'cn: schema', '']
    for schema in ('core', 'cosine', 'nis', 'inetorgperson'):
        out += ['include: file:///etc/ldap/schema/%s.ldif' % schema, '']
    out += ['dn: olcDatabase={-1}frontend,cn=config', 'objectClass: olcDatabaseConfig',
            'objectClass: olcFrontendConfig', 'olcDatabase: {-1}frontend', '',
            'dn: olcDatabase={0}config,cn=config', 'objectClass: olcDatabaseConfig',
            'olcDatabase: {0}config', 'olcAccess: {0}to * by * none', '',
            'dn: olcDatabase={1}mdb,cn=config', 'objectClass: olcDatabaseConfig',
            'objectClass: olcMdbConfig', 'olcDatabase: {1}mdb',
            'olcSuffix: %s' % SUFFIX, 'olcRootDN: cn=admin,%s' % SUFFIX,
            'olcRootPW: admin-pw-1', 'olcDbDirectory: %s/data' % d,
            'olcDbIndex: objectClass eq', 'olcDbIndex: uid,mail eq', 'olcDbIndex: member eq',
            'olcAccess: {0}to attrs=userPassword by self write by anonymous auth by * none',
            'olcAccess: {1}to * by * read', '']
    if ppolicy:
        out += ['dn: olcOverlay={0}ppolicy,olcDatabase={1}mdb,cn=config',
                'objectClass: olcOverlayConfig', 'objectClass: olcPPolicyConfig',
                'olcOverlay: {0}ppolicy',
                'olcPPolicyDefault: cn=default,ou=policies,%s' % SUFFIX,
                'olcPPolicyUseLockout: TRUE', '']
    return '\n'.join(out) + '\n'


def _data_ldif(users, group_members, *, ppolicy, extra):
    out = ['dn: %s' % SUFFIX, 'objectClass: dcObject', 'objectClass: organization',
           'dc: example', 'o: example', '',
           'dn: ou=people,%s' % SUFFIX, 'objectClass: organizationalUnit', 'ou: people', '',
           'dn: ou=groups,%s' % SUFFIX, 'objectClass: organizationalUnit', 'ou: groups', '',
           'dn: %s' % SVC_DN, 'objectClass: person', 'cn: svc', 'sn: svc',
           'userPassword: %s' % ssha(SVC_PASSWORD), '']
    for uid, password, mail in users:
        out += ['dn: %s' % user_dn(uid), 'objectClass: inetOrgPerson', 'uid: %s' % uid,
                'cn: %s' % uid, 'sn: %s' % uid, 'mail: %s' % mail,
                'userPassword: %s' % ssha(password), '']
    out += ['dn: %s' % GROUP_DN, 'objectClass: groupOfNames', 'cn: sf-users']
    out += ['member: %s' % user_dn(u) for u in group_members] + ['']
    if ppolicy:
        out += ['dn: ou=policies,%s' % SUFFIX, 'objectClass: organizationalUnit',
                'ou: policies', '',
                'dn: cn=default,ou=policies,%s' % SUFFIX, 'objectClass: device',
                'objectClass: pwdPolicy', 'cn: default', 'pwdAttribute: userPassword',
                'pwdMaxFailure: 3', 'pwdLockout: TRUE', 'pwdLockoutDuration: 0', '']
    return '\n'.join(out) + '\n' + extra


class Slapd:
    """A running private slapd. `host` may be any 127/8 address."""

    def __init__(self, certs, *, users=DEFAULT_USERS, group_members=GROUP_MEMBERS,
                 bind_anon_dn=False, ppolicy=False, extra_ldif='', hosts=('127.0.0.1',)):
        self.dir = tempfile.mkdtemp(prefix='dagate-slapd-')
        self.certs = certs
        self.hosts = hosts
        self.ldap_port = free_port()
        self.ldaps_port = free_port()
        self.proc = None
        self._log = None
        os.makedirs(os.path.join(self.dir, 'slapd.d'))
        os.makedirs(os.path.join(self.dir, 'data'))
        self._write('config.ldif', _config_ldif(self.dir, certs, bind_anon_dn=bind_anon_dn,
                                                ppolicy=ppolicy))
        self._write('data.ldif', _data_ldif(users, group_members, ppolicy=ppolicy,
                                            extra=extra_ldif))
        try:
            self._run([SLAPADD, '-n0', '-F', self.path('slapd.d'), '-l', self.path('config.ldif')])
            self._run([SLAPADD, '-n1', '-F', self.path('slapd.d'), '-l', self.path('data.ldif')])
            self.start()
        except BaseException:
            self.stop()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def path(self, name):
        return os.path.join(self.dir, name)

    def _write(self, name, text):
        with open(self.path(name), 'w') as f:
            f.write(text)

    def _run(self, argv):
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=60)
        if r.returncode != 0:
            raise AssertionError('%s failed (%d):\n%s' % (' '.join(argv), r.returncode, r.stdout))

    def uri(self, tls, host=None):
        host = host or self.hosts[0]
        return ('ldaps://%s:%d' if tls else 'ldap://%s:%d') % (
            host, self.ldaps_port if tls else self.ldap_port)

    @property
    def ldap_uri(self):
        return self.uri(False)

    @property
    def ldaps_uri(self):
        return self.uri(True)

    def start(self):
        urls = ' '.join('ldap://%s:%d/ ldaps://%s:%d/' % (h, self.ldap_port, h, self.ldaps_port)
                        for h in self.hosts)
        self._log = open(self.path('slapd.log'), 'ab')
        self.proc = subprocess.Popen([SLAPD, '-F', self.path('slapd.d'), '-h', urls, '-d', '0'],
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise AssertionError('slapd exited with %d:\n%s' % (self.proc.returncode, self.log()))
            try:
                socket.create_connection((self.hosts[0], self.ldaps_port), timeout=0.5).close()
                socket.create_connection((self.hosts[0], self.ldap_port), timeout=0.5).close()
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError('slapd not listening within %.0f s:\n%s'
                                     % (START_TIMEOUT, self.log()))
            time.sleep(0.05)

    def log(self):
        try:
            with open(self.path('slapd.log'), errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def _close_log(self):
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self):
        """SIGKILL: connections die without a goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        self._close_log()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        self._close_log()

    def ldap_tool(self, tool, *args, binddn=None, password=None, env=None):
        """Run an ldap-utils tool against this server; CompletedProcess."""
        argv = [tool, '-x', '-H', self.ldaps_uri]
        if binddn is not None:
            argv += ['-D', binddn, '-w', password]
        e = dict(os.environ, LDAPTLS_CACERT=self.certs.ca_cert, LDAPTLS_REQCERT='demand')
        e.update(env or {})
        return subprocess.run(argv + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=30, env=e)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
