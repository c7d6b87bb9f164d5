"""A Samba 4 Active Directory domain controller in its own network
namespace, reached from the host through a veth pair on a private /30.

Provisioning (5-17 s) and user creation happen once into a cache directory
(DAGATE_SAMBA_CACHE, default /var/tmp/dagate-samba-cache); every SambaDC
copies it (cp -a, ~0.2 s), rewrites smb.conf, and starts `samba` inside
the namespace. Needs root, `ip netns`, and Debian's samba packages; any
failure raises (a missing server fails the test).

    with SambaDC() as dc:
        dc.ip, dc.ldaps_uri, dc.ldap_uri, dc.ca_cert, dc.admin_search(...)

SambaDC(plain_binds=True) also accepts simple binds over ldap:// without
TLS (for a proxy that must see the LDAP messages).
"""

import fcntl
import os
import shutil
import subprocess

from backends.server import ServerProcess, run_checked as _run

REALM = 'CORP.TEST'
DOMAIN = 'CORP'
BASE = 'DC=corp,DC=test'
ADMIN_PASSWORD = 'Admin-Pass-1x'
SVC_DN = 'CN=svc-dagate,CN=Users,' + BASE
SVC_PASSWORD = 'Svc-Pass-1x'
GROUP_DN = 'CN=Salesforce Users,CN=Users,' + BASE
PYTHON = '/usr/bin/python3'
CACHE_VERSION = 'v3'

# name: (password, mail, upn, special)
USERS = {
    'alice': ('Alice-Pass-1x', 'alice.mail@corp.test', 'alice@corp.test', None),
    'bob': ('Bob-Pass-1x', 'bob@corp.test', 'bob@partner.example', None),
    'dave': ('Dave-Pass-1x', 'dave@corp.test', 'dave@corp.test', 'disabled'),
    'erin': ('Erin-Pass-1x', 'erin@corp.test', 'erin@corp.test', 'expired'),
    'frank': ('Frank-Pass-1x', 'frank@corp.test', 'frank@corp.test', 'must_change'),
    'gina': ('Gina-Pass-1x', 'gina@corp.test', 'gina@corp.test', None),
    'henry': ('Henry-Pass-1x', 'henry@corp.test', 'henry@corp.test', None),
}
LOCKOUT_THRESHOLD = 5
# Plain enabled users spare000, spare001, ... (UPN spareNNN@corp.test), all
# with SPARE_PASSWORD, for tests that need many or fresh ones (badPwdCount
# 0): every SambaDC starts from the cache, so each module may use any of
# them. Made once with the cache (about 8 s for 250), not at each start.
SPARE_USERS = 250
SPARE_PASSWORD = 'Spare-Pass-7q'

_SETUP_SCRIPT = r'''
import sys
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB
import ldb

smbconf, users, spares = sys.argv[1], eval(sys.argv[2]), int(sys.argv[3])
lp = LoadParm()
lp.load(smbconf)
db = SamDB(url=lp.private_path('sam.ldb'), session_info=system_session(), lp=lp)
base = str(db.domain_dn())
db.newuser('svc-dagate', %(svc)r)
for name, (pw, mail, upn, special) in users.items():
    db.newuser(name, pw, mailaddress=mail,
               force_password_change_at_next_login_req=(special == 'must_change'))
    dn = 'CN=%%s,CN=Users,%%s' %% (name, base)
    mods = ['dn: ' + dn, 'changetype: modify', 'replace: userPrincipalName',
            'userPrincipalName: ' + upn]
    if special == 'expired':
        mods += ['-', 'replace: accountExpires', 'accountExpires: 116444736000000000']
    db.modify_ldif('\n'.join(mods) + '\n')
    if special == 'disabled':
        db.disable_account('(sAMAccountName=%%s)' %% name)
for i in range(spares):
    db.newuser('spare%%03d' %% i, %(spare)r)
db.newgroup('Salesforce Users')
db.newgroup('Sales EU')
db.add_remove_group_members('Sales EU', ['alice'], add_members_operation=True)
db.add_remove_group_members('Salesforce Users', ['Sales EU'], add_members_operation=True)
''' % {'svc': SVC_PASSWORD, 'spare': SPARE_PASSWORD}


def _cache_dir():
    return os.path.join(os.environ.get('DAGATE_SAMBA_CACHE', '/var/tmp/dagate-samba-cache'),
                        CACHE_VERSION)


def _provision(target):
    """Provision a domain with our users into target/dc."""
    os.makedirs(target)
    empty = os.path.join(target, 'empty.conf')
    open(empty, 'w').close()
    dc = os.path.join(target, 'dc')
    _run(['samba-tool', 'domain', 'provision', '-s', empty, '--targetdir=' + dc,
          '--realm=' + REALM, '--domain=' + DOMAIN, '--server-role=dc',
          '--dns-backend=SAMBA_INTERNAL', '--host-name=dc1', '--host-ip=10.213.0.2',
          '--adminpass=' + ADMIN_PASSWORD, '--use-rfc2307'])
    smbconf = os.path.join(dc, 'etc', 'smb.conf')
    _run(['samba-tool', 'domain', 'passwordsettings', 'set', '-s', smbconf,
          '--account-lockout-threshold=%d' % LOCKOUT_THRESHOLD, '--max-pwd-age=0',
          '--account-lockout-duration=30', '--reset-account-lockout-after=30'])
    _run([PYTHON, '-c', _SETUP_SCRIPT, smbconf, repr(USERS), str(SPARE_USERS)])


def provisioned():
    """Path of the cached provisioned directory (made on first use)."""
    cache = _cache_dir()
    ready = os.path.join(cache, 'ready')
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(ready):
            shutil.rmtree(cache, ignore_errors=True)
            tmp = cache + '.tmp'
            shutil.rmtree(tmp, ignore_errors=True)
            _provision(tmp)
            with open(os.path.join(tmp, 'ready'), 'w') as f:
                f.write(tmp + '\n')
            os.rename(tmp, cache)
    return cache


def _certs(directory, ip):
    """CA and server certificate for the DC's address (keys 0600)."""
    p = lambda n: os.path.join(directory, n)
    with open(p('ext'), 'w') as f:
        f.write('subjectAltName=IP:%s,DNS:dc1.corp.test\nbasicConstraints=critical,CA:FALSE\n'
                'keyUsage=critical,digitalSignature,keyEncipherment\n'
                'extendedKeyUsage=serverAuth\n' % ip)
    _run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'),
          '-out', p('ca.crt'), '-days', '2', '-subj', '/CN=dagate samba test CA',
          '-addext', 'basicConstraints=critical,CA:TRUE',
          '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
    _run(['openssl', 'req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('tls.key'),
          '-out', p('tls.csr'), '-subj', '/CN=dc1.corp.test'])
    _run(['openssl', 'x509', '-req', '-in', p('tls.csr'), '-CA', p('ca.crt'), '-CAkey',
          p('ca.key'), '-CAcreateserial', '-out', p('tls.crt'), '-days', '2', '-extfile', p('ext')])
    for k in ('ca.key', 'tls.key'):
        os.chmod(p(k), 0o600)


class SambaDC(ServerProcess):
    name, prefix, output = 'samba', 'dagate-samba-', 'samba.log'
    logs = ()
    start_timeout = 40.0
    stop_timeout = 15.0

    def __init__(self, plain_binds=False):
        self.plain_binds = plain_binds
        if os.geteuid() != 0:
            raise AssertionError('the Samba AD tests need root (network namespace)')
        tag = os.getpid() % 200 + 20
        self.ns = 'dagate-smb-%d' % os.getpid()
        self.veth_host, self.veth_ns = 'dgsh%d' % os.getpid(), 'dgsn%d' % os.getpid()
        self.host_ip, self.ip = '10.213.%d.1' % tag, '10.213.%d.2' % tag
        self._ns_made = False
        super().__init__()

    def prepare(self):
        self._setup()
        self._netns()

    def _setup(self):
        cache = provisioned()
        dc = os.path.join(self.dir, 'dc')
        _run(['cp', '-a', os.path.join(cache, 'dc'), dc])
        tls = os.path.join(self.dir, 'tls')
        os.makedirs(tls)
        _certs(tls, self.ip)
        self.ca_cert = os.path.join(tls, 'ca.crt')
        smbconf = os.path.join(dc, 'etc', 'smb.conf')
        with open(os.path.join(cache, 'ready')) as f:
            provisioned_at = f.read().strip()  # smb.conf's absolute paths start there
        with open(smbconf) as f:
            text = f.read().replace(os.path.join(provisioned_at, 'dc'), dc)
        extra = ('\tserver services = -dns -dnsupdate -nbt -wrepl -ntp_signd -kcc -drepl\n'
                 '\tdisable netbios = yes\n\tinterfaces = %s\n\tbind interfaces only = yes\n'
                 '\ttls enabled = yes\n\ttls keyfile = %s/tls.key\n\ttls certfile = %s/tls.crt\n'
                 '\ttls cafile = %s/ca.crt\n\tlog level = 1\n'
                 # own pid files: another DC (or a stale /run/samba/samba.pid)
                 # must not stop this one from starting
                 '\tpid directory = %s\n'
                 % (self.ip, tls, tls, tls, os.path.join(self.dir, 'run')))
        if self.plain_binds:
            extra += '\tldap server require strong auth = no\n'
        os.makedirs(os.path.join(self.dir, 'run'), exist_ok=True)
        text = text.replace('[global]\n', '[global]\n' + extra, 1)
        with open(smbconf, 'w') as f:
            f.write(text)
        self.smbconf = smbconf

    def _netns(self):
        _run(['ip', 'netns', 'add', self.ns])
        self._ns_made = True
        ns = ['ip', 'netns', 'exec', self.ns]
        _run(['ip', 'link', 'add', self.veth_host, 'type', 'veth', 'peer', 'name', self.veth_ns])
        _run(['ip', 'link', 'set', self.veth_ns, 'netns', self.ns])
        _run(['ip', 'addr', 'add', self.host_ip + '/30', 'dev', self.veth_host])
        _run(['ip', 'link', 'set', self.veth_host, 'up'])
        _run(ns + ['ip', 'link', 'set', 'lo', 'up'])
        _run(ns + ['ip', 'addr', 'add', self.ip + '/30', 'dev', self.veth_ns])
        _run(ns + ['ip', 'link', 'set', self.veth_ns, 'up'])

    @property
    def ldaps_uri(self):
        return 'ldaps://%s' % self.ip

    @property
    def ldap_uri(self):
        return 'ldap://%s' % self.ip

    def start(self):
        self.spawn(['ip', 'netns', 'exec', self.ns, 'samba', '-M', 'single', '-F', '-s',
                    self.smbconf, '--maximum-runtime=900', '--debug-stdout'],
                   ready=self._answers, interval=0.3)

    def _answers(self):
        """An anonymous rootDSE search names the domain."""
        r = subprocess.run(['ldapsearch', '-x', '-H', self.ldap_uri, '-s', 'base', '-b', '',
                            'defaultNamingContext'], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=10,
                           env=dict(os.environ, LDAPNOINIT='1'))
        return r.returncode == 0 and BASE in r.stdout

    def ldap_tool(self, tool, *args, binddn='Administrator@' + REALM.lower(),
                  password=ADMIN_PASSWORD, timeout=30):
        """An OpenLDAP client tool over ldaps, bound as binddn."""
        return subprocess.run([tool, '-x', '-H', self.ldaps_uri, '-D', binddn, '-w', password]
                              + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout,
                              env=dict(os.environ, LDAPTLS_CACERT=self.ca_cert,
                                       LDAPTLS_REQCERT='demand'))

    def admin_search(self, dn, *attrs):
        """Base search as Administrator over ldaps; {attr: value} (first values)."""
        r = self.ldap_tool('ldapsearch', '-LLL', '-s', 'base', '-b', dn, *attrs)
        if r.returncode != 0:
            raise AssertionError('ldapsearch failed: %s' % r.stdout)
        out = {}
        for line in r.stdout.splitlines():
            if ': ' in line:
                k, v = line.split(': ', 1)
                out.setdefault(k, v)
        return out

    def close(self):
        self.stop()
        if self._ns_made:
            subprocess.run(['ip', 'netns', 'del', self.ns], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            subprocess.run(['ip', 'link', 'del', self.veth_host], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            self._ns_made = False
        shutil.rmtree(self.dir, ignore_errors=True)
