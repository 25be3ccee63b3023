#!/bin/sh
# evudp6-probe against its own --listen server on loopback: whole bodies
# both ways with block-wise transfer (RFC 7959), -B, -o, and exit 5 when
# the body cannot arrive whole.
set -u
probe=${top_builddir:-.}/tools/evudp6-probe
tmp=$(mktemp -d /tmp/probe_block.XXXXXX)
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
expect() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then ok "$1"; else bad "$1" "wanted: $3" "got:    $2"; fi
}
same() {
	if cmp -s "$2" "$3"; then ok "$1"; else bad "$1" "$(cmp "$2" "$3" 2>&1)" "sizes: $(wc -c <"$2") $(wc -c <"$3")"; fi
}
# run NAME WANT_CODE ARGS...: stdout in $tmp/out, stderr in $tmp/err
run() {
	name=$1 want=$2
	shift 2
	timeout 30 "$probe" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	code=$?
	if [ "$code" = "$want" ]; then ok "$name: exit $want"; else bad "$name: exit $want" "got $code" "$(cat "$tmp/err")"; fi
}

"$probe" --listen --json -T 120 '[::1]:0' >"$tmp/srv" 2>&1 &
pids="$pids $!"
for _ in $(seq 50); do grep -q '"listening"' "$tmp/srv" && break; sleep 0.1; done
port=$(sed -n 's/.*"event":"listening".*"port":\([0-9]*\).*/\1/p' "$tmp/srv" | head -n 1)
[ -n "$port" ] || { echo "probe --listen did not start:"; cat "$tmp/srv"; exit 1; }
base="coap://[::1]:$port"

i=0
while [ $i -lt 256 ]; do printf 'evudp6 large resource line %04d\n' $i; i=$((i + 1)); done >"$tmp/large.want"
head -c 20000 /dev/urandom >"$tmp/up.bin"

run "GET /large, whole body" 0 -q "$base/large"
same "GET /large: the 8192 bytes of all 8 blocks" "$tmp/out" "$tmp/large.want"
run "GET /large -B 64 -o FILE" 0 -B 64 -o "$tmp/large.got" "$base/large"
same "-o FILE holds the whole body (128 blocks of 64)" "$tmp/large.got" "$tmp/large.want"
expect "-o FILE: the last block says size 64 and the file size is told" "$(cat "$tmp/out")" \
	"Block2: .*size 64\)"
expect "-o FILE: bytes written" "$(cat "$tmp/out")" "^8192 bytes written to "
run "PUT 20000 bytes to /echo" 0 -q -m PUT -e "@$tmp/up.bin" "$base/echo"
same "PUT /echo: the echo of the whole body" "$tmp/out" "$tmp/up.bin"
run "GET /echo" 0 -q "$base/echo"
same "GET /echo returns the 20000 bytes put" "$tmp/out" "$tmp/up.bin"
run "POST 20000 bytes -B 128" 0 -q -B 128 -m POST -e "@$tmp/up.bin" "$base/echo"
same "POST -B 128: echoed whole" "$tmp/out" "$tmp/up.bin"
# over the server's max_body (1 MiB): 4.13 at the first block
head -c 1048577 /dev/zero >"$tmp/huge.bin"
run "PUT 1 MiB + 1 byte: the server refuses, exit 5" 5 -m PUT -e "@$tmp/huge.bin" "$base/echo"
expect "4.13 named, with the server's Size1" "$(cat "$tmp/err" "$tmp/out")" \
	"4\.13 Request Entity Too Large.*at most 1048576 bytes \(Size1\)"
run "the same in JSON" 5 --json -m PUT -e "@$tmp/huge.bin" "$base/echo"
expect "JSON error kind block, EVUDP6_E_BLOCK_TOO_LARGE" "$(cat "$tmp/out")" \
	'"event":"error".*"kind":"block".*EVUDP6_E_BLOCK_TOO_LARGE'
# the progress bar: only when standard error is a terminal
expect "no progress bar when standard error is not a terminal" "$(grep -c 'down \[' "$tmp/err" || true)" "^0\$"
if command -v script >/dev/null 2>&1; then
	tty=$(timeout 30 script -qec "$probe -B 16 -o $tmp/large.tty $base/large" /dev/null </dev/null | tr '\r' '\n')
	expect "on a terminal: a progress bar that ends at 100%" "$tty" '^down \[#{30}\] 100% 8192/8192 bytes$'
	expect "on a terminal: the bar started low" "$tty" '^down \[[#.]{30}\] +[0-9]% [0-9]+/8192 bytes$'
else
	echo "SKIP: progress bar on a terminal (no script(1))"
fi
run "GET /.well-known/core lists /large" 0 -q "$base/.well-known/core"
expect "/large with sz=8192" "$(cat "$tmp/out")" '</large>;rt="evudp6.large";ct=0;sz=8192'

echo "probe_block: $passed passed, $failed failed"
[ "$failed" = 0 ]
