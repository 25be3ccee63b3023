#!/usr/bin/env python3
"""Write the CoAP datagram corpus replayed by test/check_msg.c.

Each case lands in msg/<EXPECTED>/<fault>.bin, where EXPECTED is what
evudp6_strerror_name() returns for the result evudp6_msg_decode() must give:
an EVUDP6_E_MSG_* name, or OK for datagrams that must decode. Every malformed
case has exactly one fault, so the expected error does not depend on the
order in which the decoder checks things.

Run from anywhere: python3 test/corpus/gen-msg-corpus.py
"""
import os
import shutil
import struct


def hdr(typ=0, tkl=0, code=0x01, mid=0x1234, ver=1):
    return bytes([ver << 6 | typ << 4 | tkl, code]) + struct.pack(">H", mid)


CON, NON, ACK, RST = 0, 1, 2, 3
GET = 0x01
CONTENT = 2 << 5 | 5

# An option with delta 11 (Uri-Path) and an 11-byte value.
URI_PATH_TEMP = bytes([0xBB]) + b"temperature"

CASES = {
    "EVUDP6_E_MSG_SHORT": {
        "short-0-bytes": b"",
        "short-1-byte": b"\x40",
        "short-2-bytes": b"\x40\x01",
        "short-3-bytes": b"\x40\x01\x12",
    },
    "EVUDP6_E_MSG_VERSION": {
        "version-0": hdr(ver=0),
        "version-2": hdr(ver=2),
        "version-3": hdr(ver=3),
        "version-0-with-options": hdr(ver=0) + URI_PATH_TEMP,
    },
    "EVUDP6_E_MSG_TKL": {
        # The token bytes are present so only the length itself is wrong.
        "tkl-%d" % n: hdr(tkl=n) + bytes(range(1, n + 1))
        for n in range(9, 16)
    },
    "EVUDP6_E_MSG_TOKEN_TRUNC": {
        "token-trunc-1-of-0": hdr(tkl=1),
        "token-trunc-4-of-2": hdr(tkl=4) + b"\xaa\xbb",
        "token-trunc-8-of-7": hdr(tkl=8) + bytes(range(7)),
    },
    "EVUDP6_E_MSG_OPT_NIBBLE15": {
        "opt-delta-nibble15": hdr() + b"\xf0",
        "opt-delta-nibble15-length-1": hdr() + b"\xf1x",
        "opt-delta-nibble15-length-14": hdr() + b"\xfe\x00\x00",
        "opt-length-nibble15": hdr() + b"\x0f",
        "opt-length-nibble15-delta-11": hdr() + b"\xbf" + b"x" * 15,
        "opt-length-nibble15-delta-13": hdr() + b"\xdf\x00",
        "opt-nibble15-after-option": hdr() + URI_PATH_TEMP + b"\x1f" + b"x" * 15,
    },
    "EVUDP6_E_MSG_OPT_EXT_TRUNC": {
        "opt-ext-delta-13-missing": hdr() + b"\xd0",
        "opt-ext-delta-14-missing-2": hdr() + b"\xe0",
        "opt-ext-delta-14-missing-1": hdr() + b"\xe0\x00",
        "opt-ext-length-13-missing": hdr() + b"\x0d",
        "opt-ext-length-14-missing-2": hdr() + b"\x0e",
        "opt-ext-length-14-missing-1": hdr() + b"\x0e\x00",
        "opt-ext-length-after-ext-delta": hdr() + b"\xdd\x00",
        "opt-ext-after-option": hdr() + URI_PATH_TEMP + b"\xd0",
    },
    "EVUDP6_E_MSG_OPT_VALUE_TRUNC": {
        "opt-value-missing": hdr() + b"\x01",
        "opt-value-short-by-1": hdr() + b"\x03ab",
        "opt-value-ext13-short-by-1": hdr() + b"\x0d\x00" + b"x" * 12,
        "opt-value-ext14-short-by-1": hdr() + b"\x0e\x00\x00" + b"x" * 268,
        "opt-value-second-option": hdr() + URI_PATH_TEMP + b"\x05abcd",
        # A marker byte inside a value is part of the value, not a marker.
        "opt-value-swallows-marker": hdr() + b"\x03a\xff",
    },
    "EVUDP6_E_MSG_MARKER_NO_PAYLOAD": {
        "marker-without-payload": hdr() + b"\xff",
        "marker-without-payload-after-token": hdr(tkl=2) + b"\x01\x02\xff",
        "marker-without-payload-after-options": hdr() + URI_PATH_TEMP + b"\xff",
        "marker-without-payload-response": hdr(typ=ACK, code=CONTENT) + b"\xff",
    },
    "EVUDP6_E_MSG_EMPTY_NOT_EMPTY": {
        "empty-with-token": hdr(tkl=1, code=0) + b"\x01",
        "empty-with-token-8": hdr(tkl=8, code=0) + bytes(range(8)),
        "empty-with-option": hdr(code=0) + b"\x00",
        "empty-with-payload": hdr(code=0) + b"\xffx",
        "empty-with-marker-only": hdr(code=0) + b"\xff",
        "empty-ack-with-payload": hdr(typ=ACK, code=0) + b"\xff22.3 C",
        "empty-rst-with-token": hdr(typ=RST, tkl=2, code=0) + b"\x01\x02",
    },
    "EVUDP6_E_MSG_CODE_RESERVED": {
        "code-class-1": hdr(code=1 << 5),
        "code-class-1-31": hdr(code=1 << 5 | 31),
        "code-class-6": hdr(code=6 << 5 | 1),
        "code-class-7": hdr(code=7 << 5),
        "code-class-7-31": hdr(code=0xFF),
        "code-class-7-with-payload": hdr(code=7 << 5 | 1) + b"\xffx",
    },
    "OK": {
        # RFC 7252 Appendix A, figures 16 and 17.
        "con-get-temperature": hdr(CON, 0, GET, 0x7D34) + URI_PATH_TEMP,
        "ack-content-22.3": hdr(ACK, 0, CONTENT, 0x7D34) + b"\xff22.3 C",
        "con-get-token": hdr(CON, 1, GET, 0x7D35) + b"\x20" + URI_PATH_TEMP,
        "empty-ack": hdr(ACK, 0, 0, 0x7D38),
        "empty-con-ping": hdr(CON, 0, 0, 0x0001),
        "rst": hdr(RST, 0, 0, 0xFFFF),
        "token-8": hdr(NON, 8, GET, 0) + bytes(range(1, 9)),
        "code-class-3": hdr(code=3 << 5 | 1),
        "opt-ext-delta-13": hdr() + b"\xd1\x00x",
        "opt-ext-delta-14": hdr() + b"\xe1\x00\x00x",
        "opt-ext-length-13": hdr() + b"\x0d\x00" + b"x" * 13,
        "opt-ext-length-14": hdr() + b"\x0e\x00\x00" + b"x" * 269,
        "opt-number-beyond-65535": hdr() + b"\xe0\xff\xff\xe0\xff\xff",
        "opt-value-holds-ff": hdr() + b"\x02\xff\xff\xffx",
    },
}


def main():
    top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "msg")
    shutil.rmtree(top, ignore_errors=True)
    n = 0
    for expected, cases in CASES.items():
        d = os.path.join(top, expected)
        os.makedirs(d)
        for name, data in cases.items():
            with open(os.path.join(d, name + ".bin"), "wb") as f:
                f.write(data)
            n += 1
    print("%d files in %s" % (n, top))


if __name__ == "__main__":
    main()
