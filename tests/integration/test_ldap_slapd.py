"""The ldap provider against a real OpenLDAP slapd started by the test:
ldaps and StartTLS with certificate and host name checks, search-then-bind,
filter injection, ambiguous matches, groups, anonymous search, failover
past dead / black-holed / stalled servers inside the deadline, AD-like
empty-password behaviour, ppolicy lockout, slapd killed under load, and
probe / test-user output."""

import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import Dagate as _Dagate, Fault, make_ca_and_cert, run_dagate, server_section, NO_THROTTLE
from backends.ports import free_port
from backends.slapd import GROUP_DN, SUFFIX, SVC_DN, SVC_PASSWORD, Slapd, user_dn

ALICE_PW = 'alice-pw-1'


class Dagate(_Dagate):
    """Counts requests per user so that audit_for() can wait for the
    audit line of the last one."""

    def authenticate(self, username, password, *args, **kwargs):
        self._asked = getattr(self, '_asked', {})
        self._asked[username] = self._asked.get(username, 0) + 1
        return super().authenticate(username, password, *args, **kwargs)

BOB_PW = 'bob-pw-1'

_certs = {}

# What a certificate from a CA dagate does not trust is reported as (slapd
# sends its CA along: "self-signed ... in certificate chain"; a server
# sending only its own certificate gets "unable to get local issuer").
UNTRUSTED = (r'TLS: certificate verify failed \((self-signed certificate in certificate chain'
             r'|unable to get local issuer certificate)\)')


def certs(kind='rsa'):
    """One CA per kind per test run (making them costs ~0.3 s)."""
    if kind not in _certs:
        _certs[kind] = make_ca_and_cert(tempfile.mkdtemp(prefix='dagate-ldap-ca-'), kind)
    return _certs[kind]


def provider(name, uri, *, filt='(&(objectClass=inetOrgPerson)(uid=%l))', extra='',
             bind=True, ca='{dir}/ca.crt', timeout='3s'):
    out = '\n[provider %s]\ntype = ldap\nuri = %s\nbase = %s\nuser_filter = %s\ntimeout = %s\n' % (
        name, uri, SUFFIX, filt, timeout)
    if ca:
        out += 'ca_file = %s\n' % ca
    if bind:
        out += 'bind_dn = %s\nbind_password_file = {dir}/svc.secret\n' % SVC_DN
    return out + extra


def config(routes, providers, deadline='5s'):
    return (server_section(extra='deadline = %s\n' % deadline) + NO_THROTTLE + '[route]\n'
            + ''.join('match = %s\n' % r for r in routes) + ''.join(providers))


def files(ca_cert=None):
    with open(ca_cert or certs().ca_cert) as f:
        ca = f.read()
    return {'ca.crt': ca, 'svc.secret': (SVC_PASSWORD + '\n', 0o600)}


class AuditMixin:
    def audit_for(self, d, user):
        """The last audit line for `user`; waits for the one of the request
        just answered (the line is written after the answer)."""
        d.audit_of(user, getattr(d, '_asked', {}).get(user, 0))
        return self._last_audit(d, user)

    def _last_audit(self, d, user):
        recs = [r for r in d.audit() if r.get('user') == user]
        self.assertTrue(recs, 'no audit record for %r:\n%s' % (user, d.log()[-3000:]))
        return recs[-1]


class SlapdLogins(unittest.TestCase, AuditMixin):
    """One slapd (also listening on 127.0.0.3, outside the certificate's
    names) and one dagate with a provider per variant, picked by domain."""

    @classmethod
    def setUpClass(cls):
        other = make_ca_and_cert(tempfile.mkdtemp(prefix='dagate-ldap-other-'), 'ec')
        cls.s = Slapd(certs(), hosts=('127.0.0.1', '127.0.0.3'))
        s = cls.s
        f = files()
        with open(other.ca_cert) as fh:
            f['other-ca.crt'] = fh.read()
        cls.conf = config(
            ['*@example.test -> bymail', '*@tls.test -> ldaps', '*@starttls.test -> starttls',
             '*@group.test -> group', '*@anon.test -> anon', '*@plain.test -> plain',
             '*@wrongca.test -> wrongca', '*@badhost.test -> badhost', 'alice -> bydomain'],
            [provider('bymail', s.ldaps_uri, filt='(&(objectClass=inetOrgPerson)(mail=%u))'),
             provider('ldaps', s.ldaps_uri),
             provider('starttls', s.ldap_uri, extra='starttls = yes\n'),
             provider('group', s.ldaps_uri, extra='group = %s\n' % GROUP_DN),
             provider('anon', s.ldaps_uri, bind=False),
             provider('plain', s.ldap_uri, extra='insecure = yes\n'),
             provider('wrongca', s.ldaps_uri, ca='{dir}/other-ca.crt'),
             provider('badhost', s.uri(True, '127.0.0.3')),
             provider('bydomain', s.ldaps_uri,
                      filt='(&(objectClass=inetOrgPerson)(mail=%l@%d))')])
        cls.d = Dagate(cls.conf, files=f)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.__exit__(None, None, None)
        finally:
            cls.s.close()

    def test_ldaps_search_then_bind(self):
        self.assertEqual(self.d.authenticate('alice@tls.test', ALICE_PW), 'true')
        self.assertEqual(self.audit_for(self.d, 'alice@tls.test').get('outcome'), 'ok')
        self.assertEqual(self.d.authenticate('alice@tls.test', 'wrong'), 'false')
        self.assertEqual(self.audit_for(self.d, 'alice@tls.test').get('outcome'), 'reject')
        self.assertEqual(self.d.authenticate('nobody@tls.test', ALICE_PW), 'false')
        self.assertEqual(self.audit_for(self.d, 'nobody@tls.test').get('outcome'), 'unknown_user')
        # a password of spaces is a password, and not alice's
        self.assertEqual(self.d.authenticate('alice@tls.test', '   '), 'false')

    def test_no_domain_for_percent_d_is_false_without_a_search(self):
        # "alice" has no domain, so "%l@%d" cannot be built. A name without
        # a domain is no Salesforce username: it is refused before any
        # provider (bad_username), and if one ever got through, the
        # provider answers unknown_user without a search (tests/unit:
        # test_ldap, test_curl).
        self.assertEqual(self.d.authenticate('alice', ALICE_PW), 'false')
        rec = self.audit_for(self.d, 'alice')
        self.assertEqual(rec.get('provider'), '-')
        self.assertEqual(rec.get('outcome'), 'bad_username')

    def test_login_by_mail(self):
        self.assertEqual(self.d.authenticate('alice@example.test', ALICE_PW), 'true')
        self.assertEqual(self.d.authenticate('bob@example.test', ALICE_PW), 'false')

    def test_starttls(self):
        self.assertEqual(self.d.authenticate('alice@starttls.test', ALICE_PW), 'true')
        self.assertEqual(self.d.authenticate('alice@starttls.test', BOB_PW), 'false')

    def test_plain_with_insecure(self):
        self.assertEqual(self.d.authenticate('bob@plain.test', BOB_PW), 'true')

    def test_filter_injection_never_authenticates(self):
        # Unescaped, "al*" alone would find alice and log in with her password.
        names = ['al*', '*', '*)(uid=*', ')(|(uid=*', 'alice)(uid=*', 'al\\2a', 'alice\\',
                 '\\', 'alice)', '(alice', 'al*ce']
        for name in names:
            for domain in ('tls.test', 'starttls.test'):
                user = '%s@%s' % (name, domain)
                got = self.d.authenticate(user, ALICE_PW)
                self.assertNotEqual(got, 'true', user)
        for user in ['*', '*@example.test', '*)(mail=*', 'alice@example.test)(mail=*',
                     'alice@example.*']:
            self.assertNotEqual(self.d.authenticate(user + '@example.test', ALICE_PW), 'true', user)
            self.assertNotEqual(self.d.authenticate(user, ALICE_PW), 'true', user)
        # NUL cannot travel in XML 1.0: the envelope itself is refused.
        got = self.d.authenticate('alice\x00@tls.test', ALICE_PW)
        self.assertNotEqual(got, 'true')

    def test_ambiguous_match_is_an_error_not_a_login(self):
        # dup1 and dup2 share a mail address and a password
        got = self.d.authenticate('dup@example.test', 'dup-pw-1')
        self.assertIsInstance(got, Fault)
        rec = self.audit_for(self.d, 'dup@example.test')
        self.assertEqual(rec.get('outcome'), 'error')
        self.assertIn('ambiguous', rec.get('detail', ''))

    def test_group_required(self):
        self.assertEqual(self.d.authenticate('alice@group.test', ALICE_PW), 'true')
        self.assertEqual(self.d.authenticate('bob@group.test', BOB_PW), 'false')
        self.assertIn('group', self.audit_for(self.d, 'bob@group.test').get('detail', ''))
        self.assertEqual(self.d.authenticate('carol@group.test', 'wrong'), 'false')

    def test_anonymous_search(self):
        self.assertEqual(self.d.authenticate('alice@anon.test', ALICE_PW), 'true')
        self.assertEqual(self.d.authenticate('alice@anon.test', BOB_PW), 'false')

    def test_untrusted_certificate_is_unavailable_and_named(self):
        got = self.d.authenticate('alice@wrongca.test', ALICE_PW)
        self.assertIsInstance(got, Fault)
        rec = self.audit_for(self.d, 'alice@wrongca.test')
        self.assertEqual(rec.get('outcome'), 'unavailable')
        self.assertRegex(rec.get('detail', ''), UNTRUSTED)
        self.assertNotIn("Can't contact", rec.get('detail', ''))
        self.assertRegex(self.d.log(), 'ldap wrongca: .*' + UNTRUSTED)

    def test_host_name_mismatch_is_unavailable_and_named(self):
        # 127.0.0.3 is not among the certificate's names
        got = self.d.authenticate('alice@badhost.test', ALICE_PW)
        self.assertIsInstance(got, Fault)
        rec = self.audit_for(self.d, 'alice@badhost.test')
        self.assertEqual(rec.get('outcome'), 'unavailable')
        self.assertIn('TLS: certificate verify failed (IP address mismatch)', rec.get('detail', ''))

    def test_probe_checks_the_group_entry(self):
        path = os.path.join(self.d.dir, 'probe-group.conf')
        wrong = 'cn=sf-userz,ou=groups,' + SUFFIX
        with open(path, 'w') as f:
            f.write(config(['*@a.test -> good', '* -> wrong'], [
                provider('good', self.s.ldaps_uri, extra='group = %s\n' % GROUP_DN),
                provider('wrong', self.s.ldaps_uri, extra='group = %s\n' % wrong)]
            ).replace('{dir}', self.d.dir))
        r = run_dagate(['probe', '-c', path])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        lines = {l.split()[0]: l for l in r.stdout.splitlines() if l.strip()}
        self.assertIn('service bind ok, base readable, group present', lines['good'])
        self.assertIn('FAIL', lines['wrong'])
        self.assertIn('group %s does not exist' % wrong, lines['wrong'])

    def test_probe_and_test_user_name_the_tls_cause(self):
        path = os.path.join(self.d.dir, 'probe-tls.conf')
        s = self.s
        with open(path, 'w') as f:
            f.write(config(['* -> wrongca'], [
                provider('wrongca', s.ldaps_uri, ca='{dir}/other-ca.crt'),
                provider('wrongcastls', s.ldap_uri, ca='{dir}/other-ca.crt',
                         extra='starttls = yes\n'),
                provider('badhost', s.uri(True, '127.0.0.3')),
                provider('badhoststls', s.uri(False, '127.0.0.3'), extra='starttls = yes\n'),
                provider('down', 'ldaps://127.0.0.1:%d' % free_port())]).replace('{dir}', self.d.dir))
        r = run_dagate(['probe', '-c', path])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        lines = {l.split()[0]: l for l in r.stdout.splitlines() if l.strip()}
        for name in ('wrongca', 'wrongcastls'):
            self.assertRegex(lines[name], UNTRUSTED)
        for name in ('badhost', 'badhoststls'):
            self.assertIn('TLS: certificate verify failed (IP address mismatch)', lines[name])
        self.assertIn('TCP connect: Connection refused', lines['down'])
        self.assertNotIn('certificate', lines['down'])
        r = run_dagate(['test-user', '-c', path, 'alice@x.test'], stdin=ALICE_PW + '\n')
        self.assertRegex(r.stdout + r.stderr, UNTRUSTED)
        self.assertNotIn(ALICE_PW, r.stdout + r.stderr)

    def test_probe(self):
        with open(os.path.join(self.d.dir, 'probe.conf'), 'w') as f:
            f.write(config(['* -> ldaps'], [provider('ldaps', self.s.ldaps_uri),
                                            provider('starttls', self.s.ldap_uri,
                                                     extra='starttls = yes\n')]
                           ).replace('{dir}', self.d.dir))
        r = run_dagate(['probe', '-c', os.path.join(self.d.dir, 'probe.conf')])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('verified certificate', r.stdout)
        self.assertIn('service bind ok', r.stdout)
        r = run_dagate(['probe', '-c', self.d.config_path])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn('wrongca', r.stdout)

    def test_test_user_narrates_without_the_password(self):
        r = run_dagate(['test-user', '-c', self.d.config_path, 'alice@group.test'],
                       stdin=ALICE_PW + '\n')
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        for step in ('connecting to ldaps://', 'TLS established', 'service bind as',
                     'user entry: ' + user_dn('alice'), 'member of', 'bind as'):
            self.assertIn(step, out)
        self.assertNotIn(ALICE_PW, out)

    def test_plain_ldap_without_tls_is_a_config_error(self):
        path = os.path.join(self.d.dir, 'plain.conf')
        with open(path, 'w') as f:
            f.write(config(['* -> p'], [provider('p', self.s.ldap_uri)]).replace('{dir}', self.d.dir))
        r = run_dagate(['check-config', '-c', path])
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn('without TLS', r.stdout + r.stderr)


class _Stall:
    """Accepts TCP connections and never says a word (TLS never completes,
    StartTLS is never answered)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.t.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


class _BlackHole:
    """A listener whose accept queue is full: SYNs are dropped, connect()
    hangs like a firewalled host."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fill = []
        for _ in range(3):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(('127.0.0.1', self.port))
            except BlockingIOError:
                pass
            self.fill.append(c)
        time.sleep(0.1)

    def close(self):
        for c in self.fill:
            c.close()
        self.sock.close()


class SlapdFailover(unittest.TestCase, AuditMixin):
    """The first URI is dead in three ways; the login still succeeds on the
    second inside the provider timeout, and with every URI dead the answer
    is a fault inside the deadline."""

    @classmethod
    def setUpClass(cls):
        cls.s = Slapd(certs())
        cls.stall = _Stall()
        cls.hole = _BlackHole()
        closed = free_port()
        good = cls.s.ldaps_uri
        cls.conf = config(
            ['*@refused.test -> refused', '*@hole.test -> hole', '*@stall.test -> stall',
             '*@stls.test -> stls', '*@alldead.test -> alldead'],
            [provider('refused', 'ldaps://127.0.0.1:%d %s' % (closed, good)),
             provider('hole', 'ldaps://127.0.0.1:%d %s' % (cls.hole.port, good)),
             provider('stall', 'ldaps://127.0.0.1:%d %s' % (cls.stall.port, good)),
             provider('stls', 'ldap://127.0.0.1:%d %s' % (cls.stall.port, cls.s.ldap_uri),
                      extra='starttls = yes\n'),
             provider('alldead', 'ldaps://127.0.0.1:%d ldaps://127.0.0.1:%d'
                      % (cls.hole.port, cls.stall.port), timeout='2s')])
        cls.d = Dagate(cls.conf, files=files())

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.__exit__(None, None, None)
        finally:
            cls.s.close()
            cls.stall.close()
            cls.hole.close()

    def timed(self, user, password):
        t = time.monotonic()
        got = self.d.authenticate(user, password)
        return got, time.monotonic() - t

    def check_failover(self, domain, max_first):
        got, took = self.timed('alice@' + domain, ALICE_PW)
        self.assertEqual(got, 'true', self.d.log()[-3000:])
        self.assertLess(took, max_first, domain)
        # the dead server is now skipped: the next login is quick
        got, took = self.timed('bob@' + domain, BOB_PW)
        self.assertEqual(got, 'true')
        self.assertLess(took, 1.0, domain)
        self.assertEqual(self.d.authenticate('bob@' + domain, ALICE_PW), 'false')

    def test_first_uri_refuses(self):
        self.check_failover('refused.test', 1.0)
        # the log says what happened to the first URI: not a TLS problem
        self.assertRegex(self.d.log(), r'ldap refused: ldaps://127\.0\.0\.1:\d+: '
                                       r'TCP connect: Connection refused')
        # /metrics names each server: the refusing one is skipped (0), the
        # good one is up (1), and the pool's slots are all idle again
        import urllib.request
        with urllib.request.urlopen(self.d.admin_url + '/metrics', timeout=5) as r:
            text = r.read().decode()
        refused_uri = self.conf.split('uri = ', 1)[1].split()[0]
        self.assertIn('dagate_backend_server_up{provider="refused",server="%s"} 0' % refused_uri,
                      text)
        self.assertIn('dagate_backend_server_up{provider="refused",server="%s"} 1'
                      % self.s.ldaps_uri, text)
        self.assertIn('dagate_backend_pool_connections{provider="refused",state="in_use"} 0', text)

    def test_first_uri_black_holed(self):
        # 3 s timeout, two URIs: the first costs at most half of it
        self.check_failover('hole.test', 2.9)

    def test_first_uri_tls_never_completes(self):
        self.check_failover('stall.test', 2.9)

    def test_first_uri_starttls_never_answered(self):
        self.check_failover('stls.test', 2.9)

    def test_all_dead_is_a_fault_inside_the_deadline(self):
        got, took = self.timed('alice@alldead.test', ALICE_PW)
        self.assertIsInstance(got, Fault)
        self.assertEqual(got.code, 'soap:Server')
        self.assertLess(took, 3.0)
        self.assertEqual(self.audit_for(self.d, 'alice@alldead.test').get('outcome'), 'unavailable')


class SlapdHungPooled(unittest.TestCase, AuditMixin):
    """A directory that stops answering on a connection dagate keeps in its
    pool: the audit line says what happened (the search on the pooled
    connection timed out), not only what followed (no time left to
    reconnect)."""

    def test_hung_pooled_connection_is_named(self):
        s = Slapd(certs())
        try:
            with Dagate(config(['* -> one'], [provider('one', s.ldaps_uri, timeout='2s')],
                               deadline='3s'), files=files()) as d:
                self.assertEqual(d.authenticate('alice@x.test', ALICE_PW), 'true')
                s.proc.send_signal(signal.SIGSTOP)
                try:
                    got = d.authenticate('bob@x.test', BOB_PW)
                finally:
                    s.proc.send_signal(signal.SIGCONT)
                self.assertIsInstance(got, Fault)
                detail = self.audit_for(d, 'bob@x.test').get('detail', '')
                self.assertRegex(detail, r'^search on a pooled connection failed after \d+ ms: '
                                         r'Timed out; then ', detail)
                # and it recovers once the directory answers again
                self.assertEqual(d.authenticate('bob@x.test', BOB_PW), 'true')
        finally:
            s.close()


class _BindSwallower:
    """A plain-LDAP proxy to slapd that forwards everything, except that once
    a connection carries a bind for `dn`, nothing more from the server
    reaches the client on it: the bind is sent and never answered, as with
    a domain controller that answers after dagate's timeout (and may still
    have counted the password)."""

    def __init__(self, target_port, dn):
        self.target_port, self.dn = target_port, dn.encode()
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.binds_swallowed = 0
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.create_connection(('127.0.0.1', self.target_port))
            self.socks += [c, u]
            state = {'swallow': False}
            threading.Thread(target=self._pipe, args=(c, u, state, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c, state, False), daemon=True).start()

    def _pipe(self, src, dst, state, from_client):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                return
            # A BindRequest (application tag 0x60) naming the user.
            if from_client and self.dn in data and b'\x60' in data[:12]:
                state['swallow'] = True
                self.binds_swallowed += 1
            if not from_client and state['swallow']:
                continue
            try:
                dst.sendall(data)
            except OSError:
                return

    def close(self):
        self.sock.close()
        for s in self.socks:
            s.close()


class SlapdUnansweredBind(unittest.TestCase, AuditMixin):
    """Count what the directory counted: a bind sent and never answered is a
    fault for Salesforce, but a failure for the throttle, so that slow binds
    cannot take an account past the directory's lockout threshold."""

    def test_unanswered_binds_spend_the_budget(self):
        s = Slapd(certs())
        proxy = _BindSwallower(s.ldap_port, user_dn('bob'))
        conf = (server_section(extra='deadline = 3s\n')
                + '[throttle]\nuser_failures = 3/15m\nsource_failures = off\n\n'
                + '[route]\nmatch = * -> slow\n'
                + provider('slow', 'ldap://127.0.0.1:%d' % proxy.port, timeout='1s',
                           extra='insecure = yes\n'))
        try:
            with Dagate(conf, files=files()) as d:
                for i in range(3):
                    got = d.authenticate('bob@x.test', 'wrong-%d' % i)
                    self.assertIsInstance(got, Fault, i)
                self.assertEqual(proxy.binds_swallowed, 3)
                # The budget of three is spent by binds the directory never
                # answered: the fourth is refused without a bind.
                self.assertEqual(d.authenticate('bob@x.test', 'wrong-3'), 'false')
                self.assertEqual(self.audit_for(d, 'bob@x.test').get('outcome'), 'throttled_user')
                self.assertEqual(proxy.binds_swallowed, 3)
        finally:
            proxy.close()
            s.close()


def expired_certs():
    """The trusted CA's server certificate, expired: signed with -days -1,
    its notAfter is a day before its notBefore (now)."""
    good = certs()
    d = tempfile.mkdtemp(prefix='dagate-ldap-expired-')
    key, csr, crt, ext = (os.path.join(d, n) for n in ('server.key', 'server.csr',
                                                        'server.crt', 'server.ext'))
    with open(ext, 'w') as f:
        f.write('subjectAltName=DNS:localhost,IP:127.0.0.1\n'
                'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n')
    for args in (['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr,
                  '-subj', '/CN=localhost'],
                 ['x509', '-req', '-in', csr, '-CA', good.ca_cert, '-CAkey', good.ca_key,
                  '-CAcreateserial', '-out', crt, '-days', '-1', '-extfile', ext]):
        subprocess.run(['openssl'] + args, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=60)
    os.chmod(key, 0o600)
    return good._replace(dir=d, cert=crt, key=key)


class SlapdExpiredCertificate(unittest.TestCase, AuditMixin):
    """A directory whose certificate has expired is reported as such, over
    ldaps and StartTLS, in the audit line, probe and test-user."""

    @classmethod
    def setUpClass(cls):
        cls.s = Slapd(expired_certs())
        cls.conf = config(['*@tls.test -> ldaps', '*@starttls.test -> starttls'],
                          [provider('ldaps', cls.s.ldaps_uri),
                           provider('starttls', cls.s.ldap_uri, extra='starttls = yes\n')])
        cls.d = Dagate(cls.conf, files=files())

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.__exit__(None, None, None)
        finally:
            cls.s.close()

    def test_audit_names_the_expired_certificate(self):
        for user in ('alice@tls.test', 'alice@starttls.test'):
            self.assertIsInstance(self.d.authenticate(user, ALICE_PW), Fault)
            rec = self.audit_for(self.d, user)
            self.assertEqual(rec.get('outcome'), 'unavailable')
            self.assertIn('TLS: certificate verify failed (certificate has expired)',
                          rec.get('detail', ''))

    def test_probe_and_test_user_name_the_expired_certificate(self):
        r = run_dagate(['probe', '-c', self.d.config_path])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count('(certificate has expired)'), 2, r.stdout)
        r = run_dagate(['test-user', '-c', self.d.config_path, 'alice@starttls.test'],
                       stdin=ALICE_PW + '\n')
        self.assertIn('TLS: certificate verify failed (certificate has expired)',
                      r.stdout + r.stderr)


class SlapdEmptyPassword(unittest.TestCase):
    """slapd with olcAllows: bind_anon_dn answers a DN bind with an empty
    password with success, like Active Directory (RFC 4513 5.1.2)."""

    def test_empty_password_is_false_although_the_directory_says_yes(self):
        with Slapd(certs(), bind_anon_dn=True) as s:
            r = s.ldap_tool('ldapwhoami', binddn=user_dn('alice'), password='')
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertIn('anonymous', r.stdout)   # the directory is fooled
            with Dagate(config(['* -> dir'], [provider('dir', s.ldaps_uri)]),
                        files=files()) as d:
                self.assertEqual(d.authenticate('alice@x.test', ''), 'false')
                self.assertEqual(d.authenticate('alice@x.test', ALICE_PW), 'true')
                self.assertEqual(d.authenticate('alice@x.test', 'wrong'), 'false')


class SlapdPasswordPolicy(unittest.TestCase, AuditMixin):
    """ppolicy with pwdMaxFailure 3: the account locks, and the right
    password then gets false with the lockout in the audit line."""

    def test_lockout_reported(self):
        with Slapd(certs(), ppolicy=True) as s:
            with Dagate(config(['* -> dir'], [provider('dir', s.ldaps_uri)]),
                        files=files()) as d:
                # distinct passwords: a repeated failing pair is not re-asked
                for i in range(3):
                    self.assertEqual(d.authenticate('carol@x.test', 'wrong%d' % i), 'false')
                # slapd records the lock after answering the bind: wait for it
                end = time.monotonic() + 5
                while time.monotonic() < end:
                    r = s.ldap_tool('ldapsearch', '-LLL', '-s', 'base', '-b', user_dn('carol'),
                                    'pwdAccountLockedTime', binddn='cn=admin,' + SUFFIX,
                                    password='admin-pw-1')
                    if 'pwdAccountLockedTime' in r.stdout:
                        break
                    time.sleep(0.05)
                self.assertIn('pwdAccountLockedTime', r.stdout)
                self.assertEqual(d.authenticate('carol@x.test', 'carol-pw-1'), 'false')
                rec = self.audit_for(d, 'carol@x.test')
                self.assertEqual(rec.get('outcome'), 'locked', rec)
                self.assertIn('locked', rec.get('detail', ''))
                self.assertEqual(d.authenticate('alice@x.test', ALICE_PW), 'true')


class SlapdRestartUnderLoad(unittest.TestCase):
    """slapd is killed (SIGKILL) and restarted while logins run: answers
    are right or a fault, never a wrong true/false, and the pool recovers."""

    def test_no_wrong_answer(self):
        with Slapd(certs()) as s:
            conf = config(['* -> dir'], [provider('dir', s.ldaps_uri, timeout='2s',
                                                  extra='pool = 4\n')])
            with Dagate(conf, files=files()) as d:
                wrong, counts, stop = [], {'true': 0, 'false': 0, 'fault': 0}, threading.Event()
                lock = threading.Lock()

                def worker(n):
                    i = 0
                    end = time.monotonic() + 20
                    while not stop.is_set() and time.monotonic() < end and i < 2000:
                        good = (i + n) % 2 == 0
                        got = d.authenticate('alice@x.test', ALICE_PW if good else 'nope')
                        i += 1
                        with lock:
                            if isinstance(got, Fault):
                                counts['fault'] += 1
                            else:
                                counts[got] += 1
                                if got != ('true' if good else 'false'):
                                    wrong.append((good, got))

                threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
                for t in threads:
                    t.start()
                time.sleep(1.0)
                s.kill()
                time.sleep(1.0)
                s.start()
                before = dict(counts)
                end = time.monotonic() + 8
                while counts['true'] == before['true'] and time.monotonic() < end:
                    time.sleep(0.1)
                time.sleep(0.5)
                stop.set()
                for t in threads:
                    t.join(30)
                self.assertEqual(wrong, [])
                self.assertGreater(counts['true'] - before['true'], 0,
                                   'no successful login after the restart: %s\n%s'
                                   % (counts, d.log()[-3000:]))
                self.assertEqual(d.authenticate('alice@x.test', ALICE_PW), 'true')


if __name__ == '__main__':
    unittest.main()
