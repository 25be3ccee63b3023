#!/usr/bin/env python3
# fd_handover.py PORTFILE KIND PROGRAM ARGS...: make a socket of KIND, put
# it on fd 3, write its port to PORTFILE, and exec PROGRAM (keeping the
# pid, as LISTEN_PID needs). KIND: udp (dual-stack, [::]:0), systemd (udp
# plus LISTEN_FDS=1 and LISTEN_PID), tcp, unbound, dev:IF (udp on
# [::]:5683 with SO_BINDTODEVICE IF), mark:N (udp on [::]:0 with SO_MARK
# N). Used by test/probe_fd*.sh.
import os, socket, sys
portfile, kind, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
stype = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
s = socket.socket(socket.AF_INET6, stype)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
port = 0
if kind.startswith("dev:"):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, kind[4:].encode())
    port = 5683
if kind.startswith("mark:"):
    s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_MARK", 36), int(kind[5:]))
if kind != "unbound":
    s.bind(("::", port))
    port = s.getsockname()[1]
with open(portfile, "w") as f:
    f.write("%d\n" % port)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
if kind == "systemd":
    os.environ["LISTEN_FDS"] = "1"
    os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(argv[0], argv)
