#!/bin/sh
# evudp6-probe exit codes, each with the situation that causes it
# (loopback only, no privileges):
#   0 success, 1 error response, 2 timeout, 3 network error (ICMP, send),
#   4 resolution error, 64 usage, 66 unreadable payload file,
#   71 socket that cannot be bound.
set -u
probe=${top_builddir:-.}/tools/evudp6-probe
if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: probe_exit needs python3 (silent peer, fake name server)"
	exit 77
fi
tmp=$(mktemp -d /tmp/probe_exit.XXXXXX)
pids=
cleanup() {
	for pid in $pids; do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "PASS: $1"; }
bad() { failed=$((failed + 1)); echo "FAIL: $1"; shift; for l in "$@"; do echo "      $l"; done; }
# run NAME WANT_CODE ARGS...: run the probe, keep its output in $out
run() {
	name=$1 want=$2
	shift 2
	"$probe" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	code=$?
	out=$(cat "$tmp/out")
	if [ "$code" = "$want" ]; then
		ok "$name: exit $want"
	else
		bad "$name: exit $want" "got exit $code" "stdout: $out" "stderr: $(cat "$tmp/err")"
	fi
}
# expect NAME TEXT REGEX
expect() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then ok "$1"; else bad "$1" "wanted: $3" "got:    $2"; fi
}

# A diagnostic server on an ephemeral port; its first line names the port.
: >"$tmp/srv"
"$probe" --listen --json -T 60 '[::]:0' >"$tmp/srv" 2>&1 &
pids="$pids $!"
for _ in $(seq 50); do grep -q '"listening"' "$tmp/srv" && break; sleep 0.1; done
port=$(sed -n 's/.*"event":"listening".*"port":\([0-9]*\).*/\1/p' "$tmp/srv" | head -n 1)
if [ -z "$port" ]; then
	echo "the diagnostic server did not start:"
	cat "$tmp/srv"
	exit 1
fi

# 0: a 2.05 answer, over IPv6 and IPv4
run "GET /hello over IPv6" 0 "coap://[::1]:$port/hello"
expect "GET /hello prints code, sender and payload" "$out" "^2\.05 Content from \[::1\]:$port in [0-9.]+ ms"
run "GET /hello over IPv4" 0 "coap://127.0.0.1:$port/hello"
run "PUT /echo" 0 -m PUT -e "x" "coap://127.0.0.1:$port/echo"
run "ping, every one answered" 0 --ping -c 2 -i 0.05 "coap://[::1]:$port"
# The server logs each ping it answered, with both addresses and the mid.
sleep 0.2
pl=$(grep '"kind":"ping"' "$tmp/srv")
expect "--listen --json logs both pings" "$(printf '%s\n' "$pl" | grep -c .)" "^2\$"
expect "--listen --json ping line" "$(printf '%s\n' "$pl" | head -n 1)" \
	"^\{\"event\":\"request\",\"kind\":\"ping\",\"time\":\"[0-9:.]+\",\"from\":\"\[::1\]:[0-9]+\",\"to\":\"\[::1\]:$port\",\"interface\":\"lo\",\"multicast\":false,\"type\":\"CON\",\"mid\":[0-9]+,\"answer\":\"RST\"\}\$"
# A human log too, from a second server on the IPv4 loopback.
: >"$tmp/srv2"
"$probe" --listen -T 10 '127.0.0.1:0' >"$tmp/srv2" 2>&1 &
srv2=$!
pids="$pids $srv2"
for _ in $(seq 50); do grep -q '^listening' "$tmp/srv2" && break; sleep 0.1; done
port2=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/srv2" | head -n 1)
run "ping to an IPv4 --listen" 0 --ping -c 1 "coap://127.0.0.1:${port2:-1}"
sleep 0.2
kill "$srv2" 2>/dev/null
wait "$srv2" 2>/dev/null
expect "--listen logs a ping on one human line" "$(grep ' ping ' "$tmp/srv2")" \
	"^[0-9:.]+ 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$port2 on lo CON ping mid [0-9]+ => RST\$"
expect "--listen closing line counts the ping" "$(tail -n 1 "$tmp/srv2")" "^stopped after 0 requests and 1 ping\$"

# 1: 4.04 and 4.05 answers
run "GET of a missing resource (4.04)" 1 "coap://[::1]:$port/nothing-here"
expect "4.04 is printed with its name" "$out" "^4\.04 Not Found from"
run "DELETE /hello (4.05)" 1 -m DELETE "coap://[::1]:$port/hello"

# A port that was just free: nothing listens there.
closed=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("::1", 0)); print(s.getsockname()[1])')

# 3: the ICMP error of a closed port, fast, never a timeout
run "closed port on ::1 (ICMPv6 port unreachable)" 3 --json "coap://[::1]:$closed/x"
expect "closed port: JSON error of kind network with ECONNREFUSED" "$out" \
	'"event":"error","kind":"network".*"error":"ECONNREFUSED","errno":111'
expect "closed port: ICMPv6 type 1 code 4 from ::1" "$out" \
	'"icmp":\{"origin":"ICMPv6","type":1,"code":4,"what":"port unreachable","from":"::1"\}'
ms=$(printf '%s\n' "$out" | sed -n 's/.*"elapsed_ms":\([0-9.]*\).*/\1/p')
if [ -n "$ms" ] && awk -v ms="$ms" 'BEGIN { exit !(ms < 10) }'; then
	ok "closed port: error within 10 ms (${ms} ms)"
else
	bad "closed port: error within 10 ms" "elapsed_ms: '$ms'" "$out"
fi
run "closed port on 127.0.0.1 (ICMP port unreachable)" 3 --json "coap://127.0.0.1:$closed/x"
expect "closed port IPv4: ICMP type 3 code 3 from 127.0.0.1" "$out" \
	'"icmp":\{"origin":"ICMP","type":3,"code":3,"what":"port unreachable","from":"127.0.0.1"\}'
run "closed port, human line" 3 "coap://[::1]:$closed/x"
expect "closed port: human line names errno text, ICMP and sender" "$out" \
	"^\[::1\]:$closed: Connection refused \(ICMPv6 port unreachable from ::1\) after [0-9.]+ ms\$"
run "ping to a closed port" 3 --ping -c 2 -i 0.05 "coap://[::1]:$closed"
# 3 also for an error from sendmsg itself: a socket bound to an IPv4
# address cannot send to IPv6
run "send error (socket bound to 127.0.0.1, destination ::1)" 3 --json -b 127.0.0.1:0 "coap://[::1]:$closed/x"
expect "send error: kind network, no ICMP, said to come from sending" "$out" \
	'"kind":"network".*"icmp":null,"detail":"send error: the local kernel refused the datagram"'

# 2: a peer that receives and never answers
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::1", 0))
print(s.getsockname()[1], flush=True)
time.sleep(30)' >"$tmp/silent" &
pids="$pids $!"
for _ in $(seq 50); do [ -s "$tmp/silent" ] && break; sleep 0.1; done
silent=$(cat "$tmp/silent")
run "CON to a silent peer with -T 0.4" 2 --json -T 0.4 "coap://[::1]:$silent/x"
expect "silent peer: JSON error of kind timeout" "$out" '"event":"error","kind":"timeout"'
run "NON to a silent peer" 2 -N -T 0.4 "coap://[::1]:$silent/x"
run "ping to a silent peer" 2 --ping -c 1 -T 0.3 "coap://[::1]:$silent"

# 4: resolution errors: a name the name server denies
# A name server on loopback that answers every question with NXDOMAIN.
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
s.settimeout(1.0)
end = time.time() + 30
while time.time() < end:
    try:
        q, peer = s.recvfrom(512)
    except socket.timeout:
        continue
    if len(q) < 12:
        continue
    # same id and question; QR=1, RD copied, RA=1, RCODE=3 (name error)
    flags = 0x8000 | (q[2] & 0x01) << 8 | 0x0080 | 3
    s.sendto(q[:2] + flags.to_bytes(2, "big") + q[4:6] + b"\0\0\0\0\0\0" + q[12:], peer)' >"$tmp/dns" &
pids="$pids $!"
for _ in $(seq 50); do [ -s "$tmp/dns" ] && break; sleep 0.1; done
dns=$(cat "$tmp/dns")
run "name that does not exist" 4 --json --dns "127.0.0.1:$dns" "coap://no-such-host.invalid/"
expect "NXDOMAIN: JSON error of kind resolve" "$out" '"kind":"resolve".*"error":"EVUDP6_E_RESOLVE_NXDOMAIN"'

# 64: usage
run "no URI" 64
run "unknown option" 64 --no-such-option "coap://[::1]/"
run "bad method" 64 -m FROB "coap://[::1]/"
run "bad content format" 64 -t no/such "coap://[::1]/"
run "not a coap URI" 64 "http://[::1]/"
run "unbracketed IPv6 with a port" 64 "coap://::1:5683/"
run "port above 65535" 64 "coap://[::1]:65536/"
run "zone naming no interface" 64 --json "coap://[fe80::1%no-such-if0]/"
run "ping with a path" 64 --ping "coap://[::1]/x"
run "-c without --ping" 64 -c 3 "coap://[::1]/"
# RFC 7252 5.10 lengths: nothing leaves, and the reason names the option
seg256=$(printf 'a%.0s' $(seq 256))
seg255=$(printf 'a%.0s' $(seq 255))
run "256-byte path segment" 64 "coap://[::1]:$port/$seg256"
expect "256-byte path segment: the reason" "$(cat "$tmp/err")" "Uri-Path value of 256 bytes: RFC 7252 allows 0 to 255"
run "256-byte query" 64 "coap://[::1]:$port/hello?$seg256"
expect "256-byte query: the reason" "$(cat "$tmp/err")" "Uri-Query value of 256 bytes: RFC 7252 allows 0 to 255"
run "256-byte host" 64 "coap://$seg256:$port/hello"
expect "256-byte host: the reason" "$(cat "$tmp/err")" "host is longer than 255 bytes"
run "255-byte path segment is sent" 1 "coap://[::1]:$port/$seg255"
expect "255-byte path segment: the server's 4.04" "$out" "^4\.04 Not Found"
run "9-byte ETag option" 64 -O "4,0x000102030405060708" "coap://[::1]:$port/hello"
expect "9-byte ETag: the reason" "$(cat "$tmp/err")" "ETag value of 9 bytes: RFC 7252 allows 1 to 8"

# The diagnostic server answers an over-long Uri-Path with 4.02 (RFC 7252
# 5.4.3), not 4.04: a raw CON GET with a 300-byte Uri-Path.
code=$(python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
seg = b"a" * 300
# CON GET, mid 0x0101, token "k"; Uri-Path: delta 11, length 14 + (300-269)
req = bytes([0x41, 0x01, 0x01, 0x01]) + b"k" + bytes([0xbe, 0x00, 300 - 269]) + seg
s.sendto(req, ("::1", int(sys.argv[1])))
d = s.recv(2048)
print("%d.%02d" % (d[1] >> 5, d[1] & 31))
' "$port" 2>&1)
expect "--listen answers a 300-byte Uri-Path with 4.02" "$code" "^4\.02$"
expect "--listen logs the 4.02" "$(cat "$tmp/srv")" '"code":"4\.02'

# 66: the payload file cannot be read
run "payload file missing" 66 -m PUT -e "@$tmp/no-such-file" "coap://[::1]:$port/echo"

# 71: the server's port is taken
run "listen on a port in use" 71 --listen -T 1 "[::]:$port"

echo "probe_exit: $passed passed, $failed failed"
[ "$failed" = 0 ]
