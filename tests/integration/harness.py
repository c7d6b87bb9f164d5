"""Shared harness for dagate's integration tests (Python 3 stdlib only).

Every test module (this issue's and later ones: LDAP, tokens, SMTP ...)
imports this file; keep its API stable:

    with Dagate(config_text, files={...}) as d:
        d.authenticate(user, password)      -> 'true' | 'false' | Fault
        d.post(body, headers=..., path=..., method=..., tls=...)
                                            -> (status, headers, body)
        d.url, d.https_url, d.admin_url, d.log(), d.audit(), d.stop()
        d.audit_of(user, count)             -> that user's audit records (waits)
    run_dagate(args, stdin=...)             -> CompletedProcess (text)
    make_ca_and_cert(dir, kind)             -> Certs(ca_cert, ca_key, cert, key)
    trusted_and_other_certs(dir)            -> (Certs, Certs) from two CAs
    class T(CountedAnswers, unittest.TestCase): one Dagate cls.d for all tests;
        self.authenticate() counts, self.last_audit(user) waits for the last
    close_checking_log(d, secrets)          tearDownClass: stop d, no secret logged
    envelope(user, password, source_ip, form=..., extra=...) -> bytes

The binary is $DAGATE_BIN (default: build/dagate in the repository). Each
Dagate runs in a private temporary directory (its cwd), listens on
ephemeral loopback ports and logs to DIR/dagate.log. On exit, a Dagate
whose log holds a sanitizer report, or that did not exit 0 on SIGTERM,
fails the test.
"""

import collections
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape as _xml_escape

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
SOAP_ENV_NS = 'http://schemas.xmlsoap.org/soap/envelope/'
SF_NS = 'urn:authentication.soap.sforce.com'
START_TIMEOUT = 10.0
SANITIZER_MARKERS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer',
                     'LeakSanitizer has encountered a fatal error',
                     'runtime error:', 'WARNING: ThreadSanitizer',
                     'SUMMARY: UndefinedBehaviorSanitizer')

# `string` without the " [request_id=ID]" dagate appends; that id in `request_id`.
Fault = collections.namedtuple('Fault', 'code string http_status request_id', defaults=(None,))
_FAULT_REQUEST_ID = re.compile(r'^(.*) \[request_id=([0-9a-f]{16})\]$', re.S)
Certs = collections.namedtuple('Certs', 'dir ca_cert ca_key cert key')
Listener = collections.namedtuple('Listener', 'kind host port tls')


def dagate_bin():
    path = os.environ.get('DAGATE_BIN') or os.path.join(REPO, 'build', 'dagate')
    return os.path.abspath(path)


def sanitizer_env(env=None):
    """Environment for the binary: sanitizer options that make any report
    fatal and visible, plus `env`."""
    e = dict(os.environ)
    e.setdefault('ASAN_OPTIONS', 'abort_on_error=0:detect_leaks=1:exitcode=86')
    e.setdefault('UBSAN_OPTIONS', 'print_stacktrace=1:halt_on_error=1:exitcode=87')
    e.setdefault('LSAN_OPTIONS', 'exitcode=88')
    if env:
        e.update(env)
    return e


def _to_bytes(data):
    if data is None:
        return None
    return data if isinstance(data, bytes) else data.encode('utf-8')


def run_dagate(args, *, stdin=None, env=None, cwd=None, timeout=60):
    """Run `dagate ARGS` to completion (check-config, hash-password,
    test-user ...). stdin: str or bytes. Returns a CompletedProcess whose
    stdout/stderr are str (undecodable bytes replaced)."""
    p = subprocess.run([dagate_bin()] + list(args), input=_to_bytes(stdin) or b'',
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=sanitizer_env(env), cwd=cwd or REPO, timeout=timeout)
    out = subprocess.CompletedProcess(
        p.args, p.returncode, p.stdout.decode('utf-8', 'replace'),
        p.stderr.decode('utf-8', 'replace'))
    reports = [m for m in SANITIZER_MARKERS if m in out.stderr]
    if reports:
        raise AssertionError('sanitizer report from dagate %s:\n%s' % (' '.join(args), out.stderr[-20000:]))
    return out


def _esc(value):
    """XML-escape a field; bytes are inserted as they are (after escaping
    the markup characters), so tests can send invalid UTF-8."""
    if isinstance(value, bytes):
        return value.replace(b'&', b'&amp;').replace(b'<', b'&lt;').replace(b'>', b'&gt;')
    return _xml_escape(value).encode('utf-8')


def envelope(username, password, source_ip='203.0.113.7', form='default', extra=''):
    """The Authenticate request Salesforce sends (PROTOCOL.md).

    form='default': default namespace on <Authenticate>, no Header.
    form='prefixed': xmlns:urn on the Envelope, urn:-prefixed elements and an
    empty <soapenv:Header/>. A field given as None is left out; `extra`
    (str or bytes, raw XML) goes after <sourceIp>."""
    if form == 'default':
        open_op, close_op, p = b'<Authenticate xmlns="' + SF_NS.encode() + b'">', b'</Authenticate>', b''
        env_attrs, header = b'', b''
    elif form == 'prefixed':
        open_op, close_op, p = b'<urn:Authenticate>', b'</urn:Authenticate>', b'urn:'
        env_attrs, header = b' xmlns:urn="' + SF_NS.encode() + b'"', b'\n <soapenv:Header/>'
    else:
        raise ValueError('form must be default or prefixed')
    fields = b''
    for name, value in ((b'username', username), (b'password', password),
                        (b'sourceIp', source_ip)):
        if value is not None:
            fields += b'   <' + p + name + b'>' + _esc(value) + b'</' + p + name + b'>\n'
    return (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<soapenv:Envelope xmlns:soapenv="' + SOAP_ENV_NS.encode() + b'"' + env_attrs + b'>'
            + header + b'\n <soapenv:Body>\n  ' + open_op + b'\n' + fields
            + (_to_bytes(extra) or b'') + b'  ' + close_op + b'\n </soapenv:Body>\n</soapenv:Envelope>\n')


def parse_answer(status, body):
    """'true' / 'false' for a 200 AuthenticateResult, Fault for anything else.
    A 200 whose body is not exactly the documented result raises."""
    if status == 200:
        root = ET.fromstring(body)
        assert root.tag == '{%s}Envelope' % SOAP_ENV_NS, body
        node = root.find('{%s}Body/{%s}AuthenticateResult/{%s}Authenticated'
                         % (SOAP_ENV_NS, SF_NS, SF_NS))
        assert node is not None, 'no AuthenticateResult/Authenticated in %r' % body
        value = (node.text or '').strip()
        assert value in ('true', 'false'), body
        return value
    try:
        root = ET.fromstring(body)
        fault = root.find('{%s}Body/{%s}Fault' % (SOAP_ENV_NS, SOAP_ENV_NS))
    except ET.ParseError:
        fault = None
    if fault is None:
        return Fault(None, body.decode('utf-8', 'replace'), status)
    code = (fault.findtext('faultcode') or '').strip()
    # Normalise the QName prefix: whatever prefix is bound to the SOAP 1.1
    # envelope namespace is reported as "soap:".
    if ':' in code:
        prefix, local = code.split(':', 1)
        raw = body.decode('utf-8', 'replace')
        m = re.search(r'xmlns:%s="([^"]*)"' % re.escape(prefix), raw)
        if m and m.group(1) == SOAP_ENV_NS:
            code = 'soap:' + local
    string = (fault.findtext('faultstring') or '').strip()
    m = _FAULT_REQUEST_ID.match(string)
    if m:
        return Fault(code, m.group(1), status, m.group(2))
    return Fault(code, string, status)


_KV = re.compile(r'([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_log_line(line):
    """A log line as a dict: JSON lines as they are, text lines as their
    key=value pairs (quotes removed). Lines with neither give {}."""
    line = line.strip()
    if line.startswith('{'):
        try:
            obj = json.loads(line)
            return obj if isinstance(obj, dict) else {}
        except ValueError:
            return {}
    out = {}
    for key, value in _KV.findall(line):
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = re.sub(r'\\(.)', r'\1', value[1:-1])
        out[key] = value
    return out


def _split_addr(addr):
    addr = addr.strip()
    if addr.startswith('['):
        host, _, port = addr[1:].partition(']:')
    else:
        host, _, port = addr.rpartition(':')
    return host, int(port)


def _count_listen(config_text):
    """Number of listen lines in [server], [admin] and [sso]."""
    section, count = None, 0
    for raw in config_text.splitlines():
        line = raw.split('#', 1)[0].split(';', 1)[0].strip()
        if line.startswith('['):
            section = line.strip('[]').strip().split()[0] if line.strip('[]').strip() else ''
        elif '=' in line and section in ('server', 'admin', 'sso'):
            if line.split('=', 1)[0].strip() == 'listen':
                count += 1
    return count


def _server_path(config_text):
    section, path = None, '/Sso.asmx'
    for raw in config_text.splitlines():
        line = raw.split('#', 1)[0].strip()
        if line.startswith('['):
            section = line.strip('[]').strip()
        elif section == 'server' and '=' in line and line.split('=', 1)[0].strip() == 'path':
            path = line.split('=', 1)[1].strip()
    return path


class DagateStartError(AssertionError):
    pass


class Dagate:
    """A running `dagate serve` in a private directory.

    config_text: the configuration; "{dir}" is replaced by the directory.
    files: {relative_name: (content, mode)} (or just content, mode 0644)
    written before start. env: extra environment. args: extra arguments
    after `serve -c DIR/dagate.conf`. ca_file: CA to verify HTTPS with
    (else certificates are not verified).
    """

    def __init__(self, config_text, *, files=None, env=None, args=None, ca_file=None,
                 start=True):
        self.dir = tempfile.mkdtemp(prefix='dagate-it-')
        self.config_text = config_text.replace('{dir}', self.dir)
        self.config_path = os.path.join(self.dir, 'dagate.conf')
        self.log_path = os.path.join(self.dir, 'dagate.log')
        self.env = env
        self.args = list(args or [])
        self.ca_file = ca_file
        self.proc = None
        self.listeners = []
        self.url = self.https_url = self.admin_url = None
        self.path = _server_path(self.config_text)
        self._returncode = None
        for name, spec in (files or {}).items():
            self.write_file(name, *(spec if isinstance(spec, tuple) else (spec, 0o644)))
        with open(self.config_path, 'w', encoding='utf-8') as f:
            f.write(self.config_text)
        if start:
            try:
                self.start()
            except BaseException:
                self._cleanup_dir()
                raise

    # Lifecycle

    def write_file(self, name, content, mode=0o644):
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = _to_bytes(content)
        if isinstance(content, str):
            data = content.replace('{dir}', self.dir).encode('utf-8')
        tmp = path + '.tmp-write'
        with open(tmp, 'wb') as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        return path

    def start(self):
        expected = _count_listen(self.config_text)
        self._logf = open(self.log_path, 'ab')
        self.proc = subprocess.Popen(
            [dagate_bin(), 'serve', '-c', self.config_path] + self.args,
            cwd=self.dir, stdin=subprocess.DEVNULL, stdout=self._logf,
            stderr=subprocess.STDOUT, env=sanitizer_env(self.env))
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            self.listeners = self._parse_listeners()
            if expected and len(self.listeners) >= expected:
                break
            rc = self.proc.poll()
            if rc is not None:
                self.proc = None
                self._logf.close()
                raise DagateStartError('dagate exited with %d before listening:\n%s'
                                       % (rc, self.log()))
            if time.monotonic() > deadline:
                self._kill()
                self.proc = None
                self._logf.close()
                raise DagateStartError('dagate logged %d of %d listeners within %.0f s:\n%s'
                                       % (len(self.listeners), expected, START_TIMEOUT, self.log()))
            time.sleep(0.05)
        for lst in self.listeners:
            hostport = '%s:%d' % ('[%s]' % lst.host if ':' in lst.host else lst.host, lst.port)
            if lst.kind == 'server' and not lst.tls and self.url is None:
                self.url = 'http://%s%s' % (hostport, self.path)
            elif lst.kind == 'server' and lst.tls and self.https_url is None:
                self.https_url = 'https://%s%s' % (hostport, self.path)
            elif lst.kind == 'admin' and self.admin_url is None:
                self.admin_url = '%s://%s' % ('https' if lst.tls else 'http', hostport)

    def _parse_listeners(self):
        out = []
        for line in self.log().splitlines():
            rec = parse_log_line(line)
            if rec.get('event') != 'listening' or 'address' not in rec:
                continue
            host, port = _split_addr(str(rec['address']))
            tls = rec.get('tls') in ('yes', True, 'true')
            out.append(Listener(rec.get('listener', 'server'), host, port, tls))
        return out

    def server_listeners(self, tls=None):
        return [l for l in self.listeners if l.kind == 'server' and (tls is None or l.tls == tls)]

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout=15):
        """SIGTERM, wait; returns the exit status (SIGKILL after `timeout`)."""
        if self.proc is None:
            return self._returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._returncode = self.proc.returncode
        self.proc = None
        self._logf.close()
        return self._returncode

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _cleanup_dir(self):
        if os.environ.get('DAGATE_KEEP_TMP'):
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        rc = self.stop()
        log = self.log()
        self._cleanup_dir()
        if exc_type is not None:
            return False
        reports = [m for m in SANITIZER_MARKERS if m in log]
        if reports:
            raise AssertionError('sanitizer report in the dagate log:\n' + log[-20000:])
        if rc not in (0, None):
            raise AssertionError('dagate exited with %s after SIGTERM:\n%s' % (rc, log[-8000:]))
        return False

    # Logs

    def log(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except FileNotFoundError:
            return ''

    def log_records(self, text=None):
        return [parse_log_line(l) for l in (self.log() if text is None else text).splitlines()]

    def audit(self, text=None):
        """The event=auth records so far (from the log, or from `text`)."""
        return [r for r in self.log_records(text) if r.get('event') == 'auth']

    def audit_of(self, user, count=1, timeout=3.0):
        """The audit records for `user` once there are `count` of them, or
        those there are after `timeout` (the caller asserts): a record is
        written just after its answer was sent."""
        end = time.monotonic() + timeout
        while True:
            recs = [r for r in self.audit() if r.get('user') == user]
            if len(recs) >= count or time.monotonic() > end:
                return recs
            time.sleep(0.02)

    def wait_for_log(self, predicate, timeout=5.0):
        """Wait until predicate(log_text) is true; return the log."""
        end = time.monotonic() + timeout
        while True:
            text = self.log()
            if predicate(text):
                return text
            if time.monotonic() > end:
                raise AssertionError('log condition not met in %.1f s:\n%s' % (timeout, text[-8000:]))
            time.sleep(0.05)

    # HTTP

    def ssl_context(self, *, min_version=None, max_version=None, ca_file=None):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ca = ca_file or self.ca_file
        if ca:
            ctx.load_verify_locations(ca)
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if min_version:
            ctx.minimum_version = min_version
        if max_version:
            ctx.maximum_version = max_version
        return ctx

    def connection(self, *, tls=False, timeout=15, context=None, listener=None):
        lst = listener or (self.server_listeners(tls) or [None])[0]
        if lst is None:
            raise AssertionError('no %s server listener' % ('https' if tls else 'http'))
        if lst.tls:
            return http.client.HTTPSConnection(lst.host, lst.port, timeout=timeout,
                                               context=context or self.ssl_context())
        return http.client.HTTPConnection(lst.host, lst.port, timeout=timeout)

    def post(self, body, *, headers=None, path=None, method='POST', tls=False, timeout=15,
             context=None, listener=None):
        """One request on a fresh connection. Default headers are
        Salesforce's (text/xml; charset=utf-8, SOAPAction ""); a header
        given as None is not sent. Returns (status, {lower-name: value}, body)."""
        hdrs = {'Content-Type': 'text/xml; charset=utf-8', 'SOAPAction': '""'}
        for k, v in (headers or {}).items():
            for existing in [h for h in hdrs if h.lower() == k.lower()]:
                del hdrs[existing]
            if v is not None:
                hdrs[k] = v
        conn = self.connection(tls=tls, timeout=timeout, context=context, listener=listener)
        try:
            conn.request(method, path or self.path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def get(self, path, *, admin=False, timeout=15):
        if admin:
            host, port = _split_addr(self.admin_url.split('://', 1)[1])
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        else:
            conn = self.connection(timeout=timeout)
        try:
            conn.request('GET', path)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def authenticate(self, username, password, source_ip='203.0.113.7', *, form='default',
                     timeout=15, tls=False, context=None, listener=None):
        """'true' | 'false' | Fault(code, string, http_status)."""
        status, _, body = self.post(envelope(username, password, source_ip, form),
                                    tls=tls, timeout=timeout, context=context,
                                    listener=listener)
        return parse_answer(status, body)


class CountedAnswers:
    """For a TestCase whose tests share one Dagate (cls.d): authenticate()
    counts the answers per user in cls.answers (a dict setUpClass makes),
    last_audit() waits for the audit record of the last one."""

    def authenticate(self, user, password, source_ip='203.0.113.7'):
        self.answers[user] = self.answers.get(user, 0) + 1
        return self.d.authenticate(user, password, source_ip)

    def last_audit(self, user):
        want = self.answers.get(user, 0)
        recs = self.d.audit_of(user, want)
        self.assertEqual(len(recs), want, 'audit records for %s' % user)
        return recs[-1]


def close_checking_log(d, secrets):
    """Stop a Dagate that a whole TestCase shared, with the checks `with`
    makes (sanitizer report, exit status), and fail if any of `secrets`
    reached its log."""
    log = d.log()
    d.__exit__(None, None, None)
    for secret in secrets:
        assert secret not in log, 'a password reached the log'


def make_ca_and_cert(directory, kind='rsa'):
    """A throw-away CA and a server certificate (SANs DNS:localhost,
    IP:127.0.0.1, IP:127.0.0.2, IP:::1) made with the openssl CLI, keys 0600.
    kind: 'rsa' (2048) or 'ec' (P-256). Files are prefixed with kind."""
    os.makedirs(directory, exist_ok=True)
    if kind == 'rsa':
        newkey, usage = ['-newkey', 'rsa:2048'], 'digitalSignature,keyEncipherment'
    elif kind == 'ec':
        newkey, usage = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'digitalSignature'
    else:
        raise ValueError(kind)
    p = lambda name: os.path.join(directory, '%s-%s' % (kind, name))
    ext = p('server.ext')
    with open(ext, 'w') as f:
        f.write('subjectAltName=DNS:localhost,IP:127.0.0.1,IP:127.0.0.2,IP:::1\n'
                'basicConstraints=critical,CA:FALSE\n'
                'keyUsage=critical,%s\nextendedKeyUsage=serverAuth\n' % usage)

    def openssl(*args):
        subprocess.run(['openssl'] + list(args), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=60)

    openssl('req', '-x509', *newkey, '-nodes', '-keyout', p('ca.key'), '-out', p('ca.crt'),
            '-days', '2', '-subj', '/CN=dagate test CA %s' % kind,
            '-addext', 'basicConstraints=critical,CA:TRUE',
            '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    openssl('req', '-new', *newkey, '-nodes', '-keyout', p('server.key'), '-out', p('server.csr'),
            '-subj', '/CN=localhost')
    openssl('x509', '-req', '-in', p('server.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'),
            '-CAcreateserial', '-out', p('server.crt'), '-days', '2', '-extfile', ext)
    for key in (p('ca.key'), p('server.key')):
        os.chmod(key, 0o600)
    return Certs(directory, p('ca.crt'), p('ca.key'), p('server.crt'), p('server.key'))


def trusted_and_other_certs(directory):
    """Certificates from two CAs: the one the tests trust (RSA) and another
    (EC), for the untrusted-certificate cases."""
    return (make_ca_and_cert(os.path.join(directory, 'good'), 'rsa'),
            make_ca_and_cert(os.path.join(directory, 'other'), 'ec'))


def hash_password(password):
    """A hash made by `dagate hash-password` (password given without newline)."""
    r = run_dagate(['hash-password'], stdin=password)
    if r.returncode != 0:
        raise AssertionError('hash-password failed (%d): %s' % (r.returncode, r.stderr))
    lines = [l.strip() for l in r.stdout.splitlines() if l.strip()]
    if not lines:
        raise AssertionError('hash-password printed nothing; stderr: %s' % r.stderr)
    return lines[-1]


def raw_request(host, port, data, *, timeout=5.0):
    """Send raw bytes on a fresh TCP connection and read until close or
    timeout. Returns (bytes_read, closed_by_peer)."""
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        s.sendall(data)
        out = b''
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return out, False
            except ConnectionResetError:
                return out, True
            if not chunk:
                return out, True
            out += chunk
        return out, False
    finally:
        s.close()


# Small config builders shared by test modules

# Throttling is on by default (4 failures per user, 30 per sourceIp, repeats
# not re-asked). Tests that make many failures on purpose for something else
# (a provider's outcomes, a file re-read) turn it off with this section.
NO_THROTTLE = '[throttle]\nuser_failures = off\nsource_failures = off\nrepeat_window = 0s\n\n'


def server_section(*, listen=('127.0.0.1:0',), admin=True, extra='', log_extra='',
                   level='debug', fmt='text'):
    """[server] + [admin] + [log] text with ephemeral ports."""
    out = '[server]\n' + ''.join('listen = %s\n' % l for l in listen)
    out += 'allow = 127.0.0.0/8, ::1\n' + extra
    if admin:
        out += '\n[admin]\nlisten = 127.0.0.1:0\nallow = 127.0.0.0/8, ::1\n'
    out += '\n[log]\nlevel = %s\nformat = %s\naudit = -\n%s' % (level, fmt, log_extra)
    return out + '\n'
