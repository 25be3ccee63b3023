#!/bin/sh
# evudp6-probe diagnoses where routing is involved, in network namespaces
# (root only), documentation prefixes only:
#   1. a server that answers from another of its addresses than the one
#      asked: the probe names both, at once;
#   2. a name whose first address is refused or has no route falls back to
#      the next one, saying so (names from the namespace's hosts file);
#   3. link-local and multicast destinations without a zone or -I.
set -u
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: probe_ns_diag needs root for network namespaces"
	exit 77
fi
if ! command -v ip >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: probe_ns_diag needs iproute2 (ip) and python3"
	exit 77
fi
probe=$(cd "${top_builddir:-.}/tools" && pwd)/evudp6-probe
p=e6d$$
srv=${p}srv cli=${p}cli
tmp=$(mktemp -d /tmp/probe_ns_diag.XXXXXX)
pids=
cleanup() {
	for pid in $pids; do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	for n in $srv $cli; do ip netns del "$n" 2>/dev/null; done
	rm -rf "/etc/netns/$cli" "$tmp"
	rmdir /etc/netns 2>/dev/null
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
	ip netns add "$1" || { echo "SKIP: cannot create a network namespace"; exit 77; }
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
}

# Resolution in the client namespace: only its own hosts file (ip netns
# exec mounts /etc/netns/NS/hosts over /etc/hosts) and a name server
# nobody runs.
mkdir -p "/etc/netns/$cli"
cat >"/etc/netns/$cli/hosts" <<'HOSTS'
::1 dual.test
127.0.0.1 dual.test
2001:db8:9::1 far.test
198.51.100.1 far.test
HOSTS
echo "nameserver 127.0.0.1" >"/etc/netns/$cli/resolv.conf"

mkns $srv
mkns $cli
ip link add s0 netns $srv type veth peer name c0 netns $cli
for a in 2001:db8:2::1/64 2001:db8:2::2/64; do ip -n $srv addr add $a dev s0 nodad; done
ip -n $srv addr add 198.51.100.1/24 dev s0
ip -n $cli addr add 2001:db8:2::10/64 dev c0 nodad
ip -n $cli addr add 198.51.100.10/24 dev c0
ip -n $srv link set s0 up
ip -n $cli link set c0 up
settle $srv
settle $cli

# ------------------------------------------------ 1. answers from another address
# Receives on 2001:db8:2::1, answers (piggybacked 2.05) from 2001:db8:2::2.
ip netns exec $srv python3 -c '
import socket, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("2001:db8:2::1", 5683))
o = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
o.bind(("2001:db8:2::2", 5683))
print("ready", flush=True)
s.settimeout(0.5)
end = time.time() + 600
while time.time() < end:
    try:
        d, a = s.recvfrom(2048)
    except socket.timeout:
        continue
    tkl = d[0] & 15
    o.sendto(bytes([0x60 | tkl, 0x45, d[2], d[3]]) + d[4:4 + tkl] + b"\xffhi", a)
' >"$tmp/other" 2>&1 &
pids="$pids $!"
for _ in $(seq 50); do grep -q ready "$tmp/other" && break; sleep 0.1; done

run $cli "server answering from another address" 3 "coap://[2001:db8:2::1]/x"
expect "the probe names the address that answered and the one asked" "$out" \
	'^\[2001:db8:2::1\]: a response with our token came from 2001:db8:2::2, not from 2001:db8:2::1 that was asked \(2\.05 Content\) after [0-9.]+ ms$'
run $cli "server answering from another address, JSON" 3 --json "coap://[2001:db8:2::1]/x"
expect "JSON: kind wrong_source with the message" "$out" \
	'"kind":"wrong_source".*"message":"a response with our token came from 2001:db8:2::2, not from 2001:db8:2::1 that was asked \(2\.05 Content\)"'
# ------------------------------------------------ 2. fallback to the next address
# dual.test is ::1 and 127.0.0.1; the server listens on 127.0.0.1 only,
# so ::1 answers with ICMPv6 port unreachable.
: >"$tmp/v4srv"
ip netns exec $cli "$probe" --listen --json -T 600 "127.0.0.1:5683" >"$tmp/v4srv" 2>&1 &
pids="$pids $!"
for _ in $(seq 50); do grep -q '"listening"' "$tmp/v4srv" && break; sleep 0.1; done
run $cli "refused on ::1, answered on 127.0.0.1" 0 "coap://dual.test/hello"
expect "fallback: says why and where it goes next" "$out" \
	'^\[::1\]: Connection refused \(ICMPv6 port unreachable from ::1\); trying the next address, 127\.0\.0\.1$'
expect "fallback: the answer comes from 127.0.0.1" "$out" '^2\.05 Content from 127\.0\.0\.1 in '
run $cli "fallback, JSON" 0 --json "coap://dual.test/hello"
expect "JSON fallback event before the response" "$(printf '%s\n' "$out" | sed -n 1p)" \
	'^\{"event":"fallback","uri":"coap://dual\.test/hello","failed":"\[::1\]","reason":"Connection refused \(ICMPv6 port unreachable from ::1\)","next":"127\.0\.0\.1"\}$'
expect "JSON response from 127.0.0.1" "$(printf '%s\n' "$out" | sed -n 2p)" '"event":"response".*"from":"127\.0\.0\.1"'
# far.test is 2001:db8:9::1 (no route here) and 198.51.100.1 (the server's).
ip netns exec $srv "$probe" --listen -T 600 "198.51.100.1:5683" >/dev/null 2>&1 &
pids="$pids $!"
sleep 0.3
run $cli "no route to the IPv6 address, the IPv4 one answers" 0 "coap://far.test/hello"
expect "no route: said, then the next address" "$out" \
	'^\[2001:db8:9::1\]: no route; trying the next address, 198\.51\.100\.1$'
expect "no route: answered by 198.51.100.1" "$out" '^2\.05 Content from 198\.51\.100\.1 in '
run $cli "a literal does not fall back" 3 "coap://[::1]/hello"

# ------------------------------------------------ 3. link-local destinations
: >"$tmp/srvlog"
ip netns exec $srv "$probe" --listen --json -T 600 "[::]:5684" >"$tmp/srvlog" 2>&1 &
pids="$pids $!"
for _ in $(seq 50); do grep -q '"listening"' "$tmp/srvlog" && break; sleep 0.1; done
ll=$(ip -n $srv -6 addr show dev s0 scope link | sed -n 's/.*inet6 \(fe80::[^/]*\).*/\1/p' | head -n 1)
run $cli "link-local without a zone or -I" 64 "coap://[$ll]:5684/whoami"
expect "link-local: says it needs %IF or -I IF" "$out" "$ll is a link-local address: it needs %IF in the URI or -I IF"
run $cli "link-local with -I c0" 0 -I c0 "coap://[$ll]:5684/whoami"
expect "link-local -I c0: answered from the link-local address on c0" "$out" "^2\.05 Content from \[$ll%c0\]"
run $cli "link-local with %c0" 0 "coap://[$ll%c0]:5684/whoami"
run $cli "link-local with %nosuchif" 64 "coap://[$ll%nosuchif]:5684/whoami"

echo "probe_ns_diag: $passed passed, $failed failed"
[ "$failed" = 0 ]
