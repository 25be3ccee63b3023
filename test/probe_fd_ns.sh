#!/bin/sh
# evudp6-probe --listen --fd 3 on a socket bound with SO_BINDTODEVICE
# (root only): in a namespace with two interfaces it answers IPv6 and IPv4
# on its device, and the other interface gets ICMP port unreachable, as
# no socket listens there; on a socket marked with SO_MARK its answers
# follow the policy route of that mark. Documentation prefixes only.
set -u
probe=$(cd "${top_builddir:-.}/tools" && pwd)/evudp6-probe
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null 2>&1; then
	echo "SKIP: probe_fd_ns needs root and iproute2 for network namespaces"
	exit 77
fi
if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: probe_fd_ns needs python3 (to make and hand over the sockets)"
	exit 77
fi
p=e6fd$$
srv=${p}srv cli=${p}cli
tmp=$(mktemp -d /tmp/probe_fd.XXXXXX)
pids=
cleanup() {
	for pid in $pids; do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	for n in $srv $cli; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

. "${top_srcdir:-.}/test/probe_fd_lib.sh"

# ------------------------------------------------ 4. SO_BINDTODEVICE (root)
for n in $srv $cli; do
	ip netns add "$n" || exit 1
	ip netns exec "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ip -n "$n" link set lo up
done
ip link add s0 netns $srv type veth peer name c0 netns $cli
ip link add s1 netns $srv type veth peer name c1 netns $cli
ip -n $srv addr add 2001:db8:3::1/64 dev s0 nodad
ip -n $srv addr add 198.51.100.1/24 dev s0
ip -n $srv addr add 2001:db8:4::1/64 dev s1 nodad
ip -n $srv addr add 203.0.113.1/24 dev s1
ip -n $cli addr add 2001:db8:3::10/64 dev c0 nodad
ip -n $cli addr add 198.51.100.10/24 dev c0
ip -n $cli addr add 2001:db8:4::10/64 dev c1 nodad
ip -n $cli addr add 203.0.113.10/24 dev c1
for l in s0 s1; do ip -n $srv link set $l up; done
for l in c0 c1; do ip -n $cli link set $l up; done
if serve "SO_BINDTODEVICE s0" "$tmp/s4" ip netns exec $srv python3 "$handover" "$tmp/p4" dev:s0 \
	"$probe" --listen --json -T 60 --fd 3; then
	for a in 2001:db8:3::1 198.51.100.1; do
		case $a in *:*) h="[$a]" ;; *) h=$a ;; esac
		hr=$(printf '%s' "$h" | sed 's/[].[]/\\&/g')
		run "bound to s0: who am I via $a" 0 ip netns exec $cli "$probe" "coap://$h/whoami"
		expect "bound to s0: $a answered on s0" "$out" "you asked $hr on s0"
	done
	run "bound to s0: nothing listens on s1 (IPv6)" 3 ip netns exec $cli "$probe" -T 5 "coap://[2001:db8:4::1]/whoami"
	expect "s1 IPv6: port unreachable from the server" "$out" "Connection refused \(ICMPv6 port unreachable from 2001:db8:4::1\)"
	run "bound to s0: nothing listens on s1 (IPv4)" 3 ip netns exec $cli "$probe" -T 5 "coap://203.0.113.1/whoami"
	expect "s1 IPv4: port unreachable from the server" "$out" "Connection refused \(ICMP port unreachable from 203\.0\.113\.1\)"
fi

# ------------------------------------------------ 5. SO_MARK (root)
# cli talks from addresses srv has no route to in its main table, only in
# table 100, which a policy rule gives packets marked 7. A server on a
# socket marked 7 answers them; one on an unmarked socket cannot (its
# answer is refused, "Network is unreachable", and the client times out).
ip -n $cli addr add 2001:db8:6::10/128 dev c0 nodad
ip -n $cli -6 route add 2001:db8:3::/64 dev c0 src 2001:db8:6::10 metric 10
ip -n $cli addr add 192.0.2.10/32 dev c0
ip -n $cli route add 198.51.100.1/32 dev c0 src 192.0.2.10
ip -n $srv -6 rule add fwmark 7 table 100
ip -n $srv -6 route add 2001:db8:6::/64 dev s0 table 100
ip -n $srv rule add fwmark 7 table 100
ip -n $srv route add 192.0.2.0/24 dev s0 table 100
ip netns exec $srv sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.s0.rp_filter=0
if serve "SO_MARK 7" "$tmp/s5" ip netns exec $srv python3 "$handover" "$tmp/p5" mark:7 \
	"$probe" --listen --json -T 60 --fd 3 &&
	serve "no mark" "$tmp/s6" ip netns exec $srv python3 "$handover" "$tmp/p6" udp \
		"$probe" --listen --json -T 60 --fd 3; then
	marked=$(cat "$tmp/p5") plain=$(cat "$tmp/p6")
	for a in 2001:db8:3::1 198.51.100.1; do
		case $a in *:*) h="[$a]" s=2001:db8:6::10 ;; *) h=$a s=192.0.2.10 ;; esac
		hr=$(printf '%s' "$h" | sed 's/[].[]/\\&/g')
		run "marked socket: who am I via $a" 0 ip netns exec $cli "$probe" "coap://$h:$marked/whoami"
		expect "marked socket: $a answered $s by the mark's route" "$out" \
			"you are \\[?$s\\]?:[0-9]+, you asked $hr:$marked on s0"
		run "unmarked socket: $a cannot answer $s" 2 ip netns exec $cli "$probe" -T 2 "coap://$h:$plain/whoami"
	done
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
