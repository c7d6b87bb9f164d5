#!/bin/sh
# Throughput and p99 latency of dagate (static provider) against nginx
# answering the same fixed SOAP body, same machine, same wrk load, same
# request, plain HTTP with keep-alive. Not a test: prints figures.
#
#   bench/soap_vs_nginx.sh            (needs build/dagate: scripts/build)
#   THREADS=2 CONNS=32 DURATION=10s ROUNDS=2 bench/soap_vs_nginx.sh
#
# Everything listens on 127.0.0.1 only; every process is stopped by PID.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
DAGATE_BIN=${DAGATE_BIN:-$root/build/dagate}

scripts/deps bench
[ -x "$DAGATE_BIN" ] || { echo "no $DAGATE_BIN: run scripts/build first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/dagate-bench.XXXXXX")
nginx_pid=""
dagate_pid=""
cleanup() {
	for pid in $nginx_pid $dagate_pid; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in $nginx_pid $dagate_pid; do
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
		kill -KILL "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
nginx_port=$(free_port)
dagate_port=$(free_port)
while [ "$dagate_port" = "$nginx_port" ]; do dagate_port=$(free_port); done
cores=$(nproc)

# The request Salesforce sends and the answer dagate gives (PROTOCOL.md).
cat > "$work/request.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
 <soapenv:Body>
  <Authenticate xmlns="urn:authentication.soap.sforce.com">
   <username>john.doe@example.com</username>
   <password>s3cret-or-a-one-time-token</password>
   <sourceIp>203.0.113.7</sourceIp>
  </Authenticate>
 </soapenv:Body>
</soapenv:Envelope>
XML
response='<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><AuthenticateResult xmlns="urn:authentication.soap.sforce.com"><Authenticated>true</Authenticated></AuthenticateResult></soapenv:Body></soapenv:Envelope>'

/usr/bin/python3 - "$work/request.xml" "$work/post.lua" <<'PY'
import sys
body = open(sys.argv[1]).read()
with open(sys.argv[2], 'w') as f:
    f.write('wrk.method = "POST"\n')
    f.write('wrk.body = [==[%s]==]\n' % body)
    f.write('wrk.headers["Content-Type"] = "text/xml; charset=utf-8"\n')
    f.write('wrk.headers["SOAPAction"] = \'""\'\n')
PY

# (a) nginx: private prefix, foreground, one worker per core, keep-alive.
mkdir -p "$work/nginx/logs" "$work/nginx/tmp"
esc_response=$(printf '%s' "$response" | sed 's/"/\\"/g' | tr '\n' ' ')
cat > "$work/nginx/nginx.conf" <<NGINX
daemon off;
worker_processes $cores;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    client_body_temp_path $work/nginx/tmp;
    proxy_temp_path $work/nginx/tmp;
    fastcgi_temp_path $work/nginx/tmp;
    uwsgi_temp_path $work/nginx/tmp;
    scgi_temp_path $work/nginx/tmp;
    server {
        listen 127.0.0.1:$nginx_port;
        location = /Sso.asmx {
            default_type "text/xml; charset=utf-8";
            return 200 "$esc_response";
        }
    }
}
NGINX
nginx -p "$work/nginx" -e "$work/nginx/logs/error.log" -c "$work/nginx/nginx.conf" &
nginx_pid=$!

# (b) dagate: static provider, true after 0 ms, quiet log, audit discarded.
cat > "$work/dagate.conf" <<CONF
[server]
listen = 127.0.0.1:$dagate_port
allow = 127.0.0.0/8
max_connections = 1024
max_connections_per_ip = 1024

[log]
level = warn
format = text
audit = /dev/null

[route]
match = * -> always

[provider always]
type = static
result = true
delay = 0ms
CONF
(cd "$work" && exec "$DAGATE_BIN" serve -c "$work/dagate.conf") 2>"$work/dagate.log" &
dagate_pid=$!

wait_ready() { # url
	i=0
	while [ $i -lt 100 ]; do
		if curl -s -o "$work/probe" -w '%{http_code}' -X POST -H 'Content-Type: text/xml; charset=utf-8' \
			-H 'SOAPAction: ""' --data-binary @"$work/request.xml" "$1" 2>/dev/null | grep -q '^200$' &&
			grep -q '<Authenticated>true</Authenticated>' "$work/probe"; then
			return 0
		fi
		i=$((i + 1)); sleep 0.1
	done
	echo "not answering true: $1" >&2
	cat "$work/dagate.log" "$work/nginx/logs/error.log" >&2 2>/dev/null || true
	exit 1
}
wait_ready "http://127.0.0.1:$nginx_port/Sso.asmx"
wait_ready "http://127.0.0.1:$dagate_port/Sso.asmx"

secs=$(echo "$DURATION" | sed 's/s$//')
load() { # name url -> prints "rps p99ms errors"
	out="$work/wrk-$1.txt"
	timeout $((secs + 30)) wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$work/post.lua" "$2" >"$out" 2>&1
	/usr/bin/python3 - "$out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r'Requests/sec:\s+([\d.]+)', t).group(1))
m = re.search(r'^\s+99%\s+([\d.]+)(us|ms|s)\s*$', t, re.M)
p99 = float(m.group(1)) * {'us': 0.001, 'ms': 1.0, 's': 1000.0}[m.group(2)]
bad = re.search(r'Non-2xx or 3xx responses:\s+(\d+)', t)
err = re.search(r'Socket errors:.*', t)
print('%.0f %.3f %s %s' % (rps, p99, bad.group(1) if bad else 0,
      '"%s"' % err.group(0) if err else '-'))
PY
}

echo "wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS rounds, $cores cores; nginx :$nginx_port, dagate :$dagate_port"
printf '%-6s %-7s %12s %10s %8s\n' round server req/s p99_ms non2xx
sum_a=0; sum_b=0; p99_a=""; p99_b=""
r=1
while [ $r -le "$ROUNDS" ]; do
	set -- $(load nginx "http://127.0.0.1:$nginx_port/Sso.asmx")
	printf '%-6s %-7s %12s %10s %8s %s\n' "$r" nginx "$1" "$2" "$3" "$4"
	sum_a=$((sum_a + $1)); p99_a="$p99_a $2"
	set -- $(load dagate "http://127.0.0.1:$dagate_port/Sso.asmx")
	printf '%-6s %-7s %12s %10s %8s %s\n' "$r" dagate "$1" "$2" "$3" "$4"
	sum_b=$((sum_b + $1)); p99_b="$p99_b $2"
	r=$((r + 1))
done
kill -0 "$dagate_pid" 2>/dev/null || { echo "dagate died during the run:" >&2; cat "$work/dagate.log" >&2; exit 1; }
/usr/bin/python3 - "$sum_a" "$sum_b" "$ROUNDS" "$p99_a" "$p99_b" <<'PY'
import sys
a, b, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
pa = max(float(x) for x in sys.argv[4].split()); pb = max(float(x) for x in sys.argv[5].split())
print()
print('(a) nginx  fixed SOAP body: %10.0f req/s  p99 %.3f ms (worst round)' % (a / n, pa))
print('(b) dagate static provider: %10.0f req/s  p99 %.3f ms (worst round)' % (b / n, pb))
print('ratio b/a = %.2f  (target >= 0.5)' % (b / a if a else 0))
PY
