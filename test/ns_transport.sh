#!/bin/sh
# Network-namespace suite for the transport (root only):
#   1. multi-address, multi-interface server: each address answers from itself;
#   2. multicast: one socket joined to ff02::fd and 224.0.1.187 receives both,
#      answers from a unicast address; the client picks the interface with an
#      interface-only pktinfo;
#      A transport that joined nothing gets no group traffic although another
#      socket of the host joined (IPV6_MULTICAST_ALL/IP_MULTICAST_ALL off);
#      of two SO_REUSEPORT shards only the one that joined answers; after
#      leave the group's traffic stops. Datagrams to an IPv4 broadcast
#      address count as multicast locally and are answered from unicast.
#   3. router-generated ICMP: unreachable / prohibited from the router, with
#      the router as offender; a blackhole route gives no error; sendmsg's own
#      ENETUNREACH is reported.
#   4. asymmetric routes: a request arriving on one interface whose route
#      back is via another is answered along the routing table.
# Only documentation prefixes are used. Exit 77 (SKIP) when not root.
set -u
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: ns_transport needs root for network namespaces"
	exit 77
fi
if ! command -v ip >/dev/null 2>&1; then
	echo "SKIP: ns_transport needs iproute2 (ip)"
	exit 77
fi
peer=${top_builddir:-.}/test/ns_peer
p=e6t$$
srv=${p}srv cli=${p}cli cl2=${p}cl2 rtr=${p}rtr far=${p}far asv=${p}asv acl=${p}acl
pids=
cleanup() {
	for pid in $pids; do kill "$pid" 2>/dev/null; done
	for n in $srv $cli $cl2 $rtr $far $asv $acl; do ip netns del "$n" 2>/dev/null; done
	rm -f "$tmp".*
}
tmp=$(mktemp -u /tmp/ns_transport.XXXXXX)
trap cleanup EXIT INT TERM

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "PASS: $1"; }
bad() { failed=$((failed + 1)); echo "FAIL: $1"; shift; for l in "$@"; do echo "      $l"; done; }
# expect NAME "OUTPUT" "REGEX"
expect() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then ok "$1"; else bad "$1" "wanted: $3" "got:    $2"; fi
}

mkns() {
	ip netns add "$1" || exit 1
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ip -n "$1" link set lo up
}
# up NS DEV ADDR/LEN...: give a link its addresses (IPv6 without DAD), bring it up
up() {
	ns=$1 dev=$2
	shift 2
	for a in "$@"; do
		case $a in *:*) ip -n "$ns" addr add "$a" dev "$dev" nodad ;; *) ip -n "$ns" addr add "$a" dev "$dev" ;; esac
	done
	ip -n "$ns" link set "$dev" up
}
# wait until every link in a namespace has its link-local address and no
# address is tentative (the kernel adds link-local addresses, and the
# multicast routes with them, shortly after the carrier comes up)
settle() {
	for _ in $(seq 100); do
		links=$(ip -n "$1" -o link show up | grep -vc LOOPBACK)
		ll=$(ip -n "$1" -o -6 addr show scope link | grep -vc tentative)
		ip -n "$1" -6 addr | grep -q tentative || [ "$ll" -lt "$links" ] || return 0
		sleep 0.1
	done
	echo "namespace $1 did not settle:"; ip -n "$1" -6 addr
}
# start "ns_peer serve" in a namespace and wait for its "ready" line
serve() {
	ns=$1 out=$2
	shift 2
	ip netns exec "$ns" "$peer" serve "$@" >"$out" 2>&1 &
	pids="$pids $!"
	for _ in $(seq 50); do grep -qs ready "$out" && return 0; sleep 0.1; done
	echo "server in $ns did not start:"; cat "$out"; exit 1
}
send() { ns=$1; shift; ip netns exec "$ns" "$peer" send "$@"; }

# ---------------------------------------------------------------- topology 1
mkns $srv; mkns $cli; mkns $cl2
ip link add s0 netns $srv type veth peer name c0 netns $cli
ip link add s1 netns $srv type veth peer name c0 netns $cl2
ip -n $srv addr add 2001:db8:1::1/64 dev s0 nodad
ip -n $srv addr add 2001:db8:1::2/64 dev s0 nodad
ip -n $srv addr add 192.0.2.1/24 dev s0
ip -n $srv addr add 192.0.2.2/24 dev s0
ip -n $srv addr add 2001:db8:2::1/64 dev s1 nodad
ip -n $srv addr add 198.51.100.1/24 dev s1
ip -n $cli addr add 2001:db8:1::10/64 dev c0 nodad
ip -n $cli addr add 192.0.2.10/24 dev c0
ip -n $cl2 addr add 2001:db8:2::10/64 dev c0 nodad
ip -n $cl2 addr add 198.51.100.10/24 dev c0
for l in s0 s1; do ip -n $srv link set $l up; done
ip -n $cli link set c0 up
ip -n $cl2 link set c0 up
settle $srv; settle $cli; settle $cl2

serve $srv "$tmp.srv" "[::]:5683" "ff02::fd%s0" "::ffff:224.0.1.187%s0"
for a in 2001:db8:1::1 2001:db8:1::2 192.0.2.1 192.0.2.2; do
	out=$(send $cli $a 5683 "hello $a")
	case $a in *:*) want="\[$a\]" ;; *) want="$a" ;; esac
	expect "multi-address: answer to $a comes from $a" "$out" "^reply from=$want data=hello $a\$"
	expect "multi-address: server saw local $a on s0, not multicast" "$(grep "data=hello $a\$" "$tmp.srv")" \
		"local=$a%s0 mcast=0 "
done
for a in 2001:db8:2::1 198.51.100.1; do
	out=$(send $cl2 $a 5683 "second $a")
	case $a in *:*) want="\[$a\]" ;; *) want="$a" ;; esac
	expect "multi-interface: answer to $a on s1 comes from $a" "$out" "^reply from=$want data=second $a\$"
	expect "multi-interface: server saw local $a on s1" "$(grep "data=second $a\$" "$tmp.srv")" "local=$a%s1 "
done

# ---------------------------------------------------------------- topology 2
srv_ll=$(ip -n $srv -6 addr show dev s0 scope link | sed -n 's/.*inet6 \(fe80::[^/]*\).*/\1/p')
out=$(send $cli "ff02::fd%c0" 5683 "mc6")
expect "multicast: ff02::fd%c0 answered from the server's unicast link-local" "$out" "^reply from=\[$srv_ll%c0\] data=mc6\$"
expect "multicast: server's pktinfo shows ff02::fd" "$(grep 'data=mc6$' "$tmp.srv")" "local=ff02::fd%s0 "
out=$(send $cli 224.0.1.187 5683 "mc4" c0)
expect "multicast: 224.0.1.187 via interface-only pktinfo answered from 192.0.2.x" "$out" "^reply from=192\.0\.2\.[12] data=mc4\$"
expect "multicast: server's pktinfo shows 224.0.1.187" "$(grep 'data=mc4$' "$tmp.srv")" "local=224\.0\.1\.187%s0 mcast=1 "

# IPv4 broadcast: handled like multicast, answered from a unicast address
out=$(send $cli 192.0.2.255 5683 "bc")
expect "broadcast: 192.0.2.255 answered from the server's unicast address" "$out" "^reply from=192\.0\.2\.[12] data=bc\$"
expect "broadcast: the server sees 192.0.2.255 as multicast locally" "$(grep 'data=bc$' "$tmp.srv")" \
	"local=192\.0\.2\.255%s0 mcast=1 "
out=$(send $cli 255.255.255.255 5683 "lbc" c0)
expect "broadcast: 255.255.255.255 answered from the server's unicast address" "$out" "^reply from=192\.0\.2\.[12] data=lbc\$"
expect "broadcast: the server sees 255.255.255.255 as multicast locally" "$(grep 'data=lbc$' "$tmp.srv")" \
	"local=255\.255\.255\.255%s0 mcast=1 "
expect "broadcast: no send error at the server" "$(grep -c 'send failed' "$tmp.srv")" "^0\$"

# multicast only where joined: the server on 5683 joined both groups on s0,
# a transport on 5690 joined nothing and hears neither
serve $srv "$tmp.nj" "[::]:5690"
out=$(send $cli "ff02::fd%c0" 5690 "nj6" - 500)
expect "multicast only where joined: no ff02::fd datagram for a transport that joined nothing" "$out" "^timeout\$"
out=$(send $cli 224.0.1.187 5690 "nj4" c0 500)
expect "multicast only where joined: no 224.0.1.187 datagram for a transport that joined nothing" "$out" "^timeout\$"
out=$(send $cli 2001:db8:1::1 5690 "nj")
expect "multicast only where joined: that transport still gets unicast" "$out" "^reply from=\[2001:db8:1::1\]:5690 data=nj\$"
expect "multicast only where joined: it saw exactly the unicast datagram" "$(grep -c '^rx' "$tmp.nj")" "^1\$"

# SO_REUSEPORT shards: shard 0 joins, shard 1 does not; four requesters per
# family (four source ports). IPv6: only the joined shard hears the group.
# IPv4: Linux's UDP early demux hands a multicast datagram from the wire to
# one socket of a reuseport group by hash, member or not (unless
# net.ipv4.udp_early_demux=0), so what holds there is one answer per
# request, from exactly one shard.
serve $srv "$tmp.sh0" -r "[::]:5691" "ff02::fd%s0" "::ffff:224.0.1.187%s0"
serve $srv "$tmp.sh1" -r "[::]:5691"
for i in 1 2 3 4; do
	out=$(send $cli "ff02::fd%c0" 5691 "sh6-$i")
	expect "shards: ff02::fd request $i answered" "$out" "^reply from=\[$srv_ll%c0\]:5691 data=sh6-$i\$"
	out=$(send $cli 224.0.1.187 5691 "sh4-$i" c0)
	expect "shards: 224.0.1.187 request $i answered" "$out" "^reply from=192\.0\.2\.[12]:5691 data=sh4-$i\$"
done
sleep 0.2
expect "shards: the joined shard saw all 4 ff02::fd requests" "$(grep -c '^rx .*data=sh6-' "$tmp.sh0")" "^4\$"
expect "shards: the other shard saw no ff02::fd request" "$(grep -c '^rx .*data=sh6-' "$tmp.sh1")" "^0\$"
for i in 1 2 3 4; do
	expect "shards: 224.0.1.187 request $i reached exactly one shard" \
		"$(cat "$tmp.sh0" "$tmp.sh1" | grep -c "^rx .*data=sh4-$i\$")" "^1\$"
done

# leave: after evudp6_transport_leave() the group's traffic stops arriving
# (other sockets on the host stay joined to the same groups)
serve $srv "$tmp.lv" "[::]:5692" "ff02::fd%s0" "::ffff:224.0.1.187%s0"
out=$(send $cli "ff02::fd%c0" 5692 "lv6")
expect "leave: before, ff02::fd arrives" "$out" "^reply from=\[$srv_ll%c0\]:5692 data=lv6\$"
out=$(send $cli 224.0.1.187 5692 "lv4" c0)
expect "leave: before, 224.0.1.187 arrives" "$out" "^reply from=192\.0\.2\.[12]:5692 data=lv4\$"
out=$(send $cli 2001:db8:1::1 5692 "leave")
expect "leave: both groups left with rc=OK" "$out" "^reply from=\[2001:db8:1::1\]:5692 data=left rc=OK\$"
out=$(send $cli "ff02::fd%c0" 5692 "gone6" - 500)
expect "leave: after, ff02::fd no longer arrives" "$out" "^timeout\$"
out=$(send $cli 224.0.1.187 5692 "gone4" c0 500)
expect "leave: after, 224.0.1.187 no longer arrives" "$out" "^timeout\$"
expect "leave: the server saw nothing after leaving" "$(grep -c 'data=gone' "$tmp.lv")" "^0\$"

# sendmsg's own error: no route at all in this namespace for this prefix
out=$(send $cli 2001:db8:99::1 5683 "noroute")
expect "send error: ENETUNREACH from sendmsg is reported for the remote" "$out" "^senderr err=ENETUNREACH remote=\[2001:db8:99::1\]\$"

# ---------------------------------------------------------------- topology 3
mkns $rtr; mkns $far
ip link add r0 netns $rtr type veth peer name c1 netns $cli
ip link add r1 netns $rtr type veth peer name f0 netns $far
ip -n $rtr addr add 2001:db8:a::1/64 dev r0 nodad
ip -n $rtr addr add 203.0.113.1/28 dev r0
ip -n $rtr addr add 2001:db8:f::1/64 dev r1 nodad
ip -n $rtr addr add 203.0.113.17/28 dev r1
ip -n $cli addr add 2001:db8:a::2/64 dev c1 nodad
ip -n $cli addr add 203.0.113.2/28 dev c1
ip -n $far addr add 2001:db8:f::2/64 dev f0 nodad
ip -n $far addr add 203.0.113.18/28 dev f0
for l in r0 r1; do ip -n $rtr link set $l up; done
ip -n $cli link set c1 up
ip -n $far link set f0 up
ip netns exec $rtr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip -n $cli route add 198.51.100.0/24 via 203.0.113.1
ip -n $cli route add 203.0.113.32/27 via 203.0.113.1
ip -n $cli -6 route add 2001:db8:9::/48 via 2001:db8:a::1
ip -n $cli -6 route add 2001:db8:f::/64 via 2001:db8:a::1
ip -n $far -6 route add default via 2001:db8:f::1
ip -n $far route add default via 203.0.113.17
ip -n $rtr -6 route add unreachable 2001:db8:9::/64
ip -n $rtr -6 route add blackhole 2001:db8:9:1::/64
ip -n $rtr route add unreachable 198.51.100.0/24
ip -n $rtr route add prohibit 203.0.113.32/27
settle $rtr; settle $cli; settle $far

out=$(send $cli 2001:db8:9::1 5683 "q6")
expect "router ICMPv6 no route: ENETUNREACH type 1 code 0 from the router" "$out" \
	"^icmp err=ENETUNREACH origin=3 type=1 code=0 offender=\[2001:db8:a::1\] remote=\[2001:db8:9::1\] quoted=q6\$"
out=$(send $cli 198.51.100.7 5683 "q4")
expect "router ICMP host unreachable: EHOSTUNREACH type 3 code 1 from the router" "$out" \
	"^icmp err=EHOSTUNREACH origin=2 type=3 code=1 offender=203\.0\.113\.1 remote=198\.51\.100\.7 quoted=q4\$"
out=$(send $cli 203.0.113.40 5683 "qp")
expect "router ICMP prohibited: EHOSTUNREACH type 3 code 13 from the router" "$out" \
	"^icmp err=EHOSTUNREACH origin=2 type=3 code=13 offender=203\.0\.113\.1 remote=203\.0\.113\.40 quoted=qp\$"
out=$(send $cli 2001:db8:9:1::1 5683 "bh" - 500)
expect "blackhole route: no error, the request times out" "$out" "^timeout\$"
# and through the router to a live host the same socket works
serve $far "$tmp.far" "[::]:5683"
out=$(send $cli 2001:db8:f::2 5683 "via router")
expect "routed unicast: answer from the far host" "$out" "^reply from=\[2001:db8:f::2\] data=via router\$"

# ---------------------------------------------------------------- topology 4
# acl sends from 203.0.113.10 / 2001:db8:c::10 (on its lo) to asv's address
# on link B (a2); asv's route back to those goes via link A (a1). The
# answer must follow that route: pinned to a2 it would wait for a neighbour
# that never answers there (acl answers ARP/ND only for addresses on the
# interface asked).
mkns $asv; mkns $acl
for n in $asv $acl; do
	ip netns exec $n sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.default.arp_ignore=1 \
		net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.default.arp_announce=2
done
ip link add a1 netns $asv type veth peer name b1 netns $acl
ip link add a2 netns $asv type veth peer name b2 netns $acl
up $asv a1 192.0.2.1/24 2001:db8:a1::1/64
up $asv a2 198.51.100.1/24 2001:db8:a2::1/64
up $acl b1 192.0.2.10/24 2001:db8:a1::10/64
up $acl b2 198.51.100.10/24 2001:db8:a2::10/64
up $acl lo 203.0.113.10/32 2001:db8:c::10/128
settle $asv; settle $acl
ip -n $acl route replace 198.51.100.0/24 dev b2 src 203.0.113.10
ip -n $acl -6 route replace 2001:db8:a2::/64 dev b2 src 2001:db8:c::10
ip -n $asv route add 203.0.113.10/32 via 192.0.2.10 dev a1
ip -n $asv -6 route add 2001:db8:c::10/128 via 2001:db8:a1::10 dev a1
serve $asv "$tmp.asv" "[::]:5683"
out=$(send $acl 198.51.100.1 5683 "asym4")
expect "asymmetric route: IPv4 answer from 198.51.100.1 returns via the routed interface" "$out" \
	"^reply from=198\.51\.100\.1 data=asym4\$"
expect "asymmetric route: the request did arrive on a2" "$(grep 'data=asym4$' "$tmp.asv")" \
	"from=203\.0\.113\.10:[0-9]+ local=198\.51\.100\.1%a2 "
out=$(send $acl 2001:db8:a2::1 5683 "asym6")
expect "asymmetric route: IPv6 answer from 2001:db8:a2::1 returns via the routed interface" "$out" \
	"^reply from=\[2001:db8:a2::1\] data=asym6\$"

echo "ns_transport: $passed passed, $failed failed"
[ "$failed" = 0 ]
