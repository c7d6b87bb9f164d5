"""A private OpenLDAP slapd: cn=config built with slapadd -n0, users with
slapadd -n1, ldap:// and ldaps:// on free loopback ports, TLS from a CA made
at test time.

    with Slapd(certs, users=[...]) as s:
        s.ldap_uri, s.ldaps_uri, s.stop(), s.start(), s.kill()
"""

import base64
import hashlib
import os
import subprocess

from backends.ports import free_port
from backends.server import ServerProcess, run_checked

SUFFIX = 'dc=example,dc=test'
SVC_DN = 'cn=svc,' + SUFFIX
SVC_PASSWORD = 'svc-secret-1'
GROUP_DN = 'cn=sf-users,ou=groups,' + SUFFIX
SLAPD = '/usr/sbin/slapd'
SLAPADD = '/usr/sbin/slapadd'


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


class Slapd(ServerProcess):
    """A running private slapd. `host` may be any 127/8 address."""

    name, prefix, output = 'slapd', 'dagate-slapd-', 'slapd.log'
    logs = ()

    def __init__(self, certs, *, users=DEFAULT_USERS, group_members=GROUP_MEMBERS,
                 bind_anon_dn=False, ppolicy=False, extra_ldif='', hosts=('127.0.0.1',)):
        self.certs = certs
        self.hosts = hosts
        self.ldap_port = free_port()
        self.ldaps_port = free_port()
        self.bind_anon_dn, self.ppolicy = bind_anon_dn, ppolicy
        self.data = _data_ldif(users, group_members, ppolicy=ppolicy, extra=extra_ldif)
        super().__init__()

    def prepare(self):
        os.makedirs(self.path('slapd.d'))
        os.makedirs(self.path('data'))
        self._write('config.ldif', _config_ldif(self.dir, self.certs,
                                                bind_anon_dn=self.bind_anon_dn,
                                                ppolicy=self.ppolicy))
        self._write('data.ldif', self.data)
        for n, ldif in (('-n0', 'config.ldif'), ('-n1', 'data.ldif')):
            run_checked([SLAPADD, n, '-F', self.path('slapd.d'), '-l', self.path(ldif)],
                        timeout=60)

    def _write(self, name, text):
        with open(self.path(name), 'w') as f:
            f.write(text)

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
        self.spawn([SLAPD, '-F', self.path('slapd.d'), '-h', urls, '-d', '0'],
                   ports=(self.ldaps_port, self.ldap_port), host=self.hosts[0])

    def ldap_tool(self, tool, *args, binddn=None, password=None, env=None):
        """Run an ldap-utils tool against this server; CompletedProcess."""
        argv = [tool, '-x', '-H', self.ldaps_uri]
        if binddn is not None:
            argv += ['-D', binddn, '-w', password]
        e = dict(os.environ, LDAPTLS_CACERT=self.certs.ca_cert, LDAPTLS_REQCERT='demand')
        e.update(env or {})
        return subprocess.run(argv + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=30, env=e)
