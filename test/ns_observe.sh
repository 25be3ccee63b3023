#!/bin/sh
# Observe faults in network namespaces (root only; SPEC 8, 12):
# cli -- rtr -- srv. An evudp6-probe in cli observes /obs of observe_peer in
# srv, which notifies every 200 ms with NON notifications. Then the router
# gets an "unreachable" route for the observer: the next notification draws
# a router ICMP error that quotes it, and the observer is removed at once
# (not after any timeout), counted in removed_icmp. IPv6 and IPv4.
# Only documentation prefixes. Exit 77 (SKIP) when not root.
set -u
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: ns_observe needs root for network namespaces"
	exit 77
fi
if ! command -v ip >/dev/null 2>&1; then
	echo "SKIP: ns_observe needs iproute2 (ip)"
	exit 77
fi
peer=${top_builddir:-.}/test/observe_peer
probe=${top_builddir:-.}/tools/evudp6-probe
p=e6o$$
srv=${p}srv cli=${p}cli rtr=${p}rtr
pids=
tmp=$(mktemp -d /tmp/ns_observe.XXXXXX)
cleanup() {
	for pid in $pids; do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	for n in $srv $cli $rtr; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "PASS: $1"; }
bad() { failed=$((failed + 1)); echo "FAIL: $1"; shift; for l in "$@"; do echo "      $l"; done; }
expect() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then ok "$1"; else bad "$1" "wanted: $3" "got:    $2"; fi
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

mkns $cli; mkns $rtr; mkns $srv
ip link add r0 netns $rtr type veth peer name c0 netns $cli
ip link add r1 netns $rtr type veth peer name s0 netns $srv
ip -n $rtr addr add 2001:db8:a::1/64 dev r0 nodad
ip -n $rtr addr add 192.0.2.1/24 dev r0
ip -n $rtr addr add 2001:db8:b::1/64 dev r1 nodad
ip -n $rtr addr add 198.51.100.1/24 dev r1
ip -n $cli addr add 2001:db8:a::2/64 dev c0 nodad
ip -n $cli addr add 192.0.2.2/24 dev c0
ip -n $srv addr add 2001:db8:b::2/64 dev s0 nodad
ip -n $srv addr add 198.51.100.2/24 dev s0
for l in r0 r1; do ip -n $rtr link set $l up; done
ip -n $cli link set c0 up
ip -n $srv link set s0 up
ip netns exec $rtr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip -n $cli -6 route add 2001:db8:b::/64 via 2001:db8:a::1
ip -n $cli route add 198.51.100.0/24 via 192.0.2.1
ip -n $srv -6 route add 2001:db8:a::/64 via 2001:db8:b::1
ip -n $srv route add 192.0.2.0/24 via 198.51.100.1

ip netns exec $srv "$peer" -b '[::]:5683' -i 200 >"$tmp/srv.out" 2>&1 &
pids="$pids $!"
if ! wait_for "$tmp/srv.out" '^ready' 5 >/dev/null; then
	bad "observe_peer starts" "$(cat "$tmp/srv.out")"
	echo "ns_observe: $passed passed, $failed failed"
	exit 1
fi

# observe FAMILY SERVER OBSERVER ROUTE ERRNO N: one round of the fault
observe() {
	ip netns exec $cli "$probe" --observe 30 "coap://$2:5683/obs" >"$tmp/cli.$1" 2>&1 &
	cpid=$!
	pids="$pids $cpid"
	if ! wait_for "$tmp/srv.out" "^registered $3:" 5 >/dev/null || ! wait_for "$tmp/cli.$1" '^#3 ' 5 >/dev/null; then
		bad "$1: the probe in cli observes /obs in srv" "$(cat "$tmp/srv.out")" "$(cat "$tmp/cli.$1")"
		return
	fi
	ok "$1: the probe in cli observes /obs in srv"
	t0=$(date +%s%N)
	if [ "$1" = IPv6 ]; then ip -n $rtr -6 route add unreachable "$4"; else ip -n $rtr route add unreachable "$4"; fi
	line=$(wait_for "$tmp/srv.out" "^removed .* removed_icmp=$6 " 5)
	t1=$(date +%s%N)
	expect "$1: a router ICMP error removes the observer, counted" "$line" \
		"^removed reason=$5 observations=0 removed_icmp=$6 timeouts=0 "
	ms=$(( (t1 - t0) / 1000000 ))
	if [ -n "$line" ] && [ $ms -lt 2000 ]; then
		ok "$1: removed at once, by the next notification ($ms ms after the route changed)"
	else
		bad "$1: removed at once" "took $ms ms"
	fi
	kill $cpid 2>/dev/null
	wait $cpid 2>/dev/null
}
observe IPv6 '[2001:db8:b::2]' '\[2001:db8:a::2\]' 2001:db8:a::2/128 ENETUNREACH 1
observe IPv4 198.51.100.2 192.0.2.2 192.0.2.2/32 EHOSTUNREACH 2

echo "ns_observe: $passed passed, $failed failed"
[ $failed = 0 ]
