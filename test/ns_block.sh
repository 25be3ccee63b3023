#!/bin/sh
# Block-wise transfer and the path MTU, in network namespaces (root only),
# documentation prefixes only: cli -- rtr -- srv, the probe in cli, the
# probe's --listen in srv.
#   IPv6, links of 1280 (its minimum): 1024-byte blocks fit any IPv6
#         path, nothing is lowered;
#   IPv4 upload, the router's link toward srv at 576: block 0 (1024 bytes)
#         meets "fragmentation needed" from the router; the messenger sends
#         it again at once (the kernel fragments it now) and the block
#         layer goes on in blocks that fit the MTU the error gives (256);
#   IPv4 download, the router's link toward cli at 576: block 0 (1024
#         bytes, piggybacked) meets "fragmentation needed"; the error is
#         vetted against the cached answer, which goes again at once as
#         block 0 of 512 (no retransmission by the client), and the block
#         server lowers its blocks for the client to 512: every block of
#         the body arrives in 512, none needed IP fragmentation.
set -u
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: ns_block needs root for network namespaces"
	exit 77
fi
if ! command -v ip >/dev/null 2>&1; then
	echo "SKIP: ns_block needs iproute2 (ip)"
	exit 77
fi
probe=$(cd "${top_builddir:-.}/tools" && pwd)/evudp6-probe
p=e6k$$
cli=${p}cli rtr=${p}rtr srv=${p}srv
tmp=$(mktemp -d /tmp/ns_block.XXXXXX)
pids=
cleanup() {
	for pid in $pids; do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	for n in $cli $rtr $srv; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "PASS: $1"; }
bad() { failed=$((failed + 1)); echo "FAIL: $1"; shift; for l in "$@"; do echo "      $l"; done; }
expect() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then ok "$1"; else bad "$1" "wanted: $3" "got:    $2"; fi
}
reject() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then bad "$1" "unwanted: $3" "got:    $2"; else ok "$1"; fi
}
same() {
	if cmp -s "$2" "$3"; then ok "$1"; else bad "$1" "sizes: $(wc -c <"$2") $(wc -c <"$3")"; fi
}
# run NAME WANT_CODE ARGS...: the probe in cli, stdout in $tmp/out, both in $out
run() {
	name=$1 want=$2
	shift 2
	ip netns exec "$cli" timeout 30 "$probe" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	code=$?
	out=$(cat "$tmp/out" "$tmp/err" | grep -av '^[0-9a-f]\{8\}  ')
	if [ "$code" = "$want" ]; then ok "$name: exit $want"; else bad "$name: exit $want" "got $code" "$out"; fi
}
for n in $cli $rtr $srv; do
	ip netns add "$n" || exit 1
	ip netns exec "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ip -n "$n" link set lo up
done
ip link add c0 netns "$cli" type veth peer name r0 netns "$rtr" || exit 1
ip link add r1 netns "$rtr" type veth peer name s0 netns "$srv" || exit 1
ip -n "$cli" addr add 192.0.2.2/24 dev c0
ip -n "$cli" addr add 2001:db8:1::2/64 dev c0 nodad
ip -n "$cli" link set c0 up
ip -n "$cli" route add default via 192.0.2.1
ip -n "$cli" -6 route add default via 2001:db8:1::1
ip -n "$rtr" addr add 192.0.2.1/24 dev r0
ip -n "$rtr" addr add 2001:db8:1::1/64 dev r0 nodad
ip -n "$rtr" addr add 198.51.100.1/24 dev r1
ip -n "$rtr" addr add 2001:db8:2::1/64 dev r1 nodad
ip -n "$rtr" link set r0 up
ip -n "$rtr" link set r1 mtu 1280 up
ip -n "$srv" addr add 198.51.100.2/24 dev s0
ip -n "$srv" addr add 2001:db8:2::2/64 dev s0 nodad
ip -n "$srv" link set s0 mtu 1280 up
ip -n "$srv" route add default via 198.51.100.1
ip -n "$srv" -6 route add default via 2001:db8:2::1
ip netns exec "$rtr" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

ip netns exec "$srv" "$probe" --listen --json -T 60 '[::]:5683' >"$tmp/srv" 2>&1 &
pids="$pids $!"
for _ in $(seq 50); do grep -q '"listening"' "$tmp/srv" && break; sleep 0.1; done
head -c 6000 /dev/urandom >"$tmp/up.bin"

# IPv6 first: the link has 1280 (the IPv6 minimum), more than any block message
run "IPv6 PUT of 6000 bytes across an MTU 1280 link" 0 -T 20 -m PUT -e "@$tmp/up.bin" "coap://[2001:db8:2::2]/echo"
expect "IPv6: 1024-byte blocks went through" "$out" "6000 bytes up in 6 blocks \(last size 1024\)"
reject "IPv6: nothing lowered" "$out" "lowered"

# IPv4: 576 on the router's link toward srv (this ends IPv6 on that link)
ip -n "$rtr" link set r1 mtu 576
ip -n "$srv" link set s0 mtu 576
run "IPv4 PUT of 6000 bytes across an MTU 576 link" 0 -T 20 -m PUT -e "@$tmp/up.bin" coap://198.51.100.2/echo
expect "IPv4 upload: 1024 once, then 256 for the path MTU" "$out" \
	"6000 bytes up in 21 blocks \(last size 256\).*block size lowered 1 time for the path MTU"
run "IPv4 GET /echo" 0 -q -T 20 coap://198.51.100.2/echo
same "IPv4: the upload reads back identical" "$tmp/out" "$tmp/up.bin"

# the small MTU toward the client instead: the server's answers meet it
ip -n "$rtr" link set r1 mtu 1500
ip -n "$srv" link set s0 mtu 1500
ip -n "$rtr" link set r0 mtu 576
ip -n "$cli" link set c0 mtu 576
# from a fresh client address: nothing known yet about its path, neither in
# the server's kernel nor in its block server
ip -n "$cli" addr add 192.0.2.3/24 dev c0
ip -n "$cli" route replace default via 192.0.2.1 src 192.0.2.3
frag0=$(ip netns exec "$srv" nstat -asz IpFragCreates | awk '/IpFragCreates/ {print $2}')
i=0
while [ $i -lt 256 ]; do printf 'evudp6 large resource line %04d\n' $i; i=$((i + 1)); done >"$tmp/large.want"
run "IPv4 GET /large across an MTU 576 link toward the client" 0 -T 20 -o "$tmp/large.got" coap://198.51.100.2/large
same "IPv4 download: the body arrives whole" "$tmp/large.got" "$tmp/large.want"
expect "IPv4 download: the server answered every block in 512 for the path MTU" "$out" \
	"8192 bytes down in 16 blocks of 512"
reject "IPv4 download: the first block went again at once, smaller, not on a retransmission" "$out" \
	"retransmission"
frag1=$(ip netns exec "$srv" nstat -asz IpFragCreates | awk '/IpFragCreates/ {print $2}')
expect "IPv4 download: no block needed IP fragmentation" "fragments made: $((${frag1:-0} - ${frag0:-0}))" "^fragments made: 0$"


echo "ns_block: $passed passed, $failed failed"
[ "$failed" = 0 ]
