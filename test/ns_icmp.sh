#!/bin/sh
# Network-namespace suite: the message layer against ICMP errors a real
# router sends (root only; SPEC 6 and 8, TESTING.md "Path MTU" and
# "Router-generated ICMP").
#
#     cli 2001:db8:a::2 203.0.113.2 ── rtr ── srv 2001:db8:b::2 203.0.113.18
#                                         (mtu 1280 on the rtr-srv link)
#
# Soft errors fail no exchange; each is counted, and the request is
# answered once the path lets it through:
#   - Packet Too Big (ICMPv6 2) and fragmentation needed (ICMP 3/4) for a
#     1400-byte payload crossing the 1280-byte link: the request is sent
#     again at once, the kernel fragments it to the new path MTU, and the
#     answer comes long before the first retransmission would be due;
#   - Time Exceeded (ICMPv6 3, ICMP 11) for a hop limit / TTL of 1: the
#     request survives it and is answered when the hop limit is restored;
#   - Parameter Problem (ICMPv6 4) for a hop-by-hop option no router
#     knows (action "discard and answer"). IPv4 has no realistic
#     equivalent (Linux routers skip unknown IP options and the sender's
#     kernel refuses malformed ones); test/check_vetting forges one.
# Hard errors still fail at once: no route (ICMPv6 1/0, ICMP 3/1) and
# administratively prohibited (ICMPv6 1/1, ICMP 3/13), from "unreachable"
# and "prohibit" routes in rtr.
# Only documentation prefixes are used. Exit 77 (SKIP) when not root.
set -u
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: ns_icmp needs root for network namespaces"
	exit 77
fi
for tool in ip sysctl; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "SKIP: ns_icmp needs $tool (iproute2, procps)"
		exit 77
	fi
done
peer=${top_builddir:-.}/test/messenger_peer
if [ ! -x "$peer" ]; then
	echo "FAIL: $peer not built"
	exit 1
fi
p=e6i$$
cli=${p}cli rtr=${p}rtr srv=${p}srv
tmp=$(mktemp -d /tmp/ns_icmp.XXXXXX)
pids=
cleanup() {
	for pid in $pids; do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	for n in $cli $rtr $srv; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "PASS: $1"; }
bad() { failed=$((failed + 1)); echo "FAIL: $1"; shift; for l in "$@"; do echo "      $l"; done; }
# expect NAME "OUTPUT" "REGEX"
expect() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then ok "$1"; else bad "$1" "wanted: $3" "got:    $2"; fi
}
# within NAME "OUTPUT" MS: the response arrived within MS ms
within() {
	t=$(printf '%s\n' "$2" | sed -n 's/^response .* after \([0-9]*\) ms .*/\1/p' | head -n 1)
	if [ -n "$t" ] && [ "$t" -lt "$3" ]; then ok "$1 ($t ms)"; else bad "$1" "wanted a response within $3 ms" "got:    $2"; fi
}

mkns() {
	ip netns add "$1" || exit 1
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ip -n "$1" link set lo up
	# ICMP rate limits are per namespace: raise them here only.
	ip netns exec "$1" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
}
mkns $cli; mkns $rtr; mkns $srv
ip link add r0 netns $rtr type veth peer name c0 netns $cli
ip link add r1 netns $rtr type veth peer name s0 netns $srv
ip -n $rtr link set r1 mtu 1280
ip -n $srv link set s0 mtu 1280
ip -n $rtr addr add 2001:db8:a::1/64 dev r0 nodad
ip -n $rtr addr add 203.0.113.1/28 dev r0
ip -n $rtr addr add 2001:db8:b::1/64 dev r1 nodad
ip -n $rtr addr add 203.0.113.17/28 dev r1
ip -n $cli addr add 2001:db8:a::2/64 dev c0 nodad
ip -n $cli addr add 203.0.113.2/28 dev c0
ip -n $srv addr add 2001:db8:b::2/64 dev s0 nodad
ip -n $srv addr add 203.0.113.18/28 dev s0
for l in r0 r1; do ip -n $rtr link set $l up; done
ip -n $cli link set c0 up
ip -n $srv link set s0 up
ip netns exec $rtr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip -n $cli -6 route add 2001:db8::/32 via 2001:db8:a::1
ip -n $cli route add 203.0.113.0/24 via 203.0.113.1
ip -n $cli route add 198.51.100.0/24 via 203.0.113.1
ip -n $srv -6 route add 2001:db8:a::/64 via 2001:db8:b::1
ip -n $srv route add 203.0.113.0/28 via 203.0.113.17
ip -n $rtr -6 route add unreachable 2001:db8:9::/64
ip -n $rtr -6 route add prohibit 2001:db8:8::/64
ip -n $rtr route add unreachable 198.51.100.0/24
ip -n $rtr route add prohibit 203.0.113.64/26
for n in $cli $rtr $srv; do
	for _ in $(seq 50); do
		ip -n "$n" -6 addr | grep -q tentative || break
		sleep 0.1
	done
done

ip netns exec $srv "$peer" server -b "[::]:5683" -n srv >"$tmp/srv.out" 2>&1 &
pids="$pids $!"
for _ in $(seq 50); do
	grep -q '^ready' "$tmp/srv.out" && break
	sleep 0.1
done
client() { timeout 20 ip netns exec $cli "$peer" client "$@" 2>&1; }

# Both paths work for small datagrams.
for a in 2001:db8:b::2 203.0.113.18; do
	out=$(client "$a" 5683 /hello)
	expect "small request to $a across the router is answered" "$out" "^response 2\.05 .* payload hello from srv$"
done

# ------------------------------------------------------------ Packet Too Big
# First retransmission 3 s away: an answer within 1 s is the resend.
for a in 2001:db8:b::2 203.0.113.18; do
	out=$(client -a 3000 -s 1400 "$a" 5683 /hello)
	case $a in *:*) kind="Packet Too Big" ;; *) kind="fragmentation needed" ;; esac
	expect "$kind for 1400 bytes to $a: the exchange goes on and is answered" "$out" \
		"^response 2\.05 .* payload hello from srv$"
	within "$kind to $a: answered at once after the resend, not after a retransmission" "$out" 1000
	case $a in
	*:*) want="^icmp EMSGSIZE after [0-9]+ ms ICMPv6 packet too big from 2001:db8:a::1 .*mtu 1280" ;;
	*) want="^icmp EMSGSIZE after [0-9]+ ms ICMP .*from 203\.0\.113\.1 .*mtu 1280" ;;
	esac
	expect "$kind to $a: told to the application, the router as offender, the new MTU" "$out" "$want"
	expect "$kind to $a: counted, resent once, nothing failed, no retransmission" "$out" \
		"^stats icmp_errors=1 icmp_vetted_out=0 exchanges_failed=0 retransmissions=0 icmp_packet_too_big=1 packet_too_big_resends=1 "
done

# ------------------------------------------------------------ Time Exceeded
# Hop limit 1: the router answers Time Exceeded. Restored after 100 ms,
# the retransmission at 400 ms gets through.
for a in 2001:db8:b::2 203.0.113.18; do
	out=$(client -a 400 -H 1 -R 100 "$a" 5683 /hello)
	expect "Time Exceeded from the router for $a: the request survives and is answered" "$out" \
		"^response 2\.05 .* payload hello from srv$"
	expect "Time Exceeded for $a: counted, nothing failed, answered at the first retransmission" "$out" \
		"^stats icmp_errors=1 icmp_vetted_out=0 exchanges_failed=0 retransmissions=1 .* icmp_time_exceeded=1 "
done

# ------------------------------------------------------------ Parameter Problem
out=$(client -a 400 -X -R 100 2001:db8:b::2 5683 /hello)
expect "Parameter Problem from the router (unknown hop-by-hop option): the request survives and is answered" \
	"$out" "^response 2\.05 .* payload hello from srv$"
expect "Parameter Problem: counted, nothing failed" "$out" \
	"^stats icmp_errors=1 icmp_vetted_out=0 exchanges_failed=0 retransmissions=1 .* icmp_parameter_problem=1$"

# ------------------------------------------------------------ hard errors
# Each fails the request at once, with the router as offender.
hard() {
	# A router's unreachable and prohibit routes answer IPv4 once a second
	# per source (net.ipv4.route.error_cost), counting any ICMP it sent.
	case $1 in *:*) ;; *) sleep 1.2 ;; esac
	out=$(client -a 3000 "$1" 5683 /hello)
	expect "$2 from the router for $1: the request fails at once" "$out" "^end $3 after [0-9] ms $4"
	expect "$2 for $1: one exchange failed" "$out" "^stats icmp_errors=1 icmp_vetted_out=0 exchanges_failed=1 retransmissions=0 "
}
hard 2001:db8:9::1 "ICMPv6 no route" ENETUNREACH "ICMPv6 no route to destination from 2001:db8:a::1"
hard 2001:db8:8::1 "ICMPv6 administratively prohibited" EACCES "ICMPv6 communication administratively prohibited from 2001:db8:a::1"
hard 198.51.100.7 "ICMP host unreachable" EHOSTUNREACH "ICMP host unreachable from 203.0.113.1"
hard 203.0.113.70 "ICMP communication prohibited" EHOSTUNREACH "ICMP .*prohibited.* from 203.0.113.1"

echo "ns_icmp: $passed passed, $failed failed"
[ "$failed" = 0 ]
