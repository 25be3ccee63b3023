# Helpers of test/probe_fd.sh and test/probe_fd_ns.sh (sourced): counters,
# checks, and a server started on a socket handed over. Needs $tmp, $pids.
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "PASS: $1"; }
bad() { failed=$((failed + 1)); echo "FAIL: $1"; shift; for l in "$@"; do echo "      $l"; done; }
expect() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then ok "$1"; else bad "$1" "wanted: $3" "got:    $2"; fi
}
handover=${top_srcdir:-.}/test/fd_handover.py
# run NAME WANT_CODE CMD...: output (both streams) in $out
run() {
	name=$1 want=$2
	shift 2
	out=$("$@" 2>&1 </dev/null)
	code=$?
	if [ "$code" = "$want" ]; then ok "$name: exit $want"; else bad "$name: exit $want" "got $code" "$out"; fi
}

# serve NAME OUTFILE [ip netns exec NS] python3 ... : start a server, wait
# until it says it listens
serve() {
	name=$1 f=$2
	shift 2
	: >"$f"
	"$@" >"$f" 2>&1 &
	pids="$pids $!"
	for _ in $(seq 50); do grep -q '"listening"' "$f" && return 0; sleep 0.1; done
	bad "$name: server started" "$(cat "$f")"
	return 1
}
