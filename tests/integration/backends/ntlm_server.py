"""A real NTLM web endpoint for the http provider's tests: an HTTPS server
(stdlib http.server, HTTP/1.1 keep-alive, in a thread of the test process)
that hands each connection's NTLM messages to its own Samba
`ntlm_auth --helper-protocol=squid-2.5-ntlmssp`, which asks the winbindd of a
running SambaDC (backends/samba.py) to check them. Debian's Apache cannot do
raw NTLM (BACKENDS.md).

    with NtlmServer(certs, dc) as s:
        s.url('/check')     https://127.0.0.1:PORT/check
        s.log               [(client_port, status, user)] one entry per request

The SambaDC's winbindd listens on /run/samba/winbindd/pipe (the path winbind
clients are built with); ntlm_auth reads the DC's smb.conf. A server that
cannot start raises.
"""

import base64
import http.server
import ssl
import subprocess
import threading

from backends.ports import wait_for_ports, wait_until
from backends.samba import DOMAIN, SVC_PASSWORD

READY_TIMEOUT = 20.0


def wait_for_winbindd(smbconf):
    """Until winbindd checks a known password (it starts with samba)."""
    last = ['']

    def checks():
        r = subprocess.run(['ntlm_auth', '--configfile=' + smbconf, '--username=svc-dagate',
                            '--domain=' + DOMAIN, '--password=' + SVC_PASSWORD],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=10)
        last[0] = r.stdout
        return r.returncode == 0

    wait_until(checks, name='winbindd (checking a password)', timeout=READY_TIMEOUT,
               details=lambda: last[0][-2000:], interval=0.3)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'   # NTLM authenticates the connection

    def log_message(self, *args):
        pass

    def _answer(self, status, user='-', challenge=None):
        body = b'ok\n' if status == 200 else b'no\n'
        self.send_response(status)
        if status == 401:
            self.send_header('WWW-Authenticate', 'NTLM' + (' ' + challenge if challenge else ''))
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with self.server.lock:
            self.server.log.append((self.client_address[1], status, user))

    def _helper(self, line):
        if getattr(self, 'ntlm', None) is None:
            self.ntlm = subprocess.Popen(
                ['ntlm_auth', '--helper-protocol=squid-2.5-ntlmssp',
                 '--configfile=' + self.server.smbconf],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True)
        self.ntlm.stdin.write(line + '\n')
        self.ntlm.stdin.flush()
        return self.ntlm.stdout.readline().strip()

    def finish(self):
        try:
            super().finish()
        finally:
            if getattr(self, 'ntlm', None) is not None:
                self.ntlm.stdin.close()
                self.ntlm.wait(5)
                self.ntlm.stdout.close()

    def do_GET(self):
        auth = self.headers.get('Authorization', '')
        if self.path != '/check' or not auth.startswith('NTLM '):
            return self._answer(401)
        blob = auth[5:].strip()
        kind = base64.b64decode(blob)[8:9] if blob else b''
        if kind == b'\x01':
            reply = self._helper('YR ' + blob)
            if reply.startswith('TT '):
                return self._answer(401, challenge=reply[3:])
        elif kind == b'\x03':
            reply = self._helper('KK ' + blob)
            if reply.startswith('AF '):
                return self._answer(200, user=reply[3:])
        return self._answer(401)


class NtlmServer:
    def __init__(self, certs, dc):
        wait_for_winbindd(dc.smbconf)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certs.cert, certs.key)
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.smbconf = dc.smbconf
        self.httpd.log = []
        self.httpd.lock = threading.Lock()
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        wait_for_ports([self.port], name='the NTLM web server', timeout=2)

    @property
    def log(self):
        with self.httpd.lock:
            return list(self.httpd.log)

    def url(self, path):
        return 'https://127.0.0.1:%d%s' % (self.port, path)

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
