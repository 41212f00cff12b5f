#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz/corpus/{stream,serve,proc,ipmap}
(fuzz/mkseeds.sh writes those of image from real dumps)."""
import json, os, struct, sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

# --- stream: [type][final][len u16 LE][payload] (fuzz_stream.c) ---
F_HELLO, F_PREFLIGHT, F_IMAGE_END, F_ABORT, F_ALIVE = 15, 3, 10, 13, 14
IMG_BEGIN, IMG_DATA, IMG_END, PRE_PAGES = 3, 4, 5, 20

def fr(t, payload=b"", final=0):
    if isinstance(payload, str):
        payload = payload.encode()
    return struct.pack("<BBH", t, final, len(payload)) + payload

def js(o):
    return json.dumps(o, separators=(",", ":"))

hello = fr(F_HELLO, js({"version": 1}))
pre = fr(F_PREFLIGHT, js({"pids": [4242424], "tids": [4242425], "files": ["/etc/hostname", "/nonexistent"],
                          "xcr0": "0x7", "ipmap": ["10.0.0.1=10.0.0.2", "fd00::1=fd00::2"],
                          "addrs": ["127.0.0.1", "::1", "::ffff:127.0.0.1"]}))
manifest = js({"format": "ferry-image", "version": 1, "pids": [4242424],
               "files": {"core-4242424.json": {"size": 2, "xxh3": "0"}}})
def file(name, data):
    return fr(IMG_BEGIN, name.encode() + b"\0") + fr(IMG_DATA, data) + fr(IMG_END)
page = b"\x5a" * 4096
prep = struct.pack("<IIQ", 4242424, 1, 0x10000) + page
premap = struct.pack("<QQ", 0x10000, 1) + struct.pack("<QQ", 0x20000, 1)
end = fr(F_IMAGE_END, js({"tcp_close": False, "ipmap": ["10.0.0.1=10.0.0.2"]}), 1)
put("stream", "hello-only", hello)
put("stream", "preflight", hello + pre)
put("stream", "abort", hello + fr(F_ABORT, js({"error": "the source gave up"}), 1))
put("stream", "alive", hello + fr(F_ALIVE, "{}") + pre)
put("stream", "image", hello + pre + file("manifest.json", manifest) + file("core-4242424.json", "{}") + end)
put("stream", "precopy", hello + pre + fr(PRE_PAGES, prep) + fr(PRE_PAGES, prep) +
    file("manifest.json", manifest) + file("premap-4242424.img", premap) + end)

# --- serve: raw bytes from a client without the key (fuzz_serve.c) ---
put("serve", "magic-only", b"FERRYMIG1" + b"\1" * 24)
put("serve", "header", b"FERRYMIG1" + b"\1" * 24 + b"\2" * 24 + struct.pack(">I", 40) + b"\3" * 40)
put("serve", "huge-frame", b"FERRYMIG1" + b"\1" * 24 + b"\2" * 24 + struct.pack(">I", 0xffffffff))
put("serve", "http", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")

# --- proc: [kind u8][text] (fuzz_proc.c) ---
P_STAT, P_STATUS, P_SMAPS, P_LIMITS, P_EVENTFD, P_SIGNALFD, P_TIMERFD, P_EPOLL, P_INOTIFY, P_LOCKS, P_MOUNTINFO = range(11)
def pk(kind, text):
    return bytes([kind]) + text.encode()
put("proc", "stat", pk(P_STAT, "1234 (a (b) c) S 1 1234 1234 34816 1234 4194560 100 0 0 0 1 2 0 0 20 0 3 0 "
                          "5000 10000000 300 18446744073709551615 94000000000000 94000000100000 "
                          "140000000000000 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94000000200000 94000000210000 "
                          "94000001000000 140000000001000 140000000001100 140000000001100 140000000002000 0\n"))
put("proc", "status", pk(P_STATUS, "Name:\tx\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t1234\nPid:\t1234\n"
                              "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t1 2 3 \nThreads:\t2\n"
                              "CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n"
                              "CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t0\n"))
put("proc", "smaps", pk(P_SMAPS, "55d0c0000000-55d0c0001000 r--p 00000000 fe:01 1234 /usr/bin/x\n"
                            "Size:                  4 kB\nVmFlags: rd mr mw me dw sd \n"
                            "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]\n"
                            "VmFlags: rd wr mr mw me gd ac \n"
                            "7f0000000000-7f0000001000 rw-s 00000000 00:01 99 /memfd:x (deleted)\n"))
put("proc", "limits", pk(P_LIMITS, "Limit                     Soft Limit           Hard Limit           Units     \n"
                              "Max cpu time              unlimited            unlimited            seconds   \n"
                              "Max open files            1024                 1048576              files     \n"))
put("proc", "eventfd", pk(P_EVENTFD, "pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1\neventfd-count:                5\neventfd-id: 1\neventfd-semaphore: 1\n"))
put("proc", "signalfd", pk(P_SIGNALFD, "pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1\nsigmask:\t0000000000000202\n"))
put("proc", "timerfd", pk(P_TIMERFD, "pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1\nclockid: 1\nticks: 3\n"
                                "settime flags: 01\nit_value: (5, 100)\nit_interval: (1, 0)\n"))
put("proc", "epoll", pk(P_EPOLL, "pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1\n"
                            "tfd:        0 events:       19 data:                0  pos:0 ino:1 sdev:f\n"
                            "tfd:        1 events:       19 data:       ffffffffff  pos:0 ino:1 sdev:f\n"))
put("proc", "inotify", pk(P_INOTIFY, "pos:\t0\nflags:\t00\nmnt_id:\t15\nino:\t1\n"
                                "inotify wd:1 ino:2 sdev:800001 mask:fc6 ignored_mask:0 fhandle-bytes:8 "
                                "fhandle-type:1 f_handle:0200000000000000\n"))
put("proc", "locks", pk(P_LOCKS, "pos:\t0\nflags:\t0100002\nmnt_id:\t15\nino:\t1\n"
                            "lock:\t1: POSIX  ADVISORY  WRITE 1234 fe:01:1234 0 EOF\n"
                            "lock:\t2: FLOCK  ADVISORY  READ 1234 fe:01:1234 0 EOF\n"
                            "lock:\t3: OFDLCK ADVISORY  WRITE -1 fe:01:1234 10 20\n"))
put("proc", "mountinfo", pk(P_MOUNTINFO, "pos:\t0\nflags:\t00\nmnt_id:\t15\nino:\t1\n"
                                    "inotify wd:1 ino:2 sdev:800001 mask:fc6 ignored_mask:0 fhandle-bytes:8 "
                                    "fhandle-type:1 f_handle:0200000000000000\n"
                                    "\x00" "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
                                    "23 22 0:21 / /proc rw - proc proc rw\n"))

# --- ipmap: lines of --ip-map specs, then addresses to map (fuzz_ipmap.c) ---
put("ipmap", "v4", "10.0.0.1=10.0.0.2\n192.168.1.5=192.168.2.5\n--\n10.0.0.1\n10.0.0.3\n::ffff:10.0.0.1\n")
put("ipmap", "v6", "fd00::1=fd00::2\n::ffff:1.2.3.4=::ffff:5.6.7.8\n--\nfd00::1\n::ffff:1.2.3.4\n1.2.3.4\n")
put("ipmap", "bad", "10.0.0.1=\n=::1\n10.0.0.1=::1\nauto\n1.2.3.4=1.2.3.4=5\n--\n")
