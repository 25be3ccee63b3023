#!/bin/sh
# Network-namespace suite for the message layer (root only).
#
# Topology: one namespace holds a bridge; a requester and three responders
# hang off it, each in its own namespace, each on one veth:
#
#     req  2001:db8:1::10  192.0.2.10 ─┐
#     r1   2001:db8:1::1   192.0.2.1  ─┤ br0 (in namespace "br")
#     r2   2001:db8:1::2   192.0.2.2  ─┤
#     r3   2001:db8:1::3   192.0.2.3  ─┘
#
# Client side: a NON request to ff02::fd%e0 and to 224.0.1.187 (interface
# picked by an interface-only local part) gets three responses, each from
# its responder's own unicast address; a CON request to a group is refused.
# Server side: the answers to multicast requests leave from a unicast
# address within the leisure; error answers to multicast requests are
# suppressed; a unicast request is answered from the address it reached;
# a NON to the IPv4 broadcast address is answered like a multicast one.
# Only documentation prefixes are used. Exit 77 (SKIP) when not root.
set -u
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: ns_messenger needs root for network namespaces"
	exit 77
fi
for tool in ip sysctl; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "SKIP: ns_messenger needs $tool (iproute2, procps)"
		exit 77
	fi
done
peer=${top_builddir:-.}/test/messenger_peer
if [ ! -x "$peer" ]; then
	echo "FAIL: $peer not built"
	exit 1
fi
p=e6m$$
br=${p}br req=${p}req r1=${p}r1 r2=${p}r2 r3=${p}r3
tmp=$(mktemp -d /tmp/ns_messenger.XXXXXX)
pids=
cleanup() {
	for pid in $pids; do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	for n in $req $r1 $r2 $r3 $br; do ip netns del "$n" 2>/dev/null; done
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
# check NAME CONDITION-STATUS OUTPUT
check() {
	if [ "$2" = 0 ]; then ok "$1"; else bad "$1" "$3"; fi
}

mkns() {
	ip netns add "$1" || exit 1
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ip -n "$1" link set lo up
}
# Wait until link-local addresses exist (the kernel adds them, and the
# ff02::/16 routes with them, shortly after the link comes up).
settle() {
	for _ in $(seq 100); do
		ip -n "$1" -6 addr show dev e0 scope link | grep -q 'inet6 fe80' && return 0
		sleep 0.1
	done
	echo "namespace $1 has no link-local address:"
	ip -n "$1" -6 addr
	exit 1
}
linklocal() { ip -n "$1" -6 addr show dev e0 scope link | sed -n 's/.*inet6 \(fe80[^/]*\)\/.*/\1/p' | head -n 1; }

mkns $br
ip -n $br link add br0 type bridge
# No MLD/IGMP snooping: there is no querier, so just flood the groups.
ip -n $br link set br0 type bridge mcast_snooping 0
ip -n $br link set br0 up
i=0
for n in $req $r1 $r2 $r3; do
	mkns "$n"
	ip link add "p$i$p" netns $br type veth peer name e0 netns "$n"
	ip -n $br link set "p$i$p" master br0 up
	i=$((i + 1))
done
ip -n $req addr add 2001:db8:1::10/64 dev e0 nodad
ip -n $req addr add 192.0.2.10/24 dev e0
for k in 1 2 3; do
	eval n=\$r$k
	ip -n "$n" addr add 2001:db8:1::$k/64 dev e0 nodad
	ip -n "$n" addr add 192.0.2.$k/24 dev e0
done
for n in $req $r1 $r2 $r3; do
	ip -n "$n" link set e0 up
done
for n in $req $r1 $r2 $r3; do settle "$n"; done

# Responders: all three join both groups on e0, leisure 400 ms.
LEISURE=400
for k in 1 2 3; do
	eval n=\$r$k
	ip netns exec "$n" "$peer" server -b '[::]' -j 'ff02::fd%e0' -j '224.0.1.187%e0' -l $LEISURE -n "r$k" \
		>"$tmp/r$k.out" 2>&1 &
	pids="$pids $!"
done
for k in 1 2 3; do
	for _ in $(seq 50); do grep -q '^ready' "$tmp/r$k.out" && break; sleep 0.1; done
	grep -q '^ready 5683$' "$tmp/r$k.out" || { echo "responder r$k did not start:"; cat "$tmp/r$k.out"; exit 1; }
done
client() { ip netns exec $req "$peer" client "$@" 2>&1; }

# responses OUTPUT: "NAME ADDRESS MS" per response line, sorted by name
responses() {
	printf '%s\n' "$1" | sed -n 's/^response 2\.05 Content from \(.*\) after \([0-9]*\) ms type NON payload hello from \(r[0-9]\)$/\3 \1 \2/p' | sort
}

# ------------------------------------------------------------ 5. multicast client
all=
for fam in 6 4; do
	if [ $fam = 6 ]; then group='ff02::fd%e0'; else group='224.0.1.187%e0'; fi
	out=$(client -N -w 1500 "$group" 5683 hello)
	got=$(responses "$out")
	want=
	for k in 1 2 3; do
		eval n=\$r$k
		if [ $fam = 6 ]; then addr="[$(linklocal "$n")%e0]"; else addr=192.0.2.$k; fi
		want="${want}r$k $addr
"
	done
	names=$(printf '%s\n' "$got" | cut -d' ' -f1,2)
	[ "$names" = "$(printf '%s' "$want")" ]
	check "IPv$fam: a NON to $group gets three responses, each from its responder's unicast address" $? \
		"wanted:
$want" "got:
$out"
	printf '%s\n' "$out" | grep -q '^end EVUDP6_E_TIMEOUT after 1[5-9][0-9][0-9] ms'
	check "IPv$fam: the multicast request ends when its wait (1500 ms) is over" $? "$out"
	late=$(printf '%s\n' "$got" | awk -v l=$LEISURE '$3 > l + 150 { print }')
	[ -z "$late" ] && [ -n "$got" ]
	check "IPv$fam: every response came within the leisure ($LEISURE ms, + 150 ms slack)" $? "$got"
	all="$all$got
"
done
# Six answers drawn from [0, 400] ms all below 40 ms: one in a million.
latest=$(printf '%s' "$all" | awk '$3 > m { m = $3 } END { print m + 0 }')
[ "$latest" -ge 40 ]
check "the leisure spreads the answers (latest after $latest ms)" $? "$all"


out=$(client 'ff02::fd%e0' 5683 hello)
[ "$out" = "refused EVUDP6_E_MULTICAST_CON" ]
check "a CON request to ff02::fd is refused" $? "$out"
out=$(client '224.0.1.187%e0' 5683 hello)
[ "$out" = "refused EVUDP6_E_MULTICAST_CON" ]
check "a CON request to 224.0.1.187 is refused" $? "$out"

# ------------------------------------------------------------ 6. multicast server
for fam in 6 4; do
	if [ $fam = 6 ]; then group='ff02::fd%e0'; else group='224.0.1.187%e0'; fi
	out=$(client -N -w 1000 "$group" 5683 missing)
	! printf '%s\n' "$out" | grep -q '^response' && printf '%s\n' "$out" | grep -q '^end EVUDP6_E_TIMEOUT'
	check "IPv$fam: a 4.04 to a multicast request is suppressed by all three responders" $? "$out"
	out=$(client -N -w 1000 "$group" 5683 error)
	! printf '%s\n' "$out" | grep -q '^response' && printf '%s\n' "$out" | grep -q '^end EVUDP6_E_TIMEOUT'
	check "IPv$fam: a 5.00 to a multicast request is suppressed" $? "$out"
done
# Each responder logged the multicast requests as such, reaching the group.
for k in 1 2 3; do
	n6=$(grep -c '^request GET /hello from .* to \[ff02::fd%e0\] mcast=1$' "$tmp/r$k.out")
	n4=$(grep -c '^request GET /hello from .* to 224\.0\.1\.187 mcast=1$' "$tmp/r$k.out")
	[ "$n6" = 1 ] && [ "$n4" = 1 ]
	check "r$k saw one multicast GET /hello per family, sent to the group" $? "$(cat "$tmp/r$k.out")"
done

# Unicast: answered from exactly the address asked, as a piggybacked ACK.
for k in 1 2 3; do
	out=$(client "2001:db8:1::$k" 5683 whoami)
	printf '%s\n' "$out" | grep -q "^response 2\.05 Content from \[2001:db8:1::$k\] after [0-9]* ms type ACK payload you are \[2001:db8:1::10\]:[0-9]*, you reached \[2001:db8:1::$k\]$"
	check "unicast CON to 2001:db8:1::$k is answered from it" $? "$out"
	out=$(client -N "192.0.2.$k" 5683 whoami)
	printf '%s\n' "$out" | grep -q "^response 2\.05 Content from 192\.0\.2\.$k after [0-9]* ms type NON payload you are 192\.0\.2\.10:[0-9]*, you reached 192\.0\.2\.$k$"
	check "unicast NON to 192.0.2.$k is answered from it, as NON" $? "$out"
done
# A separate response (the handler answers after 300 ms) across namespaces.
out=$(client "2001:db8:1::2" 5683 slow)
printf '%s\n' "$out" | grep -q '^response 2\.05 Content from \[2001:db8:1::2\] after [0-9]* ms type CON payload slow from r2$'
check "a slow handler's answer arrives as a separate CON response" $? "$out"

# ------------------------------------------------------------ 7. IPv4 broadcast
# A NON GET /hello (message id 0xbc01, token 0x42) to the subnet's broadcast
# address is handled like a multicast request: each responder answers with
# a NON 2.05 carrying the token, from its own unicast address (never from
# 192.0.2.255), and logs it as multicast.
nsp=${top_builddir:-.}/test/ns_peer
out=$(ip netns exec $req "$nsp" send 192.0.2.255 5683 hex:5101bc0142b568656c6c6f - 1500 2>&1)
printf '%s\n' "$out" | grep -Eq '^reply from=192\.0\.2\.[123] hex=5145[0-9a-f]{4}42[0-9a-f]*$'
check "a NON to 192.0.2.255 is answered (NON 2.05, its token) from a responder's unicast address" $? "$out"
sleep 0.6
for k in 1 2 3; do
	n=$(grep -c '^request GET /hello from 192\.0\.2\.10:[0-9]* to 192\.0\.2\.255 mcast=1$' "$tmp/r$k.out")
	[ "$n" = 1 ]
	check "r$k saw the broadcast GET /hello once, as multicast" $? "$(cat "$tmp/r$k.out")"
done

# Stop the responders and read their counters: suppressed = 2 per family.
for pid in $pids; do kill "$pid"; done
wait
pids=
for k in 1 2 3; do
	grep -q '^stats requests=[0-9]* responses=[0-9]* suppressed=4 duplicates=0$' "$tmp/r$k.out"
	check "r$k counted its 4 suppressed error responses" $? "$(tail -n 1 "$tmp/r$k.out")"
done

echo "ns_messenger: $passed passed, $failed failed"
[ $failed = 0 ]
