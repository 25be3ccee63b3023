#!/bin/sh
# evudp6-probe in network namespaces (root only), documentation prefixes only:
#   1. multicast discovery lists exactly the responders that exist: three
#      responder namespaces on a bridge give three lines (and three JSON
#      objects), over ff02::fd and 224.0.1.187; with one stopped, two;
#   2. who-am-I on a server with two addresses per family reports the
#      address that was asked, and the answer comes from it;
#   3. a router's ICMP errors are reported at once with the router as the
#      sender of the error; a blackhole route (no error) is a timeout.
set -u
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: probe_ns needs root for network namespaces"
	exit 77
fi
if ! command -v ip >/dev/null 2>&1; then
	echo "SKIP: probe_ns needs iproute2 (ip)"
	exit 77
fi
probe=$(cd "${top_builddir:-.}/tools" && pwd)/evudp6-probe
p=e6p$$
req=${p}req r1=${p}r1 r2=${p}r2 r3=${p}r3 srv=${p}srv cli=${p}cli rtr=${p}rtr cl3=${p}cl3
tmp=$(mktemp -d /tmp/probe_ns.XXXXXX)
pids=
cleanup() {
	for pid in $pids; do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	for n in $req $r1 $r2 $r3 $srv $cli $rtr $cl3; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "PASS: $1"; }
bad() { failed=$((failed + 1)); echo "FAIL: $1"; shift; for l in "$@"; do echo "      $l"; done; }
expect() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then ok "$1"; else bad "$1" "wanted: $3" "got:    $2"; fi
}
# run NS NAME WANT_CODE ARGS...: the probe in a namespace, output in $out
run() {
	ns=$1 name=$2 want=$3
	shift 3
	out=$(ip netns exec "$ns" "$probe" "$@" 2>&1 </dev/null)
	code=$?
	if [ "$code" = "$want" ]; then ok "$name: exit $want"; else bad "$name: exit $want" "got $code" "$out"; fi
}
mkns() {
	ip netns add "$1" || exit 1
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ip -n "$1" link set lo up
}
# every link up has its link-local address and nothing is tentative
settle() {
	for _ in $(seq 100); do
		links=$(ip -n "$1" -o link show up | grep -vc LOOPBACK)
		ll=$(ip -n "$1" -o -6 addr show scope link | grep -vc tentative)
		ip -n "$1" -6 addr | grep -q tentative || [ "$ll" -lt "$links" ] || return 0
		sleep 0.1
	done
	echo "namespace $1 did not settle:"
	ip -n "$1" -6 addr
}
# listen NS OUTFILE ARGS...: a diagnostic server, started when it says so
listen() {
	ns=$1 f=$2
	shift 2
	: >"$f"
	ip netns exec "$ns" "$probe" --listen --json -T 120 "$@" >"$f" 2>&1 &
	pids="$pids $!"
	eval "pid_$ns=$!"
	for _ in $(seq 50); do grep -q '"listening"' "$f" && return 0; sleep 0.1; done
	echo "server in $ns did not start:"
	cat "$f"
	exit 1
}
count() { printf '%s\n' "$1" | grep -Ec -- "$2"; }

# ------------------------------------------------ 1. multicast discovery
mkns $req
ip -n $req link add br0 type bridge mcast_snooping 0
ip -n $req addr add 2001:db8:1::1/64 dev br0 nodad
ip -n $req addr add 192.0.2.1/24 dev br0
for i in 1 2 3; do
	eval ns=\$r$i
	mkns "$ns"
	ip link add b$i netns $req type veth peer name e0 netns "$ns"
	ip -n $req link set b$i master br0 up
	ip -n "$ns" addr add 2001:db8:1::1$i/64 dev e0 nodad
	ip -n "$ns" addr add 192.0.2.1$i/24 dev e0
	ip -n "$ns" link set e0 up
done
ip -n $req link set br0 up
for n in $req $r1 $r2 $r3; do settle $n; done
for i in 1 2 3; do
	eval ns=\$r$i
	listen "$ns" "$tmp/r$i" --join-coap e0 --leisure 0.2
done

run $req "ff02::fd discovery (JSON)" 0 --json -w 1.5 "coap://[ff02::fd%br0]/.well-known/core"
expect "ff02::fd: three response objects" "$(count "$out" '"event":"response"')" "^3\$"
expect "ff02::fd: each from a link-local unicast address on br0" \
	"$(count "$out" '"event":"response".*"from":"\[fe80::[0-9a-f:]+%br0\]".*"multicast":true.*"code":"2\.05"')" "^3\$"
expect "ff02::fd: three distinct responders in the summary" "$out" \
	'"event":"summary","kind":"multicast".*"responses":3,"responders":3'
lls=$(for i in 1 2 3; do eval ns=\$r$i; ip -n "$ns" -6 addr show dev e0 scope link | sed -n 's/.*inet6 \(fe80::[^/]*\).*/\1/p'; done | sort)
got=$(printf '%s\n' "$out" | sed -n 's/.*"event":"response".*"from":"\[\(fe80::[0-9a-f:]*\)%br0\]".*/\1/p' | sort)
if [ -n "$got" ] && [ "$got" = "$lls" ]; then
	ok "ff02::fd: the responders are exactly the three namespaces' link-local addresses"
else
	bad "ff02::fd: the responders are exactly the three namespaces' link-local addresses" "wanted: $lls" "got: $got"
fi

run $req "ff02::fd discovery (human)" 0 -w 1.5 "coap://[ff02::fd%br0]/.well-known/core"
expect "ff02::fd human: three responder lines" "$(count "$out" '^2\.05 Content from \[fe80::[0-9a-f:]+%br0\] in [0-9.]+ (ms|s): </hello>')" "^3\$"
expect "ff02::fd human: summary line" "$out" "^--- coap://\[ff02::fd%br0\]/\.well-known/core: 3 responses from 3 responders"

run $req "224.0.1.187 discovery with -I br0 (JSON)" 0 --json -w 1.5 -I br0 "coap://224.0.1.187/.well-known/core"
got=$(printf '%s\n' "$out" | sed -n 's/.*"event":"response".*"from":"\(192\.0\.2\.[0-9]*\)".*/\1/p' | sort | tr '\n' ' ')
expect "224.0.1.187: exactly 192.0.2.11, .12 and .13 answered" "$got" "^192\.0\.2\.11 192\.0\.2\.12 192\.0\.2\.13 \$"

run $req "who am I, over multicast" 0 --json -w 1.5 "coap://[ff02::fd%br0]/whoami"
expect "multicast who-am-I: every responder saw the group on e0" \
	"$(count "$out" '"payload":"you are \[fe80::[0-9a-f:]+%e0\]:[0-9]+, you asked \[ff02::fd%e0\] on e0 \(multicast\)"')" "^3\$"
expect "responder log: the request reached ff02::fd on e0, via multicast" "$(cat "$tmp/r1")" \
	'"event":"request".*"to":"\[ff02::fd%e0\]","interface":"e0","multicast":true.*"path":"/\.well-known/core"'

# RFC 6690 4.1: a filtered discovery lists only what passes, and a group
# request whose filter matches nothing, like any error, gets no answer.
run $req "filtered discovery ?rt=evudp6.whoami" 0 --json -w 1.5 "coap://[ff02::fd%br0]/.well-known/core?rt=evudp6.whoami"
expect "filtered discovery: three responses of the one link" \
	"$(count "$out" '"event":"response".*"links":\["</whoami>;rt=\\"evudp6.whoami\\";ct=\\"0 50\\";title=\\"who am I\\""\]')" "^3\$"
run $req "filtered discovery matching nothing" 2 --json -w 0.5 "coap://[ff02::fd%br0]/.well-known/core?rt=nothing"
expect "matching nothing: no responder answers" "$out" '"responses":0,"responders":0'
expect "matching nothing: the responder logs it unsent" "$(cat "$tmp/r1")" \
	'"event":"request".*"query":"rt=nothing".*"note":"not sent: nothing matched"'
run $req "unknown path over multicast" 2 --json -w 0.5 "coap://[ff02::fd%br0]/nosuch"
expect "unknown path over multicast: the 4.04 is not sent" "$(cat "$tmp/r1")" \
	'"event":"request".*"path":"/nosuch".*"code":"4\.04".*"note":"not sent: suppressed"'

eval kill \$pid_$r3
sleep 0.2
run $req "ff02::fd discovery with one responder stopped" 0 -w 1.5 "coap://[ff02::fd%br0]/.well-known/core"
expect "one responder stopped: two responder lines" "$(count "$out" '^2\.05 Content from ')" "^2\$"
eval kill \$pid_$r1 \$pid_$r2
sleep 0.2
run $req "ff02::fd discovery with nobody left" 2 --json -w 0.5 "coap://[ff02::fd%br0]/.well-known/core"
expect "nobody left: summary with no responder" "$out" '"responses":0,"responders":0'

# ------------------------------------------------ 2. multi-address who-am-I
mkns $srv
mkns $cli
ip link add s0 netns $srv type veth peer name c0 netns $cli
for a in 2001:db8:2::1/64 2001:db8:2::2/64; do ip -n $srv addr add $a dev s0 nodad; done
for a in 198.51.100.1/24 198.51.100.2/24; do ip -n $srv addr add $a dev s0; done
ip -n $cli addr add 2001:db8:2::10/64 dev c0 nodad
ip -n $cli addr add 198.51.100.10/24 dev c0
ip -n $srv link set s0 up
ip -n $cli link set c0 up
settle $srv
settle $cli
listen $srv "$tmp/srv" "[::]"
for a in 2001:db8:2::1 2001:db8:2::2 198.51.100.1 198.51.100.2; do
	case $a in *:*) h="[$a]" ;; *) h=$a ;; esac
	hr=$(printf '%s' "$h" | sed 's/[].[]/\\&/g')
	run $cli "who am I, asking $a" 0 --json "coap://$h/whoami"
	expect "who am I $a: the answer comes from $a" "$out" "\"event\":\"response\".*\"from\":\"$hr\","
	expect "who am I $a: the server says it was asked $a on s0" "$out" "\"payload\":\"you are [^,]*, you asked $hr on s0\""
	# the server logs after its answer has left: give the line a moment
	for _ in $(seq 20); do grep -Eq "\"to\":\"$hr\",.*\"path\":\"/whoami\"" "$tmp/srv" && break; sleep 0.1; done
	expect "who am I $a: the server log has both addresses" "$(grep "\"to\":\"$hr\"," "$tmp/srv" | tail -n 1)" \
		"\"from\":\"[^\"]*\",\"to\":\"$hr\",\"interface\":\"s0\",\"multicast\":false.*\"path\":\"/whoami\""
done

# ------------------------------------------------ 3. a router's ICMP errors
mkns $rtr
mkns $cl3
ip link add r0 netns $rtr type veth peer name c1 netns $cl3
ip -n $rtr addr add 2001:db8:a::1/64 dev r0 nodad
ip -n $rtr addr add 203.0.113.1/24 dev r0
ip -n $cl3 addr add 2001:db8:a::10/64 dev c1 nodad
ip -n $cl3 addr add 203.0.113.10/24 dev c1
ip -n $rtr link set r0 up
ip -n $cl3 link set c1 up
ip netns exec $rtr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
	net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
ip -n $cl3 -6 route add default via 2001:db8:a::1
ip -n $cl3 route add default via 203.0.113.1
ip -n $rtr -6 route add unreachable 2001:db8:9::/64
ip -n $rtr -6 route add blackhole 2001:db8:9:1::/64
ip -n $rtr route add unreachable 198.51.100.0/24
ip -n $rtr route add prohibit 192.0.2.0/24
settle $rtr
settle $cl3

run $cl3 "router: IPv6 network unreachable" 3 --json -T 5 "coap://[2001:db8:9::1]/"
expect "router IPv6: ENETUNREACH, ICMPv6 1/0 from the router" "$out" \
	'"kind":"network".*"remote":"\[2001:db8:9::1\]","error":"ENETUNREACH".*"icmp":\{"origin":"ICMPv6","type":1,"code":0,"what":"no route to destination","from":"2001:db8:a::1"\}'
run $cl3 "router: IPv4 host unreachable" 3 --json -T 5 "coap://198.51.100.7/"
expect "router IPv4: EHOSTUNREACH, ICMP 3/1 from the router" "$out" \
	'"remote":"198\.51\.100\.7","error":"EHOSTUNREACH".*"icmp":\{"origin":"ICMP","type":3,"code":1,"what":"host unreachable","from":"203\.0\.113\.1"\}'
run $cl3 "router: IPv4 administratively prohibited" 3 --json -T 5 "coap://192.0.2.9/"
expect "router prohibit: ICMP 3/13 from the router" "$out" \
	'"remote":"192\.0\.2\.9",.*"icmp":\{"origin":"ICMP","type":3,"code":13,"what":"communication administratively prohibited","from":"203\.0\.113\.1"\}'
ms=$(printf '%s\n' "$out" | sed -n 's/.*"elapsed_ms":\([0-9.]*\).*/\1/p')
if [ -n "$ms" ] && awk -v ms="$ms" 'BEGIN { exit !(ms < 100) }'; then
	ok "router error reported at once (${ms} ms), not after a timeout"
else
	bad "router error reported at once" "elapsed_ms: '$ms'"
fi
run $cl3 "router: human line" 3 "coap://[2001:db8:9::1]/"
expect "router human: names the router as the sender" "$out" \
	'^\[2001:db8:9::1\]: Network is unreachable \(ICMPv6 no route to destination from 2001:db8:a::1\) after [0-9.]+ ms$'
run $cl3 "router: ping an unreachable host" 3 --ping -c 2 -i 0.1 "coap://198.51.100.7"
expect "router ping: each ping gets the router's error" "$(count "$out" 'seq=[12] No route to host \(ICMP host unreachable from 203\.0\.113\.1\)')" "^2\$"
run $cl3 "router: blackhole route, no error: timeout" 2 --json -T 0.5 "coap://[2001:db8:9:1::1]/"
expect "blackhole: a timeout, not a network error" "$out" '"kind":"timeout"'

echo "probe_ns: $passed passed, $failed failed"
[ "$failed" = 0 ]
