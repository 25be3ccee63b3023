#!/bin/sh
# Network-namespace fault suite (root only; SPEC 8):
#   1. 100 000 ICMP errors on loopback (port unreachable, ICMP and ICMPv6)
#      in a private namespace whose ICMP rate limits are raised: every one
#      delivered with its details and its quoted datagram, bounded work per
#      wakeup, a timer on the same base never late by 50 ms, memory flat;
#   2. 30 000 router-generated ICMP errors from a router namespace (IPv6
#      no route, time exceeded in both families), the router as offender;
#   3. 200 000 requests with fresh message ids from 508 spoofed sources
#      (AnyIP routes for 198.51.100.0/24 and 2001:db8:5::/64) against a
#      messenger whose deduplication cap is 256;
#   4. an interface going down, losing its addresses and disappearing
#      while a multicast membership and pending requests use it: the
#      requests fail with the error, nothing crashes, the other interface
#      keeps serving unicast and multicast.
# Only documentation prefixes are used; the host's own settings are never
# touched (the rate limits are raised inside the namespaces only). Exit 77
# (SKIP) when not root.
set -u
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: ns_faults needs root for network namespaces"
	exit 77
fi
if ! command -v ip >/dev/null 2>&1; then
	echo "SKIP: ns_faults needs iproute2 (ip)"
	exit 77
fi
bin=${top_builddir:-.}/test
peer=$bin/fault_peer
client=$bin/messenger_peer
p=e6f$$
lo=${p}lo srv=${p}srv cli=${p}cli cl2=${p}cl2 rtr=${p}rtr
pids=
tmp=$(mktemp -u /tmp/ns_faults.XXXXXX)
cleanup() {
	exec 3>&- 2>/dev/null
	for pid in $pids; do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	for n in $lo $srv $cli $cl2 $rtr; do ip netns del "$n" 2>/dev/null; done
	rm -f "$tmp".*
}
trap cleanup EXIT INT TERM

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "PASS: $1"; }
bad() { failed=$((failed + 1)); echo "FAIL: $1"; shift; for l in "$@"; do echo "      $l"; done; }
# expect NAME "OUTPUT" "REGEX"
expect() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then ok "$1"; else bad "$1" "wanted: $3" "got:    $2"; fi
}
# field LINE KEY: the value of KEY=VALUE in a result line
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
# live NAME LINE: the loop's own lateness under 50 ms, wall clock under 2 s
# (see test/faultutil.h)
live() {
	b=$(field "$2" late_us) w=$(field "$2" wall_late_us)
	if [ -n "$b" ] && [ "$b" -lt 50000 ] && [ -n "$w" ] && [ "$w" -lt 2000000 ]; then
		ok "$1 (late $b us, wall $w us)"
	else
		bad "$1" "wanted late_us < 50000 and wall_late_us < 2000000" "got:    late_us=$b wall_late_us=$w"
	fi
}
# le NAME VALUE LIMIT
le() {
	if [ -n "$2" ] && [ "$2" -le "$3" ]; then ok "$1 ($2 <= $3)"; else bad "$1" "wanted <= $3" "got:    $2"; fi
}
# wait_for FILE REGEX SECONDS: the first line of FILE matching, or nothing
wait_for() {
	i=0
	while [ $i -lt $(($3 * 10)) ]; do
		l=$(grep -E -- "$2" "$1" | head -n 1)
		[ -n "$l" ] && { printf '%s\n' "$l"; return 0; }
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

mkns() {
	ip netns add "$1" || exit 1
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ip -n "$1" link set lo up
}
# Permanent neighbour entries: a flood that starts before neighbour
# discovery has finished would lose what the kernel cannot queue.
mac() { ip -n "$1" -o link show dev "$2" | sed 's/.*link\/ether \([0-9a-f:]*\).*/\1/'; }
# pin NS DEV PEER_NS PEER_DEV ADDR...: ADDR... (of PEER_DEV) reachable from DEV
pin() {
	m=$(mac "$3" "$4")
	ns=$1 dev=$2
	shift 4
	for a in "$@"; do ip -n "$ns" neigh replace "$a" lladdr "$m" dev "$dev" nud permanent; done
}
# Raise the ICMP rate limits of one namespace (they are per namespace).
unlimit() {
	ip netns exec "$1" sysctl -qw net.ipv4.icmp_msgs_per_sec=1000000000 net.ipv4.icmp_msgs_burst=1000000000 \
		net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 || exit 1
}
settle() {
	for _ in $(seq 100); do
		ip -n "$1" -6 addr | grep -q tentative || return 0
		sleep 0.1
	done
}

# ------------------------------------------------------------ 1. loopback ICMP
mkns $lo
unlimit $lo
t0=$(date +%s)
out=$(ip netns exec $lo "$peer" icmp-flood -n 100000 -w 2000 "[::1]:0" "127.0.0.1:0")
echo "      $out ($(($(date +%s) - t0)) s)"
expect "100 000 loopback ICMP errors: each delivered, each tied to the datagram it quotes" "$out" \
	"^result sent=100000 errors=100000 quoted_ok=100000 errqueue=100000 errqueue_other=0 send_errors=0 "
expect "loopback ICMP errors: 50 000 ICMPv6 port unreachable (origin 3, 1/4)" "$out" "kinds=(.*,)?3/1/4:50000(,| )"
expect "loopback ICMP errors: 50 000 ICMP port unreachable (origin 2, 3/3)" "$out" "kinds=(.*,)?2/3/3:50000(,| )"
expect "loopback ICMP errors: offenders ::1 and 127.0.0.1" "$out" "offenders=(::1,::ffff:127\.0\.0\.1|::ffff:127\.0\.0\.1,::1)$"
expect "loopback ICMP errors: work per wakeup was bounded" "$out" "bounded=[1-9][0-9]* "
live "loopback ICMP errors: timer never late by 50 ms" "$out"
rss=$(field "$out" rss_kb)
le "loopback ICMP errors: memory flat over the second half (kB)" \
	"$((${rss##*/} - $(echo "$rss" | cut -d/ -f2)))" 256
ip netns del $lo

# ------------------------------------------------------------ 2. router ICMP
# A router's "unreachable"/"prohibit" routes answer IPv4 at most once a
# second per source (net.ipv4.route.error_cost, not per namespace, so left
# alone: test/ns_transport.sh checks one of each). IPv6 no-route errors
# and "time exceeded" in both families follow the namespace's ICMP limits.
mkns $cli; mkns $rtr; mkns $cl2
unlimit $rtr
ip link add r0 netns $rtr type veth peer name c1 netns $cli
ip link add r1 netns $rtr type veth peer name f0 netns $cl2
ip -n $rtr addr add 2001:db8:a::1/64 dev r0 nodad
ip -n $rtr addr add 203.0.113.1/28 dev r0
ip -n $rtr addr add 2001:db8:f::1/64 dev r1 nodad
ip -n $rtr addr add 203.0.113.17/28 dev r1
ip -n $cli addr add 2001:db8:a::2/64 dev c1 nodad
ip -n $cli addr add 203.0.113.2/28 dev c1
ip -n $cl2 addr add 2001:db8:f::2/64 dev f0 nodad
ip -n $cl2 addr add 203.0.113.18/28 dev f0
for l in r0 r1; do ip -n $rtr link set $l up; done
ip -n $cli link set c1 up
ip -n $cl2 link set f0 up
ip netns exec $rtr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip -n $cli -6 route add 2001:db8:9::/48 via 2001:db8:a::1
ip -n $cli -6 route add 2001:db8:f::/64 via 2001:db8:a::1
ip -n $cli route add 203.0.113.16/28 via 203.0.113.1
ip -n $rtr -6 route add unreachable 2001:db8:9::/64
pin $cli c1 $rtr r0 2001:db8:a::1 203.0.113.1
pin $rtr r0 $cli c1 2001:db8:a::2 203.0.113.2
settle $rtr; settle $cli; settle $cl2
t0=$(date +%s)
out=$(ip netns exec $cli "$peer" icmp-flood -n 10000 -w 1000 "[2001:db8:9::1]:5683")
echo "      $out ($(($(date +%s) - t0)) s)"
expect "10 000 router ICMPv6 no-route errors: each delivered, each tied to its datagram" "$out" \
	"^result sent=10000 errors=10000 quoted_ok=10000 errqueue=10000 errqueue_other=0 "
expect "router ICMPv6 no route: type 1 code 0, from the router" "$out" "kinds=3/1/0:10000 offenders=2001:db8:a::1$"
live "router ICMPv6 no route: timer never late by 50 ms" "$out"
t0=$(date +%s)
out=$(ip netns exec $cli "$peer" icmp-flood -n 20000 -w 1000 -t 1 "[2001:db8:f::2]:5683" "203.0.113.18:5683")
echo "      $out ($(($(date +%s) - t0)) s)"
expect "20 000 router time-exceeded errors: each delivered, each tied to its datagram" "$out" \
	"^result sent=20000 errors=20000 quoted_ok=20000 errqueue=20000 errqueue_other=0 "
expect "router ICMPv6 time exceeded: 10 000 of type 3 code 0" "$out" "kinds=(.*,)?3/3/0:10000(,| )"
expect "router ICMP time exceeded: 10 000 of type 11 code 0" "$out" "kinds=(.*,)?2/11/0:10000(,| )"
expect "router time exceeded: the router is the offender" "$out" \
	"offenders=(2001:db8:a::1,::ffff:203\.0\.113\.1|::ffff:203\.0\.113\.1,2001:db8:a::1)$"
live "router time exceeded: timer never late by 50 ms" "$out"
for n in $rtr $cli $cl2; do ip netns del $n; done

# ------------------------------------------------ 3 and 4: server topology
mkns $srv; mkns $cli; mkns $cl2
ip link add s0 netns $srv type veth peer name c0 netns $cli
ip link add s1 netns $srv type veth peer name c0 netns $cl2
ip -n $srv addr add 2001:db8:1::1/64 dev s0 nodad
ip -n $srv addr add 192.0.2.1/24 dev s0
ip -n $srv addr add 2001:db8:2::1/64 dev s1 nodad
ip -n $srv addr add 203.0.113.1/24 dev s1
ip -n $cli addr add 2001:db8:1::10/64 dev c0 nodad
ip -n $cli addr add 192.0.2.10/24 dev c0
ip -n $cl2 addr add 2001:db8:2::10/64 dev c0 nodad
ip -n $cl2 addr add 203.0.113.10/24 dev c0
for l in s0 s1; do ip -n $srv link set $l up; done
ip -n $cli link set c0 up
ip -n $cl2 link set c0 up
# spoofed sources: all of them are local to cli (AnyIP), routed there from srv
ip -n $cli route add local 198.51.100.0/24 dev lo
ip -n $cli -6 route add local 2001:db8:5::/64 dev lo
ip -n $srv route add 198.51.100.0/24 via 192.0.2.10
ip -n $srv -6 route add 2001:db8:5::/64 via 2001:db8:1::10
pin $cli c0 $srv s0 2001:db8:1::1 192.0.2.1
pin $srv s0 $cli c0 2001:db8:1::10 192.0.2.10
settle $srv; settle $cli; settle $cl2
# link-local addresses (needed for ff02::fd) take a moment after carrier
for _ in $(seq 50); do
	ip -n $srv -6 addr show dev s1 scope link | grep -q fe80 && ip -n $cl2 -6 addr show dev c0 scope link | grep -q fe80 && break
	sleep 0.1
done

# start "fault_peer serve ARGS" in srv with commands from fd 3 (a fifo)
start_serve() {
	out=$1
	shift
	rm -f "$tmp.ctl"
	mkfifo "$tmp.ctl"
	ip netns exec $srv "$peer" serve "$@" <"$tmp.ctl" >"$out" 2>&1 &
	pids="$pids $!"
	exec 3>"$tmp.ctl"
	wait_for "$out" '^ready' 5 >/dev/null || { echo "server did not start:"; cat "$out"; exit 1; }
}
cmd() { echo "$*" >&3; }

# ------------------------------------------------------ 3. spoofed sources
start_serve "$tmp.spoof" -b "[::]:5684" -d 256
t0=$(date +%s)
out4=$(ip netns exec $cli "$peer" spoof-flood -n 100000 198.51.100. 192.0.2.1 5684)
out6=$(ip netns exec $cli "$peer" spoof-flood -n 100000 2001:db8:5:: 2001:db8:1::1 5684)
echo "      $out4"
echo "      $out6 ($(($(date +%s) - t0)) s)"
expect "spoofed IPv4 sources: 100 000 requests, every one answered" "$out4" "^result sent=100000 answered=100000 "
expect "spoofed IPv6 sources: 100 000 requests, every one answered" "$out6" "^result sent=100000 answered=100000 "
cmd stats
st=$(wait_for "$tmp.spoof" '^stats' 5)
expect "spoofed sources: each request new, handled once" "$st" "requests_received=200000 responses_sent=200000 duplicates=0 "
expect "spoofed sources: deduplication held at its cap of 256, oldest evicted" "$st" \
	"dedup_entries=256 dedup_peak=256 dedup_cap=256 dedup_evicted=199744 dedup_full=0 "
expect "spoofed sources: no datagram lost in the kernel queue" "$st" "datagrams_in=200000 rxq_overflow=0 "
live "spoofed sources: timer never late by 50 ms" "$st"
rss=$(field "$st" rss_kb)
le "spoofed sources: memory flat after the first 1000 requests (kB)" "$((${rss#*/} - ${rss%/*}))" 1024
cmd quit
wait_for "$tmp.spoof" '^bye' 5 >/dev/null
exec 3>&-

# ------------------------------------------------ 4. an interface goes away
ip netns exec $cli "$peer" sink 7000 >"$tmp.sink" 2>&1 &
pids="$pids $!"
wait_for "$tmp.sink" '^ready' 5 >/dev/null
start_serve "$tmp.srv" -b "[::]:5683" -l 0
for j in "ff02::fd s0" "224.0.1.187 s0" "ff02::fd s1"; do
	cmd join $j
	expect "interface loss: joined $j" "$(wait_for "$tmp.srv" "^join $j rc=" 5)" "rc=OK$"
done
out=$(ip netns exec $cli "$client" client -N -w 1000 "ff02::fd%c0" 5683 /x)
expect "interface loss: before, a multicast request on s0 is answered" "$out" "^response 2\.05 "
# two requests to a peer on s0 that never answers: they stay pending
cmd request 2001:db8:1::10 7000
cmd request 192.0.2.10 7000
expect "interface loss: IPv6 request pending" "$(wait_for "$tmp.srv" '^request 0 ' 5)" "rc=OK$"
expect "interface loss: IPv4 request pending" "$(wait_for "$tmp.srv" '^request 1 ' 5)" "rc=OK$"
sleep 0.5
ip -n $srv link set s0 down
ip -n $srv addr flush dev s0
# the next retransmission (2-3 s after the request) finds no route
expect "interface loss: the pending IPv6 request fails with the send error" \
	"$(wait_for "$tmp.srv" '^end 0 ' 8)" "^end 0 ENETUNREACH$"
expect "interface loss: the pending IPv4 request fails with the send error" \
	"$(wait_for "$tmp.srv" '^end 1 ' 8)" "^end 1 ENETUNREACH$"
cmd request 2001:db8:1::10 7000
expect "interface loss: a new request over the lost link is refused at once" \
	"$(wait_for "$tmp.srv" '^request 2 ' 5)" "rc=ENETUNREACH$"
cmd leave ff02::fd s0
expect "interface loss: leaving a group on the downed interface succeeds" \
	"$(wait_for "$tmp.srv" '^leave ff02::fd s0 ' 5)" "rc=OK$"
ip -n $srv link del s0
cmd leave 224.0.1.187 s0
expect "interface loss: leaving a group on the deleted interface succeeds" \
	"$(wait_for "$tmp.srv" '^leave 224.0.1.187 s0 ' 5)" "rc=OK$"
out=$(ip netns exec $cl2 "$client" client 2001:db8:2::1 5683 /x)
expect "interface loss: the other interface still serves unicast" "$out" "^response 2\.05 "
out=$(ip netns exec $cl2 "$client" client -N -w 1000 "ff02::fd%c0" 5683 /x)
expect "interface loss: the other interface still serves multicast" "$out" "^response 2\.05 "
cmd stats
st=$(wait_for "$tmp.srv" '^stats' 5)
expect "interface loss: exactly the two pending requests failed" "$st" "exchanges_failed=2 requests_pending=0 "
live "interface loss: timer never late by 50 ms" "$st"
cmd quit
expect "interface loss: the server shuts down cleanly" "$(wait_for "$tmp.srv" '^bye' 5)" "^bye$"
exec 3>&-
grep -E '^(join|leave|end|request) ' "$tmp.srv" | sed 's/^/      /'

echo "ns_faults: $passed passed, $failed failed"
[ "$failed" = 0 ]
