#!/bin/sh
# Route checks of the resolver in a network namespace that has only IPv4
# routes: 192.0.2.2/24 on a veth, default route via 192.0.2.1, lo up with
# fe80::2/64 (so fe80::1%lo has a route) and no IPv6 route elsewhere.
# Runs test/check_resolve there with EVUDP6_RESOLVE_NS=1.
# Needs root and iproute2; exits 77 (skip) with the reason otherwise.

skip() {
	echo "SKIP: $*"
	exit 77
}

top_builddir=${top_builddir:-.}
bin="$top_builddir/test/check_resolve"

[ "$(id -u)" = 0 ] || skip "network namespaces need root"
command -v ip >/dev/null 2>&1 || skip "ip (iproute2) not installed"
[ -x "$bin" ] || skip "$bin not built"

ns="evudp6-res-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
peer="${ns}-gw"

cleanup() {
	ip netns del "$ns" 2>/dev/null
	ip netns del "$peer" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

ip netns add "$ns" || skip "cannot create a network namespace"
ip netns add "$peer" || skip "cannot create a network namespace"
ip link add v0 netns "$ns" type veth peer name v1 netns "$peer" || skip "cannot create a veth pair"

set -e
# IPv4 only on the veth: no link-local IPv6 there either.
ip netns exec "$ns" sysctl -qw net.ipv6.conf.v0.disable_ipv6=1
ip -n "$ns" link set lo up
ip -n "$ns" link set v0 up
ip -n "$ns" addr add 192.0.2.2/24 dev v0
ip -n "$ns" route add default via 192.0.2.1
ip -n "$ns" -6 addr add fe80::2/64 dev lo nodad
ip -n "$peer" link set v1 up
ip -n "$peer" addr add 192.0.2.1/24 dev v1
set +e

# The premise of the tests: IPv4 and fe80::/64 on lo are routed, the
# documentation IPv6 prefix is not.
ip -n "$ns" route get 192.0.2.1 >/dev/null 2>&1 || { echo "FAIL: no IPv4 route in $ns"; exit 1; }
if ip -n "$ns" -6 route get 2001:db8::1 >/dev/null 2>&1; then
	echo "FAIL: $ns unexpectedly has a route to 2001:db8::1"
	exit 1
fi

EVUDP6_RESOLVE_NS=1 ip netns exec "$ns" "$bin"
