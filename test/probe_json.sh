#!/bin/sh
# evudp6-probe --json: every event kind parses as JSON, one object per line,
# with the keys evudp6-probe(1) documents. Loopback only, no privileges.
#   --demo --json gives note, listening, ping, summary (ping, multicast),
#   request (kinds request and ping), response and error (network);
#   separate runs give the error kinds timeout, resolve and reset, and a
#   response with binary payload, opaque, block and unknown options.
set -u
probe=${top_builddir:-.}/tools/evudp6-probe
if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: probe_json needs python3 to parse the output"
	exit 77
fi
tmp=$(mktemp -d /tmp/probe_json.XXXXXX)
pids=
cleanup() {
	for pid in $pids; do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# A peer with odd answers: RST to /rst; to anything else a 2.05 with an
# ETag, Content-Format cbor, Block2, an unknown option and bytes that are
# not UTF-8.
python3 -c '
import socket, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::1", 0))
print(s.getsockname()[1], flush=True)
s.settimeout(1.0)
def opt(delta, value):
    def nib(n):
        return (n, b"") if n < 13 else (13, bytes([n - 13])) if n < 269 else (14, (n - 269).to_bytes(2, "big"))
    d, dx = nib(delta)
    l, lx = nib(len(value))
    return bytes([d << 4 | l]) + dx + lx + value
end = time.time() + 60
while time.time() < end:
    try:
        q, peer = s.recvfrom(1500)
    except socket.timeout:
        continue
    if len(q) < 4 or q[0] >> 6 != 1:
        continue
    tkl = q[0] & 15
    mid = q[2:4]
    if b"rst" in q[4 + tkl:]:
        s.sendto(bytes([0x70, 0]) + mid, peer)
        continue
    rsp = bytes([0x60 | tkl, 0x45]) + mid + q[4:4 + tkl]
    rsp += opt(4, bytes.fromhex("deadbeef"))   # ETag
    rsp += opt(8, bytes([60]))                 # Content-Format 12: cbor
    rsp += opt(11, bytes([0x06]))              # Block2 23: num 0, last, 1024 (a short block with
                                               # "more" would now fetch block 1 and fail)
    rsp += opt(65000 - 23, b"x\x00")           # unknown option 65000
    rsp += b"\xff" + bytes(range(0, 32)) + b"\xc3\x28 not utf-8"
    s.sendto(rsp, peer)' >"$tmp/odd" &
pids="$pids $!"
for _ in $(seq 50); do [ -s "$tmp/odd" ] && break; sleep 0.1; done
odd=$(cat "$tmp/odd")
closed=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("::1", 0)); print(s.getsockname()[1])')
silent_hold() {
	exec python3 -c '
import socket, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::1", 0))
print(s.getsockname()[1], flush=True)
time.sleep(30)'
}
silent_hold >"$tmp/silent" &
pids="$pids $!"
for _ in $(seq 50); do [ -s "$tmp/silent" ] && break; sleep 0.1; done
silent=$(cat "$tmp/silent")

{
	"$probe" --demo --json
	"$probe" --json -T 0.3 "coap://[::1]:$silent/x"
	# a name server nobody runs: a resolution error within -T
	"$probe" --json -T 0.3 --dns "[::1]:$closed" "coap://no-server.test/"
	"$probe" --json "coap://[::1]:$odd/rst"
	"$probe" --json "coap://[::1]:$odd/odd"
	"$probe" --json --ping -c 1 "coap://[::1]:$closed"
} >"$tmp/events" 2>"$tmp/stderr"

# Every line alone through python3 -m json.tool, as a script would.
n=0 bad=0
while IFS= read -r line; do
	n=$((n + 1))
	if ! printf '%s\n' "$line" | python3 -m json.tool >/dev/null 2>&1; then
		bad=$((bad + 1))
		echo "FAIL: line $n is not JSON: $line"
	fi
done <"$tmp/events"

# Then the keys of each kind, and that every kind appeared.
python3 - "$tmp/events" "$n" "$bad" <<'EOF'
import json, sys
path, n, bad = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
passed = failed = 0
def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("PASS: " + name)
    else:
        failed += 1
        print("FAIL: " + name + (("\n      " + detail) if detail else ""))

events = [json.loads(l) for l in open(path)]
check("python3 -m json.tool accepts all %d lines" % n, n > 20 and bad == 0, "%d lines, %d bad" % (n, bad))
required = {
    "note": ["text"],
    "listening": ["address", "port", "joined"],
    "ping": ["uri", "seq", "from", "to", "interface", "type", "rtt_ms"],
    "request": ["kind", "time", "from", "to", "interface", "multicast", "type", "mid"],
    "response": ["uri", "from", "to", "interface", "multicast", "rtt_ms", "type", "code", "code_name", "mid",
                 "token", "options", "payload_len"],
    "notification": ["uri", "n", "seq", "from", "to", "interface", "age_ms", "type", "code", "code_name",
                     "mid", "token", "options", "payload_len"],
    "error": ["kind", "uri", "remote", "error", "message", "icmp", "elapsed_ms", "text"],
    "summary": ["kind", "uri"],
}
for kind, keys in required.items():
    evs = [e for e in events if e.get("event") == kind]
    check("event %s present" % kind, len(evs) > 0)
    missing = [(e, k) for e in evs for k in keys if k not in e]
    check("event %s has %s" % (kind, ", ".join(keys)), not missing, str(missing[:2]))
check("every object starts with the event key", all(list(e)[0] == "event" for e in events))
check("no event of an undocumented kind", all(e["event"] in required for e in events),
      str({e["event"] for e in events} - set(required)))
reqs = [e for e in events if e["event"] == "request"]
check("request kinds are request and ping", {e["kind"] for e in reqs} == {"request", "ping"},
      str({e["kind"] for e in reqs}))
rk = ["method", "token", "path", "payload_len", "code", "code_name"]
check("request kind request has " + ", ".join(rk),
      all(k in e for e in reqs if e["kind"] == "request" for k in rk))
pings = [e for e in reqs if e["kind"] == "ping"]
check("the demo's 3 pings logged by its server, CON answered RST, with distinct mids",
      len(pings) == 3 and all(e["type"] == "CON" and e["answer"] == "RST" and e["multicast"] is False
                              for e in pings) and len({e["mid"] for e in pings}) == 3, str(pings))
errs = {e["kind"] for e in events if e["event"] == "error"}
for k in ("network", "timeout", "resolve", "reset"):
    check("error kind %s present" % k, k in errs, str(errs))
net = [e for e in events if e["event"] == "error" and e["kind"] == "network"]
check("network errors carry ICMP origin, type, code, what, from",
      all(set(e["icmp"]) >= {"origin", "type", "code", "what", "from"} for e in net) and net)
check("a ping error carries its seq", any(e.get("seq") == 1 for e in net))
sums = {e["kind"]: e for e in events if e["event"] == "summary"}
check("ping summary has sent, answered, errors, lost, loss_pct, rtt_*, time_ms",
      "ping" in sums and all(k in sums["ping"] for k in
      ("sent", "answered", "errors", "lost", "loss_pct", "rtt_min_ms", "rtt_avg_ms", "rtt_max_ms", "time_ms")))
skipped4 = any(e["event"] == "note" and e["text"].startswith("skipped") and "224.0.1.187" in e["text"]
               for e in events)
mc = [e for e in events if e["event"] == "response" and e["multicast"]]
if not skipped4:
    check("multicast response and summary from the demo", mc and "multicast" in sums and
          all(k in sums["multicast"] for k in ("responses", "responders", "wait_ms")))
links = [e for e in events if e["event"] == "response" and e.get("content_format") == 40]
check("link-format payload also as a list of links", links and all(isinstance(e["links"], list) for e in links))
odd = [e for e in events if e["event"] == "response" and e["uri"].endswith("/odd")]
check("odd response present", len(odd) == 1)
if odd:
    o = odd[0]
    opts = {x["number"]: x for x in o["options"]}
    check("ETag as value_hex", opts.get(4, {}).get("value_hex") == "deadbeef", str(opts.get(4)))
    check("Content-Format 60 named application/cbor",
          opts.get(12, {}).get("value") == 60 and opts[12].get("format") == "application/cbor", str(opts.get(12)))
    check("Block2 decoded", opts.get(23, {}).get("block_num") == 0 and opts[23].get("block_more") is False
          and opts[23].get("block_size") == 1024, str(opts.get(23)))
    check("unknown option 65000 with name null and value_hex", opts.get(65000, {}).get("name") is None
          and opts[65000].get("value_hex") == "7800", str(opts.get(65000)))
    check("binary payload as payload_hex", "payload" not in o and
          o.get("payload_hex", "").startswith("000102") and o["payload_len"] == 32 + 2 + 10, str(o))
print("probe_json: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
EOF
