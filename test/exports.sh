#!/bin/sh
# Every evudp6_* function declared in the installed headers is listed in
# lib/libevudp6.sym (in exactly one node, no patterns) and exported by
# the built libevudp6.so with that node's version; nothing is listed or
# exported that no header declares. A new public function that is not
# added to the .sym file is not exported at all: this names it.
# The .so imports no function that writes to a file or a terminal: the
# library never writes to stderr itself (its warnings go to the log
# callback, evudp6_log(3)).
# Usage (from make check): exports.sh; needs top_srcdir and top_builddir.
set -u
src=${top_srcdir:-.}
build=${top_builddir:-.}
sym=$src/lib/libevudp6.sym
pass=0
fail=0
ok() { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Functions the headers declare: after preprocessing, an evudp6_ name
# followed by "(" (a function-pointer typedef has ")" after its name).
: >"$tmp/declared"
for h in "$src"/include/evudp6/*.h; do
	${CC:-cc} -E -P -I"$src/include" "$h" 2>"$tmp/cpp.err" | tr -s ' \t\n' ' ' |
		grep -o '[^a-z0-9_]evudp6_[a-z0-9_]* *(' |
		sed 's/^.\(evudp6_[a-z0-9_]*\).*/\1/' |
		while read -r f; do echo "$f $(basename "$h")"; done >>"$tmp/declared" ||
		{ bad "cannot preprocess $h: $(cat "$tmp/cpp.err")"; }
done
sort -u -k1,1 "$tmp/declared" >"$tmp/decl"
cut -d' ' -f1 "$tmp/decl" >"$tmp/decl.names"
n=$(wc -l <"$tmp/decl.names")
[ "$n" -ge 40 ] && ok "$n functions declared in include/evudp6/*.h" || bad "only $n functions found in the headers"

# The .sym file: node per symbol, no patterns but the local catch-all.
sed 's,/\*.*\*/,,g' "$sym" | awk '
	/^\/\*/ { c = 1 } c && /\*\// { c = 0; next } c { next }
	/^[A-Z0-9_.]+ *\{/ { node = $1 }
	/^ *(global|local):/ { next }
	/^ *\}/ { next }
	/[a-zA-Z_*]+;/ { gsub(/[ ;]/, ""); if ($0 != "") print $0, node }' >"$tmp/listed"
if grep -v '^\* ' "$tmp/listed" | grep -q '[*?]'; then
	bad "lib/libevudp6.sym exports by pattern: $(grep -v '^\* ' "$tmp/listed" | grep '[*?]' | tr '\n' ' ')"
else
	ok "lib/libevudp6.sym lists every symbol by name"
fi
grep -v '^\* ' "$tmp/listed" | sort -k1,1 >"$tmp/sym"
dups=$(cut -d' ' -f1 "$tmp/sym" | uniq -d | tr '\n' ' ')
[ -z "$dups" ] && ok "each listed symbol is in exactly one node" || bad "listed in more than one node: $dups"
cut -d' ' -f1 "$tmp/sym" | sort -u >"$tmp/sym.names"
newest=$(grep -o '^EVUDP6_[0-9.]*' "$sym" | tail -n 1)

missing=$(comm -23 "$tmp/decl.names" "$tmp/sym.names")
if [ -z "$missing" ]; then ok "every declared function is listed in lib/libevudp6.sym"
else
	for f in $missing; do
		bad "$f (declared in include/evudp6/$(grep "^$f " "$tmp/decl" | cut -d' ' -f2)) is not listed in lib/libevudp6.sym: add it to node $newest, or it is not exported"
	done
fi
stale=$(comm -13 "$tmp/decl.names" "$tmp/sym.names")
if [ -z "$stale" ]; then ok "every listed symbol is declared in a header"
else for f in $stale; do bad "$f is listed in lib/libevudp6.sym but no header declares it"; done; fi

so=$(ls "$build"/lib/.libs/libevudp6.so.* 2>/dev/null | head -n 1)
if [ -z "$so" ]; then
	echo "SKIP: no shared libevudp6 in $build (configured --disable-shared): exports not checked against a .so"
else
	nm -D --defined-only "$so" | awk '$2 == "T" || $2 == "D" || $2 == "B" || $2 == "R" {print $3}' |
		grep -v '^EVUDP6_' | sed 's/@@*/ /' | sort -k1,1 >"$tmp/exported"
	cut -d' ' -f1 "$tmp/exported" >"$tmp/exp.names"
	notexp=$(comm -23 "$tmp/decl.names" "$tmp/exp.names")
	if [ -z "$notexp" ]; then ok "every declared function is exported by $(basename "$so")"
	else for f in $notexp; do bad "$f is declared in a header but not exported by $(basename "$so")"; done; fi
	extra=$(comm -13 "$tmp/decl.names" "$tmp/exp.names")
	[ -z "$extra" ] && ok "nothing is exported that no header declares" || bad "exported but declared nowhere: $(echo $extra)"
	writers=$(nm -D --undefined-only "$so" | awk '{print $2}' | sed 's/@.*//' |
		grep -xE 'stdout|stderr|f?printf|v?dprintf|vf?printf|f?puts|fputc|putc|putchar|fwrite|perror|write|writev|syslog|vsyslog|err|errx|warn|warnx|psignal|error' |
		tr '\n' ' ')
	[ -z "$writers" ] && ok "the library writes to no file or terminal (no stdio or write imports)" ||
		bad "the library imports output functions: $writers(use the log callback, lib/log-internal.h)"
	wrong=$(join "$tmp/sym" "$tmp/exported" | awk '$2 != $3 {printf "%s (listed in %s, exported as %s) ", $1, $2, $3}')
	[ -z "$wrong" ] && ok "every export carries the version node it is listed in" || bad "wrong version node: $wrong"
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
