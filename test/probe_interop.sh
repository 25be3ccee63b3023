#!/bin/sh
# evudp6-probe and libcoap 4.3.1 (Debian libcoap3-bin), both ways, over IPv6
# and IPv4 on loopback:
#   probe -> coap-server-notls: GET /, PUT then GET a resource, CoAP ping;
#   coap-client-notls -> probe --listen: /hello, /echo (PUT, POST, GET),
#   filtered discovery, 4.04 and 4.06,
#   /whoami, /.well-known/core.
# coap-client's exit code says nothing (it exits 0 after a timeout): its
# output is the verdict.
set -u
probe=${top_builddir:-.}/tools/evudp6-probe
for tool in coap-server-notls coap-client-notls python3; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "SKIP: probe_interop needs $tool (apt-get install libcoap3-bin python3)"
		exit 77
	fi
done
tmp=$(mktemp -d /tmp/probe_interop.XXXXXX)
pids=
cleanup() {
	for pid in $pids; do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "PASS: $1"; }
bad() { failed=$((failed + 1)); echo "FAIL: $1"; shift; for l in "$@"; do echo "      $l"; done; }
expect() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then ok "$1"; else bad "$1" "wanted: $3" "got:    $2"; fi
}
# probe NAME WANT_CODE ARGS...: output in $out
probe() {
	name=$1 want=$2
	shift 2
	out=$("$probe" "$@" 2>&1 </dev/null)
	code=$?
	if [ "$code" = "$want" ]; then ok "$name: exit $want"; else bad "$name: exit $want" "got $code" "$out"; fi
}
# client ARGS...: coap-client's output (stdout and stderr) in $out
client() {
	out=$(timeout 20 coap-client-notls -B 3 "$@" 2>&1 </dev/null)
}
# the host as a regular expression
rx() { printf '%s' "$1" | sed 's/[].[]/\\&/g'; }
free_port() {
	python3 -c 'import socket; s=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("::", 0)); print(s.getsockname()[1])'
}

# ------------------------------------------------ probe -> coap-server-notls
sport=$(free_port)
coap-server-notls -A :: -p "$sport" >"$tmp/libcoap.log" 2>&1 &
pids="$pids $!"
# wait until it answers a ping
for _ in $(seq 50); do
	"$probe" --ping -c 1 -T 0.2 "coap://[::1]:$sport" >/dev/null 2>&1 && break
	sleep 0.1
done
for host in "[::1]" 127.0.0.1; do
	fam=IPv6
	[ "$host" = 127.0.0.1 ] && fam=IPv4
	h=$(rx "$host")
	probe "$fam probe GET / on libcoap" 0 "coap://$host:$sport/"
	expect "$fam GET /: 2.05 from libcoap's address with its text" "$out" "^2\.05 Content from $h:$sport in"
	expect "$fam GET /: payload names libcoap" "$out" "test server made with libcoap"
	probe "$fam probe PUT /example_data" 0 -m PUT -t text/plain -e "written over $fam" "coap://$host:$sport/example_data"
	expect "$fam PUT: 2.01 or 2.04" "$out" "^2\.0[14] (Created|Changed) from"
	probe "$fam probe GET /example_data" 0 "coap://$host:$sport/example_data"
	expect "$fam GET after PUT returns what was put" "$out" "^written over $fam\$"
	# libcoap answers pings sent about 0.5 s apart (closer ones went unanswered in our runs)
	probe "$fam probe --ping on libcoap" 0 --json --ping -c 2 -i 0.6 "coap://$host:$sport"
	expect "$fam ping: two RST replies" "$(printf '%s\n' "$out" | grep -c '"event":"ping".*"type":"RST"')" "^2\$"
	expect "$fam ping: summary 2 sent, 2 answered" "$out" '"event":"summary","kind":"ping".*"sent":2,"answered":2,"errors":0,"lost":0'
done
probe "probe GET /.well-known/core on libcoap" 0 --json "coap://[::1]:$sport/.well-known/core"
expect "libcoap's link-format listed link by link" "$out" '"content_format":40.*"links":\["</>;title=\\"General Info\\";ct=0"'

# ------------------------------------------------ coap-client-notls -> probe --listen
: >"$tmp/srv"
"$probe" --listen --json -T 120 '[::]:0' >"$tmp/srv" 2>&1 &
pids="$pids $!"
for _ in $(seq 50); do grep -q '"listening"' "$tmp/srv" && break; sleep 0.1; done
port=$(sed -n 's/.*"event":"listening".*"port":\([0-9]*\).*/\1/p' "$tmp/srv" | head -n 1)
[ -n "$port" ] || { echo "probe --listen did not start:"; cat "$tmp/srv"; exit 1; }
for host in "[::1]" 127.0.0.1; do
	fam=IPv6
	[ "$host" = 127.0.0.1 ] && fam=IPv4
	h=$(rx "$host")
	client "coap://$host:$port/hello"
	expect "$fam coap-client GET /hello" "$out" "^Hello from evudp6-probe "
	client -m put -e "put over $fam" "coap://$host:$port/echo"
	expect "$fam coap-client PUT /echo echoes the payload" "$out" "^put over $fam\$"
	client "coap://$host:$port/echo"
	expect "$fam coap-client GET /echo returns what was put" "$out" "^put over $fam\$"
	client -m post -e "post over $fam" "coap://$host:$port/echo"
	expect "$fam coap-client POST /echo echoes the payload" "$out" "^post over $fam\$"
	client "coap://$host:$port/whoami"
	expect "$fam coap-client GET /whoami: requester and asked address" "$out" \
		"^you are $h:[0-9]+, you asked $h:$port on lo\$"
	client -A 50 "coap://$host:$port/whoami"
	expect "$fam coap-client GET /whoami as JSON" "$out" "^\{\"you\":\"$h:[0-9]+\",\"asked\":\"$h:$port\",\"interface\":\"lo\",\"multicast\":false\}\$"
	client "coap://$host:$port/.well-known/core"
	expect "$fam coap-client discovery lists hello, echo, whoami" "$out" '^</hello>;.*,</echo>;.*,</whoami>;'
	client "coap://$host:$port/nowhere"
	expect "$fam coap-client gets 4.04 for a missing resource" "$out" "4\.04"
	client "coap://$host:$port/.well-known/core?rt=evudp6.who*"
	expect "$fam coap-client filtered discovery lists only whoami" "$out" '^</whoami>;rt="evudp6\.whoami";[^,]*$'
	client -A 60 "coap://$host:$port/hello"
	expect "$fam coap-client gets 4.06 asking /hello for CBOR" "$out" "4\.06"
done
# the server logs each request after its answer has left: give the last line a moment
for _ in $(seq 20); do [ "$(grep -c '"event":"request"' "$tmp/srv")" -ge 20 ] && break; sleep 0.1; done
n=$(grep -c '"event":"request"' "$tmp/srv")
expect "--listen logged each of the 20 requests" "$n" "^20\$"
expect "--listen log has both addresses of an IPv4 request" "$(grep '"path":"/whoami"' "$tmp/srv" | head -n 3)" \
	"\"from\":\"127\.0\.0\.1:[0-9]+\",\"to\":\"127\.0\.0\.1:$port\",\"interface\":\"lo\""

echo "probe_interop: $passed passed, $failed failed"
[ "$failed" = 0 ]
