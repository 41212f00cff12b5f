#!/usr/bin/env bash
# tests/net/migrate.sh - `ferry serve` / `ferry migrate` between simulated
# hosts.  Host B runs `ferry serve` in a PID namespace of its own (and a
# mount namespace with its own /proc), as a second machine would have, so
# the migrated processes keep their PIDs there while the frozen source still
# exists on A.  Ends with "N passed, N failed"; exits 1 on any failure.
# Run as root from the repo root (tests/all.sh does).
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
FERRY=$ROOT/ferry
# run as a child subreaper (tests/bin/subreaper), so that killed sources and
# orphaned restored processes free their PIDs at once: PID 1 may reap
# orphaned zombies only every few seconds, and a restore needs the PID free
if [ "${FERRY_REAPED:-}" != 1 ] && [ -x "$ROOT/tests/bin/subreaper" ]; then
	export FERRY_REAPED=1
	exec "$ROOT/tests/bin/subreaper" "$ROOT/tests/net/migrate.sh" "$@"
fi
SCALE=1
[ "${FERRY_ASAN:-0}" = 1 ] && SCALE=3 # ferry under the sanitizers is ~3x slower
export FERRY_NET_PREFIX=fmig
NA=fmig-a NB=fmig-b NC=fmig-c NBR=fmig-br
T=$(mktemp -d /tmp/ferry-mig.XXXXXX)
PASSED=0 FAILED=0 STARTED=()
OLD_PID_MAX=$(cat /proc/sys/kernel/pid_max)
[ "$OLD_PID_MAX" -lt 4194304 ] && echo 4194304 >/proc/sys/kernel/pid_max

cleanup() {
	local p
	for p in "${STARTED[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in "${STARTED[@]}"; do wait "$p" 2>/dev/null; done
	tests/net/hosts.sh down >/dev/null 2>&1
	# staging directories of the receivers we killed (their lock is free)
	for d in /dev/shm/ferry-incoming.*; do
		[ -d "$d" ] && flock -n "$d/lock" rm -rf "$d"
	done
	[ "$(cat /proc/sys/kernel/pid_max)" = 4194304 ] && echo "$OLD_PID_MAX" >/proc/sys/kernel/pid_max
	rm -rf "$T"
}
# bash reports every background job killed by a signal ("line N: PID Killed
# ...") on stderr; the tests kill on purpose, so drop exactly those lines
exec 2> >(trap '' INT TERM HUP; exec grep --line-buffered -v -E '^.*: line [0-9]+: +[0-9]+ Killed( |$)' >&2)
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p tests/bin
gcc -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o tests/bin/net-kvserver demo/kvserver.c || exit 2
gcc -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o tests/bin/net-hog bench/hog.c || exit 2
gcc -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o tests/bin/net-dirty tests/net/dirty.c || exit 2
gcc -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o tests/bin/net-journal tests/net/journal.c || exit 2
[ -x tests/bin/net-client ] || gcc -O2 -std=gnu11 -D_GNU_SOURCE -o tests/bin/net-client tests/net/client.c || exit 2
KV=$ROOT/tests/bin/net-kvserver HOG=$ROOT/tests/bin/net-hog CLIENT=$ROOT/tests/bin/net-client DIRTY=$ROOT/tests/bin/net-dirty JOURNAL=$ROOT/tests/bin/net-journal
tests/net/hosts.sh up >/dev/null || { echo "migrate.sh: cannot build the hosts"; exit 2; }
"$FERRY" keygen >"$T/key" && "$FERRY" keygen >"$T/badkey" || exit 2

REPORTED=""
pass() { echo "PASS $1"; PASSED=$((PASSED + 1)); REPORTED+=" $1"; }
fail() { echo "FAIL $1: $2"; FAILED=$((FAILED + 1)); REPORTED+=" $1"; [ -f "$T/mig.err" ] && sed 's/^/    | /' "$T/mig.err" | tail -15; }

# kv NS ADDR CMD: one request to the kv server at ADDR:7000, prints the reply
kv() {
	timeout 5 ip netns exec "$1" bash -c 'exec 3<>/dev/tcp/$0/7000 && printf "%s\n" "$1" >&3 && read -r -t 3 r <&3 && echo "$r"' "$2" "$3" 2>/dev/null
}
fill() { # NS ADDR N: SET k1..kN
	timeout 20 ip netns exec "$1" bash -c 'exec 3<>/dev/tcp/$0/7000 || exit 1
		for ((i = 1; i <= $1; i++)); do printf "SET k%d value-%d-%s\n" $i $i $(printf "%0200d" $i) >&3; read -r r <&3; done' "$2" "$3"
}
check_all() { # NS ADDR N: every key there with its value
	timeout 20 ip netns exec "$1" bash -c 'exec 3<>/dev/tcp/$0/7000 || exit 1
		for ((i = 1; i <= $1; i++)); do printf "GET k%d\n" $i >&3; read -r r <&3
		[ "$r" = "VALUE value-$i-$(printf "%0200d" $i)" ] || { echo "k$i: $r"; exit 1; }; done' "$2" "$3"
}
start_kv() { # NS ADDR -> KVPID
	rm -f "$T/kv.ready"
	ip netns exec "$1" "$KV" "$2:7000" "$T/kv.ready" </dev/null >"$T/kv.out" 2>&1 &
	KVPID=$!
	STARTED+=("$KVPID")
	for _ in $(seq $((100 * SCALE))); do [ -e "$T/kv.ready" ] && return 0; sleep 0.05; done
	return 1
}
# start_serve NETNS LISTEN [PRE]: ferry serve --once in its own PID namespace;
# PRE runs first inside it.  Sets SERVE (unshare's pid) and HOLDER (the
# namespace's init, as seen from here).
start_serve() {
	rm -f "$T/serve.out"
	ip netns exec "$1" unshare --pid --fork --kill-child --mount-proc bash -c \
		'eval "$1"; "$0" serve --listen "$2" --key "$3" --once >"$4" 2>&1; sleep 600' \
		"$FERRY" "${3:-true}" "$2" "$T/key" "$T/serve.out" </dev/null >/dev/null 2>&1 &
	SERVE=$!
	STARTED+=("$SERVE")
	for _ in $(seq $((100 * SCALE))); do grep -q "serving migrations" "$T/serve.out" 2>/dev/null && break; sleep 0.05; done
	HOLDER=$(ps -o pid= --ppid "$SERVE" | tr -d ' ' | head -n 1)
	grep -q "serving migrations" "$T/serve.out" 2>/dev/null
}
stop_serve() {
	kill -9 "$SERVE" 2>/dev/null
	wait "$SERVE" 2>/dev/null
	# the namespace's init exits last: once it is gone, so is every process
	# of B's PID namespace, with the listening socket of its serve (under
	# the sanitizers an exiting serve can hold it for a while)
	if [ -n "${HOLDER:-}" ]; then
		for _ in $(seq $((200 * SCALE))); do [ -e "/proc/$HOLDER" ] || break; sleep 0.05; done
	fi
	cat "$T/serve.out" >>"$T/all.out" 2>/dev/null
	rm -f "$T/serve.out"
}
migrate() { # NS PID TO [args]: runs ferry migrate in NS, rc in MRC
	local ns=$1 pid=$2 to=$3
	shift 3
	timeout 60 ip netns exec "$ns" "$FERRY" migrate -t "$pid" --to "$to" --key "$T/key" "$@" >"$T/mig.out" 2>"$T/mig.err"
	MRC=$?
	cat "$T/mig.err" >>"$T/all.out"
}
untouched() { # PID: running, not stopped, not traced
	local st tp
	st=$(awk '/^State:/{print $2}' "/proc/$1/status" 2>/dev/null)
	tp=$(awk '/^TracerPid:/{print $2}' "/proc/$1/status" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != T ] && [ "$st" != t ] && [ "$tp" = 0 ]
}

# 1. A -> B with an IP change: data intact, new address serving, old clients reset at once
t_migrate() {
	start_kv $NA 10.77.0.1 || { fail migrate "kv server did not start"; return; }
	fill $NC 10.77.0.1 200 || { fail migrate "cannot fill the kv server"; return; }
	# a client holding a connection that exchanged data, then waiting in read
	ip netns exec $NC bash -c 'exec 3<>/dev/tcp/10.77.0.1/7000 && echo COUNT >&3 && read -r r <&3 && : >"$0/held" &&
		{ read -r -t 20 r <&3; rc=$?; echo "$([ $rc -gt 128 ] && echo TIMEOUT || echo EOF) $(date +%s%N)" >"$0/client-result"; }' "$T" \
		>/dev/null 2>&1 &
	STARTED+=($!)
	for _ in $(seq $((50 * SCALE))); do [ -e "$T/held" ] && break; sleep 0.05; done
	start_serve $NB 10.77.0.2:9000 || { fail migrate "serve did not start"; return; }
	migrate $NA "$KVPID" 10.77.0.2:9000 --ip-map auto
	local done_at; done_at=$(date +%s%N)
	[ "$MRC" = 0 ] || { fail migrate "migrate exited $MRC"; stop_serve; return; }
	grep -q -- "--ip-map auto: 10.77.0.1=10.77.0.2" "$T/mig.err" || { fail migrate "the chosen map was not printed"; stop_serve; return; }
	grep -q "freeze time" "$T/mig.err" || { fail migrate "no summary"; stop_serve; return; }
	[ -e "/proc/$KVPID" ] && { fail migrate "the source still exists on A"; stop_serve; return; }
	check_all $NC 10.77.0.2 200 >"$T/check.out" || { fail migrate "data on B: $(cat "$T/check.out")"; stop_serve; return; }
	for _ in $(seq $((40 * SCALE))); do [ -s "$T/client-result" ] && break; sleep 0.05; done
	local res t_fail
	read -r res t_fail 2>/dev/null <"$T/client-result"
	[ "$res" = EOF ] || { fail migrate "the held client saw '$res'"; stop_serve; return; }
	# promptly, not after a TCP timeout (the sanitizers slow ferry down 3x)
	local limit=$((${FERRY_ASAN:-0} == 1 ? 3000000000 : 1000000000))
	[ $((t_fail - done_at)) -lt $limit ] ||
		{ fail migrate "the held client learned $(((t_fail - done_at) / 1000000)) ms after migrate ended"; stop_serve; return; }
	pass migrate
	B_SERVE=$SERVE B_HOLDER=$HOLDER	# kept for the way back
}

# 6. ... and back from B to A
t_migrate_back() {
	migrate_back_run
	# B's serve (from the first migration) goes, whatever happened
	if [ -n "${B_SERVE:-}" ]; then
		SERVE=$B_SERVE HOLDER=$B_HOLDER
		stop_serve
	fi
}
migrate_back_run() {
	[ -n "${B_HOLDER:-}" ] || { fail migrate_back "nothing to bring back"; return; }
	cat "$T/serve.out" >>"$T/all.out" 2>/dev/null
	rm -f "$T/serve.out"
	ip netns exec $NA "$FERRY" serve --listen 10.77.0.1:9001 --key "$T/key" --once >"$T/serve-a.out" 2>&1 &
	local sa=$!
	STARTED+=("$sa")
	for _ in $(seq $((100 * SCALE))); do grep -q "serving migrations" "$T/serve-a.out" 2>/dev/null && break; sleep 0.05; done
	grep -q "serving migrations" "$T/serve-a.out" 2>/dev/null ||
		{ fail migrate_back "serve on A did not start: $(cat "$T/serve-a.out")"; return; }
	timeout 60 nsenter -t "$B_HOLDER" -p -m -n "$FERRY" migrate -t "$KVPID" --to 10.77.0.1:9001 --key "$T/key" \
		--ip-map 10.77.0.2=10.77.0.1 >"$T/mig.out" 2>"$T/mig.err"
	MRC=$?
	cat "$T/mig.err" >>"$T/all.out"
	[ "$MRC" = 0 ] || { fail migrate_back "migrate exited $MRC"; return; }
	check_all $NC 10.77.0.1 200 >"$T/check.out" || { fail migrate_back "data on A: $(cat "$T/check.out")"; return; }
	[ -e "/proc/$KVPID" ] || { fail migrate_back "pid $KVPID is not back on A"; return; }
	kill -9 "$KVPID" 2>/dev/null
	cat "$T/serve-a.out" >>"$T/all.out" 2>/dev/null
	pass migrate_back
}

# 2. pre-flight refusals freeze nothing
refused() { # name needle [migrate args...]
	local name=$1 needle=$2
	shift 2
	migrate $NA "$KVPID" 10.77.0.2:9000 "$@"
	[ "$MRC" = 1 ] || { fail "$name" "migrate exited $MRC, expected 1"; return 1; }
	grep -qi -- "$needle" "$T/mig.err" || { fail "$name" "message lacks '$needle'"; return 1; }
	untouched "$KVPID" || { fail "$name" "the source was left frozen or traced"; return 1; }
	[ "$(kv $NC 10.77.0.1 COUNT)" = "COUNT 3" ] || { fail "$name" "the source no longer serves on A"; return 1; }
	return 0
}
t_preflight() {
	start_kv $NA 10.77.0.1 || { fail preflight "kv server did not start"; return; }
	fill $NC 10.77.0.1 3
	preflight_case refuse_unmapped "" "10.77.0.1"
	preflight_case refuse_wrong_key "" "authentication" --key "$T/badkey" --ip-map auto
	# on B, KVPID is taken by a process started first in B's PID namespace
	preflight_case refuse_pid_taken "echo $((KVPID - 1)) >/proc/sys/kernel/ns_last_pid; sleep 600 &" \
		"pid $KVPID is taken" --ip-map auto
	kill -9 "$KVPID"
}
preflight_case() { # name PRE needle [migrate args...]
	local name=$1 pre=$2
	shift 2
	if ! start_serve $NB 10.77.0.2:9000 "$pre"; then
		fail "$name" "serve did not start: $(cat "$T/serve.out" 2>/dev/null)"
	elif refused "$name" "$@"; then
		pass "$name"
	fi
	stop_serve
}

# 3/4/5. failures mid-stream leave the source running
# staged_kb: KiB in every receiver's staging directory
staged_kb() { du -sk /dev/shm/ferry-incoming.* 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
# when_streaming CMD...: runs CMD once the receiver has staged 8 MiB more
# than when called (the stream is under way), or after 20 s
when_streaming() {
	local base n=0
	base=$(staged_kb)
	while [ $n -lt 400 ] && [ "$(staged_kb)" -lt $((base + 8192)) ]; do
		sleep 0.05
		n=$((n + 1))
	done
	"$@"
}
hog_case() { # name action
	local name=$1 action=$2 hw="$T/hog-$1"
	mkdir -p "$hw"
	ip netns exec $NA "$HOG" 512 "$hw" </dev/null >/dev/null 2>&1 &
	local hp=$!
	STARTED+=("$hp")
	for _ in $(seq $((200 * SCALE))); do [ -e "$hw/ready" ] && break; sleep 0.05; done
	case $action in
	kill)
		start_serve $NB 10.77.0.2:9000 || { fail "$name" "serve did not start"; return; }
		when_streaming kill -9 "$SERVE" &
		local killer=$!
		migrate $NA "$hp" 10.77.0.2:9000 --ip-map auto --timeout 5 --no-pre-copy
		wait $killer ;;
	cut)
		start_serve $NB 10.77.0.2:9000 || { fail "$name" "serve did not start"; return; }
		when_streaming ip -n $NBR link set veth-b down &
		local cutter=$!
		migrate $NA "$hp" 10.77.0.2:9000 --ip-map auto --timeout 3
		wait $cutter
		ip -n $NBR link set veth-b up ;;
	tamper)
		start_serve $NB 10.77.0.2:9000 || { fail "$name" "serve did not start"; return; }
		ip netns exec $NC /usr/bin/python3 - <<'PY' &
import socket, threading
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.77.0.100", 9100)); l.listen(1); l.settimeout(20)
c, _ = l.accept(); s = socket.create_connection(("10.77.0.2", 9000))
def back():
    try:
        while True:
            d = s.recv(65536)
            if not d: break
            c.sendall(d)
    except OSError: pass
threading.Thread(target=back, daemon=True).start()
seen = 0
try:
    while True:
        d = bytearray(c.recv(65536))
        if not d: break
        if seen <= 200000 < seen + len(d):
            d[200000 - seen] ^= 0x40    # one bit, in the middle of the image
        seen += len(d)
        s.sendall(bytes(d))
except OSError: pass
PY
		STARTED+=($!)
		for _ in $(seq $((200 * SCALE))); do
			ip netns exec $NC ss -Hltn 'sport = :9100' | grep -q . && break
			sleep 0.05
		done
		migrate $NA "$hp" 10.77.0.100:9100 --ip-map 10.77.0.1=10.77.0.2 --timeout 5 ;;
	esac
	[ "$MRC" != 0 ] || { fail "$name" "migrate exited 0"; stop_serve; return; }
	untouched "$hp" || { fail "$name" "the source was left frozen or traced"; stop_serve; return; }
	if [ "$action" = tamper ]; then
		for _ in $(seq $((100 * SCALE))); do grep -q "authentication failed" "$T/serve.out" && break; sleep 0.05; done
		grep -q "authentication failed" "$T/serve.out" || { fail "$name" "serve did not refuse the stream: $(cat "$T/serve.out")"; stop_serve; return; }
	fi
	stop_serve
	: >"$hw/go"
	for _ in $(seq $((200 * SCALE))); do [ -s "$hw/result" ] && break; sleep 0.05; done
	grep -q ok "$hw/result" 2>/dev/null || { fail "$name" "the resumed source's memory check: $(cat "$hw/result" 2>/dev/null)"; return; }
	pass "$name"
}

# 3'. a receiver killed mid-stream: the server on A serves on
t_kv_receiver_killed() {
	rm -f "$T/kv.ready"
	ip netns exec $NA "$KV" 10.77.0.1:7000 "$T/kv.ready" 400 </dev/null >"$T/kv.out" 2>&1 &
	KVPID=$!
	STARTED+=("$KVPID")
	for _ in $(seq $((200 * SCALE))); do [ -e "$T/kv.ready" ] && break; sleep 0.05; done
	fill $NC 10.77.0.1 3
	start_serve $NB 10.77.0.2:9000 || { fail kv_receiver_killed "serve did not start"; return; }
	when_streaming kill -9 "$SERVE" &
	local killer=$!
	migrate $NA "$KVPID" 10.77.0.2:9000 --ip-map auto --timeout 5
	wait $killer
	[ "$MRC" != 0 ] || { fail kv_receiver_killed "migrate exited 0"; return; }
	grep -q "runs on here as before" "$T/mig.err" || { fail kv_receiver_killed "no word that the source runs on"; return; }
	untouched "$KVPID" || { fail kv_receiver_killed "the source was left frozen or traced"; return; }
	[ "$(kv $NC 10.77.0.1 COUNT)" = "COUNT 3" ] || { fail kv_receiver_killed "the source does not serve on A"; return; }
	kill -9 "$KVPID"
	stop_serve
	pass kv_receiver_killed
}

# 7. pre-copy (the default) of a process that keeps rewriting its memory: every page
# comes out as of its last write, and pre-copy rounds ran before the freeze (this
# writer dirties most of its 256 MiB every second: how much the freeze still
# carries is for bench/, not a test)
t_precopy() {
	local dw="$T/dirty"
	mkdir -p "$dw"
	ip netns exec $NA "$DIRTY" 256 "$dw" </dev/null >/dev/null 2>&1 &
	local dp=$!
	STARTED+=("$dp")
	for _ in $(seq $((200 * SCALE))); do [ -e "$dw/ready" ] && break; sleep 0.05; done
	start_serve $NB 10.77.0.2:9000 || { fail precopy "serve did not start"; return; }
	migrate $NA "$dp" 10.77.0.2:9000
	[ "$MRC" = 0 ] || { fail precopy "migrate exited $MRC"; stop_serve; return; }
	grep -qE "; [1-9][0-9]* before the freeze in [1-9]" "$T/mig.err" || { fail precopy "no pre-copy round reported"; stop_serve; return; }
	: >"$dw/go"
	for _ in $(seq $((200 * SCALE))); do [ -s "$dw/result" ] && break; sleep 0.05; done
	grep -q ok "$dw/result" 2>/dev/null || { fail precopy "memory after migration: $(cat "$dw/result" 2>/dev/null)"; stop_serve; return; }
	stop_serve
	pass precopy
}

# 8. a tree started without setsid (a shell and its child, both in this
# script's group): refused without --shell-job before anything is frozen
# or sent, naming the child, the group and the option; with it the tree
# moves, and comes back on B as one group (the group of B's restore), the
# child still the shell's
t_outside_group() {
	local sh="" kid=""
	outside_group_run
	# whatever happened, the tree is gone from A
	[ -n "$sh" ] && kill -9 "$sh" 2>/dev/null
	[ -n "$kid" ] && kill -9 "$kid" 2>/dev/null
	[ -n "$sh" ] && wait "$sh" 2>/dev/null
	return 0
}
field_on_b() { # PID N: field N of /proc/PID/stat after the command name, as B sees it
	nsenter -t "$HOLDER" -p -m cat "/proc/$1/stat" 2>/dev/null | sed 's/.*) //' | cut -d' ' -f"$2"
}
outside_group_run() {
	local g
	ip netns exec $NA bash -c 'sleep 600 & wait' </dev/null >/dev/null 2>&1 &
	sh=$!
	STARTED+=("$sh")
	for _ in $(seq $((100 * SCALE))); do kid=$(ps -o pid= --ppid "$sh" | tr -d ' '); [ -n "$kid" ] && break; sleep 0.05; done
	g=$(ps -o pgid= -p "$sh" | tr -d ' ')
	[ -n "$kid" ] && [ "$(ps -o pgid= -p "$kid" | tr -d ' ')" = "$g" ] || { fail outside_group "no child in the shell's group"; return; }
	migrate $NA "$sh" 10.77.0.2:9000
	[ "$MRC" = 1 ] || { fail outside_group "migrate without --shell-job exited $MRC, expected 1"; return; }
	for n in "$kid" "$g" "--shell-job" "nothing was changed"; do
		grep -q -- "$n" "$T/mig.err" || { fail outside_group "the refusal lacks '$n'"; return; }
	done
	untouched "$sh" && untouched "$kid" || { fail outside_group "the source was left frozen or traced"; return; }
	start_serve $NB 10.77.0.2:9000 || { fail outside_group "serve did not start"; return; }
	migrate $NA "$sh" 10.77.0.2:9000 --shell-job
	[ "$MRC" = 0 ] || { fail outside_group "migrate --shell-job exited $MRC"; stop_serve; return; }
	[ -e "/proc/$sh" ] && { fail outside_group "the source still exists on A"; stop_serve; return; }
	local gs gk pk
	gs=$(field_on_b "$sh" 3) gk=$(field_on_b "$kid" 3) pk=$(field_on_b "$kid" 2)
	[ -n "$gs" ] && [ "$gs" = "$gk" ] || { fail outside_group "on B the shell is in group '$gs', its child in '$gk'"; stop_serve; return; }
	[ "$pk" = "$sh" ] || { fail outside_group "on B the child's parent is '$pk', not $sh"; stop_serve; return; }
	stop_serve
	pass outside_group
}

# 9. files the destination lacks: one the tree held at the survey but let
# go before the freeze (an sqlite journal) is no reason to refuse (the test
# hook FERRY_TEST_AFTER_SURVEY puts the program's close and unlink exactly
# between the survey and the destination's check); one the tree still
# holds (hidden on B by a mount of B's own) is refused before any freeze
start_journal() { # FILE [FIFO] -> JP
	rm -f "$T/journal.ready"
	ip netns exec $NA "$JOURNAL" "$1" "$T/journal.ready" ${2:+"$2"} </dev/null >/dev/null 2>&1 &
	JP=$!
	STARTED+=("$JP")
	for _ in $(seq $((100 * SCALE))); do [ -e "$T/journal.ready" ] && break; sleep 0.05; done
	[ -e "$T/journal.ready" ]
}
t_vanished_file() {
	rm -f "$T/fifo" && mkfifo "$T/fifo"
	start_journal "$T/c.db-journal" "$T/fifo" || { fail vanished_file "the program did not start"; return; }
	start_serve $NB 10.77.0.2:9000 || { fail vanished_file "serve did not start"; return; }
	FERRY_TEST_AFTER_SURVEY=$T/fifo migrate $NA "$JP" 10.77.0.2:9000 --no-pre-copy
	[ "$MRC" = 0 ] || { fail vanished_file "migrate exited $MRC"; stop_serve; return; }
	[ -e "/proc/$JP" ] && { fail vanished_file "the source still exists on A"; stop_serve; return; }
	nsenter -t "$HOLDER" -p -m test -e "/proc/$JP" || { fail vanished_file "pid $JP does not run on B"; stop_serve; return; }
	stop_serve
	pass vanished_file
}
t_held_missing() {
	mkdir -p "$T/hidden"
	start_journal "$T/hidden/held" || { fail held_missing "the program did not start"; return; }
	start_serve $NB 10.77.0.2:9000 "mount -t tmpfs none $T/hidden" || { fail held_missing "serve did not start"; return; }
	migrate $NA "$JP" 10.77.0.2:9000 --no-pre-copy
	[ "$MRC" = 1 ] || { fail held_missing "migrate exited $MRC, expected 1"; stop_serve; return; }
	for n in "pid $JP: fd" "$T/hidden/held" "missing at the destination" "nothing was frozen"; do
		grep -q -- "$n" "$T/mig.err" || { fail held_missing "the refusal lacks '$n'"; stop_serve; return; }
	done
	untouched "$JP" || { fail held_missing "the source was left frozen or traced"; stop_serve; return; }
	kill -9 "$JP"
	stop_serve
	pass held_missing
}

t_outside_group
t_vanished_file
t_held_missing
t_migrate
t_migrate_back
t_precopy
t_preflight
t_kv_receiver_killed
hog_case receiver_killed kill
hog_case network_cut cut
hog_case tampered_stream tamper
# every case reports once, PASS or FAIL: one that said neither was lost
CASES="outside_group vanished_file held_missing migrate migrate_back precopy refuse_unmapped refuse_wrong_key refuse_pid_taken kv_receiver_killed
	receiver_killed network_cut tampered_stream"
for c in $CASES; do
	[[ " $REPORTED " == *" $c "* ]] || fail "$c" "the case never reported a result"
done
# under the sanitizers a report anywhere in ferry's output is a failure
if [ "${FERRY_ASAN:-0}" = 1 ] && grep -q -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/all.out" 2>/dev/null; then
	fail sanitizers "a sanitizer report in ferry's output:"
	grep -A12 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/all.out" | head -n 30 | sed 's/^/    | /'
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
