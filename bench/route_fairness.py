#!/usr/bin/python3
"""One dagate binary, two routes: how much a saturated slow route slows the
fast one. Not a test: prints figures (bench/route_fairness.sh runs it for
two binaries side by side and prints the ratios).

The backends are one HTTPS server (Python, self-signed, loopback): /fast
answers at once, /slow after SLOW seconds; both say 200 to any user
with the password bench-pw. dagate runs with the defaults of [server] (workers, queue,
provider concurrency) and an `http` provider per path.

  route_fairness.py DAGATE_BIN [--slow-clients 60] [--fast-clients 4]
                               [--fast-requests 400] [--slow 2] [--seconds 30]
Prints one line: unloaded and loaded p50/p99 of the fast route, in ms.
"""
import argparse
import base64
import http.client
import http.server
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

BODY = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
        '<Authenticate xmlns="urn:authentication.soap.sforce.com">'
        '<username>%s</username><password>bench-pw</password>'
        '<sourceIp>198.51.100.%d</sourceIp></Authenticate></soapenv:Body></soapenv:Envelope>')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Backend(http.server.BaseHTTPRequestHandler):
    slow_seconds = 2.0
    protocol_version = 'HTTP/1.1'

    def do_GET(self):
        if self.path.startswith('/slow'):
            time.sleep(self.slow_seconds)
        auth = self.headers.get('Authorization', '')
        ok = auth.startswith('Basic ') and \
            base64.b64decode(auth[6:]).decode().endswith(':bench-pw')
        self.send_response(200 if ok else 401)
        if not ok:
            self.send_header('WWW-Authenticate', 'Basic realm="bench"')
        self.send_header('Content-Length', '0')
        self.end_headers()

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256    # no SYN dropped (a 1 s retransmit) under load

    def handle_error(self, request, client_address):
        pass        # dagate's probes hang up early; not news


def serve_backend(work, slow_seconds):
    """The backend, in a process of its own (not sharing the client
    threads' interpreter lock): prints its port, serves until killed."""
    Backend.slow_seconds = slow_seconds
    server = QuietServer(('127.0.0.1', 0), Backend)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(work, 'cert.pem'), os.path.join(work, 'key.pem'))
    # The handshake in the request's thread, not in the accept loop.
    server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                    do_handshake_on_connect=False)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def start_backend(work, slow_seconds):
    cert, key = os.path.join(work, 'cert.pem'), os.path.join(work, 'key.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                    'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
                    '-days', '2', '-subj', '/CN=127.0.0.1',
                    '-addext', 'subjectAltName=IP:127.0.0.1'],
                   check=True, capture_output=True)
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), '--serve-backend',
                             work, str(slow_seconds)], stdout=subprocess.PIPE)
    return proc, int(proc.stdout.readline()), cert


def start_dagate(binary, work, backend_port, cert):
    port = free_port()
    conf = os.path.join(work, 'dagate.conf')
    with open(conf, 'w') as f:
        f.write('[server]\nlisten = 127.0.0.1:%d\nallow = 127.0.0.0/8\n' % port)
        f.write('[log]\nlevel = warn\naudit = %s\n' % os.path.join(work, 'audit.log'))
        f.write('[route]\nmatch = *@slow.example -> slow\nmatch = * -> fast\n')
        for name in ('slow', 'fast'):
            f.write('[provider %s]\ntype = http\nurl = https://127.0.0.1:%d/%s\n'
                    'ca_file = %s\ntimeout = 9s\n' % (name, backend_port, name, cert))
    proc = subprocess.Popen([binary, 'serve', '-c', conf], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(work, 'dagate.err'), 'w'))
    for _ in range(100):
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    sys.exit('dagate did not start: ' + open(os.path.join(work, 'dagate.err')).read())


def login(conn, user, n):
    body = BODY % (user, n % 250 + 1)
    start = time.monotonic()
    conn.request('POST', '/Sso.asmx', body, {'Content-Type': 'text/xml; charset=utf-8',
                                             'SOAPAction': '""'})
    answer = conn.getresponse().read()
    return time.monotonic() - start, b'<Authenticated>true' in answer


def fast_round(port, clients, requests, seconds):
    """`requests` logins on the fast route from `clients` threads, or as
    many as `seconds` allow (a starved route answers in seconds)."""
    times, lock, bad = [], threading.Lock(), [0]
    per_client = requests // clients
    until = time.monotonic() + seconds

    def run(c):
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
        for i in range(per_client):
            if time.monotonic() > until:
                break
            t, ok = login(conn, 'user%d@fast.example' % c, c * 1000 + i)
            with lock:
                times.append(t)
                bad[0] += not ok
        conn.close()

    threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times.sort()
    return times, bad[0]


def pct(times, p):
    return times[min(len(times) - 1, int(len(times) * p))] * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('dagate')
    ap.add_argument('--slow-clients', type=int, default=60)
    ap.add_argument('--fast-clients', type=int, default=4)
    ap.add_argument('--fast-requests', type=int, default=400)
    ap.add_argument('--slow', type=float, default=2.0)
    ap.add_argument('--seconds', type=float, default=30.0,
                    help='longest a round of fast logins may take')
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix='dagate-fairness.')
    backend, backend_port, cert = start_backend(work, a.slow)
    proc, port = start_dagate(a.dagate, work, backend_port, cert)
    stop = threading.Event()
    slow_answers = [0, 0]
    try:
        fast_round(port, a.fast_clients, a.fast_clients * 10, 30)     # warm up
        unloaded, bad_u = fast_round(port, a.fast_clients, a.fast_requests, a.seconds)

        def hammer(c):
            conn = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
            i = 0
            while not stop.is_set():
                try:
                    _, ok = login(conn, 'user%d@slow.example' % c, i)
                    slow_answers[0 if ok else 1] += 1
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
                i += 1

        hammers = [threading.Thread(target=hammer, args=(c,), daemon=True)
                   for c in range(a.slow_clients)]
        for t in hammers:
            t.start()
        time.sleep(a.slow * 2)          # let the slow route fill up
        loaded, bad_l = fast_round(port, a.fast_clients, a.fast_requests, a.seconds)
        stop.set()
        print('unloaded p50 %.1f p99 %.1f ms | loaded p50 %.1f p99 %.1f ms | '
              'fast logins %d+%d, not true %d+%d | slow true %d, not true %d'
              % (pct(unloaded, .5), pct(unloaded, .99), pct(loaded, .5), pct(loaded, .99),
                 len(unloaded), len(loaded), bad_u, bad_l, slow_answers[0], slow_answers[1]))
    finally:
        stop.set()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        backend.kill()
        backend.wait()
        if os.environ.get('KEEP'):
            print('kept', work)
        else:
            subprocess.run(['rm', '-rf', work])


if __name__ == '__main__':
    if sys.argv[1:2] == ['--serve-backend']:
        serve_backend(sys.argv[2], float(sys.argv[3]))
    else:
        main()
