#!/usr/bin/env python3
"""tests/json_check.py KIND FILE [ARGS]: checks the --json events of one
ferry command (tests/pkg.sh and tests/net/migrate.sh call it).  Every line
of FILE that starts with '{' must be one JSON object with "event",
"command" and "time"; then, by KIND:
  dump PID          started, frozen, progress (bytes and pages never going
                    back, the last one's bytes = the result's), result ok
                    with that pid
  restore PID       started, restored and result with pid PID and exit_status 0
  error PID FD      one error event: pid PID, fd FD, an object naming fd FD,
                    the message as on stderr, no result
  check RC          a check event per feature (ok/warn/fail), a result whose
                    ok matches the exit status RC
  migrate PID       started, connected, progress (pre-copy), frozen, sent,
                    restored, result with the summary's figures
  serve PID         started (listening) and restored with pid PID
Prints what is wrong and exits 1, or exits 0."""
import json
import sys

kind, path, args = sys.argv[1], sys.argv[2], sys.argv[3:]
ev = []
for n, line in enumerate(open(path), 1):
    if not line.startswith("{"):
        continue
    try:
        o = json.loads(line)
    except ValueError as e:
        sys.exit(f"line {n} is not JSON ({e}): {line!r}")
    if not isinstance(o, dict) or not {"event", "command", "time"} <= o.keys():
        sys.exit(f"line {n} lacks event/command/time: {line!r}")
    ev.append(o)
kinds = [o["event"] for o in ev]


def one(k):
    got = [o for o in ev if o["event"] == k]
    if not got:
        sys.exit(f"no {k} event in {kinds}")
    return got[-1]


def need(cond, what):
    if not cond:
        sys.exit(f"{what}; events: {json.dumps(ev)}")


if kind == "dump":
    pid = int(args[0])
    need(kinds[0] == "started" and one("started")["pid"] == pid, "started first, with the pid")
    need(kinds.index("frozen") < kinds.index("progress"), "frozen before progress")
    prog = [o for o in ev if o["event"] == "progress"]
    need(all(a["bytes"] <= b["bytes"] and a["pages"] <= b["pages"] for a, b in zip(prog, prog[1:])), "progress goes forward")
    r = one("result")
    need(kinds[-1] == "result" and r["ok"] is True and r["pid"] == pid, "result last, ok, with the pid")
    need(r["pages"] > 0 and r["bytes"] == prog[-1]["bytes"] and prog[-1]["pages"] > 0, "result figures = last progress")
    need(one("frozen")["processes"] == r["processes"] >= 1, "frozen and result count the same processes")
elif kind == "restore":
    pid = int(args[0])
    need(kinds[0] == "started", "started first")
    need(one("restored")["pid"] == pid, "restored with the pid")
    r = one("result")
    need(kinds[-1] == "result" and r["ok"] is True and r["pid"] == pid and r["exit_status"] == 0, "result ok, exit status 0")
elif kind == "error":
    pid, fd = int(args[0]), int(args[1])
    e = one("error")
    need("result" not in kinds, "no result after an error")
    need(e["pid"] == pid and e["fd"] == fd and e["object"].startswith(f"fd {fd}"), "error names pid, fd and object")
    need(e["message"] == args[2], f"message as on stderr: {args[2]!r}")
elif kind == "check":
    rc = int(args[0])
    checks = [o for o in ev if o["event"] == "check"]
    need(len(checks) >= 5 and all(o["status"] in ("ok", "warn", "fail") and o["feature"] for o in checks), "check events")
    r = one("result")
    need(r["ok"] == (rc == 0) and r["missing"] == sum(o["status"] == "fail" for o in checks), "result matches")
elif kind == "migrate":
    pid = int(args[0])
    for k in ("started", "connected", "frozen", "sent", "restored", "result"):
        one(k)
    order = [kinds.index(k) for k in ("started", "connected", "frozen", "sent", "restored", "result")]
    need(order == sorted(order), "events in order")
    pre = [o for o in ev if o["event"] == "progress" and o.get("phase") == "pre-copy"]
    need(pre and pre[0]["pages"] > 0 and pre[0]["bytes"] > 0, "pre-copy progress with pages and bytes")
    r = one("result")
    need(r["ok"] is True and r["pid"] == pid and r["dest_pid"] == one("restored")["pid"], "result with both pids")
    need(r["pages"] >= r["pages_before_freeze"] > 0 and r["bytes_on_wire"] > 0 and r["pre_copy_rounds"] >= 1, "result figures")
    need(r["freeze_seconds"] > 0 and r["total_seconds"] >= r["freeze_seconds"], "result times")
elif kind == "serve":
    pid = int(args[0])
    need(kinds[0] == "started" and one("started")["address"], "started first, with the address")
    need(one("restored")["pid"] == pid, "restored with the pid")
else:
    sys.exit(f"unknown kind {kind}")
