#!/bin/sh
# Build the libFuzzer harnesses of test/fuzz/ with clang and run each for a
# bounded time. Fails on any crash, leak, sanitizer report or timeout.
#
#   test/fuzz/run.sh [-t SECONDS] [-j JOBS] [-m] BUILDDIR [HARNESS...]
#
# BUILDDIR is a configured build tree (its config.h is used); everything
# goes to BUILDDIR/fuzz/. HARNESS names fuzz_HARNESS.c (default: all).
# Each run starts from a copy of test/fuzz/corpus/HARNESS, so the committed
# corpus is never changed; -m merges what a run found into it instead
# (libFuzzer -merge=1: only inputs that add coverage are kept). A crash
# leaves its input in BUILDDIR/fuzz/artifacts/: minimise it
# (-minimize_crash=1), name it after the fault and commit it to the corpus
# with the fix.
set -eu
secs=60 jobs=$(nproc 2>/dev/null || echo 2) merge=no
while getopts t:j:m o; do
	case $o in
	t) secs=$OPTARG ;; j) jobs=$OPTARG ;; m) merge=yes ;;
	*) echo "usage: $0 [-t SECONDS] [-j JOBS] [-m] BUILDDIR [HARNESS...]" >&2; exit 64 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: $0 [-t SECONDS] [-j JOBS] [-m] BUILDDIR [HARNESS...]" >&2; exit 64; }
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
shift
[ -f "$build/config.h" ] || { echo "fuzz: $build/config.h missing: configure first" >&2; exit 1; }
cc=
for c in clang-14 clang; do command -v $c >/dev/null 2>&1 && { cc=$c; break; }; done
[ -n "$cc" ] || { echo "fuzz: clang not found (apt-get install clang-14)" >&2; exit 1; }
if [ $# -eq 0 ]; then
	for f in "$src"/test/fuzz/fuzz_*.c; do set -- "$@" "$(basename "$f" .c | sed 's/^fuzz_//')"; done
fi

out=$build/fuzz
mkdir -p "$out/obj" "$out/artifacts" "$out/work"
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cflags="-g -O1 -std=gnu11 -Wall -Wextra -Wno-unused-parameter $san
	-I$src/include -I$src/lib -I$build $(pkg-config --cflags libevent_core libevent_extra)"
libs=$(pkg-config --libs libevent_core libevent_extra)

# The library once, instrumented for coverage.
objs=
for f in "$src"/lib/*.c; do
	o=$out/obj/$(basename "$f" .c).o
	if [ ! -f "$o" ] || [ "$f" -nt "$o" ] || [ -n "$(find "$src/lib" "$src/include" -name '*.h' -newer "$o")" ]; then
		# shellcheck disable=SC2086
		$cc $cflags -fsanitize=fuzzer-no-link -c "$f" -o "$o"
	fi
	objs="$objs $o"
done
for h in "$@"; do
	# shellcheck disable=SC2086
	$cc $cflags -fsanitize=fuzzer "$src/test/fuzz/fuzz_$h.c" $objs $libs -o "$out/fuzz_$h"
done

# One harness: copy its corpus, run, report. Writes $out/$h.result.
run_one() {
	h=$1
	work=$out/work/$h
	rm -rf "$work"
	mkdir -p "$work"
	[ -d "$src/test/fuzz/corpus/$h" ] && cp -R "$src/test/fuzz/corpus/$h/." "$work/"
	start=$(date +%s)
	if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$out/fuzz_$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
		-print_final_stats=1 -artifact_prefix="$out/artifacts/$h-" "$work" >"$out/$h.log" 2>&1; then
		res=OK
	else
		res=FAILED
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$h.log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$out/$h.log" | tail -n 1 | cut -d' ' -f2)
	echo "fuzz $h: ${runs:-?} executions in $(($(date +%s) - start)) s, coverage ${cov:-?}, corpus $(ls "$work" | wc -l): $res" >"$out/$h.result"
	if [ $res != OK ]; then
		grep -A 40 -E '^==[0-9]+==ERROR|runtime error|property broken|^SUMMARY|deadly signal|Test unit written' "$out/$h.log" | head -n 80 >>"$out/$h.result"
	fi
}

pids= status=0
running=0
for h in "$@"; do
	run_one "$h" &
	pids="${pids:+$pids }$!"
	running=$((running + 1))
	if [ $running -ge "$jobs" ]; then
		wait ${pids%% *} 2>/dev/null || true
		case $pids in *' '*) pids=${pids#* } ;; *) pids= ;; esac
		running=$((running - 1))
	fi
done
wait
for h in "$@"; do
	cat "$out/$h.result"
	grep -q ': OK$' "$out/$h.result" || status=1
	if [ $merge = yes ]; then
		mkdir -p "$src/test/fuzz/corpus/$h"
		"$out/fuzz_$h" -merge=1 -max_len=4096 "$src/test/fuzz/corpus/$h" "$out/work/$h" >"$out/$h.merge.log" 2>&1 ||
			{ echo "fuzz $h: merge failed (see $out/$h.merge.log)"; status=1; }
	fi
done
exit $status
