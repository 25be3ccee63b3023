#!/bin/sh
# Observe (RFC 7641) against libcoap 4.3.1 (Debian libcoap3-bin), both ways:
#   1. evudp6-probe --observe against coap-server-notls /time (CON and, with
#      the server's -N, NON notifications): at least 4 notifications, and
#      the deregistration leaves the server with no subscription;
#      A large observed resource (several blocks) arrives whole, first
#      response and notification;
#   2. coap-client-notls -s against the probe's --listen /obs resource and
#      its large /obs-large (every notification whole), and the probe
#      against them, until Ctrl-C too.
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

# A large observed resource (RFC 7959 2.6): /example_data holds a body of
# several blocks PUT there; a second PUT while the probe observes makes a
# notification whose blocks the probe fetches. Both arrive whole.
python3 -c "
open('$tmp/big1', 'w').write(''.join('first  body line %04d ..........\\n' % i for i in range(100)))
open('$tmp/big2', 'w').write(''.join('second body line %04d ..........\\n' % i for i in range(100)))"
timeout 10 coap-client-notls -m put -b 512 -f "$tmp/big1" "coap://[::1]:$cport/example_data" >/dev/null 2>&1
timeout 20 "$probe" --json --observe 3 "coap://[::1]:$cport/example_data" >"$tmp/large.json" 2>&1 &
lpid=$!
pids="$pids $lpid"
sleep 1
timeout 10 coap-client-notls -m put -b 512 -f "$tmp/big2" "coap://[::1]:$cport/example_data" >/dev/null 2>&1
wait $lpid
if python3 - "$tmp/large.json" "$tmp/big1" "$tmp/big2" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
bodies = [e.get("payload") for e in evs if e.get("event") == "notification"]
want = [open(sys.argv[2]).read(), open(sys.argv[3]).read()]
sys.exit(0 if bodies[:1] == want[:1] and want[1] in bodies else 1)
PY
then
	ok "probe --observe gets coap-server's large resource whole, first response and notification"
else
	bad "probe --observe gets coap-server's large resource whole, first response and notification" \
		"$(cut -c1-160 "$tmp/large.json")"
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
	# /obs-large: every notification's first block comes with ETag and
	# Size2, coap-client fetches the rest: each tick's 100 lines whole.
	out=$(timeout 20 coap-client-notls -s 4 "coap://[::1]:$pport/obs-large" 2>&1)
	n=$(printf '%s' "$out" | grep -o 'tick [0-9]* line [0-9]*' | awk '{print $2}' | sort | uniq -c | awk '$1 == 100' | wc -l)
	at_least "coap-client-notls -s 4 gets whole bodies of probe /obs-large (ticks with all 100 lines)" "$n" 3 \
		"$(printf '%s' "$out" | head -c 300)"
	out=$(timeout 20 "$probe" --json --observe 3 "coap://[::1]:$pport/obs-large" 2>&1)
	n=$(printf '%s\n' "$out" | grep '^{"event":"notification"' | grep -c '"payload_len":3200,')
	at_least "probe --observe gets whole bodies of probe /obs-large" "$n" 3 "$(printf '%s' "$out" | head -c 300)"
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
	reg=$(grep -c 'GET /obs\(-large\)\? => 2.05 Content (observing)$' "$tmp/probe.out")
	dereg=$(grep -c 'GET /obs\(-large\)\? => 2.05 Content (deregistered)$' "$tmp/probe.out")
	if [ "$reg" = 5 ] && [ "$dereg" = 5 ]; then
		ok "the probe logs five registrations and five deregistrations"
	else
		bad "the probe logs five registrations and five deregistrations" "$(cat "$tmp/probe.out")"
	fi
fi

echo "interop_observe: $passed passed, $failed failed"
[ $failed = 0 ]
