#!/bin/sh
# Run test programs under valgrind memcheck: zero errors and zero definite
# leaks required. Check suites run in one process (CK_FORK=no) so that
# memcheck sees every test.
#
# The verdict comes from the main process's ERROR SUMMARY (errors include
# definite leaks, --errors-for-leak-kinds=definite) and the program's own
# exit status, not from --error-exitcode: that option would also change
# the exit status of children a suite forks to probe the machine (a child
# that _exit()s leaves the parent's heap unfreed), and the suite would
# take the probe for a failure.
#
#   test/valgrind.sh BUILDDIR PROGRAM...     (PROGRAM relative to BUILDDIR,
#                                             e.g. test/check_msg)
#
# A program that is not built (its module has not landed) is reported
# and skipped; a program that fails or leaks fails the run, and so does one
# that runs longer than VALGRIND_TIME_LIMIT seconds (1800).
set -u
[ $# -ge 2 ] || { echo "usage: $0 BUILDDIR PROGRAM..." >&2; exit 64; }
command -v valgrind >/dev/null 2>&1 || { echo "valgrind: not installed (apt-get install valgrind)" >&2; exit 1; }
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
shift
jobs=$(nproc 2>/dev/null || echo 2)
# Check's per-test timeouts are off under valgrind; each program as a whole
# still has a limit (seconds), so a hang fails the run instead of stopping it.
limit=${VALGRIND_TIME_LIMIT:-1800}
mkdir -p "$build/valgrind"

run_one() {
	p=$1 name=$(basename "$1")
	log=$build/valgrind/$name.log
	start=$(date +%s)
	wrap=
	# a libtool wrapper script runs the real binary through libtool
	if head -c 2 "$build/$p" | grep -q '#!'; then wrap="$build/libtool --mode=execute"; fi
	(cd "$build" && CK_FORK=no CK_DEFAULT_TIMEOUT=0 top_srcdir=$src top_builddir=$build \
		timeout --kill-after=10 "$limit" $wrap valgrind --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
		--child-silent-after-fork=yes "./$p") >"$log" 2>&1
	rc=$?
	errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -n 1)
	lost=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -n 1 | tr -d ,)
	verdict=OK
	[ "$rc" = 0 ] && [ "${errors:-x}" = 0 ] && [ "${lost:-0}" = 0 ] || verdict=FAILED
	echo "valgrind $name: ${errors:-?} errors, ${lost:-0} bytes definitely lost, exit $rc, $(($(date +%s) - start)) s: $verdict" >"$build/valgrind/$name.result"
	if [ $verdict != OK ]; then
		grep -E '^(==[0-9]+== (Invalid|Conditional|Use of|Syscall|Mismatched|Source|  (at|by) )|.*definitely lost|.*:[EF]:)' "$log" |
			head -n 60 >>"$build/valgrind/$name.result"
	fi
}

pids= running=0 ran=
for p in "$@"; do
	if [ ! -x "$build/$p" ]; then
		echo "valgrind $(basename "$p"): not built here, skipped"
		continue
	fi
	ran="$ran $p"
	run_one "$p" &
	pids="${pids:+$pids }$!"
	running=$((running + 1))
	if [ $running -ge "$jobs" ]; then
		wait "${pids%% *}"
		case $pids in *' '*) pids=${pids#* } ;; *) pids= ;; esac
		running=$((running - 1))
	fi
done
wait
status=0
for p in $ran; do
	r=$build/valgrind/$(basename "$p").result
	cat "$r"
	grep -q ': OK$' "$r" || status=1
done
exit $status
