"""What the integrated sign-on tests share: the stand-in Salesforce login
server (it receives the form the page posts, calls dagate's Authenticate
as Salesforce does, and says who logged in), a reader for the page's form,
the [sso] configuration, and SignOnServers, the class fixture of every
sign-on module: one SambaDC as the KDC, a service account with the SPN
HTTP/SSO_HOST and its keytab, the stand-in, and the dagate under test."""

import html.parser
import http.server
import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request

from harness import NO_THROTTLE, Dagate, close_checking_log, server_section
from backends.kerberos_web import KerberosSetup
from backends.samba import REALM, SambaDC

SSO_HOST = 'sso.corp.test'
# An NTLMSSP NEGOTIATE message (type 1), as a browser without a ticket sends it
NTLM_NEGOTIATE = 'TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw=='
SF_DOMAIN = 'sf.example'


class FormReader(html.parser.HTMLParser):
    """The page's form: action and {name: value} of its inputs; whether it
    has a script and a visible button."""

    def __init__(self):
        super().__init__()
        self.action, self.fields, self.script, self.button = None, {}, False, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == 'form':
            self.action = a.get('action')
        elif tag == 'input':
            self.fields[a.get('name')] = a.get('value')
        elif tag == 'script':
            self.script = True
        elif tag == 'button':
            self.button = True


class StandInSalesforce:
    """http://127.0.0.1:PORT/: a POSTed login form (username, pw, startURL)
    is checked with dagate's Authenticate; the answer says who logged in."""

    def __init__(self):
        self.dagate = None
        self.posts = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get('Content-Length', '0'))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
                user, token = form['username'][0], form['pw'][0]
                answer = outer.dagate.authenticate(user, token, '198.51.100.9')
                outer.posts.append((user, form.get('startURL', [None])[0], answer))
                body = ('logged in as %s' % user if answer == 'true' else 'login failed').encode()
                self.send_response(200 if answer == 'true' else 401)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d/' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def post(self, action, fields):
        """Post the form as a browser would: (status, body)."""
        data = urllib.parse.urlencode(fields).encode()
        try:
            with urllib.request.urlopen(urllib.request.Request(action, data=data), timeout=20) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def sso_config(login_url, *, keytab='{dir}/http.keytab', extra='',
               principal='HTTP/%s@%s' % (SSO_HOST, REALM), allow='127.0.0.1/32'):
    text = server_section() + NO_THROTTLE + """
[route]
match = * -> nobody

[provider nobody]
type = static
result = false

[tokens]
store = lmdb:{dir}/tokens
key_file = {dir}/token.key

[sso]
listen = 127.0.0.1:0
keytab = %s
login_url = %s
user = %%l@%s
realms = %s
allow = %s
""" % (keytab, login_url, SF_DOMAIN, REALM, allow)
    if principal:
        text += 'principal = %s\n' % principal
    return text + extra



class SignOnServers:
    """The class fixture (a mixin before unittest.TestCase): cls.tmp, cls.dc,
    cls.kdc (HTTP/SSO_HOST), cls.sf and cls.d, started from
    cls.first_config(); cls.prepare() runs once the KDC is up; the log must
    never hold any of cls.secrets()."""

    prefix = 'dagate-sso-'

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix=cls.prefix)
        cls.dc = cls.sf = cls.d = None
        try:
            cls.dc = SambaDC()
            cls.kdc = KerberosSetup(cls.dc, os.path.join(cls.tmp, 'kdc'), host=SSO_HOST,
                                    svc='svc-sso')
            cls.prepare()
            cls.sf = StandInSalesforce()
            cls.d = cls.start_dagate(cls.first_config())
            cls.sf.dagate = cls.d
        except BaseException:
            cls._stop_servers()
            raise

    @classmethod
    def prepare(cls):
        pass

    @classmethod
    def first_config(cls):
        return sso_config(cls.sf.url)

    @classmethod
    def secrets(cls):
        return []

    @classmethod
    def start_dagate(cls, config, *, keytab=None, files=None, start=True):
        """A dagate with the keytab of `keytab` (a KerberosSetup; default
        cls.kdc) as http.keytab, and `files` as the harness takes them."""
        with open((keytab or cls.kdc).keytab, 'rb') as f:
            all_files = {'http.keytab': (f.read(), 0o600)}
        all_files.update(files or {})
        return Dagate(config, files=all_files,
                      env={'KRB5_CONFIG': cls.kdc.krb5_conf, 'KRB5RCACHEDIR': cls.tmp},
                      start=start)

    @classmethod
    def _stop_servers(cls):
        for s in (cls.sf, cls.dc):
            if s is not None:
                s.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.d is not None:
                close_checking_log(cls.d, cls.secrets())
        finally:
            cls._stop_servers()

    @classmethod
    def sso_port(cls, d):
        return [l for l in d.listeners if l.kind == 'sso'][0].port
