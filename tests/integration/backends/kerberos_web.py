"""Kerberos around a running SambaDC (backends/samba.py) for the http
provider's Negotiate tests: a service account with an HTTP/ SPN and its
keytab, a private krb5.conf, and a private Apache httpd with mod_auth_gssapi
that accepts tickets for that SPN over TLS.

    with SambaDC() as dc:
        kdc = KerberosSetup(dc, workdir)          # svc account, SPN, keytab, krb5.conf
        with NegotiateApache(certs, kdc) as web:  # https://localhost:PORT/...
            web.url('/check'), web.requests()

Apache runs on the host (loopback), dagate too; the KDC is reached over the
veth pair the SambaDC sets up. Nothing here edits the system's krb5.conf or
the Samba cache. Any failure raises: a server that cannot start fails the test.

Locations (TLS only):
  /check      200 to any valid Kerberos user (mod_auth_gssapi, Require valid-user)
  /only-bob   200 to bob@REALM only: another valid user gets 401
"""

import os
import shutil
import subprocess

from backends.apache import ApacheProcess
from backends.samba import PYTHON, REALM
from backends.server import run_checked

WEB_HOST = 'localhost'          # the URL's host: the SPN is HTTP/localhost
SVC_NAME = 'svc-http'
SVC_PASSWORD = 'Svc-Http-Pass-1x'

# One service account with an AES-capable HTTP/ SPN (msDS-SupportedEncryptionTypes
# 24 = AES128|AES256: without it the exported keytab holds RC4 only).
_SPN_SCRIPT = r'''
import sys
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB
smbconf, name, pw, spn = sys.argv[1:5]
lp = LoadParm()
lp.load(smbconf)
db = SamDB(url=lp.private_path('sam.ldb'), session_info=system_session(), lp=lp)
db.newuser(name, pw)
dn = 'CN=%s,CN=Users,%s' % (name, db.domain_dn())
db.modify_ldif('dn: %s\nchangetype: modify\nreplace: msDS-SupportedEncryptionTypes\n'
               'msDS-SupportedEncryptionTypes: 24\n-\nreplace: servicePrincipalName\n'
               'servicePrincipalName: %s\n' % (dn, spn))
'''


def write_krb5_conf(path, kdc):
    """A krb5.conf for REALM with `kdc` ("host" or "host:port") and no DNS."""
    with open(path, 'w') as f:
        f.write('[libdefaults]\n default_realm = %s\n dns_lookup_kdc = false\n'
                ' dns_lookup_realm = false\n rdns = false\n dns_canonicalize_hostname = false\n'
                '\n[realms]\n %s = {\n  kdc = %s\n }\n' % (REALM, REALM, kdc))
    return path


class KerberosSetup:
    """SPN HTTP/`host` on a new service account `svc`, its keytab, a krb5.conf."""

    def __init__(self, dc, workdir, *, host=WEB_HOST, svc=SVC_NAME):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.spn = 'HTTP/%s' % host
        run_checked([PYTHON, '-c', _SPN_SCRIPT, dc.smbconf, svc, SVC_PASSWORD, self.spn])
        self.keytab = os.path.join(workdir, 'http.keytab')
        run_checked(['samba-tool', 'domain', 'exportkeytab', self.keytab, '-s', dc.smbconf,
                     '--principal=%s@%s' % (self.spn, REALM)])
        klist = run_checked(['klist', '-k', '-e', self.keytab])
        if 'aes256' not in klist.lower():
            raise AssertionError('keytab holds no AES key:\n' + klist)
        self.krb5_conf = write_krb5_conf(os.path.join(workdir, 'krb5.conf'), dc.ip)

    def kinit(self, principal, password, ccache, *, enterprise=False):
        """kinit with the private krb5.conf; returns the CompletedProcess."""
        env = dict(os.environ, KRB5_CONFIG=self.krb5_conf, KRB5CCNAME=ccache)
        return subprocess.run(['kinit'] + (['-E'] if enterprise else []) + [principal],
                              input=password + '\n', text=True, env=env, timeout=20,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


NEGOTIATE_LOG = """LogLevel warn auth_gssapi:info
LogFormat "%{{remote}}p %r %>s \\"%u\\"" dagate
CustomLog "{dir}/access.log" dagate"""

NEGOTIATE_BODY = """
KeepAlive On
<LocationMatch "^/(check|only-bob)$">
    AuthType GSSAPI
    AuthName "dagate negotiate test"
    GssapiCredStore keytab:{keytab}
    GssapiAllowedMech krb5
    GssapiBasicAuth Off
</LocationMatch>
<Location "/check">
    Require valid-user
</Location>
<Location "/only-bob">
    Require user bob@{realm}
</Location>
"""


class NegotiateApache(ApacheProcess):
    """Apache + mod_auth_gssapi on 127.0.0.1:PORT with the keytab of `kdc`
    (a KerberosSetup). requests() reads the access log:
    [(client_port, method, path, status, remote_user)]."""

    prefix = 'dagate-gssweb-'
    host = WEB_HOST
    modules = ('auth_gssapi',)
    pages = ('check', 'only-bob')
    log = NEGOTIATE_LOG

    def __init__(self, certs, kdc):
        self.kdc = kdc
        super().__init__(certs)

    def prepare_files(self):
        # the children read the keytab and krb5.conf
        for name, source in (('http.keytab', self.kdc.keytab), ('krb5.conf', self.kdc.krb5_conf)):
            shutil.copyfile(source, self.path(name))
            os.chmod(self.path(name), 0o644)   # a throw-away test key in a private directory
        self.env.update(KRB5_CONFIG=self.path('krb5.conf'), KRB5RCACHETYPE='none')

    def body(self):
        return NEGOTIATE_BODY.format(keytab=self.path('http.keytab'), realm=REALM)

    def requests(self):
        out = []
        try:
            with open(self.path('access.log'), errors='replace') as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 6:
                        out.append((parts[0], parts[1], parts[2], int(parts[4]),
                                    parts[5].strip('"')))
        except FileNotFoundError:
            pass
        return out
