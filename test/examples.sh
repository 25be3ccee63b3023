#!/bin/sh
# Every C example of the documentation is a program that builds against
# the library and runs: the ```c blocks of README.md and the EXAMPLE
# sections of the section-3 man pages (troff escapes undone). Each is
# compiled with the build's CFLAGS and -Wall -Werror, linked with libtool
# against libevudp6.la (the shared library where there is one, so only
# exported functions are there), run with a time limit
# and must exit 0. An example that is not a whole program (no main) fails.
set -u
srcdir=${top_srcdir:-.}
build=${top_builddir:-.}
cc=${EXAMPLES_CC:-cc}
tmp=$(mktemp -d /tmp/examples.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "PASS: $1"; }
bad() { failed=$((failed + 1)); echo "FAIL: $1"; shift; for l in "$@"; do echo "      $l"; done; }

# README.md: one file per ```c block
awk -v dir="$tmp" '
	/^```c[ \t]*$/ { n++; f = sprintf("%s/README.md-%d.c", dir, n); inb = 1; next }
	/^```/ && inb { inb = 0; close(f); next }
	inb { print > f }
' "$srcdir/README.md"
# man pages: .EX/.EE or .nf/.fi inside .SH EXAMPLE(S)
for page in "$srcdir"/man/*.3; do
	name=$(basename "$page")
	awk -v dir="$tmp" -v name="$name" '
		/^\.SH / { inex = ($0 ~ /^\.SH EXAMPLES?$/); next }
		inex && (/^\.EX/ || /^\.nf/) { n++; f = sprintf("%s/%s-%d.c", dir, name, n); inb = 1; next }
		inb && (/^\.EE/ || /^\.fi/) { inb = 0; close(f); next }
		inb {
			gsub(/\\e/, "\001"); gsub(/\\-/, "-"); gsub(/\\\(aq/, "\047"); gsub(/\\\(lq|\\\(rq/, "\"");
			gsub(/\\&/, ""); gsub(/\001/, "\\"); print > f
		}
	' "$page"
done

n=0
for src in "$tmp"/*.c; do
	[ -f "$src" ] || continue
	n=$((n + 1))
	what=$(basename "$src" .c)
	if ! grep -q 'int main' "$src"; then
		bad "$what: a whole program" "the example has no main()"
		continue
	fi
	exe=$tmp/$what
	# shellcheck disable=SC2086
	# The build's own flags too: a sanitizer build links its runtime.
	if ! "$build/libtool" --mode=link --quiet $cc ${EXAMPLES_CFLAGS:-} -Wall -Werror -I"$srcdir/include" \
		${LIBEVENT_CFLAGS:-} ${EXAMPLES_LDFLAGS:-} -o "$exe" "$src" "$build/lib/libevudp6.la" \
		${LIBEVENT_LIBS:-} -lpthread >"$tmp/log" 2>&1; then
		bad "$what: builds" "$(head -n 20 "$tmp/log")"
		continue
	fi
	ok "$what: builds"
	if timeout 20 "$build/libtool" --mode=execute "$exe" >"$tmp/out" 2>&1; then
		ok "$what: runs and exits 0"
	else
		bad "$what: runs and exits 0" "$(head -n 20 "$tmp/out")"
	fi
done
if [ "$n" -lt 8 ]; then
	bad "examples found" "only $n (README and man pages)"
fi
echo "examples: $passed passed, $failed failed"
[ "$failed" = 0 ]
