#!/bin/sh
# Interop with libcoap 4.3.1 (Debian libcoap3-bin), both ways:
#   1. coap-client-notls (CON and NON, IPv6 and IPv4, piggybacked and
#      separate responses) against a messenger server;
#   2. a messenger client against coap-server-notls;
#   3. coap-client-notls -N multicast discovery of a messenger server in a
#      network namespace: with the argument "multicast" (that is
#      test/interop_libcoap_multicast.sh), root only.
# coap-client exits 0 even after a timeout, so only its output counts.
# Exit 77 (SKIP) when the libcoap binaries are missing, or for part 3
# without root and iproute2.
set -u
part=${1:-unicast}
if [ "$part" = multicast ] && { [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null 2>&1; }; then
	echo "SKIP: interop_libcoap multicast discovery needs root and iproute2 for network namespaces"
	exit 77
fi
for b in coap-client-notls coap-server-notls timeout; do
	if ! command -v $b >/dev/null 2>&1; then
		echo "SKIP: interop_libcoap needs $b (apt-get install libcoap3-bin coreutils)"
		exit 77
	fi
done
peer=${top_builddir:-.}/test/messenger_peer
if [ ! -x "$peer" ]; then
	echo "FAIL: $peer not built"
	exit 1
fi
tmp=$(mktemp -d /tmp/interop_libcoap.XXXXXX)
p=e6i$$
req=${p}req srv=${p}srv
pids=
cleanup() {
	for pid in $pids; do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	if [ "$(id -u)" = 0 ]; then
		ip netns del $req 2>/dev/null
		ip netns del $srv 2>/dev/null
	fi
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
# expect NAME OUTPUT EXTENDED-REGEX (one line of OUTPUT must match)
expect() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then ok "$1"; else bad "$1" "wanted: $3" "got:    $2"; fi
}
# start_server OUT CMD...: start a messenger_peer server, wait for "ready PORT"
start_peer() {
	out=$1
	shift
	"$@" >"$out" 2>&1 &
	pids="$pids $!"
	for _ in $(seq 50); do grep -q '^ready' "$out" && return 0; sleep 0.1; done
	echo "server did not start:"
	cat "$out"
	exit 1
}
cc() { timeout 20 coap-client-notls -B 3 "$@" 2>&1; }

# ------------------------------------------------------------ 3. multicast discovery
# (run as "interop_libcoap.sh multicast", by test/interop_libcoap_multicast.sh)
multicast_part() {
	for n in $req $srv; do
		ip netns add $n
		ip netns exec $n sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
		ip -n $n link set lo up
	done
	ip link add e0 netns $req type veth peer name e0 netns $srv
	ip -n $req addr add 2001:db8:5::10/64 dev e0 nodad
	ip -n $req addr add 192.0.2.10/24 dev e0
	ip -n $srv addr add 2001:db8:5::1/64 dev e0 nodad
	ip -n $srv addr add 192.0.2.1/24 dev e0
	ip -n $req link set e0 up
	ip -n $srv link set e0 up
	ip -n $req route add 224.0.0.0/4 dev e0
	for n in $req $srv; do
		for _ in $(seq 100); do
			ip -n $n -6 addr show dev e0 scope link | grep -q 'inet6 fe80' && break
			sleep 0.1
		done
	done
	start_peer "$tmp/mc.out" ip netns exec $srv "$peer" server -b '[::]' -j 'ff02::fd%e0' -j '224.0.1.187%e0' \
		-l 200 -n mcsrv
	out=$(ip netns exec $req timeout 20 coap-client-notls -N -B 2 'coap://[ff02::fd%e0]/.well-known/core' 2>&1)
	expect "coap-client -N discovery via ff02::fd finds the messenger server" "$out" \
		'</hello>;rt="evudp6-test";title="mcsrv"'
	out=$(ip netns exec $req timeout 20 coap-client-notls -N -B 2 'coap://224.0.1.187/.well-known/core' 2>&1)
	expect "coap-client -N discovery via 224.0.1.187 finds the messenger server" "$out" \
		'</hello>;rt="evudp6-test";title="mcsrv"'
	expect "the server saw the discovery requests as multicast" "$(cat "$tmp/mc.out")" \
		'^request GET /\.well-known/core from \[fe80::[0-9a-f:]+%e0\]:[0-9]+ to \[ff02::fd%e0\] mcast=1$'
	out=$(ip netns exec $req timeout 20 coap-client-notls -N -B 2 'coap://[ff02::fd%e0]/missing' 2>&1)
	if printf '%s\n' "$out" | grep -q '4\.04' ||
		! grep -q '^request GET /missing from .* mcast=1$' "$tmp/mc.out"; then
		bad "a 4.04 to coap-client's multicast request is suppressed" "$out" "$(cat "$tmp/mc.out")"
	else
		ok "a 4.04 to coap-client's multicast request is suppressed"
	fi
	expect "the server saw the IPv4 discovery request as multicast" "$(cat "$tmp/mc.out")" \
		'^request GET /\.well-known/core from 192\.0\.2\.10:[0-9]+ to 224\.0\.1\.187 mcast=1$'
}
if [ "$part" = multicast ]; then
	multicast_part
	echo "interop_libcoap (multicast): $passed passed, $failed failed"
	[ $failed = 0 ]
	exit
fi

# ------------------------------------------------------------ 1. coap-client -> messenger
start_peer "$tmp/srv.out" "$peer" server -b '[::]:0' -n evudp6
port=$(sed -n 's/^ready //p' "$tmp/srv.out")
for host in '[::1]' 127.0.0.1; do
	for type in CON NON; do
		if [ $type = NON ]; then non=-N; else non=; fi
		out=$(cc $non "coap://$host:$port/hello")
		expect "coap-client $type GET coap://$host/hello" "$out" '^hello from evudp6$'
	done
done
out=$(cc -m post -e 'ping-pong' "coap://[::1]:$port/echo")
expect "coap-client CON POST with payload is echoed" "$out" '^ping-pong$'
out=$(cc "coap://[::1]:$port/slow")
expect "coap-client gets a separate response (empty ACK, then CON)" "$out" '^slow from evudp6$'
out=$(cc -N "coap://127.0.0.1:$port/slow")
expect "coap-client NON to a slow resource gets a NON response" "$out" '^slow from evudp6$'
out=$(cc "coap://[::1]:$port/missing")
expect "coap-client sees 4.04 for an unknown resource" "$out" '4\.04'
out=$(cc "coap://127.0.0.1:$port/whoami")
expect "coap-client over IPv4: the server sees it as IPv4 and answers from 127.0.0.1" "$out" \
	"^you are 127\.0\.0\.1:[0-9]+, you reached 127\.0\.0\.1:$port\$"
out=$(cc "coap://[::1]:$port/.well-known/core")
expect "coap-client reads /.well-known/core" "$out" '</hello>;rt="evudp6-test";title="evudp6"'
grep -q '^request GET /slow from \[::1\]' "$tmp/srv.out"
if [ $? = 0 ]; then ok "the server logged coap-client's requests with their source"; else
	bad "the server logged coap-client's requests with their source" "$(cat "$tmp/srv.out")"; fi
# Every exchange ran once: coap-client's CON requests were not processed twice.
n=$(grep -c '^request ' "$tmp/srv.out")
[ "$n" = 10 ]
if [ $? = 0 ]; then ok "the handler ran once per coap-client request (10)"; else
	bad "the handler ran once per coap-client request (10)" "got $n"; fi

# ------------------------------------------------------------ 2. messenger -> coap-server
# start_coap_server ADDR: on a free port; sets $cport
start_coap_server() {
	for _ in $(seq 20); do
		cport=$(( (($$ * 7919 + $(date +%N | sed 's/^0*//;s/^$/0/')) % 30000) + 20000 ))
		coap-server-notls -A "$1" -p $cport >"$tmp/cs.$cport" 2>&1 &
		pid=$!
		sleep 0.3
		if kill -0 $pid 2>/dev/null && timeout 5 coap-client-notls -B 1 "coap://$2:$cport/" 2>/dev/null | grep -q libcoap; then
			pids="$pids $pid"
			return 0
		fi
		kill $pid 2>/dev/null
		wait $pid 2>/dev/null
	done
	echo "coap-server-notls did not start"
	exit 1
}
start_coap_server ::1 '[::1]'
p6=$cport
start_coap_server 127.0.0.1 127.0.0.1
p4=$cport
client() { timeout 20 "$peer" client "$@" 2>&1; }
out=$(client ::1 $p6)
expect "messenger CON GET to coap-server over IPv6: piggybacked 2.05" "$out" \
	"^response 2\.05 Content from \[::1\]:$p6 after [0-9]+ ms type ACK payload This is a test server made with libcoap"
out=$(client -N ::1 $p6)
expect "messenger NON GET to coap-server: NON 2.05" "$out" \
	"^response 2\.05 Content from \[::1\]:$p6 after [0-9]+ ms type NON payload This is a test server made with libcoap"
out=$(client 127.0.0.1 $p4)
expect "messenger CON GET to coap-server over IPv4" "$out" \
	"^response 2\.05 Content from 127\.0\.0\.1:$p4 after [0-9]+ ms type ACK payload This is a test server"
out=$(client -N 127.0.0.1 $p4 time)
expect "messenger NON GET /time to coap-server over IPv4" "$out" \
	"^response 2\.05 Content from 127\.0\.0\.1:$p4 after [0-9]+ ms type NON payload [A-Z][a-z][a-z] "
out=$(client ::1 $p6 'async?1')
expect "messenger gets coap-server's separate response (async, 1 s)" "$out" \
	"^response 2\.05 Content from \[::1\]:$p6 after 1[0-9][0-9][0-9] ms type CON payload done"
out=$(client ::1 $p6 nothing)
expect "messenger sees coap-server's 4.04" "$out" "^response 4\.04 Not Found from \[::1\]:$p6"
out=$(client -P ::1 $p6)
expect "messenger pings coap-server: RST" "$out" "^response 0\.00 .*from \[::1\]:$p6 after [0-9]+ ms type RST"


echo "interop_libcoap (unicast): $passed passed, $failed failed"
[ $failed = 0 ]
