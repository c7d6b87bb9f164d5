"""Real SMTP servers for the smtp provider's tests, on aiosmtpd (Debian's
python3-aiosmtpd, in the test process; run the suite with /usr/bin/python3).

    with SmtpServer(certs, users={'joe@corp.example': 'pw'}, mode='starttls') as s:
        s.uri                 smtp://127.0.0.1:PORT or smtps://...
        s.auth_attempts       [(login, mechanism, tls)] as the server saw them
        s.mail_transactions   MAIL FROM commands seen (must stay empty)

mode:
  'starttls'   STARTTLS offered; AUTH advertised only after STARTTLS
  'implicit'   TLS from the first byte (smtps://), AUTH offered
  'plain-auth' no STARTTLS at all; AUTH offered in clear text
  'no-auth'    STARTTLS offered, but no AUTH, ever

    with StallingServer() as s:   accepts TCP connections, never says a word

A server that cannot start raises: a missing server is a failure, not a skip.
"""

import logging
import socket
import ssl
import threading
import time

from aiosmtpd.controller import Controller
import aiosmtpd.smtp as smtp_module
from aiosmtpd.smtp import AuthResult, LoginPassword, SMTP

from backends.ports import free_port

START_TIMEOUT = 5.0

# aiosmtpd 1.4 sets its own deprecated Session.login_data on every AUTH and
# warns about it; unittest re-enables warnings, so replace the property.
smtp_module.Session.login_data = None
# Failed TLS handshakes (the untrusted-certificate tests) are expected.
logging.getLogger('mail.log').setLevel(logging.CRITICAL)


class _Handler:
    def __init__(self, owner):
        self.owner = owner

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.owner.mail_transactions.append(address)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        self.owner.mail_transactions.append('DATA')
        return '250 OK'


class _NoAuthHandler(_Handler):
    """Drops the AUTH line from every EHLO answer: a server with no AUTH."""

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [r for r in responses if not r[4:].upper().startswith('AUTH')]


class _Controller(Controller):
    def __init__(self, handler, factory_kwargs, **kwargs):
        self._factory_kwargs = factory_kwargs
        super().__init__(handler, **kwargs)

    def factory(self):
        return SMTP(self.handler, **self._factory_kwargs)


class SmtpServer:
    def __init__(self, certs, *, users, mode='starttls', host='127.0.0.1'):
        self.users = dict(users)
        self.mode = mode
        self.host = host
        self.port = free_port(host)
        self.auth_attempts = []
        self.mail_transactions = []
        self._lock = threading.Lock()

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certs.cert, certs.key)
        kwargs = dict(hostname='mail.test', ident='dagate-test-smtpd',
                      authenticator=self._authenticate, timeout=10)
        controller_kwargs = {}
        handler = _Handler(self)
        if mode == 'starttls':
            kwargs.update(tls_context=ctx, auth_require_tls=True)
        elif mode == 'implicit':
            # aiosmtpd's auth_require_tls does not count implicit TLS
            kwargs.update(auth_require_tls=False)
            controller_kwargs['ssl_context'] = ctx
        elif mode == 'plain-auth':
            kwargs.update(auth_require_tls=False)
        elif mode == 'no-auth':
            kwargs.update(tls_context=ctx, auth_require_tls=True)
            handler = _NoAuthHandler(self)
        else:
            raise ValueError(mode)
        self.scheme = 'smtps' if mode == 'implicit' else 'smtp'
        self.uri = '%s://%s:%d' % (self.scheme, host, self.port)
        self._controller = _Controller(handler, kwargs,
                                       hostname=host, port=self.port,
                                       ready_timeout=START_TIMEOUT,
                                       **controller_kwargs)
        self._controller.start()

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode('utf-8', 'replace')
        password = auth_data.password.decode('utf-8', 'replace')
        with self._lock:
            self.auth_attempts.append((login, mechanism,
                                       session.ssl is not None or self.mode == 'implicit'))
        ok = self.users.get(login) == password
        return AuthResult(success=ok, handled=False)

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


class StallingServer:
    """Accepts connections and then says nothing (no SMTP greeting, no TLS
    handshake): only a client-side deadline ends the conversation."""

    def __init__(self, host='127.0.0.1'):
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.host, self.port = self.sock.getsockname()[:2]
        self.connections = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def uri(self, scheme):
        return '%s://%s:%d' % (scheme, self.host, self.port)

    def _run(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections.append((conn, time.monotonic()))

    def stop(self):
        self._stop = True
        self._thread.join(2)
        for conn, _ in self.connections:
            conn.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
