#!/usr/bin/env python3
"""Write the seed inputs of the fuzz corpora in test/fuzz/corpus/.

Seeds are named after what they hold; the fuzzer's own finds (merged with
test/fuzz/run.sh -m) are named by their hash and crashers by the fault
they triggered. This script only (re)writes files whose name starts with
"seed-", so finds and crashers stay.

    python3 test/fuzz/gen-seeds.py

msg:        every datagram of test/corpus/msg (valid and one per fault),
            plus what the builder cannot hold.
cmsg:       control buffers captured from the kernel on loopback (pktinfo
            for IPv6 and V4MAPPED, SO_RXQ_OVFL, ICMP and ICMPv6 port
            unreachable from the error queue, a local EMSGSIZE), plus
            hand-made broken ones. First byte: flags for the harness.
authority:  URI authorities, good and bad.
messenger:  scripts for test/fuzz/fuzz_messenger.c (see there): every
            datagram of test/corpus/msg fed to a fresh messenger, and
            client and server exchanges.
server:     for test/fuzz/fuzz_server.c: a flags byte (bit 0 multicast,
            bit 1 IPv4, bit 2 the deferred answer has a response), then
            one request: every path of its site, discovery with filters,
            the errors the server answers itself.
uri:        first byte 0: a URI; 1: a CoAP message for Uri-Host/Uri-Port/
            Uri-Path/Uri-Query; 2: an "unresolved remote" host[:port];
            bit 7 cancels the resolution at once.
"""
import errno
import os
import socket
import struct
import time

TOP = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(TOP, "corpus")

IPV6_RECVERR = 25
IP_RECVERR = 11
IPV6_RECVPKTINFO = 49
IPV6_PKTINFO = 50
IP_PKTINFO = 8
SO_RXQ_OVFL = 40
MSG_ERRQUEUE = 0x2000
IPV6_MTU_DISCOVER = 23
IPV6_PMTUDISC_DO = 2
SOL_IPV6 = 41
SOL_IP = 0


def cmsg_space(n):
    return 16 + ((n + 7) & ~7)


def cmsg(level, typ, data, length=None):
    """One control message as the kernel lays it out on x86_64."""
    hdr = struct.pack("=QII", 16 + len(data) if length is None else length, level, typ)
    pad = b"\0" * (cmsg_space(len(data)) - 16 - len(data))
    return hdr + data + pad


def write(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def clean(harness):
    d = os.path.join(CORPUS, harness)
    if os.path.isdir(d):
        for f in os.listdir(d):
            if f.startswith("seed-"):
                os.unlink(os.path.join(d, f))


# ----------------------------------------------------------------- msg
def msg_seeds():
    clean("msg")
    src = os.path.join(TOP, "..", "corpus", "msg")
    for expected in sorted(os.listdir(src)):
        for f in sorted(os.listdir(os.path.join(src, expected))):
            with open(os.path.join(src, expected, f), "rb") as fh:
                write("msg", expected.lower().replace("evudp6_e_msg_", "") + "-" + f, fh.read())
    hdr = bytes([0x40, 0x01, 0x12, 0x34])
    # 49 options: decodes, but a builder holds 48.
    write("msg", "49-options.bin", hdr + b"\x00" * 49)
    write("msg", "48-options.bin", hdr + b"\x00" * 48 + b"\xffp")
    # Option number 65805: decodes, cannot be encoded.
    write("msg", "opt-number-65805.bin", hdr + b"\xe0\xff\xff\xd0\x00")
    write("msg", "opt-number-65804.bin", hdr + b"\xe0\xff\xff\x10")
    # Every known option once, with uint and string values.
    opts = b""
    prev = 0
    for num, val in [(1, b"\x01"), (3, b"example.org"), (4, b"\xaa\xbb"), (5, b""), (6, b"\x00\x01"),
                     (7, b"\x16\x33"), (8, b"loc"), (11, b"a"), (11, b"b"), (12, b"\x32"), (14, b"\x3c"),
                     (15, b"q=1"), (17, b"\x2a"), (20, b"lq"), (23, b"\x06"), (27, b"\x16"),
                     (28, b"\x04\x00"), (35, b"coap://x/"), (39, b"coap"), (60, b"\x10"),
                     (258, b"\x1a")]:
        delta = num - prev
        prev = num
        dn, dx = (delta, b"") if delta < 13 else (13, bytes([delta - 13])) if delta < 269 else \
            (14, struct.pack(">H", delta - 269))
        ln = len(val)
        opts += bytes([dn << 4 | ln]) + dx + val
    write("msg", "all-known-options.bin", bytes([0x48, 0x01, 0x12, 0x34]) + b"12345678" + opts + b"\xffbody")
    # A builder script that exercises the big-value path (first bytes are
    # type, code, mid, tkl; then op count and ops).
    write("msg", "builder-script.bin",
          bytes([0x00, 0x45, 0x00, 0x01, 0x02, 0xab, 0xcd, 0x05]) +
          bytes([0x00, 0x00, 0x0b, 0x03]) + b"abc" +
          bytes([0x01, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x2a]) +
          bytes([0x02, 0x00, 0x04, 0x01]) + b"x" * 270 +
          bytes([0x80, 0xff, 0xff, 0x00]) +
          bytes([0xc0, 0xff, 0xff, 0x00]) + b"payload")


# ---------------------------------------------------------------- cmsg
def closed_port():
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def raw_control(anc):
    return b"".join(cmsg(level, typ, data) for level, typ, data in anc)


def capture():
    """Control buffers from real loopback traffic."""
    got = {}
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(SOL_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(SOL_IPV6, IPV6_RECVPKTINFO, 1)
    s.setsockopt(SOL_IPV6, IPV6_RECVERR, 1)
    s.setsockopt(SOL_IP, IP_RECVERR, 1)
    s.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
    s.bind(("::", 0))
    s.settimeout(2)
    port = s.getsockname()[1]
    c6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    c4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c6.sendto(b"\x40\x01\x00\x01", ("::1", port))
    _, anc, flags, _ = s.recvmsg(2048, 256)
    got["pktinfo6-rxq-ovfl"] = (flags, raw_control(anc))
    c4.sendto(b"\x40\x01\x00\x02", ("127.0.0.1", port))
    _, anc, flags, _ = s.recvmsg(2048, 256)
    got["pktinfo-v4mapped"] = (flags, raw_control(anc))
    for name, dst in [("icmp6-port-unreachable", "::1"), ("icmp4-port-unreachable", "::ffff:127.0.0.1")]:
        s.sendto(b"\x40\x01\x00\x03\xb1x", (dst, closed_port()))
        for _ in range(200):
            try:
                _, anc, flags, _ = s.recvmsg(2048, 256, MSG_ERRQUEUE)
                got[name] = (flags, raw_control(anc))
                break
            except BlockingIOError:
                time.sleep(0.01)
    # A local error: a datagram above the path MTU with fragmentation off.
    s.setsockopt(SOL_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO)
    try:
        s.sendto(b"x" * 70000, ("::1", port))
    except OSError:
        pass
    try:
        s.sendto(b"x" * 65600, ("::1", port))
    except OSError:
        pass
    for _ in range(20):
        try:
            _, anc, flags, _ = s.recvmsg(2048, 256, MSG_ERRQUEUE | socket.MSG_DONTWAIT)
            got["local-emsgsize"] = (flags, raw_control(anc))
            break
        except (BlockingIOError, OSError):
            time.sleep(0.01)
    s.close()
    c6.close()
    c4.close()
    return got


def cmsg_seeds():
    clean("cmsg")
    for name, (flags, ctrl) in capture().items():
        write("cmsg", name + ".bin", bytes([1 if flags & socket.MSG_CTRUNC else 0]) + ctrl)
    pi6 = socket.inet_pton(socket.AF_INET6, "2001:db8::1") + struct.pack("=I", 2)
    pi4 = struct.pack("=i", 3) + socket.inet_aton("192.0.2.1") + socket.inet_aton("192.0.2.9")
    ee = struct.pack("=IBBBBII", errno.EHOSTUNREACH, 2, 3, 1, 0, 0, 0)
    off4 = struct.pack("=HH4s8x", socket.AF_INET, 0, socket.inet_aton("198.51.100.1"))
    off6 = struct.pack("=HHI16sI", socket.AF_INET6, 0, 0, socket.inet_pton(socket.AF_INET6, "fe80::1"), 1)
    ee6 = struct.pack("=IBBBBII", errno.EMSGSIZE, 3, 2, 0, 0, 1280, 0)
    cases = {
        "empty": b"",
        "pktinfo6-only": cmsg(SOL_IPV6, IPV6_PKTINFO, pi6),
        "ip-pktinfo": cmsg(SOL_IP, IP_PKTINFO, pi4),
        "ip-recverr-offender-v4": cmsg(SOL_IP, IP_RECVERR, ee + off4),
        "ipv6-recverr-too-big-linklocal": cmsg(SOL_IPV6, IPV6_RECVERR, ee6 + off6),
        "recverr-no-offender": cmsg(SOL_IPV6, IPV6_RECVERR, ee),
        "recverr-short-offender": cmsg(SOL_IPV6, IPV6_RECVERR, ee + off6[:10]),
        "recverr-short": cmsg(SOL_IPV6, IPV6_RECVERR, ee[:10]),
        "pktinfo6-short": cmsg(SOL_IPV6, IPV6_PKTINFO, pi6[:19]),
        "ovfl-short": cmsg(socket.SOL_SOCKET, SO_RXQ_OVFL, b"\x01\x00"),
        "len-below-header": cmsg(SOL_IPV6, IPV6_PKTINFO, pi6, length=8),
        "len-past-end": cmsg(SOL_IPV6, IPV6_PKTINFO, pi6, length=4096),
        "len-max": struct.pack("=QII", 2**64 - 1, SOL_IPV6, IPV6_PKTINFO) + pi6,
        "header-cut": cmsg(SOL_IPV6, IPV6_PKTINFO, pi6)[:12],
        "unknown-then-pktinfo": cmsg(99, 1, b"abc") + cmsg(SOL_IPV6, IPV6_PKTINFO, pi6),
        "two-pktinfo-unaligned-tail": cmsg(SOL_IP, IP_PKTINFO, pi4) + cmsg(SOL_IPV6, IPV6_PKTINFO, pi6)[:-3],
        "ovfl-then-recverr": cmsg(socket.SOL_SOCKET, SO_RXQ_OVFL, struct.pack("=I", 7)) +
        cmsg(SOL_IP, IP_RECVERR, ee + off4),
    }
    for name, data in cases.items():
        for flag in (0, 1):
            write("cmsg", "%s%s.bin" % (name, "-ctrunc" if flag else ""), bytes([flag]) + data)
    # shifted off alignment
    write("cmsg", "pktinfo6-misaligned.bin", bytes([3 << 1]) + cases["pktinfo6-only"])


# ----------------------------------------------------------- authority
AUTHORITIES = {
    "v6-any": "[::]", "v6-any-port0": "[::]:0", "v6-port": "[2001:db8::1]:5684",
    "v6-zone-name": "[fe80::1%lo]", "v6-zone-number": "[fe80::1%1]:61616",
    "v6-zone-unknown": "[fe80::1%nosuchif0]", "v6-zone-empty": "[fe80::1%]",
    "v6-zone-long": "[fe80::1%abcdefghijklmnopq]", "v6-zone-pct25": "[fe80::1%25lo]",
    "v6-zone-on-mapped": "[::ffff:192.0.2.1%lo]", "v4": "192.0.2.1", "v4-port": "192.0.2.1:5683",
    "v4-mapped-bracketed": "[::ffff:198.51.100.7]:7", "name": "localhost", "name-port": "localhost:0",
    "name-pct": "ex%41mple.org", "empty": "", "colon-only": ":", "port-only": ":80", "brackets": "[]",
    "open": "[", "unclosed": "[::1", "junk-after": "[::1]x", "stray-close": "h]", "stray-open": "a[b",
    "unbracketed": "::1", "unbracketed-port": "::1:5683", "empty-port": "h:", "port-alpha": "h:abc",
    "port-neg": "h:-1", "port-big": "h:65536", "port-huge": "h:99999999999999999999",
    "port-max": "h:65535", "host-256": "a" * 256, "host-255": "a" * 255,
    "bracket-not-v6": "[example.org]", "v4-in-brackets": "[192.0.2.1]", "nul-inside": "a\0b",
    "nul-in-brackets": "[::1\0]", "space": "a b", "reg-name-subdelims": "a!$&'()*+,;=b",
    "v4-ish": "256.1.1.1", "v4-short": "1.2.3", "double-bracket": "[[::1]]",
}


def authority_seeds():
    clean("authority")
    for name, text in AUTHORITIES.items():
        write("authority", name + ".txt", text.encode("latin-1"))


URIS = {
    "root": "coap://example.org/", "no-path": "coap://example.org", "path-query":
    "coap://example.org/.well-known/core?rt=temp&if=sensor",
    "v6-port": "coap://[2001:db8::1]:5684/a/b", "v6-zone-rfc6874": "coap://[fe80::1%25lo]/x",
    "v6-zone-bare": "coap://[fe80::1%lo]/", "v6-zone-encoded": "coap://[fe80::1%25%6co]/",
    "v4": "coap://192.0.2.1/t", "v4-mapped": "coap://[::ffff:192.0.2.1]/", "upper-scheme": "COAP://H/",
    "pct-host": "coap://ex%41mple.org/", "pct-path": "coap://h/a%2Fb/%00/%ff?q%26=1",
    "dots": "coap://h/a/./b/../c/..", "dots-only": "coap://h/..", "dot-encoded": "coap://h/%2E/%2e%2E",
    "empty-segments": "coap://h//a//", "empty-query": "coap://h/?&&", "port-max": "coap://h:65535/",
    "port-big": "coap://h:65536/", "port-empty": "coap://h:/", "fragment": "coap://h/#f",
    "relative": "/a/b", "other-scheme": "coaps://h/", "http": "http://h/", "userinfo": "coap://u@h/",
    "no-slashes": "coap:h", "ipvfuture": "coap://[v1.x]/", "unbracketed": "coap://::1/",
    "bracket-junk": "coap://[::1]x/", "many-paths": "coap://h" + "/a" * 40,
    "long-values": "coap://h/" + "x" * 1100, "long-host": "coap://" + "h" * 256 + "/",
    "zone-long": "coap://[fe80::1%25" + "z" * 64 + "]/", "bad-pct": "coap://h/%4",
    "space": "coap://h/a b", "digit-regname": "coap://%31.2.3.4/",
}

REMOTES = ["localhost", "[::1]", "[::1]:5683", "127.0.0.1:9", "[fe80::1%lo]", "[fe80::1%1]:7",
           "[ff02::fd%lo]", "224.0.1.187", "[::]", "0.0.0.0", "[2001:db8::1]", "192.0.2.1:0",
           "[fe80::1]", "h:99999", "[::1", "", "[::ffff:127.0.0.1%lo]"]


def opt_bytes(opts):
    out, prev = b"", 0
    for num, val in opts:
        delta, prev = num - prev, num
        dn, dx = (delta, b"") if delta < 13 else (13, bytes([delta - 13])) if delta < 269 else \
            (14, struct.pack(">H", delta - 269))
        ln, lx = (len(val), b"") if len(val) < 13 else (13, bytes([len(val) - 13])) if len(val) < 269 else \
            (14, struct.pack(">H", len(val) - 269))
        out += bytes([dn << 4 | ln]) + dx + lx + val
    return out


def uri_seeds():
    clean("uri")
    for name, text in URIS.items():
        write("uri", "text-%s.txt" % name, b"\0" + text.encode("latin-1"))
        write("uri", "text-%s-cancel.txt" % name, b"\x80" + text.encode("latin-1"))
    for i, text in enumerate(REMOTES):
        write("uri", "remote-%d.txt" % i, b"\x02" + text.encode())
        write("uri", "remote-%d-cancel.txt" % i, b"\x82" + text.encode())
    hdr = bytes([0x40, 0x01, 0x12, 0x34])
    msgs = {
        "host-name": [(3, b"example.org"), (11, b"a")],
        "host-v6": [(3, b"[2001:db8::1]"), (7, b"\x16\x34")],
        "host-v6-zone": [(3, b"fe80::1%lo")],
        "host-v4": [(3, b"192.0.2.1")],
        "host-empty": [(3, b"")],
        "host-nul": [(3, b"a\0b")],
        "host-long": [(3, b"h" * 256)],
        "port-big": [(3, b"h"), (7, b"\x01\x00\x00")],
        "port-5-bytes": [(3, b"h"), (7, b"\x00\x00\x00\x16\x33")],
        "no-host-paths": [(11, b"a"), (11, b""), (11, b"."), (15, b"x=&")],
        "many-paths": [(11, b"p")] * 33,
        "long-path": [(11, b"v" * 1025)],
        "two-hosts": [(3, b"a"), (3, b"b")],
    }
    for name, opts in msgs.items():
        for lead in (1, 0x81):
            write("uri", "msg-%s%s.bin" % (name, "-cancel" if lead & 0x80 else ""),
                  bytes([lead]) + hdr + opt_bytes(opts))
            write("uri", "msg-%s-odd%s.bin" % (name, "-cancel" if lead & 0x80 else ""),
                  bytes([lead]) + hdr + opt_bytes(opts) + b"\xff!")


def messenger_seeds():
    clean("messenger")
    src = os.path.join(TOP, "..", "corpus", "msg")
    D, REPLY, ERR, REQ, CANCEL, RESPOND, SLEEP, SHUT = range(8)
    hdr = lambda t, c, mid, tkl=0: bytes([0x40 | t << 4 | tkl, c]) + struct.pack(">H", mid)
    for expected in sorted(os.listdir(src)):
        for f in sorted(os.listdir(os.path.join(src, expected))):
            with open(os.path.join(src, expected, f), "rb") as fh:
                d = fh.read()
            name = expected.lower().replace("evudp6_e_msg_", "") + "-" + f
            # unicast from sink 0 over IPv6, then via a multicast group over IPv4
            write("messenger", name, bytes([0, D, 0]) + struct.pack(">H", len(d)) + d +
                  bytes([D, 0x06]) + struct.pack(">H", len(d)) + d)
    get = hdr(0, 1, 0x1234, 2) + b"tk" + b"\xb1a"
    scripts = {
        # a request that keeps its exchange, a duplicate, then the answer
        "server-later-duplicate": bytes([0, D, 0]) + struct.pack(">H", len(get)) + get + b"\x40" +
        bytes([D, 0]) + struct.pack(">H", len(get)) + get + bytes([RESPOND, 0, 0, 3]) + b"abc",
        "server-now": bytes([0, D, 1]) + struct.pack(">H", len(get)) + get + bytes([0, 2]) + b"hi",
        "server-no-response": bytes([0, D, 0]) + struct.pack(">H", len(get)) + get + b"\x80",
        "server-free-in-handler": bytes([0, D, 0]) + struct.pack(">H", len(get)) + get + b"\xc4",
        "server-slow-empty-ack": bytes([0x08, D, 0]) + struct.pack(">H", len(get)) + get + b"\x40" +
        bytes([SLEEP, 1, RESPOND, 0, 0, 1]) + b"x" + bytes([SLEEP, 2, REPLY, 0, 2, 0, 0]),
        "server-multicast-leisure": bytes([0x04, D, 0x04]) + struct.pack(">H", len(get)) + get +
        bytes([0, 0]) + bytes([SLEEP, 1]),
        # client: CON GET, piggybacked 2.05
        "client-con-piggyback": bytes([0, REQ, 0, 0, 1]) + b"p" + bytes([0, REPLY, 0, 2, 0x45, 3]) + b"\xffok",
        "client-con-empty-ack-then-separate": bytes([0, REQ, 0, 0, 1]) + b"p" + bytes([0, REPLY, 0, 2, 0]) +
        bytes([0, REPLY, 0, 0, 0x45, 0, 0]),
        "client-non-response": bytes([0, REQ, 2, 1, 0, 0, REPLY, 2, 1, 0x45, 0, 0]),
        "client-ping-rst": bytes([0, REQ, 0, 2, 0, REPLY, 0x20, 3, 0, 0]),
        "client-rst": bytes([0, REQ, 0, 0, 0, 0, REPLY, 0x20, 3, 0, 0]),
        "client-icmp": bytes([0, REQ, 0, 0, 0, 0, ERR, 0, 0, 3, 1, 4, 255]),
        "client-icmp-quote-cut": bytes([0, REQ, 1, 0, 0, 0, ERR, 1, 1, 2, 3, 3, 6]),
        "client-send-error": bytes([0, REQ, 0, 0, 0, 0, ERR, 0x80, 2]),
        "client-retransmit-timeout": bytes([1, REQ, 0, 0, 0, 0, SLEEP, 2, SLEEP, 2, SLEEP, 2]),
        "client-multicast": bytes([0, REQ, 0x30, 1, 0, 0, REPLY, 0x04, 1, 0x45, 0, SLEEP, 2]),
        "client-multicast-con-refused": bytes([0, REQ, 0x30, 0, 0, 0]),
        "client-cancel": bytes([0, REQ, 0, 0, 0, 0, CANCEL, 0, REPLY, 0, 2, 0x45, 0]),
        "client-two-nstart": bytes([0xc2, REQ, 0, 0, 0, 0, REQ, 0, 0, 0, 0, REQ, 0, 0, 0, 0, REPLY, 0, 2, 0x45, 0]),
        "client-free-in-callback": bytes([0, REQ, 0, 0, 0, 0, REPLY, 0, 2, 0x45, 0, 0xc4]),
        "shutdown-pending": bytes([0, REQ, 0, 0, 0, 0, D, 0]) + struct.pack(">H", len(get)) + get + b"\x40" +
        bytes([SHUT]),
    }
    for name, data in scripts.items():
        write("messenger", name + ".bin", data)


def server_seeds():
    clean("server")

    def req(code, opts, payload=b"", typ=0, mid=0x1234, token=b"tk"):
        hdr = bytes([0x40 | typ << 4 | len(token), code, mid >> 8, mid & 0xff]) + token
        return hdr + opt_bytes(sorted(opts, key=lambda o: o[0])) + (b"\xff" + payload if payload else b"")

    def path(p):
        return [(11, s.encode()) for s in p.strip("/").split("/")] if p.strip("/") else []

    core = path("/.well-known/core")
    seeds = {
        "core": (0, req(1, core)),
        "core-rt": (0, req(1, core + [(15, b"rt=x")])),
        "core-rt-prefix": (0, req(1, core + [(15, b"rt=x*")])),
        "core-href": (0, req(1, core + [(15, b"href=/a/*")])),
        "core-two-filters": (0, req(1, core + [(15, b"obs"), (15, b"title=q*")])),
        "core-multicast-nothing": (1, req(1, core + [(15, b"rt=none")], typ=1)),
        "core-accept-json": (0, req(1, core + [(17, b"\x32")])),
        "root": (0, req(1, [])),
        "exact": (0, req(1, path("/a"))),
        "prefix-rest": (0, req(1, path("/a/x/y"))),
        "prefix-longest": (2, req(2, path("/a/b/c"), b"body")),
        "hidden": (0, req(1, path("/h"))),
        "not-found": (0, req(1, path("/nosuch"))),
        "method-not-allowed": (0, req(4, path("/h"))),
        "method-unknown": (0, req(8, path("/a"))),
        "bad-option-unknown": (0, req(1, path("/h") + [(2049, b"x")])),
        "bad-option-allowed": (0, req(1, path("/a") + [(9, b"")])),
        "bad-option-long-path": (0, req(1, [(11, b"p" * 256)])),
        "bad-option-empty-host": (0, req(1, [(3, b"")] + path("/a"))),
        "elective-out-of-range": (0, req(1, path("/a") + [(14, b"12345")])),
        "proxy": (0, req(1, [(35, b"coap://h/")])),
        "unsupported-format": (0, req(3, path("/a") + [(12, b"")], b"x")),
        "accepted-format": (0, req(3, path("/a") + [(12, b"\x3c")], b"x")),
        "not-acceptable": (0, req(1, path("/a") + [(17, b"\x3c")])),
        "observe": (0, req(1, path("/a/x") + [(6, b"")])),
        "remove-self": (0, req(1, path("/rm"))),
        "defer-answer": (4, req(1, path("/d"))),
        "defer-none": (0, req(1, path("/d"), typ=1)),
        "multicast-error": (1, req(1, path("/nosuch"), typ=1)),
        "multicast-no-response-0": (1, req(1, path("/nosuch") + [(258, b"")], typ=1)),
        "ping": (0, bytes([0x40, 0, 0, 1])),
    }
    for name, (flags, data) in seeds.items():
        write("server", name + ".bin", bytes([flags]) + data)


def main():
    msg_seeds()
    server_seeds()
    messenger_seeds()
    cmsg_seeds()
    authority_seeds()
    uri_seeds()
    for h in sorted(d for d in os.listdir(CORPUS) if os.path.isdir(os.path.join(CORPUS, d))):
        print("%s: %d files" % (h, len(os.listdir(os.path.join(CORPUS, h)))))


if __name__ == "__main__":
    main()
