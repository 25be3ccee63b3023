#!/bin/sh
# evudp6-probe diagnoses on loopback (no privileges): what it says when
# something other than a plain answer happens.
#   - an empty ACK is reported; No-Response suppressing every answer ends
#     on it; each kind of timeout has its own message, text and JSON;
#   - a response carrying our token from another address than the one
#     asked is reported as such, at once;
#   - messages and exit codes for bad input (zones, interfaces, port 0);
#   - -q and -v output; the server log's percent-encoding; payloads for
#     people; name-server trouble in the probe's words, within -T;
#   - a name whose first address is refused falls back to the next.
set -u
probe=${top_builddir:-.}/tools/evudp6-probe
if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: probe_diag needs python3 (scripted peers)"
	exit 77
fi
tmp=$(mktemp -d /tmp/probe_diag.XXXXXX)
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
# run NAME WANT_CODE ARGS...: the probe, stdout in $out, stderr in $err
run() {
	name=$1 want=$2
	shift 2
	"$probe" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	code=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
	if [ "$code" = "$want" ]; then
		ok "$name: exit $want"
	else
		bad "$name: exit $want" "got exit $code" "stdout: $out" "stderr: $err"
	fi
}
expect() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then ok "$1"; else bad "$1" "wanted: $3" "got:    $2"; fi
}
refuse() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then bad "$1" "did not want: $3" "got: $2"; else ok "$1"; fi
}
# elapsed NAME MAX_MS: the JSON error's elapsed_ms in $out is below MAX_MS
elapsed_below() {
	ms=$(printf '%s\n' "$out" | sed -n 's/.*"event":"error".*"elapsed_ms":\([0-9.]*\).*/\1/p' | head -n 1)
	if [ -n "$ms" ] && awk -v ms="$ms" -v max="$2" 'BEGIN { exit !(ms < max) }'; then
		ok "$1 (${ms} ms)"
	else
		bad "$1" "elapsed_ms: '$ms', want < $2" "$out"
	fi
}

# A scripted peer: python3 peer.py MODE prints its port(s), then serves.
#   ack:    an empty ACK to every CON, nothing more
#   silent: nothing at all
#   other:  the piggybacked 2.05 leaves from a second socket (other port)
#   nf:     a piggybacked 4.04 with the body "Not Found"
cat >"$tmp/peer.py" <<'PY'
import socket, sys, time
mode = sys.argv[1]
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::1", 0))
o = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
o.bind(("::1", 0))
print(s.getsockname()[1], o.getsockname()[1], flush=True)
s.settimeout(0.5)
end = time.time() + 600
while time.time() < end:
    try:
        d, a = s.recvfrom(2048)
    except socket.timeout:
        continue
    if len(d) < 4:
        continue
    con = (d[0] >> 4) & 3 == 0
    tkl = d[0] & 15
    if mode == "ack" and con:
        s.sendto(bytes([0x60, 0, d[2], d[3]]), a)
    elif mode == "nf":
        s.sendto(bytes([0x60 | tkl, 0x84, d[2], d[3]]) + d[4:4 + tkl] + b"\xffNot Found", a)
    elif mode == "other":
        o.sendto(bytes([0x60 | tkl, 0x45, d[2], d[3]]) + d[4:4 + tkl] + b"\xffhi", a)
PY
start_peer() {
	: >"$tmp/$1.port"
	python3 "$tmp/peer.py" "$1" >"$tmp/$1.port" &
	pids="$pids $!"
	for _ in $(seq 50); do [ -s "$tmp/$1.port" ] && break; sleep 0.1; done
}
start_peer ack
start_peer silent
start_peer other
start_peer nf
read -r acker _ <"$tmp/ack.port"
read -r silent _ <"$tmp/silent.port"
read -r asked answering <"$tmp/other.port"
read -r notfound _ <"$tmp/nf.port"

# The diagnostic server, for No-Response.
: >"$tmp/srv"
"$probe" --listen --json -T 600 '[::]:0' >"$tmp/srv" 2>&1 &
pids="$pids $!"
for _ in $(seq 50); do grep -q '"listening"' "$tmp/srv" && break; sleep 0.1; done
port=$(sed -n 's/.*"event":"listening".*"port":\([0-9]*\).*/\1/p' "$tmp/srv" | head -n 1)
if [ -z "$port" ]; then
	echo "the diagnostic server did not start:"
	cat "$tmp/srv"
	exit 1
fi

# --- 1. acknowledgements and timeouts
run "empty ACK, then no separate response" 2 --ack-timeout 0.05 --retransmit 2 "coap://[::1]:$acker/slow"
expect "the empty ACK is reported with its sender and time" "$out" \
	"^acknowledged by \[::1\]:$acker after [0-9.]+ ms, waiting for the separate response\$"
expect "the timeout says the request was acknowledged" "$out" \
	"^\[::1\]:$acker: acknowledged, but no separate response came in [0-9.]+ ms\$"
run "empty ACK, JSON" 2 --json --ack-timeout 0.05 --retransmit 2 "coap://[::1]:$acker/slow"
expect "JSON ack event" "$out" "^\{\"event\":\"ack\",\"uri\":\"coap://\[::1\]:$acker/slow\",\"from\":\"\[::1\]:$acker\",\"elapsed_ms\":[0-9.]+,"
expect "JSON timeout of kind separate_response" "$out" \
	'"event":"error","kind":"timeout".*"error":"EVUDP6_E_TIMEOUT","message":"acknowledged, but no separate response came","timeout":"separate_response"'
run "CON to a silent peer, retransmissions" 2 --ack-timeout 0.02 --retransmit 2 "coap://[::1]:$silent/x"
expect "the timeout counts the transmissions" "$out" "^\[::1\]:$silent: no answer after 3 transmissions in [0-9.]+ ms\$"
run "CON to a silent peer, JSON" 2 --json --ack-timeout 0.02 --retransmit 0 "coap://[::1]:$silent/x"
expect "JSON timeout of kind retransmissions" "$out" \
	'"message":"no answer after 1 transmission","timeout":"retransmissions"'
run "NON to a silent peer" 2 --json -N --ack-timeout 0.02 --retransmit 1 "coap://[::1]:$silent/x"
expect "JSON timeout of kind non_response" "$out" \
	'"message":"no response to the non-confirmable request","timeout":"non_response"'
run "-T limit on a silent peer" 2 -T 0.3 "coap://[::1]:$silent/x"
expect "the -T limit is its own message" "$out" \
	"^\[::1\]:$silent: no response before the --timeout limit \(1 transmission, none acknowledged\) in [0-9.]+ ms\$"
run "-T limit after the ACK, JSON" 2 --json -T 0.3 "coap://[::1]:$acker/slow"
expect "JSON -T limit after the ACK" "$out" \
	'"error":"EVUDP6_E_DEADLINE","message":"no response before the --timeout limit \(acknowledged, the separate response did not come\)","timeout":"limit"'
elapsed_below "-T 0.3 ends within 0.3 s and a bit" 450
run "No-Response,26 (nothing wanted) ends on the ACK" 0 -T 5 -O No-Response,26 "coap://[::1]:$port/hello"
expect "No-Response: the ACK is reported" "$out" "^acknowledged by \[::1\]:$port after"
expect "No-Response: done on the ACK" "$out" "done; No-Response asks for no answer\$"
run "No-Response,26 on NON ends once sent" 0 -N -O No-Response,26 "coap://[::1]:$port/hello"
run "No-Response,2 with a 2.05 suppressed: ACK, then the -T limit" 2 -T 0.3 -O No-Response,2 "coap://[::1]:$port/hello"
expect "No-Response,2: acknowledged" "$out" "^acknowledged by \[::1\]:$port after"

# --- 2. an answer from another address than the one asked
run "answer from another port" 3 "coap://[::1]:$asked/x"
expect "the wrong source is named, with the address asked" "$out" \
	"^\[::1\]:$asked: a response with our token came from \[::1\]:$answering, not from \[::1\]:$asked that was asked \(2\.05 Content\) after [0-9.]+ ms\$"
run "answer from another port, JSON" 3 --json "coap://[::1]:$asked/x"
expect "JSON error of kind wrong_source, no error code" "$out" \
	"\"event\":\"error\",\"kind\":\"wrong_source\",\"uri\":\"coap://\[::1\]:$asked/x\",\"remote\":\"\[::1\]:$asked\",\"error\":null,"
elapsed_below "the wrong source is reported at once" 1000
# --- 6. destinations refused up front, with the reason
run "link-local without a zone" 64 "coap://[fe80::1]/"
expect "link-local: needs %IF or -I IF" "$err" \
	'^evudp6-probe: coap://\[fe80::1\]/: fe80::1 is a link-local address: it needs %IF in the URI or -I IF$'
run "ff02::fd without a zone" 64 "coap://[ff02::fd]/.well-known/core"
expect "ff02::fd: needs %IF or -I IF" "$err" 'ff02::fd is a link-scoped multicast address: it needs %IF in the URI or -I IF$'
run "-I naming no interface" 64 -I nosuchif "coap://[fe80::1]/"
expect "-I nosuchif: no such interface" "$err" '^evudp6-probe: --interface nosuchif: no such interface$'
run "%zone naming no interface" 64 "coap://[fe80::1%nosuchif]/"
expect "%nosuchif: no such interface" "$err" 'coap://\[fe80::1%nosuchif\]/: zone %nosuchif: no such interface$'
run "%zone by a number no interface has" 64 "coap://[fe80::1%999999]/"
run "port 0" 64 "coap://[::1]:0/"
expect "port 0: refused up front" "$err" '^evudp6-probe: coap://\[::1\]:0/: port 0 cannot be a destination$'
"$probe" --help >"$tmp/help"
expect "--help: -I is for link-local addresses too" "$(grep -A1 -- '--interface' "$tmp/help")" \
	'interface for a link-local or multicast address'

# --- 7. -q, -v and the man pages
run "-q with a 4.04 and a body" 1 -q "coap://[::1]:$notfound/x"
expect "-q 4.04: nothing on standard output" "[$out]" '^\[\]$'
expect "-q 4.04: the code and the body on standard error" "$err" \
	"^evudp6-probe: 4\.04 Not Found from \[::1\]:$notfound: Not Found\$"
run "-q with a 2.05" 0 -q "coap://[::1]:$port/hello"
expect "-q 2.05: the payload alone on standard output" "$out" '^Hello from evudp6-probe [0-9.]+$'
expect "-q 2.05: nothing on standard error" "[$err]" '^\[\]$'
run "-v shows the request sent, option by option" 0 -v -A text/plain -O Size1,7 "coap://[::1]:$port/hello?a=1&b"
expect "-v: the request line" "$out" "^-> CON 0\.01 GET to \[::1\]:$port \(mid 0x[0-9a-f]{4}, token [0-9a-f]{16}, 0 payload bytes\)\$"
expect "-v: the request's options in order" "$(printf '%s\n' "$out" | sed -n '2,6p' | tr '\n' '|')" \
	'^  Uri-Path: "hello"\|  Uri-Query: "a=1"\|  Uri-Query: "b"\|  Accept: 0 \(text/plain;charset=utf-8\)\|  Size1: 7\|$'
expect "-v: every option of the answer" "$out" '^  Content-Format: 0 \(text/plain;charset=utf-8\)$'
refuse "-v: no option count in place of the options" "$out" '[0-9]+ options?[,)]'
version=$("$probe" --version | sed -n 's/^evudp6-probe \([^ ]*\) .*/\1/p')
srcdir=${top_srcdir:-$(dirname "$0")/..}
for page in "$srcdir"/man/*.[13]; do
	expect "$(basename "$page"): footer says evudp6 $version of 2026" "$(grep '^\.TH' "$page")" \
		"^\.TH [A-Z0-9_-]+ [13] 2026-[0-9]{2}-[0-9]{2} \"evudp6 $version\" "
done

# --- 9. a trailing '?' sends no Uri-Query
run "trailing ? with -v" 0 -v "coap://[::1]:$port/hello?"
refuse "trailing ?: no Uri-Query sent" "$out" 'Uri-Query'
expect "trailing ?: the path is sent" "$out" '^  Uri-Path: "hello"$'
run "?& sends two empty Uri-Query options" 0 -v "coap://[::1]:$port/hello?&"
expect "?&: two empty Uri-Query" "$(printf '%s\n' "$out" | grep -c '^  Uri-Query: ""$')" '^2$'

# --- 5. the server log is lossless: percent-encoded as in a URI
: >"$tmp/hsrv"
"$probe" --listen -T 600 '[::1]:0' >"$tmp/hsrv" 2>&1 &
pids="$pids $!"
for _ in $(seq 50); do grep -q '^listening' "$tmp/hsrv" && break; sleep 0.1; done
hport=$(sed -n 's/^listening on \[::1\]:\([0-9]*\).*/\1/p' "$tmp/hsrv" | head -n 1)
target='/%22%0a%01%ff/a%2Fb%25?q%26=%FF&x%20y'
logged='/%22%0A%01%FF/a%2Fb%25?q%26=%FF&x%20y'
run "request with control bytes, 0xFF, '/' and '&' in values (text log)" 1 "coap://[::1]:${hport:-1}$target"
run "the same to the JSON log" 1 "coap://[::1]:$port$target"
sleep 0.3
expect "text log: the path and query exactly, percent-encoded" "$(grep ' GET ' "$tmp/hsrv" | tail -n 1)" \
	" CON GET $(printf '%s' "$logged" | sed 's/[?%]/[&]/g') => 4\.04 Not Found\$"
expect "JSON log: the same path and query" "$(grep '"method":"GET"' "$tmp/srv" | tail -n 1)" \
	'"path":"/%22%0A%01%FF/a%2Fb%25","query":"q%26=%FF&x%20y"'
refuse "JSON log: no \\u escapes for the bytes" "$(grep '"method":"GET"' "$tmp/srv" | tail -n 1)" '\\u00'

# --- 4. name-server trouble in the probe's words, within -T
# A name server that answers every question with SERVFAIL, and a port
# where none listens.
cat >"$tmp/dns.py" <<'PY'
import socket, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::1", 0))
print(s.getsockname()[1], flush=True)
s.settimeout(0.5)
end = time.time() + 600
while time.time() < end:
    try:
        q, peer = s.recvfrom(512)
    except socket.timeout:
        continue
    if len(q) < 12:
        continue
    flags = 0x8000 | (q[2] & 0x01) << 8 | 0x0080 | 2
    s.sendto(q[:2] + flags.to_bytes(2, "big") + q[4:6] + b"\0\0\0\0\0\0" + q[12:], peer)
PY
: >"$tmp/dns.port"
python3 "$tmp/dns.py" >"$tmp/dns.port" &
pids="$pids $!"
for _ in $(seq 50); do [ -s "$tmp/dns.port" ] && break; sleep 0.1; done
servfail=$(cat "$tmp/dns.port")
run "a name server that fails" 4 --dns "[::1]:$servfail" "coap://foo.test/"
expect "failing name server: the probe's own message names the server" "$out" \
	"^coap://foo\.test/: name resolution failed \(no usable answer from the name server \[::1\]:$servfail\) after [0-9.]+ ms\$"
expect "failing name server: no libevent log line" "[$err]" '^\[\]$'
run "a failing name server, JSON" 4 --json --dns "[::1]:$servfail" "coap://foo.test/"
refuse "JSON: no libevent log line on standard error" "$err" '\[(msg|warn|err)\]'
run "a name server address that does not parse" 64 --dns "[::1]:99999" "coap://foo.test/"
expect "unparsable --dns: one line, the probe's" "$err" \
	'^evudp6-probe: --dns \[::1\]:99999: not an IP address with an optional port$'
refuse "unparsable --dns: no libevent log line beside it" "$err" '\[(msg|warn|err)\]'
closed_dns=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("::1", 0)); print(s.getsockname()[1])')
run "nobody at the name server's port, -T 0.5" 4 --json -T 0.5 --dns "[::1]:$closed_dns" "coap://foo.test/"
expect "silent name server: its own message, within -T" "$out" \
	"\"event\":\"error\",\"kind\":\"resolve\".*\"message\":\"no answer from the name server \[::1\]:$closed_dns before the --timeout limit\",\"timeout\":\"limit\""
elapsed_below "silent name server: ended by -T 0.5" 700
refuse "silent name server: no libevent log line" "$err" '\[(msg|warn|err)\]'

# --- 8. payloads for people: CBOR (RFC 8949 Appendix A), JSON, links
# Each vector goes to /echo with Content-Format 60 and comes back; the
# last line printed is its diagnostic notation.
while IFS='|' read -r hex want; do
	[ -n "$hex" ] || continue
	python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' "$hex" >"$tmp/cbor"
	"$probe" -m PUT -t cbor -e "@$tmp/cbor" "coap://[::1]:$port/echo" >"$tmp/out" 2>&1
	got=$(tail -n 1 "$tmp/out")
	if [ "$got" = "$want" ]; then ok "CBOR $hex is $want"; else bad "CBOR $hex is $want" "got: $got"; fi
done <<'VECTORS'
00|0
17|23
1818|24
1b000000e8d4a51000|1000000000000
1bffffffffffffffff|18446744073709551615
c249010000000000000000|2(h'010000000000000000')
3bffffffffffffffff|-18446744073709551616
20|-1
3903e7|-1000
f90000|0.0
f98000|-0.0
f93c00|1.0
fb3ff199999999999a|1.1
f93e00|1.5
f97bff|65504.0
fa47c35000|100000.0
fa7f7fffff|3.4028234663852886e+38
fb7e37e43c8800759c|1.0e+300
f90001|5.960464477539063e-8
f90400|0.00006103515625
f9c400|-4.0
fbc010666666666666|-4.1
f97c00|Infinity
f97e00|NaN
f9fc00|-Infinity
f4|false
f5|true
f6|null
f7|undefined
f0|simple(16)
f8ff|simple(255)
c074323031332d30332d32315432303a30343a30305a|0("2013-03-21T20:04:00Z")
d74401020304|23(h'01020304')
d818456449455446|24(h'6449455446')
40|h''
4401020304|h'01020304'
60|""
6161|"a"
62225c|"\"\\"
63e6b0b4|"水"
80|[]
83010203|[1, 2, 3]
8301820203820405|[1, [2, 3], [4, 5]]
a0|{}
a201020304|{1: 2, 3: 4}
a26161016162820203|{"a": 1, "b": [2, 3]}
826161a161626163|["a", {"b": "c"}]
5f42010243030405ff|(_ h'0102', h'030405')
7f657374726561646d696e67ff|(_ "strea", "ming")
9fff|[_ ]
9f018202039f0405ffff|[_ 1, [2, 3], [_ 4, 5]]
bf61610161629f0203ffff|{_ "a": 1, "b": [_ 2, 3]}
VECTORS
# Not well-formed (a reserved additional information, an array cut short,
# a break outside an indefinite item): the bytes, as a hex dump.
for hex in 1c 830102 ff; do
	python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' "$hex" >"$tmp/cbor"
	run "CBOR $hex, not well-formed" 0 -m PUT -t cbor -e "@$tmp/cbor" "coap://[::1]:$port/echo"
	expect "CBOR $hex: shown as a hex dump" "$(tail -n 1 "$tmp/out")" "^00000000  $(printf '%s' "$hex" | sed 's/../& /g')"
done
# Nested deeper than the renderer goes: bytes, not a crash.
python3 -c 'import sys; sys.stdout.buffer.write(b"\x81" * 200 + b"\x00")' >"$tmp/cbor"
run "CBOR nested 200 deep" 0 -m PUT -t cbor -e "@$tmp/cbor" "coap://[::1]:$port/echo"
expect "CBOR nested 200 deep: a hex dump" "$out" '^00000000  81 81 81'
python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex("a26161016162820203"))' >"$tmp/cbor"
run "CBOR, JSON output" 0 --json -m PUT -t cbor -e "@$tmp/cbor" "coap://[::1]:$port/echo"
expect "CBOR JSON: diagnostic notation beside the hex" "$out" \
	'"payload_hex":"a26161016162820203","payload_diag":"\{\\"a\\": 1, \\"b\\": \[2, 3\]\}"'
run "CBOR with --raw" 0 --raw -m PUT -t cbor -e "@$tmp/cbor" "coap://[::1]:$port/echo"
if tail -c 9 "$tmp/out" | cmp -s - "$tmp/cbor"; then ok "--raw: the CBOR bytes as they came"; else bad "--raw: the CBOR bytes as they came" "$(od -An -tx1 "$tmp/out" | tail -n 2)"; fi
# JSON, indented two spaces a level; strings untouched.
run "JSON payload" 0 -m PUT -t json -e '{"a":[1,2,{"b":null}],"c":{},"d":"x,y:[z]"}' "coap://[::1]:$port/echo"
expect "JSON: indented" "$(printf '%s\n' "$out" | sed -n '/^{/,$p' | tr '\n' '|')" \
	'^\{\|  "a": \[\|    1,\|    2,\|    \{\|      "b": null\|    \}\|  \],\|  "c": \{\},\|  "d": "x,y:\[z\]"\|\}\|$'
run "JSON payload that does not parse" 0 -m PUT -t json -e '{"a":[1,2}' "coap://[::1]:$port/echo"
expect "broken JSON: shown as it came" "$(tail -n 1 "$tmp/out")" '^\{"a":\[1,2\}$'
run "JSON with --raw" 0 --raw -m PUT -t json -e '{"a":1}' "coap://[::1]:$port/echo"
expect "JSON --raw: as it came" "$(tail -n 1 "$tmp/out")" '^\{"a":1\}$'
# Link format: one link a line, attributes beside it.
run "link format" 0 "coap://[::1]:$port/.well-known/core"
expect "links: one a line with its attributes" "$(printf '%s\n' "$out" | grep '^</hello>')" \
	'^</hello>  rt="evudp6\.hello"  ct=0  title="hello"$'
expect "links: six lines (hello, echo, whoami, large, obs, obs-large)" "$(printf '%s\n' "$out" | grep -c '^</')" '^6$'
expect "links: /obs with its obs attribute" "$(printf '%s\n' "$out" | grep '^</obs>')" '^</obs>  obs  rt="evudp6\.tick"'
run "link format with --raw" 0 --raw "coap://[::1]:$port/.well-known/core"
expect "links --raw: the document as it came" "$(tail -n 1 "$tmp/out")" '^</hello>;rt="evudp6\.hello";ct=0;title="hello",</echo>'

echo "probe_diag: $passed passed, $failed failed"
[ "$failed" = 0 ]
