#!/usr/bin/env python3
"""tests/real/client.py - the clients of tests/real/run.sh.

Each subcommand talks one protocol to a server at HOST PORT, exits 0 when
every check passed and 1 (with one line on stdout saying which key, object
or reply was wrong) when not.  The data are generated from a seed, so the
fill before a move and the check after it agree without storing anything:

  redis-fill / redis-check  HOST PORT N       N string keys of varied length,
                                              a 6 MiB value, a list and a hash
  mc-fill / mc-check        HOST PORT N       N keys with flags, a 900 KiB item
  http-get                  HOST PORT DOCROOT every file under DOCROOT, byte
                                              for byte (one keep-alive connection)
  java-inc / java-get       HOST PORT [WANT]  the Java server's counter
  hold PROTO HOST PORT DIR  one request/reply on a connection (PROTO: redis,
                            mc, http), writes DIR/held, then waits in recv();
                            writes DIR/result: "ECONNRESET|EOF|DATA|TIMEOUT NS"
                            (NS: CLOCK_REALTIME in ns when it learned)

Only the standard library: a few dozen lines of each protocol are enough,
and a test must not depend on a client library's retries.
"""
import hashlib
import os
import random
import socket
import sys
import time


def conn(host, port, timeout=20):
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Reader:
    """Buffered reads of lines and exact byte counts from a socket."""

    def __init__(self, s):
        self.s, self.buf = s, bytearray()

    def fill(self):
        d = self.s.recv(1 << 20)
        if not d:
            raise EOFError("connection closed by the server")
        self.buf += d

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return out
            self.fill()

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


# --- data -------------------------------------------------------------------

def value(i):
    """Key i's value: 8 to ~1200 bytes, different for every key."""
    r = random.Random(i)
    return (b"v%d-" % i) + r.randbytes(r.randrange(4, 1200)).hex().encode()[: r.randrange(4, 1200)]


def big(seed, size):
    return random.Random(seed).randbytes(size)


def fail(msg):
    print(msg)
    sys.exit(1)


# --- redis (RESP) -------------------------------------------------------------

def resp_cmd(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def resp_reply(rd):
    l = rd.line()
    t, rest = l[:1], l[1:]
    if t in (b"+", b":"):
        return rest if t == b"+" else int(rest)
    if t == b"-":
        raise RuntimeError("redis error: " + rest.decode(errors="replace"))
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        d = rd.exact(n)
        rd.exact(2)
        return d
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [resp_reply(rd) for _ in range(n)]
    raise RuntimeError("bad RESP line %r" % l)


def redis_pipeline(s, rd, cmds):
    s.sendall(b"".join(resp_cmd(*c) for c in cmds))
    return [resp_reply(rd) for _ in cmds]


BIG_REDIS = 6 << 20
LIST_N, HASH_N = 2000, 2000


def redis_fill(host, port, n):
    s = conn(host, port)
    rd = Reader(s)
    for lo in range(1, n + 1, 500):
        cmds = [("SET", "key:%d" % i, value(i)) for i in range(lo, min(lo + 500, n + 1))]
        if any(r != b"OK" for r in redis_pipeline(s, rd, cmds)):
            fail("redis: a SET failed")
    redis_pipeline(s, rd, [("SET", "big", big(1, BIG_REDIS))])
    redis_pipeline(s, rd, [("RPUSH", "list", *[b"item-%d" % i for i in range(LIST_N)])])
    redis_pipeline(s, rd, [("HSET", "hash", *[x for i in range(HASH_N) for x in (b"f%d" % i, value(-i))])])
    redis_pipeline(s, rd, [("INCRBY", "counter", 41), ("INCR", "counter")])


def redis_check(host, port, n):
    s = conn(host, port)
    rd = Reader(s)
    (size,) = redis_pipeline(s, rd, [("DBSIZE",)])
    if size != n + 4:
        fail("redis: DBSIZE %s, expected %d" % (size, n + 4))
    for lo in range(1, n + 1, 500):
        ids = range(lo, min(lo + 500, n + 1))
        (got,) = redis_pipeline(s, rd, [("MGET", *["key:%d" % i for i in ids])])
        for i, v in zip(ids, got):
            if v != value(i):
                fail("redis: key:%d is %r" % (i, v if v is None else v[:40]))
    (b,) = redis_pipeline(s, rd, [("GET", "big")])
    if b is None or hashlib.sha256(b).digest() != hashlib.sha256(big(1, BIG_REDIS)).digest():
        fail("redis: the %d-byte value 'big' differs (%s bytes)" % (BIG_REDIS, None if b is None else len(b)))
    (lst,) = redis_pipeline(s, rd, [("LRANGE", "list", 0, -1)])
    if lst != [b"item-%d" % i for i in range(LIST_N)]:
        fail("redis: the list differs")
    (h,) = redis_pipeline(s, rd, [("HGETALL", "hash")])
    got = dict(zip(h[::2], h[1::2]))
    if got != {b"f%d" % i: value(-i) for i in range(HASH_N)}:
        fail("redis: the hash differs")
    (c,) = redis_pipeline(s, rd, [("GET", "counter")])
    if c != b"42":
        fail("redis: counter is %r, expected 42" % c)
    print("ok redis: %d keys" % (n + 4))


# --- memcached (text protocol) --------------------------------------------------

BIG_MC = 900 << 10


def mc_fill(host, port, n):
    s = conn(host, port)
    rd = Reader(s)
    items = [(b"k%d" % i, i % 65536, value(i)) for i in range(1, n + 1)]
    items.append((b"big", 7, big(2, BIG_MC)))
    for lo in range(0, len(items), 200):
        chunk = items[lo:lo + 200]
        s.sendall(b"".join(b"set %s %d 0 %d\r\n%s\r\n" % (k, f, len(v), v) for k, f, v in chunk))
        for k, _, _ in chunk:
            r = rd.line()
            if r != b"STORED":
                fail("memcached: set %s: %r" % (k.decode(), r))


def mc_check(host, port, n):
    s = conn(host, port)
    rd = Reader(s)
    items = [(b"k%d" % i, i % 65536, value(i)) for i in range(1, n + 1)]
    items.append((b"big", 7, big(2, BIG_MC)))
    for lo in range(0, len(items), 100):
        chunk = items[lo:lo + 100]
        s.sendall(b"get " + b" ".join(k for k, _, _ in chunk) + b"\r\n")
        got = {}
        while True:
            l = rd.line()
            if l == b"END":
                break
            _, k, f, ln = l.split()
            got[k] = (int(f), rd.exact(int(ln)))
            rd.exact(2)
        for k, f, v in chunk:
            if got.get(k) != (f, v):
                fail("memcached: %s is %s" % (k.decode(), "missing" if k not in got else "different"))
    s.sendall(b"stats\r\n")
    stats = {}
    while True:
        l = rd.line()
        if l == b"END":
            break
        p = l.split()
        stats[p[1]] = p[2]
    if int(stats[b"curr_items"]) != n + 1:
        fail("memcached: curr_items %s, expected %d" % (stats[b"curr_items"].decode(), n + 1))
    print("ok memcached: %d items" % (n + 1))


# --- HTTP -----------------------------------------------------------------------

def http_get(s, rd, host, path):
    s.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: keep-alive\r\n\r\n" % (path.encode(), host.encode()))
    status = rd.line()
    hdrs = {}
    while True:
        l = rd.line()
        if not l:
            break
        k, _, v = l.partition(b":")
        hdrs[k.strip().lower()] = v.strip()
    if b"content-length" not in hdrs:
        fail("http %s: no Content-Length (%r)" % (path, status))
    return status, rd.exact(int(hdrs[b"content-length"]))


def http_check(host, port, root):
    s = conn(host, port)
    rd = Reader(s)
    n = 0
    for d, _, files in os.walk(root):
        for f in sorted(files):
            p = os.path.join(d, f)
            url = "/" + os.path.relpath(p, root)
            status, body = http_get(s, rd, host, url)
            with open(p, "rb") as fh:
                want = fh.read()
            if not status.startswith(b"HTTP/1.1 200") or body != want:
                fail("http %s: %r, %d bytes (expected 200, %d bytes)" % (url, status, len(body), len(want)))
            n += 1
    print("ok http: %d files" % n)


def java_req(host, port, path):
    s = conn(host, port)
    rd = Reader(s)
    status, body = http_get(s, rd, host, path)
    if not status.startswith(b"HTTP/1.1 200"):
        fail("java %s: %r" % (path, status))
    return body.decode().strip()


# --- a client holding a connection ----------------------------------------------

def hold(proto, host, port, d):
    s = conn(host, port)
    rd = Reader(s)
    if proto == "redis":
        s.sendall(resp_cmd("PING"))
        resp_reply(rd)
    elif proto == "mc":
        s.sendall(b"version\r\n")
        rd.line()
    else:
        http_get(s, rd, host, "/" if proto == "http" else "/get")
    with open(os.path.join(d, "held"), "w") as f:
        f.write("%s %d\n" % s.getsockname()[:2])
    s.settimeout(60)
    try:
        what = "DATA" if s.recv(4096) else "EOF"
    except ConnectionResetError:
        what = "ECONNRESET"
    except socket.timeout:
        what = "TIMEOUT"
    except OSError as e:
        what = "ERROR-%s" % e.errno
    with open(os.path.join(d, "result.tmp"), "w") as f:
        f.write("%s %d\n" % (what, time.time_ns()))
    os.rename(os.path.join(d, "result.tmp"), os.path.join(d, "result"))


def main(a):
    try:
        cmd = a[0]
        if cmd == "hold":
            hold(a[1], a[2], a[3], a[4])
        elif cmd in ("redis-fill", "redis-check", "mc-fill", "mc-check"):
            globals()[cmd.replace("-", "_")](a[1], a[2], int(a[3]))
        elif cmd == "http-get":
            http_check(a[1], a[2], a[3])
        elif cmd == "java-inc":
            print(java_req(a[1], a[2], "/inc"))
        elif cmd == "java-get":
            got = java_req(a[1], a[2], "/get")
            if len(a) > 3 and got != a[3]:
                fail("java: the state is %r, expected %r" % (got, a[3]))
            print(got)
        else:
            fail("client.py: unknown command %s" % cmd)
    except (OSError, EOFError, RuntimeError, ValueError) as e:
        fail("%s %s: %s: %s" % (a[0], " ".join(a[1:3]), type(e).__name__, e))


if __name__ == "__main__":
    main(sys.argv[1:])
