#!/bin/sh
# evudp6-probe --listen on a socket it did not make (the library's
# evudp6_transport_new_from_fd() and a messenger on that transport):
#   1. --fd N with a bound dual-stack socket: answers IPv6 and IPv4;
#   2. systemd socket activation: LISTEN_FDS=1 and LISTEN_PID, fd 3;
#   3. sockets that do not fit are refused with the reason (exit 71).
# Loopback only; test/probe_fd_ns.sh does SO_BINDTODEVICE in namespaces.
set -u
probe=$(cd "${top_builddir:-.}/tools" && pwd)/evudp6-probe
if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: probe_fd needs python3 (to make and hand over the sockets)"
	exit 77
fi
tmp=$(mktemp -d /tmp/probe_fd.XXXXXX)
pids=
cleanup() {
	for pid in $pids; do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

. "${top_srcdir:-.}/test/probe_fd_lib.sh"

# ------------------------------------------------ 1. --fd N
if serve "--fd 3" "$tmp/s1" python3 "$handover" "$tmp/p1" udp "$probe" --listen --json -T 60 --fd 3; then
	port=$(cat "$tmp/p1")
	expect "--fd 3: listening on the handed-over socket's port" "$(cat "$tmp/s1")" \
		"\"event\":\"listening\".*\"port\":$port[,}]"
	run "--fd 3: who am I over IPv6" 0 "$probe" "coap://[::1]:$port/whoami"
	expect "--fd 3 IPv6: the answer names the address asked" "$out" "you asked \[::1\]:$port on lo"
	run "--fd 3: who am I over IPv4" 0 "$probe" "coap://127.0.0.1:$port/whoami"
	expect "--fd 3 IPv4: the answer names the address asked" "$out" "you asked 127\.0\.0\.1:$port on lo"
fi

# ------------------------------------------------ 2. LISTEN_FDS
if serve "LISTEN_FDS" "$tmp/s2" python3 "$handover" "$tmp/p2" systemd "$probe" --listen --json -T 60; then
	port=$(cat "$tmp/p2")
	expect "LISTEN_FDS=1: listening on fd 3's port, not on 5683" "$(cat "$tmp/s2")" \
		"\"event\":\"listening\".*\"port\":$port[,}]"
	run "LISTEN_FDS: ping" 0 "$probe" --ping -c 1 "coap://[::1]:$port"
fi

# ------------------------------------------------ 3. refusals
run "--fd on a TCP socket" 71 python3 "$handover" "$tmp/p3" tcp "$probe" --listen -T 1 --fd 3
expect "TCP socket: the reason" "$out" "cannot listen on fd 3: Protocol wrong type for socket"
run "--fd on an unbound socket" 71 python3 "$handover" "$tmp/p3" unbound "$probe" --listen -T 1 --fd 3
expect "unbound socket: the reason" "$out" "cannot listen on fd 3: socket is not bound"
run "--fd on a closed descriptor" 71 sh -c "exec 9>&-; exec \"$probe\" --listen -T 1 --fd 9"
expect "closed descriptor: the reason" "$out" "cannot listen on fd 9: Bad file descriptor"
run "--fd with no number" 64 "$probe" --listen --fd three
run "--fd without --listen" 64 "$probe" --fd 3 coap://[::1]/

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
