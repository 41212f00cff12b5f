#!/usr/bin/env bash
# bench/soak.sh - `make soak`: the kv server (demo/kvserver.c) moved back
# and forth between simulated hosts A and B (network namespaces; B's serve in
# a PID namespace of its own) SOAK_MOVES times (default 200) with
# --ip-map auto, while a client on host C writes to it and reconnects after
# each move.  At the end: every write the server acknowledged is there; the
# two long-running serves (no --once) have not grown in memory (VmRSS) or
# fds from after the first move to the end; no staging directory, no
# nftables table, no second copy of the server is left.  Appends a report
# to bench/soak.md (SOAK_OUT).  Run as root under
# `flock -o /tmp/ferry-net.lock`.  Ends with "N passed, N failed" (one
# check each) and exits 1 on a failure.
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
FERRY=${FERRY_BIN:-$ROOT/ferry}
if [ "${FERRY_REAPED:-}" != 1 ] && [ -x "$ROOT/tests/bin/subreaper" ]; then
	export FERRY_REAPED=1
	exec "$ROOT/tests/bin/subreaper" "$ROOT/bench/soak.sh" "$@"
fi
# shellcheck source=tests/lib.sh
. tests/lib.sh
close_inherited_fds "$(readlink -f "$0")"
MOVES=${SOAK_MOVES:-200}
OUT=${SOAK_OUT:-bench/soak.md}
export FERRY_NET_PREFIX=fsoak
NA=fsoak-a NB=fsoak-b NC=fsoak-c
T=$(mktemp -d /tmp/ferry-soak.XXXXXX)
STARTED=()
OLD_PID_MAX=$(cat /proc/sys/kernel/pid_max)
[ "$OLD_PID_MAX" -lt 4194304 ] && echo 4194304 >/proc/sys/kernel/pid_max
cleanup() {
	local p
	: >"$T/stop"
	for p in "${STARTED[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in "${STARTED[@]}"; do wait "$p" 2>/dev/null; done
	tests/net/hosts.sh down >/dev/null 2>&1
	for d in /dev/shm/ferry-incoming.*; do [ -d "$d" ] && flock -n "$d/lock" rm -rf "$d"; done
	[ "$(cat /proc/sys/kernel/pid_max)" = 4194304 ] && echo "$OLD_PID_MAX" >/proc/sys/kernel/pid_max
	rm -rf "$T"
}
exec 2> >(trap '' INT TERM HUP; exec grep --line-buffered -v -E '^.*: line [0-9]+: +[0-9]+ Killed( |$)' >&2)
trap cleanup EXIT
trap 'exit 130' INT TERM
gcc -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o tests/bin/net-kvserver demo/kvserver.c || exit 2
tests/net/hosts.sh up >/dev/null || { echo "soak: cannot build the hosts"; exit 2; }
"$FERRY" keygen -o "$T/key" || exit 2
PASSED=0 FAILED=0
pass() { echo "PASS $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $1: $2"; FAILED=$((FAILED + 1)); }

# serves: A's in this PID namespace, B's in one of its own (the moved pid
# must be free there while the frozen source still exists on A)
ip netns exec $NA "$FERRY" serve --listen 10.77.0.1:9000 --key "$T/key" >"$T/serve-a.out" 2>&1 &
SA=$!
STARTED+=("$SA")
ip netns exec $NB unshare --pid --fork --kill-child --mount-proc bash -c \
	'"$0" serve --listen 10.77.0.2:9000 --key "$1" >"$2" 2>&1' "$FERRY" "$T/key" "$T/serve-b.out" </dev/null >/dev/null 2>&1 &
SBU=$!
STARTED+=("$SBU")
for _ in $(seq 100); do
	grep -q "serving migrations" "$T/serve-a.out" 2>/dev/null && grep -q "serving migrations" "$T/serve-b.out" 2>/dev/null && break
	sleep 0.05
done
HOLDER=$(ps -o pid= --ppid "$SBU" | tr -d ' ' | head -n 1)
SB=$(ps -o pid= --ppid "$HOLDER" | tr -d ' ' | head -n 1)	# B's serve, seen from here
[ -n "$SB" ] || { echo "soak: serve on B did not start"; exit 2; }

ip netns exec $NA "$ROOT/tests/bin/net-kvserver" 10.77.0.1:7000 "$T/kv.ready" </dev/null >/dev/null 2>&1 &
KV=$!
STARTED+=("$KV")
for _ in $(seq 100); do [ -e "$T/kv.ready" ] && break; sleep 0.05; done

# the client on C: SET kN vN, one connection until it breaks, then the
# other address; every acknowledged N goes to acked
ip netns exec $NC python3 - "$T" <<'PY' &
import os, socket, sys, time
t = sys.argv[1]
acked = open(os.path.join(t, "acked"), "a", buffering=1)
addrs = ["10.77.0.1", "10.77.0.2"]
n, cur, s, reconnects = 0, 0, None, 0
while not os.path.exists(os.path.join(t, "stop")):
    try:
        if s is None:
            s = socket.create_connection((addrs[cur], 7000), timeout=1)
            f = s.makefile("rb")
            reconnects += 1
        n += 1
        s.sendall(b"SET k%d v%d\n" % (n, n))
        if f.readline().strip() == b"OK":
            acked.write("%d\n" % n)
    except OSError:
        if s is not None:
            s.close()
        s = None
        cur = 1 - cur
        time.sleep(0.02)
open(os.path.join(t, "reconnects"), "w").write("%d\n" % reconnects)
PY
CL=$!
STARTED+=("$CL")

mem() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }
ok=0 t0=$(date +%s)
for ((i = 1; i <= MOVES; i++)); do
	if ((i % 2)); then
		timeout 60 ip netns exec $NA "$FERRY" migrate -t "$KV" --to 10.77.0.2:9000 --key "$T/key" --ip-map auto \
			>/dev/null 2>"$T/mig.err"
	else
		timeout 60 nsenter -t "$HOLDER" -p -m -n "$FERRY" migrate -t "$KV" --to 10.77.0.1:9000 --key "$T/key" \
			--ip-map auto >/dev/null 2>"$T/mig.err"
	fi
	rc=$?
	if [ "$rc" != 0 ]; then
		echo "move $i failed (exit $rc): $(tail -n 2 "$T/mig.err")"
		break
	fi
	ok=$i
	if [ "$i" = 1 ]; then
		MA0=$(mem "$SA") FA0=$(fds "$SA") MB0=$(mem "$SB") FB0=$(fds "$SB")
	fi
	sleep 0.2	# the client gets some writes in on each side
done
secs=$(($(date +%s) - t0))
MA1=$(mem "$SA") FA1=$(fds "$SA") MB1=$(mem "$SB") FB1=$(fds "$SB")
: >"$T/stop"
wait "$CL"
[ "$ok" = "$MOVES" ] && pass "moves ($MOVES)" || fail moves "$ok of $MOVES moves done"
# where it is now: A after an even number of moves, B after an odd one
if ((ok % 2)); then where=10.77.0.2; else where=10.77.0.1; fi
nacked=$(wc -l <"$T/acked")
ip netns exec $NC python3 - "$T/acked" "$where" >"$T/lost" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[2], 7000), timeout=5)
f = s.makefile("rb")
lost = 0
for line in open(sys.argv[1]):
    n = int(line)
    s.sendall(b"GET k%d\n" % n)
    if f.readline().strip() != b"VALUE v%d" % n:
        lost += 1
print(lost)
PY
lost=$(cat "$T/lost")
[ "$lost" = 0 ] && [ "$nacked" -gt 0 ] && pass "acknowledged writes ($nacked)" || fail writes "$lost of $nacked acknowledged writes lost"
# growth: VmRSS within 1 MiB (allocator noise), fds exactly
if [ "$FA1" = "$FA0" ] && [ "$FB1" = "$FB0" ] && [ $((MA1 - MA0)) -le 1024 ] && [ $((MB1 - MB0)) -le 1024 ]; then
	pass "serve did not grow"
else
	fail growth "serve A: ${MA0}->${MA1} kB, ${FA0}->${FA1} fds; serve B: ${MB0}->${MB1} kB, ${FB0}->${FB1} fds"
fi
left=""
ls -d /dev/shm/ferry-incoming.* >/dev/null 2>&1 && left+=" staging"
[ -n "$(ip netns exec $NA nft list tables 2>/dev/null)$(ip netns exec $NB nft list tables 2>/dev/null)" ] && left+=" nftables"
[ "$(pgrep -c -x net-kvserver)" = 1 ] || left+=" copies:$(pgrep -c -x net-kvserver)"
[ -z "$left" ] && pass "nothing left behind" || fail leftovers "$left"
{
	echo
	echo "## soak $(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), $(nproc) cores"
	echo
	echo "| moves | time | acknowledged writes | lost | client reconnects | serve A VmRSS kB / fds | serve B VmRSS kB / fds | left behind |"
	echo "|---|---|---|---|---|---|---|---|"
	echo "| $ok of $MOVES | ${secs} s | $nacked | $lost | $(cat "$T/reconnects" 2>/dev/null) | $MA0 -> $MA1 / $FA0 -> $FA1 | $MB0 -> $MB1 / $FB0 -> $FB1 | ${left:-nothing} |"
} >>"$OUT"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
