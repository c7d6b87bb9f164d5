"""A TCP proxy on 127.0.0.1 in front of a real server that answers late:
on the connections `slow(first_bytes)` picks (from the first bytes the
client sent), every byte from the server is held `delay` seconds before it
goes on to the client; requests go through at once, so the server has
acted on a request long before its client sees the answer. When the client
gives up and closes, the server side stays open for `delay` more seconds,
as a slow server's connection would.

    with DelayingProxy('10.0.0.2', 389, 2.0, slow=lambda b: b'svc' not in b) as p:
        p.port, p.slowed (connections slowed so far)
"""

import select
import socket
import threading
import time


class DelayingProxy:
    def __init__(self, host, port, delay, slow=lambda first: True):
        self.upstream, self.delay, self.slow = (host, port), delay, slow
        self.slowed = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(('127.0.0.1', 0))
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._stop.set()
        for t in list(self._threads):
            t.join(timeout=self.delay + 2)
        self._listener.close()

    def _accept(self):
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            t = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, client):
        try:
            server = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            client.close()
            return
        try:
            self._forward(client, server)
        finally:
            client.close()
            server.close()

    def _forward(self, client, server):
        held = []              # (release time, bytes) from the server
        slow = None            # decided on the client's first bytes
        client_open, server_open, until = True, True, None
        while not self._stop.is_set():
            now = time.monotonic()
            while held and held[0][0] <= now:
                if client_open:
                    try:
                        client.sendall(held[0][1])
                    except OSError:
                        client_open = False
                held.pop(0)
            if not client_open:
                until = until or now + self.delay
                if now >= until:
                    return
            if not server_open and not held:
                return
            wait = min([0.2] + [max(0.0, h[0] - now) for h in held[:1]])
            socks = ([server] if server_open else []) + ([client] if client_open else [])
            readable, _, _ = select.select(socks, [], [], wait)
            if client in readable:
                data = client.recv(65536)
                if not data:
                    client_open = False
                    continue
                if slow is None:
                    slow = bool(self.slow(data))
                    if slow:
                        with self._lock:
                            self.slowed += 1
                server.sendall(data)
            if server in readable:
                data = server.recv(65536)
                if not data:
                    server_open = False
                    continue
                held.append((time.monotonic() + (self.delay if slow else 0.0), data))
