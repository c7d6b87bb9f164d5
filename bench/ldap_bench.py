"""Driver of bench/ldap_vs_raw.sh: one slapd (tests/integration/backends),
the raw libldap loop, then dagate under wrk, same users, same concurrency."""

import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

from harness import Dagate, make_ca_and_cert, server_section  # noqa: E402
from backends.slapd import SUFFIX, SVC_DN, SVC_PASSWORD, Slapd  # noqa: E402

CONC = int(os.environ.get('CONC', '8'))
SECONDS = int(os.environ.get('SECONDS_EACH', '10'))
NUSERS = 200
WORK = os.environ.get('WORK') or tempfile.mkdtemp()

LUA = r'''
counter = 0
request = function()
  counter = counter + 1
  local u = "user" .. ((counter * 7 + %(seed)s) %% %(n)d)
  local body = '<?xml version="1.0" encoding="UTF-8"?>' ..
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>' ..
    '<Authenticate xmlns="urn:authentication.soap.sforce.com"><username>' .. u ..
    '@bench.test</username><password>pw-' .. u .. '</password><sourceIp>203.0.113.7</sourceIp>' ..
    '</Authenticate></soapenv:Body></soapenv:Envelope>'
  return wrk.format("POST", "/Sso.asmx", {["Content-Type"] = "text/xml; charset=utf-8",
                    ["SOAPAction"] = '""'}, body)
end
'''


def main():
    certs = make_ca_and_cert(os.path.join(WORK, 'ca'), 'rsa')
    users = [('user%d' % i, 'pw-user%d' % i, 'user%d@bench.test' % i) for i in range(NUSERS)]
    with Slapd(certs, users=users) as s:
        raw = subprocess.run([os.environ['RAW_BIN'], s.ldaps_uri, certs.ca_cert, SUFFIX, SVC_DN,
                              SVC_PASSWORD, str(CONC), str(SECONDS), str(NUSERS)],
                             stdout=subprocess.PIPE, text=True, check=True)
        m = re.search(r'raw_logins_per_s=(\d+) errors=(\d+)', raw.stdout)
        raw_rate, raw_err = int(m.group(1)), int(m.group(2))

        with open(certs.ca_cert) as f:
            ca = f.read()
        conf = (server_section(level='info', admin=False)
                + '[route]\nmatch = * -> dir\n\n[provider dir]\ntype = ldap\n'
                'uri = %s\nca_file = {dir}/ca.crt\nbase = %s\nbind_dn = %s\n'
                'bind_password_file = {dir}/svc.secret\n'
                'user_filter = (&(objectClass=inetOrgPerson)(uid=%%l))\n'
                'pool = %d\nconcurrency = %d\ntimeout = 3s\n'
                % (s.ldaps_uri, SUFFIX, SVC_DN, CONC, CONC * 4))
        with Dagate(conf, files={'ca.crt': ca, 'svc.secret': (SVC_PASSWORD + '\n', 0o600)}) as d:
            lua = os.path.join(WORK, 'auth.lua')
            with open(lua, 'w') as f:
                f.write(LUA % {'seed': 1, 'n': NUSERS})
            host = d.url.split('/')[2]
            # warm the pool, then measure
            subprocess.run(['wrk', '-t', '1', '-c', str(CONC), '-d', '1s', '-s', lua,
                            'http://%s/Sso.asmx' % host], stdout=subprocess.DEVNULL, check=True)
            before = d.log().count('outcome=ok')
            out = subprocess.run(['wrk', '-t', '2', '-c', str(CONC), '-d', '%ds' % SECONDS, '-s',
                                  lua, 'http://%s/Sso.asmx' % host], stdout=subprocess.PIPE,
                                 text=True, check=True).stdout
            log = d.log()
        rate = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
        total = int(re.search(r'(\d+) requests in', out).group(1))
        ok = log.count('outcome=ok') - before
        print('ldap search+bind over ldaps, %d concurrent, %d s each, %d users' % (CONC, SECONDS, NUSERS))
        print('raw libldap loop: %d logins/s (%d errors)' % (raw_rate, raw_err))
        print('dagate over HTTP: %.0f logins/s (%d of %d answered ok)' % (rate, ok, total))
        print('ratio dagate/raw: %.2f (target >= 0.80)' % (rate / raw_rate if raw_rate else 0))


if __name__ == '__main__':
    main()
