#!/usr/bin/python3
"""Token redemptions per second through the HTTP endpoint, LMDB and Redis,
next to the `static` provider figure from the same run. Not a test: prints
figures.

    bench/tokens.py                    (needs build/dagate: scripts/build)
    DURATION=5 CONNS=32 THREADS=2 LMDB_TOKENS=20000 REDIS_TOKENS=95000 bench/tokens.py

For each store: one `dagate serve` (route * -> static true), TOKENS tokens
issued through the token API first, then wrk sends Authenticate calls that
each carry a different token (one use each); only answers that are
`true` count. The static figure is the same load with a plain password.
Everything listens on 127.0.0.1 only; every process is stopped by PID.
"""

import base64
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
os.environ.setdefault('DAGATE_BIN', os.path.join(ROOT, 'build', 'dagate'))

from harness import Dagate, server_section          # noqa: E402
from backends.redis import RedisServer               # noqa: E402

DURATION = int(os.environ.get('DURATION', '5'))
CONNS = int(os.environ.get('CONNS', '32'))
THREADS = int(os.environ.get('THREADS', '2'))
# Enough tokens for DURATION seconds at each store's pace (one use each).
TOKENS = {'lmdb': int(os.environ.get('LMDB_TOKENS', '20000')),
          'redis': int(os.environ.get('REDIS_TOKENS', '95000'))}   # <= max_outstanding
SECRET = 'bench-secret-0123456789'

WRK_LUA = r'''
local tokens, counter, threads = {}, 1, {}
trues = 0
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  local path, n = args[1], tonumber(args[2])
  local i = 0
  if path ~= "-" then
    for line in io.lines(path) do
      if i %% n == id then table.insert(tokens, line) end
      i = i + 1
    end
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
  wrk.headers["SOAPAction"] = '""'
end
local pre = '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><Authenticate xmlns="urn:authentication.soap.sforce.com"><username>joe@corp.example</username><password>'
local post = '</password><sourceIp>203.0.113.7</sourceIp></Authenticate></soapenv:Body></soapenv:Envelope>'
function request()
  local t = tokens[counter]
  counter = counter + 1
  if t == nil then t = "%(fallback)s" end
  return wrk.format(nil, nil, nil, pre .. t .. post)
end
function response(status, headers, body)
  if string.find(body, "<Authenticated>true</Authenticated>", 1, true) then trues = trues + 1 end
end
function done(summary, latency, requests)
  local t = 0
  for _, th in ipairs(threads) do t = t + th:get("trues") end
  io.write(string.format("BENCH requests=%%d trues=%%d p99_us=%%d errors=%%d\n", summary.requests, t,
           latency:percentile(99), summary.errors.status + summary.errors.connect +
           summary.errors.read + summary.errors.write + summary.errors.timeout))
end
'''


def config(store, tmp):
    return server_section(extra='max_connections_per_ip = 1024\nqueue = 1024\n',
                          level='info') + '''
[route]
match = * -> always

[provider always]
type = static
result = true

[tokens]
store = %(store)s
key_file = %(tmp)s/token.key
ttl = 1h
max_ttl = 2h

[requester bench]
secret_file = {dir}/bench.secret
allow = 127.0.0.1
users = *
rate = 1000000/1s
max_outstanding = 100000
''' % {'store': store, 'tmp': tmp}


def issue_tokens(d, count, out_path):
    host, port = d.admin_url.split('://', 1)[1].rsplit(':', 1)
    auth = 'Basic ' + base64.b64encode(('bench:' + SECRET).encode()).decode()
    tokens, lock, failures = [], threading.Lock(), []
    per = count // 8

    def worker():
        try:
            work()
        except Exception as e:      # reported by the main thread
            failures.append(e)

    def work():
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        got = []
        for _ in range(per):
            conn.request('POST', '/api/v1/tokens', body='{"user": "joe@corp.example"}',
                         headers={'Authorization': auth, 'Content-Type': 'application/json'})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 201:
                raise RuntimeError('issue: %d %s' % (resp.status, body[:200]))
            got.append(json.loads(body)['token'])
        conn.close()
        with lock:
            tokens.extend(got)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    elapsed = time.monotonic() - t0
    with open(out_path, 'w') as f:
        f.write('\n'.join(tokens) + '\n')
    return len(tokens), len(tokens) / elapsed


def wrk(d, script, tokens_path, fallback):
    with open(script, 'w') as f:
        f.write(WRK_LUA % {'fallback': fallback})
    out = subprocess.run(['wrk', '-t', str(THREADS), '-c', str(CONNS), '-d', '%ds' % DURATION,
                          '--latency', '-s', script, d.url, '--', tokens_path, str(THREADS)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=DURATION + 60)
    m = re.search(r'BENCH requests=(\d+) trues=(\d+) p99_us=(\d+) errors=(\d+)',
                  out.stdout.decode())
    if not m:
        raise RuntimeError(out.stdout.decode())
    req, trues, p99, errors = map(int, m.groups())
    return req / DURATION, trues / DURATION, p99 / 1000.0, errors


def run(name, store, tmp, rows):
    with Dagate(config(store, tmp), files={'bench.secret': (SECRET + '\n', 0o600)}) as d:
        tpath = os.path.join(tmp, 'tokens-%s.txt' % name)
        n, issue_rate = issue_tokens(d, TOKENS[name], tpath)
        script = os.path.join(tmp, 'bench.lua')
        if name == 'lmdb':
            rps, ok, p99, err = wrk(d, script, '-', 'a-plain-password')
            rows.append(('static provider (plain password)', rps, ok, p99, err))
        rps, ok, p99, err = wrk(d, script, tpath, 'dgt1_' + '0' * 52)
        rows.append(('token redemption, %s' % name, rps, ok, p99, err))
        rows.append(('  (issued %d tokens via the API at %.0f/s)' % (n, issue_rate),
                     None, None, None, None))
        if ok * DURATION >= 0.98 * n:
            rows.append(('  (tokens ran out: raise %s_TOKENS)' % name.upper(), None, None, None, None))


def main():
    if shutil.which('wrk') is None:
        sys.exit('bench/tokens.py: needs wrk (scripts/deps bench)')
    tmp = tempfile.mkdtemp(prefix='dagate-bench-tokens-')
    rows = []
    try:
        run('lmdb', 'lmdb:%s/lmdb' % tmp, tmp, rows)
        with RedisServer() as r:
            run('redis', r.url, tmp, rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print('\n%d cores, wrk -t%d -c%d -d%ds, plain HTTP keep-alive, %s'
          % (os.cpu_count(), THREADS, CONNS, DURATION, os.environ['DAGATE_BIN']))
    print('%-40s %12s %12s %10s %7s' % ('', 'answers/s', 'true/s', 'p99 ms', 'errors'))
    for name, rps, ok, p99, err in rows:
        if rps is None:
            print(name)
        else:
            print('%-40s %12.0f %12.0f %10.1f %7d' % (name, rps, ok, p99, err))


if __name__ == '__main__':
    main()
