#!/bin/sh
# evudp6-probe --listen --fd 3 on a socket bound with SO_BINDTODEVICE
# (root only): in a namespace with two interfaces it answers IPv6 and IPv4
# on its device, and the other interface gets ICMP port unreachable, as
# no socket listens there. Documentation prefixes only.
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

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
