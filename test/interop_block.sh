#!/bin/sh
# Block-wise transfer (RFC 7959) between evudp6-probe and libcoap 4.3.1
# (Debian libcoap3-bin) on loopback, both directions:
#   coap-client -m put -b 512 stores a multi-block body on coap-server;
#   the probe fetches it byte-identical (whole body, -B 64, -o FILE);
#   the probe PUTs a multi-block body that coap-client -b reads back;
#   the probe reads coap-server's /.well-known/core of over 1024 bytes;
#   coap-client -b 64 fetches the probe server's /large and PUTs a
#   multi-block body to its /echo, both byte-identical, and reads its
#   /.well-known/core in 64-byte blocks exactly as the probe prints it.
# coap-client adds a newline to what it prints and exits 0 after a
# timeout: the first N bytes of its output are the verdict.
set -u
probe=${top_builddir:-.}/tools/evudp6-probe
for tool in coap-server-notls coap-client-notls python3; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "SKIP: interop_block needs $tool (apt-get install libcoap3-bin python3)"
		exit 77
	fi
done
tmp=$(mktemp -d /tmp/interop_block.XXXXXX)
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
# same NAME GOT WANT: GOT's first bytes (as many as WANT has) equal WANT
same() {
	n=$(wc -c <"$3")
	if [ "$(wc -c <"$2")" -ge "$n" ] && head -c "$n" "$2" | cmp -s - "$3"; then
		ok "$1"
	else
		bad "$1" "got $(wc -c <"$2") bytes, wanted $n" "$(head -c "$n" "$2" | cmp - "$3" 2>&1)"
	fi
}
exact() {
	if cmp -s "$2" "$3"; then ok "$1"; else bad "$1" "got $(wc -c <"$2") bytes, wanted $(wc -c <"$3")"; fi
}
# run NAME WANT_CODE ARGS...: the probe's stdout in $tmp/out
run() {
	name=$1 want=$2
	shift 2
	timeout 30 "$probe" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	code=$?
	if [ "$code" = "$want" ]; then ok "$name: exit $want"; else bad "$name: exit $want" "got $code" "$(cat "$tmp/err")"; fi
}
client() {
	timeout 30 coap-client-notls -B 5 "$@" >"$tmp/cout" 2>"$tmp/cerr" </dev/null
}
free_port() {
	python3 -c 'import socket; s=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("::", 0)); print(s.getsockname()[1])'
}

# Text bodies: coap-client prints what it gets, a byte-for-byte file
# compare needs no binary-safe terminal.
python3 - "$tmp" <<'PY'
import random, sys
d = sys.argv[1]
r = random.Random(13)
def body(n):
    out, i = [], 0
    while sum(map(len, out)) < n:
        out.append("line %05d %s\n" % (i, "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(40))))
        i += 1
    return "".join(out)[:n]
open(d + "/big.txt", "w").write(body(5000))
open(d + "/up.txt", "w").write(body(12345))
open(d + "/echo.txt", "w").write(body(7000))
PY
i=0
while [ $i -lt 256 ]; do printf 'evudp6 large resource line %04d\n' $i; i=$((i + 1)); done >"$tmp/large.want"

# ------------------------------------------------ probe -> coap-server-notls
sport=$(free_port)
coap-server-notls -A ::1 -p "$sport" -d 20 -v 0 >"$tmp/libcoap.log" 2>&1 &
pids="$pids $!"
for _ in $(seq 50); do
	"$probe" --ping -c 1 -T 0.2 "coap://[::1]:$sport" >/dev/null 2>&1 && break
	sleep 0.1
done
client -m put -b 512 -f "$tmp/big.txt" "coap://[::1]:$sport/big"
run "probe GET of a 5000-byte body libcoap holds" 0 -q "coap://[::1]:$sport/big"
exact "probe gets all 5 blocks byte-identical (not just the first 1024)" "$tmp/out" "$tmp/big.txt"
run "probe GET -B 64 -o FILE" 0 -B 64 -o "$tmp/big.got" "coap://[::1]:$sport/big"
exact "-B 64 -o FILE: 79 blocks byte-identical" "$tmp/big.got" "$tmp/big.txt"
run "probe PUT of 12345 bytes (Block1)" 0 -m PUT -e "@$tmp/up.txt" "coap://[::1]:$sport/up"
client -b 1024 "coap://[::1]:$sport/up"
same "coap-client -b 1024 reads back what the probe put" "$tmp/cout" "$tmp/up.txt"
run "probe PUT -B 128" 0 -B 128 -m PUT -e "@$tmp/echo.txt" "coap://[::1]:$sport/up128"
client -b 256 "coap://[::1]:$sport/up128"
same "coap-client -b 256 reads back the -B 128 upload" "$tmp/cout" "$tmp/echo.txt"
run "probe GET of what it put" 0 -q "coap://[::1]:$sport/up"
exact "the probe reads its own upload back from libcoap" "$tmp/out" "$tmp/up.txt"
# 15 more resources with long names (-d 20 holds 18 in all): libcoap's
# listing passes 1024 bytes, and the probe's discovery reads it whole.
i=10
while [ $i -lt 25 ]; do
	client -m put -e x "coap://[::1]:$sport/a-resource-with-a-rather-long-name-number-$i"
	i=$((i + 1))
done
client -b 1024 "coap://[::1]:$sport/.well-known/core"
run "probe discovery of libcoap's long /.well-known/core" 0 -q "coap://[::1]:$sport/.well-known/core"
{ cat "$tmp/out"; echo; } >"$tmp/lcore.want"
if [ "$(wc -c <"$tmp/out")" -gt 1024 ] && grep -q 'number-24>' "$tmp/out"; then
	ok "libcoap's listing is over 1024 bytes and names the last resource put"
else
	bad "libcoap's listing is over 1024 bytes and names the last resource put" "got $(wc -c <"$tmp/out") bytes"
fi
exact "the probe's discovery of libcoap is what coap-client -b 1024 gets" "$tmp/cout" "$tmp/lcore.want"

# ------------------------------------------------ coap-client-notls -> probe --listen
"$probe" --listen --json -T 120 '[::1]:0' >"$tmp/srv" 2>&1 &
pids="$pids $!"
for _ in $(seq 50); do grep -q '"listening"' "$tmp/srv" && break; sleep 0.1; done
port=$(sed -n 's/.*"event":"listening".*"port":\([0-9]*\).*/\1/p' "$tmp/srv" | head -n 1)
[ -n "$port" ] || { echo "probe --listen did not start:"; cat "$tmp/srv"; exit 1; }
client -b 64 "coap://[::1]:$port/large"
same "coap-client -b 64 fetches the probe server's /large (128 blocks)" "$tmp/cout" "$tmp/large.want"
client "coap://[::1]:$port/large"
same "coap-client without -b fetches /large (8 blocks)" "$tmp/cout" "$tmp/large.want"
client -m put -b 512 -f "$tmp/echo.txt" "coap://[::1]:$port/echo"
client -b 1024 "coap://[::1]:$port/echo"
same "coap-client PUT -b 512 then GET: the probe server echoes 7000 bytes" "$tmp/cout" "$tmp/echo.txt"
# Discovery block-wise: what coap-client -b 64 gets of the probe server's
# /.well-known/core is the listing the probe prints, byte for byte (and
# the newline coap-client adds).
run "probe GET of the probe server's /.well-known/core" 0 -q "coap://[::1]:$port/.well-known/core"
{ cat "$tmp/out"; echo; } >"$tmp/core.want"
n=$(wc -c <"$tmp/out")
if [ "$n" -gt 64 ] && [ "$(head -c 1 "$tmp/out")" = "<" ]; then
	ok "the probe server's listing is link-format of several 64-byte blocks ($n bytes)"
else
	bad "the probe server's listing is link-format of several 64-byte blocks" "got $n bytes: $(head -c 80 "$tmp/out")"
fi
client -b 64 "coap://[::1]:$port/.well-known/core"
exact "coap-client -b 64 gets the probe server's /.well-known/core as the probe prints it" "$tmp/cout" "$tmp/core.want"

echo "interop_block: $passed passed, $failed failed"
[ "$failed" = 0 ]
