#!/usr/bin/python3
"""held.py ADDR PORT DIR TIMEOUT: a client of demo/kvserver.c (or of
tests/net/echo_server.c, which echoes its requests) that holds one
connection across a migration and says how it ended, telling a reset from
an orderly close and from data.

Connects, sends COUNT, reads the reply, creates DIR/held.  Then, until
TIMEOUT seconds pass, it watches both the socket and DIR/poke:
  - the socket becomes readable first: DIR/result gets "RESET" (ECONNRESET),
    "EOF" (an orderly close) or "DATA <bytes>" (nobody should send any);
  - DIR/poke appears first: it sends COUNT again on the same connection and
    DIR/result gets "REPLY <the reply line>", or RESET / EOF / TIMEOUT;
  - neither: "TIMEOUT".
DIR/result is written atomically (temp file, rename)."""
import os, select, socket, sys, time

addr, port, d, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])


def result(text):
    with open(os.path.join(d, "result.tmp"), "w") as f:
        f.write(text + "\n")
    os.rename(os.path.join(d, "result.tmp"), os.path.join(d, "result"))
    sys.exit(0)


def ended(s):
    """The socket is readable: how did the connection end?"""
    try:
        data = s.recv(4096)
    except ConnectionResetError:
        result("RESET")
    except OSError as e:
        result("ERROR " + str(e.errno))
    if not data:
        result("EOF")
    return data


s = socket.create_connection((addr, port), timeout=10)
s.sendall(b"COUNT\n")
first = s.makefile("rb").readline()  # the reply, one line
if not first.startswith(b"COUNT"):  # "COUNT n" from the kv server, "COUNT" echoed
    result("BAD-FIRST " + repr(first))
s.settimeout(None)
with open(os.path.join(d, "held"), "w") as f:
    f.write("held\n")
end = time.monotonic() + timeout
poke = os.path.join(d, "poke")
while time.monotonic() < end:
    r, _, _ = select.select([s], [], [], 0.05)
    if r:
        result("DATA " + repr(ended(s)))
    if os.path.exists(poke):
        try:
            s.sendall(b"COUNT\n")
        except ConnectionResetError:
            result("RESET")
        except BrokenPipeError:
            result("EOF")
        line = b""
        while not line.endswith(b"\n") and time.monotonic() < end:
            r, _, _ = select.select([s], [], [], 0.05)
            if r:
                line += ended(s)
        if line.endswith(b"\n"):
            result("REPLY " + line.decode().strip())
        break
result("TIMEOUT")
