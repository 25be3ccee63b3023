#!/bin/sh
# Every test runs under a time limit (Makefile.am: LOG_COMPILER = timeout,
# AM_LOG_FLAGS = --kill-after=10 $(TEST_TIME_LIMIT)). This suite checks
# that it does, and that the same command cuts off a program that never
# ends, even one that ignores SIGTERM.
set -u
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "PASS: $1"; }
bad() { failed=$((failed + 1)); echo "FAIL: $1"; shift; for l in "$@"; do echo "      $l"; done; }
expect() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then ok "$1"; else bad "$1" "wanted: $3" "got:    $2"; fi
}
limit=${TEST_TIME_LIMIT:-}
if [ -z "$limit" ]; then
	echo "FAIL: TEST_TIME_LIMIT is not set: run through make check"
	exit 1
fi

parent=$(tr '\0' ' ' </proc/$PPID/cmdline)
expect "this test runs under timeout with the configured limit ($limit s)" "$parent" \
	"^timeout --kill-after=10 $limit "

# A stand-in for a hung replay: a loop that never ends and ignores SIGTERM.
start=$(date +%s)
timeout --kill-after=1 1 sh -c 'trap "" TERM; while :; do sleep 0.1; done'
rc=$?
took=$(($(date +%s) - start))
expect "a hang is cut off: killed (128+9) after the limit and the grace" "$rc" "^137\$"
expect "a hang is cut off within 4 s" "$took" "^[0-3]\$"
start=$(date +%s)
timeout --kill-after=1 1 sh -c 'while :; do sleep 0.1; done'
rc=$?
expect "a hang that obeys SIGTERM ends with timeout's 124 (a FAIL for make check)" "$rc" "^124\$"

echo "time_limit: $passed passed, $failed failed"
[ "$failed" = 0 ]
