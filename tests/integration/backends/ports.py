"""Loopback ports for the test servers: a free one to listen on (or to find
closed), and a bounded wait until a server is ready that fails loudly, with
the server's own words, when it is not."""

import socket
import time


def free_port(host='127.0.0.1'):
    """A port nothing listens on right now: bound, read back and released.
    A test that wants a closed port uses it as it is."""
    s = socket.socket()
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def accepts(host, port, timeout=0.5):
    """True when a TCP connection to host:port is accepted."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def wait_until(ready, *, name, timeout, proc=None, details=lambda: '', interval=0.05):
    """Poll ready() until it returns true. Raise AssertionError, with
    details() (the server's log), when `proc` exits first or `timeout`
    seconds pass: a server that cannot start fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise AssertionError('%s exited with %d:\n%s' % (name, proc.returncode, details()))
        if ready():
            return
        if time.monotonic() > deadline:
            raise AssertionError('%s was not ready within %.0f s:\n%s' % (name, timeout, details()))
        time.sleep(interval)


def wait_for_ports(ports, *, host='127.0.0.1', **kwargs):
    """wait_until every port in `ports` on `host` accepts a connection."""
    wait_until(lambda: all(accepts(host, p) for p in ports), **kwargs)
