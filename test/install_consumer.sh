#!/bin/sh
# Install the built library into a staging directory, check that only
# evudp6_* symbols are exported, and build and run a consumer program with
# nothing but `pkg-config --cflags --libs evudp6` against the installed copy.
# Usage: install_consumer.sh BUILD_DIR
set -eu
build=$(cd "$1" && pwd)
stage=$build/_stage
rm -rf "$stage"
(cd "$build" && make -s install DESTDIR="$stage" >/dev/null 2>&1)
prefix=$(pkg-config --variable=prefix "$build/evudp6.pc")
libdir=$(pkg-config --variable=libdir "$build/evudp6.pc")
so=$(ls "$stage$libdir"/libevudp6.so.* 2>/dev/null | head -n 1)
[ -n "$so" ] || { echo "FAIL: no libevudp6.so installed under $stage$libdir"; exit 1; }
fail=0
others=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRV]$/ {print $3}' | sed 's/@.*//' | grep -v '^evudp6_' || true)
if [ -n "$others" ]; then echo "FAIL: exported symbols outside evudp6_*: $others"; fail=1
else
	n=$(nm -D --defined-only "$so" | grep -c ' T evudp6_')
	if [ "$n" -ge 40 ]; then echo "PASS: $n exported functions, all evudp6_*"
	else echo "FAIL: only $n evudp6_* functions exported"; fail=1; fi
fi
for f in "$stage$prefix/include/evudp6.h" "$stage$libdir/pkgconfig/evudp6.pc" "$stage$libdir/libevudp6.a"; do
	[ -f "$f" ] || { echo "FAIL: not installed: $f"; fail=1; }
done
# Every exported function has a man page (directly or as a link to its
# concept's page), and every link leads to an installed page.
man3=$stage$prefix/share/man/man3
nopage=
for f in $(nm -D --defined-only "$so" | awk '$2 == "T" {print $3}' | sed 's/@.*//'); do
	[ -f "$man3/$f.3" ] || nopage="$nopage $f"
done
if [ -n "$nopage" ]; then echo "FAIL: exported functions without a man page:$nopage"; fail=1
else echo "PASS: every exported function has a man page"; fi
for l in "$man3"/*.3; do
	target=$(sed -n 's/^\.so man3\///p' "$l")
	[ -z "$target" ] || [ -f "$man3/$target" ] || { echo "FAIL: $l points to missing $target"; fail=1; }
done

tmp=$(mktemp -d)
cat >"$tmp/consumer.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <event2/event.h>
#include <evudp6.h>

/* Decode a CoAP message, then send it through a transport to itself. */
static int got;
static void on_dgram(struct evudp6_transport *t, const uint8_t *d, size_t n, const struct evudp6_addr *from,
                     void *arg)
{
	(void)t; (void)from;
	struct evudp6_msg m;
	if (evudp6_msg_decode(&m, d, n) == 0 && m.mid == 0x1234)
		got = 1;
	event_base_loopbreak(arg);
}
int main(void)
{
	struct event_base *base = event_base_new();
	struct evudp6_transport *t;
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = "[::1]:0"};
	if (evudp6_transport_new(&t, base, &cfg, on_dgram, NULL, base) || evudp6_transport_start(t))
		return 1;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 0x1234);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "x", 1);
	uint8_t buf[64];
	ssize_t n = evudp6_msg_encode(&b, buf, sizeof(buf));
	struct evudp6_addr self;
	evudp6_addr_from_literal(&self, "::1", evudp6_transport_port(t), 0);
	if (n < 0 || evudp6_transport_send(t, &self, buf, (size_t)n))
		return 1;
	event_base_dispatch(base);
	evudp6_transport_free(t);
	event_base_free(base);
	printf("consumer: evudp6 %s, datagram %s\n", evudp6_version(), got ? "received" : "LOST");
	return got ? 0 : 1;
}
C
export PKG_CONFIG_PATH="$stage$libdir/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$stage"
flags=$(pkg-config --cflags --libs evudp6)
if cc -o "$tmp/consumer" "$tmp/consumer.c" $flags && LD_LIBRARY_PATH="$stage$libdir" "$tmp/consumer"; then
	echo "PASS: consumer built with pkg-config --cflags --libs evudp6 and ran against the installed copy"
else
	echo "FAIL: consumer against the installed copy"; fail=1
fi
rm -rf "$tmp"
exit $fail
