#!/bin/sh
# Observe (RFC 7641) against libcoap 4.3.1 (Debian libcoap3-bin), both ways:
#   1. evudp6-probe --observe against coap-server-notls /time (CON and, with
#      the server's -N, NON notifications): at least 4 notifications, and
#      the deregistration leaves the server with no subscription;
#   2. coap-client-notls -s against the probe's --listen /obs resource, and
#      the probe against it until Ctrl-C.
# coap-client exits 0 even after a timeout, so only its output counts.
# Exit 77 (SKIP) when the libcoap binaries are missing.
set -u
for b in coap-client-notls coap-server-notls timeout; do
	if ! command -v $b >/dev/null 2>&1; then
		echo "SKIP: interop_observe needs $b (apt-get install libcoap3-bin coreutils)"
		exit 77
	fi
done
probe=${top_builddir:-.}/tools/evudp6-probe
if [ ! -x "$probe" ]; then
	echo "FAIL: $probe not built"
	exit 1
fi
tmp=$(mktemp -d /tmp/interop_observe.XXXXXX)
pids=
cleanup() {
	for pid in $pids; do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "PASS: $1"; }
bad() {
	failed=$((failed + 1))
	echo "FAIL: $1"
	shift
	for l in "$@"; do echo "      $l"; done
}
# at_least NAME COUNT MIN OUTPUT
at_least() {
	if [ "$2" -ge "$3" ]; then ok "$1 ($2)"; else bad "$1" "wanted at least $3, got $2" "$4"; fi
}

# start_coap_server ARGS...: on a free port of ::1; sets $cport and $clog
start_coap_server() {
	for _ in $(seq 20); do
		cport=$(( (($$ * 7919 + $(date +%N | sed 's/^0*//;s/^$/0/')) % 30000) + 20000 ))
		clog=$tmp/cs.$cport
		coap-server-notls -A ::1 -p $cport -v 7 "$@" >"$clog" 2>&1 &
		pid=$!
		sleep 0.3
		if kill -0 $pid 2>/dev/null && timeout 5 coap-client-notls -B 1 "coap://[::1]:$cport/" 2>/dev/null | grep -q libcoap; then
			pids="$pids $pid"
			return 0
		fi
		kill $pid 2>/dev/null
		wait $pid 2>/dev/null
	done
	echo "coap-server-notls did not start"
	exit 1
}

# ------------------------------------------------------------ 1. probe -> coap-server
for mode in CON NON; do
	if [ $mode = NON ]; then start_coap_server -N; else start_coap_server; fi
	out=$(timeout 20 "$probe" --observe 5 "coap://[::1]:$cport/time" 2>&1)
	rc=$?
	n=$(printf '%s\n' "$out" | grep -Ec '^#[0-9]+ seq [0-9]+ 2\.05 Content from \[::1\]')
	at_least "probe --observe 5 gets notifications from coap-server /time ($mode)" "$n" 4 "$out"
	if [ $rc = 0 ] && printf '%s\n' "$out" | grep -q '^deregistered after [0-9]* notifications$'; then
		ok "probe --observe deregisters at the limit and exits 0 ($mode)"
	else
		bad "probe --observe deregisters at the limit and exits 0 ($mode)" "exit $rc" "$out"
	fi
	sleep 0.3
	made=$(grep -c 'create new subscription' "$clog")
	gone=$(grep -c 'removed subscription' "$clog")
	if [ "$made" -ge 1 ] && [ "$made" = "$gone" ] && grep -q 'Observe:1, Uri-Path:time' "$clog"; then
		ok "coap-server has no subscription left after the deregistration ($mode)"
	else
		bad "coap-server has no subscription left after the deregistration ($mode)" \
			"created $made, removed $gone" "$(grep -i subscription "$clog")"
	fi
done
out=$(timeout 20 "$probe" --json -s 3 "coap://[::1]:$cport/time" 2>&1)
n=$(printf '%s\n' "$out" | grep -c '^{"event":"notification",.*"seq":[0-9]*,')
at_least "probe --json -s 3: one JSON object per notification" "$n" 2 "$out"
out=$(timeout 20 "$probe" --observe 2 "coap://[::1]:$cport/" 2>&1)
if printf '%s\n' "$out" | grep -q 'does not support Observe'; then
	ok "probe reports a resource that is not observable"
else
	bad "probe reports a resource that is not observable" "$out"
fi

# ------------------------------------------------------------ 2. coap-client -> probe --listen
"$probe" --listen '[::1]:0' -T 30 >"$tmp/probe.out" 2>&1 &
pids="$pids $!"
for _ in $(seq 50); do grep -q '^listening on' "$tmp/probe.out" && break; sleep 0.1; done
pport=$(sed -n 's/^listening on \[::1\]:\([0-9]*\).*/\1/p' "$tmp/probe.out")
if [ -z "$pport" ]; then
	bad "probe --listen starts" "$(cat "$tmp/probe.out")"
else
	out=$(timeout 20 coap-client-notls -B 3 'coap://[::1]:'"$pport"'/.well-known/core' 2>&1)
	if printf '%s\n' "$out" | grep -q '</obs>;obs;'; then
		ok "probe --listen lists /obs as observable in /.well-known/core"
	else
		bad "probe --listen lists /obs as observable in /.well-known/core" "$out"
	fi
	for non in "" -N; do
		out=$(timeout 20 coap-client-notls $non -s 5 "coap://[::1]:$pport/obs" 2>&1)
		n=$(printf '%s' "$out" | grep -o 'tick [0-9]*' | sort -u | wc -l)
		at_least "coap-client-notls $non -s 5 gets notifications from probe /obs" "$n" 4 "$out"
	done
	# Ctrl-C: the probe deregisters before it exits.
	"$probe" --observe "coap://[::1]:$pport/obs" >"$tmp/int.out" 2>&1 &
	ipid=$!
	sleep 2.5
	kill -INT $ipid
	wait $ipid
	rc=$?
	n=$(grep -c '^#[0-9]* seq ' "$tmp/int.out")
	if [ $rc = 0 ] && [ "$n" -ge 2 ] && grep -q '^deregistered after [0-9]* notifications$' "$tmp/int.out"; then
		ok "probe --observe deregisters on Ctrl-C and exits 0 ($n notifications)"
	else
		bad "probe --observe deregisters on Ctrl-C and exits 0" "exit $rc" "$(cat "$tmp/int.out")"
	fi
	sleep 0.3
	reg=$(grep -c 'GET /obs => 2.05 Content (observing)$' "$tmp/probe.out")
	dereg=$(grep -c 'GET /obs => 2.05 Content (deregistered)$' "$tmp/probe.out")
	if [ "$reg" = 3 ] && [ "$dereg" = 3 ]; then
		ok "the probe logs three registrations and three deregistrations"
	else
		bad "the probe logs three registrations and three deregistrations" "$(cat "$tmp/probe.out")"
	fi
fi

echo "interop_observe: $passed passed, $failed failed"
[ $failed = 0 ]
