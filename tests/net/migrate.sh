#!/usr/bin/env bash
# tests/net/migrate.sh - `ferry serve` / `ferry migrate` between simulated
# hosts.  Host B runs `ferry serve` in a PID namespace of its own (and a
# mount namespace with its own /proc), as a second machine would have, so
# the migrated processes keep their PIDs there while the frozen source still
# exists on A.  Ends with "N passed, N failed"; exits 1 on any failure.
# Run as root from the repo root (tests/all.sh does).  FERRY_MIG_PREFIX=P
# names the hosts P-a, P-b, P-c, P-br (default fmig).
# A held client (tests/net/held.py) tells a reset from an orderly close and
# from data; dirty and hog show a random token drawn at start in their
# result, so a fresh start cannot pass for the migrated process; pre-copy is
# seen from outside ferry (the source still runs while B stages its memory).
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
SELF=$(readlink -f "$0")
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"
close_inherited_fds "$SELF"
SCALE=1
[ "${FERRY_ASAN:-0}" = 1 ] && SCALE=3 # ferry under the sanitizers is ~3x slower
export FERRY_NET_PREFIX=${FERRY_MIG_PREFIX:-fmig} # hosts (tests/net/hosts.sh)
NA=$FERRY_NET_PREFIX-a NB=$FERRY_NET_PREFIX-b NC=$FERRY_NET_PREFIX-c NBR=$FERRY_NET_PREFIX-br
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
gcc -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o tests/bin/net-incr tests/net/incr.c || exit 2
gcc -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o tests/bin/net-vmas tests/net/vmas.c || exit 2
gcc -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o tests/bin/net-dualstack tests/net/dualstack.c || exit 2
gcc -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o tests/bin/net-journal tests/net/journal.c || exit 2
[ -x tests/bin/net-client ] || gcc -O2 -std=gnu11 -D_GNU_SOURCE -o tests/bin/net-client tests/net/client.c || exit 2
KV=$ROOT/tests/bin/net-kvserver HOG=$ROOT/tests/bin/net-hog CLIENT=$ROOT/tests/bin/net-client DIRTY=$ROOT/tests/bin/net-dirty
VMAS=$ROOT/tests/bin/net-vmas
JOURNAL=$ROOT/tests/bin/net-journal
DS=$ROOT/tests/bin/net-dualstack
HELD=$ROOT/tests/net/held.py
INCR=$ROOT/tests/bin/net-incr
DRAIN_RUNS=${FERRY_DRAIN_RUNS:-20}
# shellcheck source=tests/net/incr.sh
. tests/net/incr.sh
tests/net/hosts.sh up >/dev/null || { echo "migrate.sh: cannot build the hosts"; exit 2; }
"$FERRY" keygen -o "$T/key" && "$FERRY" keygen -o "$T/badkey" || exit 2

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
# start_serve NETNS LISTEN [PRE [ARGS]]: ferry serve --once ARGS in its own
# PID namespace; PRE runs first inside it.  Sets SERVE (unshare's pid) and
# HOLDER (the namespace's init, as seen from here).
start_serve() {
	rm -f "$T/serve.out"
	ip netns exec "$1" unshare --pid --fork --kill-child --mount-proc bash -c \
		'eval "$1"; "$0" serve --listen "$2" --key "$3" --once $5 >"$4" 2>&1; sleep 600' \
		"$FERRY" "${3:-true}" "$2" "$T/key" "$T/serve.out" "${4:-}" </dev/null >/dev/null 2>&1 &
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
	# (the default 15 s without progress, scaled for the sanitizers; a
	# case's own --timeout comes later and wins)
	timeout $((60 * SCALE)) ip netns exec "$ns" "$FERRY" migrate -t "$pid" --to "$to" --key "$T/key" \
		--timeout $((15 * SCALE)) "$@" >"$T/mig.out" 2>"$T/mig.err"
	MRC=$?
	cat "$T/mig.err" >>"$T/all.out"
}
gone() { # PID: no such process, or a zombie waiting for us to reap it
	local st
	st=$(awk '/^State:/{print $2}' "/proc/$1/status" 2>/dev/null)
	[ -z "$st" ] || [ "$st" = Z ]
}
untouched() { # PID: running, not stopped, not traced
	local st tp
	st=$(awk '/^State:/{print $2}' "/proc/$1/status" 2>/dev/null)
	tp=$(awk '/^TracerPid:/{print $2}' "/proc/$1/status" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != T ] && [ "$st" != t ] && [ "$tp" = 0 ]
}

# held DIR ADDR: a client (tests/net/held.py) holding a connection to the kv
# server at ADDR:7000, from host C, until DIR/result says how it ended
held() {
	mkdir -p "$1"
	rm -f "$1/held" "$1/result" "$1/poke"
	ip netns exec $NC /usr/bin/python3 "$HELD" "$2" 7000 "$1" $((30 * SCALE)) </dev/null >"$1/out" 2>&1 &
	STARTED+=($!)
	for _ in $(seq $((100 * SCALE))); do [ -e "$1/held" ] && return 0; sleep 0.05; done
	return 1
}
held_result() { # DIR: waits for DIR/result (the client's own timeout bounds it), into HELD_RESULT
	HELD_RESULT=""
	for _ in $(seq $((800 * SCALE))); do [ -s "$1/result" ] && break; sleep 0.05; done
	read -r HELD_RESULT 2>/dev/null <"$1/result"
}
# start_prog PROG MIB DIR: dirty or hog on A, ready; PROGPID and TOKEN (its
# random token, which only the very process shows again in its result)
start_prog() {
	mkdir -p "$3"
	ip netns exec $NA "$1" "$2" "$3" </dev/null >/dev/null 2>&1 &
	PROGPID=$!
	STARTED+=("$PROGPID")
	for _ in $(seq $((200 * SCALE))); do [ -s "$3/ready" ] && break; sleep 0.05; done
	TOKEN=$(sed -n 2p "$3/ready" 2>/dev/null)
	[ -n "$TOKEN" ]
}
prog_ok() { # DIR: after go, the result is "ok" with the token of the process started
	: >"$1/go"
	for _ in $(seq $((200 * SCALE))); do [ -s "$1/result" ] && break; sleep 0.05; done
	[ "$(cat "$1/result" 2>/dev/null)" = "ok"$'\n'"$TOKEN" ]
}
# pre-copy seen from outside ferry: once B has staged 8 MiB more than when
# called, PID is still running untraced-stopped and its CPU time grows:
# its memory went while it ran.  Writes "running" or "frozen" to FILE.
watch_precopy() { # PID FILE
	local base n=0 st u0 u1
	base=$(staged_kb)
	while [ $n -lt $((400 * SCALE)) ] && [ "$(staged_kb)" -lt $((base + 8192)) ]; do
		sleep 0.05
		n=$((n + 1))
	done
	st=$(awk '/^State:/{print $2}' "/proc/$1/status" 2>/dev/null)
	u0=$(awk '{print $14}' "/proc/$1/stat" 2>/dev/null)
	sleep 0.3
	u1=$(awk '{print $14}' "/proc/$1/stat" 2>/dev/null)
	if [ "$st" != t ] && [ "$st" != T ] && [ -n "$u0" ] && [ "${u1:-0}" -gt "$u0" ]; then
		echo running >"$2"
	else
		echo "frozen (state ${st:-gone}, utime ${u0:-?} -> ${u1:-?})" >"$2"
	fi
}

# 1. A -> B with an IP change: data intact, new address serving, old clients reset at once
t_migrate() {
	start_kv $NA 10.77.0.1 || { fail migrate "kv server did not start"; return; }
	fill $NC 10.77.0.1 200 || { fail migrate "cannot fill the kv server"; return; }
	# a client holding a connection that exchanged data, then waiting in read
	held "$T/h1" 10.77.0.1 || { fail migrate "the held client did not connect"; return; }
	start_serve $NB 10.77.0.2:9000 || { fail migrate "serve did not start"; return; }
	migrate $NA "$KVPID" 10.77.0.2:9000 --ip-map auto
	[ "$MRC" = 0 ] || { fail migrate "migrate exited $MRC"; kill -9 "$KVPID"; stop_serve; return; }
	grep -q -- "--ip-map auto: 10.77.0.1=10.77.0.2" "$T/mig.err" || { fail migrate "the chosen map was not printed"; stop_serve; return; }
	grep -q "freeze time" "$T/mig.err" || { fail migrate "no summary"; stop_serve; return; }
	[ -e "/proc/$KVPID" ] && { fail migrate "the source still exists on A"; stop_serve; return; }
	check_all $NC 10.77.0.2 200 >"$T/check.out" || { fail migrate "data on B: $(cat "$T/check.out")"; stop_serve; return; }
	# its connection broken by a reset (not data, not an orderly close), before
	# the client's own timeout
	held_result "$T/h1"
	[ "$HELD_RESULT" = RESET ] || { fail migrate "the held client saw '$HELD_RESULT', expected RESET"; stop_serve; return; }
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

# 8. B takes over a service address of A (as a failover pair would): the
# kv server on A serves on 10.77.0.50; B gets that address too before the
# migration, A gives it up after, C forgets A's MAC.  With --tcp-established
# the held connection goes along and answers on the same socket; adding
# --tcp-close breaks it (the client is reset).  Nobody has the address
# afterwards, whatever happened.
SVC=10.77.0.50
addr_on() { ip -n "$1" addr add $SVC/24 dev eth0 2>/dev/null; }
addr_off() { ip -n "$1" addr del $SVC/24 dev eth0 2>/dev/null; }
same_addr_case() { # name expected-result migrate-args...
	same_addr_run "$@"
	kill -9 "$KVPID" 2>/dev/null # the source, if the migration failed
	stop_serve
	addr_off $NA
	addr_off $NB
	ip -n $NC neigh flush dev eth0 2>/dev/null
	return 0
}
same_addr_run() {
	local name=$1 want=$2
	shift 2
	addr_on $NA || { fail "$name" "cannot give host A the address $SVC"; return; }
	start_kv $NA $SVC || { fail "$name" "kv server did not start"; return; }
	fill $NC $SVC 3 || { fail "$name" "cannot fill the kv server"; return; }
	held "$T/h-$name" $SVC || { fail "$name" "the held client did not connect"; return; }
	start_serve $NB 10.77.0.2:9000 || { fail "$name" "serve did not start"; return; }
	addr_on $NB || { fail "$name" "cannot give host B the address $SVC"; return; }
	migrate $NA "$KVPID" 10.77.0.2:9000 "$@"
	[ "$MRC" = 0 ] || { fail "$name" "migrate exited $MRC"; return; }
	gone "$KVPID" || { fail "$name" "the source still runs on A"; return; }
	addr_off $NA
	ip -n $NC neigh flush dev eth0
	: >"$T/h-$name/poke"
	held_result "$T/h-$name"
	[ "$HELD_RESULT" = "$want" ] || { fail "$name" "the held client saw '$HELD_RESULT', expected '$want'"; return; }
	check_all $NC $SVC 3 >"$T/check.out" || { fail "$name" "data after migration: $(cat "$T/check.out")"; return; }
	pass "$name"
}
t_tcp_established() { same_addr_case tcp_established "REPLY COUNT 3" --tcp-established; }
t_tcp_close() { same_addr_case tcp_close RESET --tcp-established --tcp-close; }

# 9. serve --netns: a serve started in host B but told to work in host C's
# network namespace listens there (on C's address, which B has not) and
# restores there (with a map to C's address)
t_serve_netns() {
	serve_netns_run
	kill -9 "$KVPID" 2>/dev/null # the source, if the migration failed
	stop_serve
}
serve_netns_run() {
	start_kv $NA 10.77.0.1 || { fail serve_netns "kv server did not start"; return; }
	fill $NC 10.77.0.1 3 || { fail serve_netns "cannot fill the kv server"; return; }
	start_serve $NB 10.77.0.100:9000 "" "--netns /run/netns/$NC" ||
		{ fail serve_netns "serve did not start: $(cat "$T/serve.out" 2>/dev/null)"; return; }
	migrate $NA "$KVPID" 10.77.0.100:9000 --ip-map 10.77.0.1=10.77.0.100
	[ "$MRC" = 0 ] || { fail serve_netns "migrate exited $MRC"; return; }
	check_all $NC 10.77.0.100 3 >"$T/check.out" || { fail serve_netns "data in host C: $(cat "$T/check.out")"; return; }
	[ -z "$(ip netns exec $NB ss -Hltn 'sport = :7000')" ] || { fail serve_netns "the kv server listens in host B"; return; }
	pass serve_netns
}

# issue 17: host names.  A hosts file of the test's own, bind-mounted over
# /etc/hosts (and nsswitch.conf: files only, no DNS query leaves) in mount
# namespaces of the test's, names ferry-dest fd77::1 first, then 10.77.0.2:
# serve --listen on B cannot bind fd77::1 (A's address) and takes
# 10.77.0.2; migrate --to on A is refused by fd77::1 (nothing listens there
# on A) and reaches 10.77.0.2.  The migrated dirty shows its memory and its
# token.  A name that resolves nowhere fails both commands with one line
# naming it, before anything is frozen.
HOSTS_PRE="mount --bind $T/hosts /etc/hosts && mount --bind $T/nsswitch /etc/nsswitch.conf"
in_hosts_ns() { # NS SECONDS CMD...: CMD in NS with the test's hosts file, for at most SECONDS
	local ns=$1 secs=$2
	shift 2
	timeout "$secs" ip netns exec "$ns" unshare --mount bash -c "$HOSTS_PRE"' && exec "$@"' bash "$@"
}
t_hostnames() {
	printf 'fd77::1 ferry-dest\n10.77.0.2 ferry-dest\n' >"$T/hosts"
	printf 'hosts: files\n' >"$T/nsswitch"
	hostnames_run
	kill -9 "$PROGPID" 2>/dev/null # the source, if the migration failed
	stop_serve
	hostname_unresolvable_run
}
hostnames_run() {
	local dw="$T/dirty-hostnames"
	start_prog "$DIRTY" 8 "$dw" || { fail hostnames "dirty did not start"; return; }
	start_serve $NB ferry-dest:9010 "$HOSTS_PRE" ||
		{ fail hostnames "serve did not start: $(cat "$T/serve.out" 2>/dev/null)"; return; }
	grep -q "serving migrations on ferry-dest:9010 (10.77.0.2:9010)" "$T/serve.out" ||
		{ fail hostnames "serve does not say it took 10.77.0.2: $(cat "$T/serve.out")"; return; }
	in_hosts_ns $NA $((60 * SCALE)) "$FERRY" migrate -t "$PROGPID" --to ferry-dest:9010 --key "$T/key" \
		--timeout $((15 * SCALE)) -v >"$T/mig.out" 2>"$T/mig.err"
	MRC=$?
	cat "$T/mig.err" >>"$T/all.out"
	[ "$MRC" = 0 ] || { fail hostnames "migrate exited $MRC"; return; }
	grep -q "cannot connect to \[fd77::1\]:9010: Connection refused" "$T/mig.err" ||
		{ fail hostnames "fd77::1 was not tried first"; return; }
	grep -q "connected to ferry-dest:9010 at 10.77.0.2:9010" "$T/mig.err" ||
		{ fail hostnames "10.77.0.2 was not reached"; return; }
	gone "$PROGPID" || { fail hostnames "the source still runs on A"; return; }
	prog_ok "$dw" || { fail hostnames "memory after migration (or a fresh start): $(cat "$dw/result" 2>/dev/null)"; return; }
	pass hostnames
}
hostname_unresolvable_run() {
	local dw="$T/dirty-unresolvable" rc
	start_prog "$DIRTY" 8 "$dw" || { fail hostname_unresolvable "dirty did not start"; return; }
	in_hosts_ns $NA $((60 * SCALE)) "$FERRY" migrate -t "$PROGPID" --to nowhere.invalid:9010 --key "$T/key" \
		>"$T/mig.out" 2>"$T/mig.err"
	MRC=$?
	cat "$T/mig.err" >>"$T/all.out"
	in_hosts_ns $NB $((20 * SCALE)) "$FERRY" serve --listen nowhere.invalid:9010 --key "$T/key" --once \
		>"$T/serve-x.out" 2>&1
	rc=$?
	if [ "$MRC" != 1 ]; then
		fail hostname_unresolvable "migrate exited $MRC, expected 1"
	elif [ "$(wc -l <"$T/mig.err")" != 1 ] ||
		! grep -q "cannot resolve host name 'nowhere.invalid'.*nothing was frozen" "$T/mig.err"; then
		fail hostname_unresolvable "migrate's message: $(cat "$T/mig.err")"
	elif ! untouched "$PROGPID"; then
		fail hostname_unresolvable "the source was left frozen or traced"
	elif [ "$rc" != 1 ] || ! grep -q "cannot resolve host name 'nowhere.invalid'" "$T/serve-x.out"; then
		fail hostname_unresolvable "serve exited $rc: $(cat "$T/serve-x.out")"
	elif ! prog_ok "$dw"; then
		fail hostname_unresolvable "the source lost its memory: $(cat "$dw/result" 2>/dev/null)"
	else
		pass hostname_unresolvable
	fi
	kill -9 "$PROGPID" 2>/dev/null
}

# issue 17: migrate --json and serve --json, parsed by tests/json_check.py:
# the events come in order with the figures of the summary; the migrated
# dirty shows its memory and token
t_json() {
	json_run
	kill -9 "$PROGPID" 2>/dev/null
	stop_serve
}
json_run() {
	local dw="$T/dirty-json" why
	start_prog "$DIRTY" 8 "$dw" || { fail json "dirty did not start"; return; }
	start_serve $NB 10.77.0.2:9012 "" --json || { fail json "serve did not start: $(cat "$T/serve.out" 2>/dev/null)"; return; }
	migrate $NA "$PROGPID" 10.77.0.2:9012 --json
	[ "$MRC" = 0 ] || { fail json "migrate exited $MRC"; return; }
	why=$(python3 "$ROOT/tests/json_check.py" migrate "$T/mig.out" "$PROGPID" 2>&1) || { fail json "migrate: $why"; return; }
	why=$(python3 "$ROOT/tests/json_check.py" serve "$T/serve.out" "$PROGPID" 2>&1) || { fail json "serve: $why"; return; }
	prog_ok "$dw" || { fail json "memory after migration (or a fresh start): $(cat "$dw/result" 2>/dev/null)"; return; }
	pass json
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
	start_prog "$HOG" 512 "$hw" || { fail "$name" "hog did not start"; return; }
	local hp=$PROGPID
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
		migrate $NA "$hp" 10.77.0.100:9100 --dest-addr 10.77.0.2:9000 --ip-map 10.77.0.1=10.77.0.2 --timeout 5 ;;
	esac
	[ "$MRC" != 0 ] || { fail "$name" "migrate exited 0"; stop_serve; return; }
	untouched "$hp" || { fail "$name" "the source was left frozen or traced"; stop_serve; return; }
	if [ "$action" = tamper ]; then
		for _ in $(seq $((100 * SCALE))); do grep -q "authentication failed" "$T/serve.out" && break; sleep 0.05; done
		grep -q "authentication failed" "$T/serve.out" || { fail "$name" "serve did not refuse the stream: $(cat "$T/serve.out")"; stop_serve; return; }
	fi
	stop_serve
	prog_ok "$hw" || { fail "$name" "the resumed source's memory check: $(cat "$hw/result" 2>/dev/null)"; return; }
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
	precopy_case precopy running
}
# 7'. --no-pre-copy: the same process frozen first, then sent whole
t_no_precopy() { precopy_case no_precopy frozen --no-pre-copy; }
precopy_case() { # name running|frozen [migrate args]
	local name=$1 want=$2 dw="$T/dirty-$1" wp
	shift 2
	start_prog "$DIRTY" 256 "$dw" || { fail "$name" "dirty did not start"; return; }
	local dp=$PROGPID
	start_serve $NB 10.77.0.2:9000 || { fail "$name" "serve did not start"; return; }
	watch_precopy "$dp" "$dw/seen" &
	wp=$!
	migrate $NA "$dp" 10.77.0.2:9000 "$@"
	wait "$wp"
	[ "$MRC" = 0 ] || { fail "$name" "migrate exited $MRC"; kill -9 "$dp"; stop_serve; return; }
	gone "$dp" || { fail "$name" "the source still runs on A"; stop_serve; return; }
	[[ "$(cat "$dw/seen")" == "$want"* ]] ||
		{ fail "$name" "while B staged its memory the source was $(cat "$dw/seen"), expected $want"; stop_serve; return; }
	if [ "$want" = running ]; then
		grep -qE "; [1-9][0-9]* before the freeze in [1-9]" "$T/mig.err" || { fail "$name" "no pre-copy round reported"; stop_serve; return; }
	fi
	prog_ok "$dw" || { fail "$name" "memory after migration (or a fresh start): $(cat "$dw/result" 2>/dev/null)"; stop_serve; return; }
	stop_serve
	pass "$name"
}

# 8. issue 18: a connection broken by the move (--ip-map auto) still delivers
# the replies the server had written (tests/net/incr.sh), in each of
# DRAIN_RUNS runs: the value on B is the last reply the client received
t_drain() {
	local run
	for ((run = 1; run <= DRAIN_RUNS; run++)); do
		drain_run "$run" || { kill -9 "$KVPID" "$INCRPID" 2>/dev/null; return; }
	done
	pass drain
}
drain_run() {
	local d="$T/drain$1" v
	start_kv $NA 10.77.0.1 || { fail drain "run $1: kv server did not start"; return 1; }
	INCRPID=""
	incr_start $NC $NA 10.77.0.1:7000 "$d" "$KVPID"
	local started=$?
	STARTED+=("$INCRPID")
	[ $started = 0 ] || { fail drain "run $1: $INCR_WHY"; return 1; }
	start_serve $NB 10.77.0.2:9000 || { fail drain "run $1: serve did not start"; return 1; }
	# a generous bound: the client reads as soon as the source is gone
	incr_move "$d" "$KVPID" timeout 60 ip netns exec $NA "$FERRY" migrate -t "$KVPID" --to 10.77.0.2:9000 \
		--key "$T/key" --ip-map auto --drain-timeout $((10 * SCALE)) >"$T/mig.out" 2>"$T/mig.err"
	MRC=$?
	cat "$T/mig.err" >>"$T/all.out"
	[ "$MRC" = 0 ] || { fail drain "run $1: migrate exited $MRC"; stop_serve; return 1; }
	incr_last "$d" || { fail drain "run $1: $INCR_WHY"; stop_serve; return 1; }
	v=$(kv $NC 10.77.0.2 "GET n")
	stop_serve
	[ "$v" = "VALUE $INCR_LAST" ] ||
		{ fail drain "run $1: the server on B has '$v', the last reply the client received was $INCR_LAST"; return 1; }
}

# 9. ... and a migration that fails mid-stream neither drains nor resets it:
# the source resumes with the connection as it was, and the client's
# requests are served there again (the server's count goes on well past
# what the client had sent before the pause)
t_drain_rollback() {
	local d="$T/drain-rb" v="" n
	rm -f "$T/kv.ready"
	ip netns exec $NA "$KV" 10.77.0.1:7000 "$T/kv.ready" 400 </dev/null >"$T/kv.out" 2>&1 &
	KVPID=$!
	STARTED+=("$KVPID")
	for _ in $(seq $((200 * SCALE))); do [ -e "$T/kv.ready" ] && break; sleep 0.05; done
	INCRPID=""
	incr_start $NC $NA 10.77.0.1:7000 "$d" "$KVPID"
	n=$?
	STARTED+=("$INCRPID")
	[ $n = 0 ] || { fail drain_rollback "$INCR_WHY"; kill -9 "$KVPID"; return; }
	start_serve $NB 10.77.0.2:9000 || { fail drain_rollback "serve did not start"; kill -9 "$KVPID"; return; }
	when_streaming kill -9 "$SERVE" &
	local killer=$!
	incr_move "$d" "$KVPID" timeout 60 ip netns exec $NA "$FERRY" migrate -t "$KVPID" --to 10.77.0.2:9000 \
		--key "$T/key" --ip-map auto --timeout 5 --no-pre-copy >"$T/mig.out" 2>"$T/mig.err"
	MRC=$?
	wait $killer
	cat "$T/mig.err" >>"$T/all.out"
	stop_serve
	[ "$MRC" != 0 ] || { fail drain_rollback "migrate exited 0"; kill -9 "$KVPID"; return; }
	untouched "$KVPID" || { fail drain_rollback "the source was left frozen or traced"; kill -9 "$KVPID"; return; }
	for _ in $(seq $((200 * SCALE))); do
		v=$(kv $NC 10.77.0.1 "GET n")
		[[ "$v" =~ ^VALUE\ ([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -gt 20000 ] && break
		sleep 0.05
	done
	kill -0 "$INCRPID" 2>/dev/null || { fail drain_rollback "the client's connection ended: $(cat "$d/incr.out")"; kill -9 "$KVPID"; return; }
	kill -9 "$KVPID"
	[[ "$v" =~ ^VALUE\ ([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -gt 20000 ] ||
		{ fail drain_rollback "the source does not serve the client on after the failed migration (GET n: '$v')"; return; }
	incr_last "$d" || { fail drain_rollback "$INCR_WHY"; return; }
	pass drain_rollback
}

# 8. pre-copy across layout changes (tests/net/vmas.c): the process checks its
# memory from inside once it runs on B.  precopy_fork: a forked child whose heap
# is two adjacent VMAs (its own sbrk next to the inherited one), so pre-copied
# runs span a VMA boundary.  precopy_churn: after a round protected its regions,
# the process splits one by mprotect, punches a hole with munmap, moves and
# grows one with mremap, zaps one with MADV_DONTNEED, makes part of one
# PROT_NONE and shrinks and regrows its brk, all before the freeze.
# vmas_case NAME MODE RESULT_FILES...: migrates a vmas process with pre-copy
vmas_case() {
	local name=$1 mode=$2 vw="$T/vmas-$1"
	shift 2
	mkdir -p "$vw"
	ip netns exec $NA "$VMAS" "$mode" "$vw" </dev/null >/dev/null 2>&1 &
	local vp=$!
	STARTED+=("$vp" "-$vp")	# and its process group (the fork case's child)
	for _ in $(seq $((200 * SCALE))); do [ -e "$vw/ready" ] && break; sleep 0.05; done
	[ -e "$vw/ready" ] || { fail "$name" "the program did not start"; return; }
	start_serve $NB 10.77.0.2:9000 || { fail "$name" "serve did not start"; return; }
	migrate $NA "$vp" 10.77.0.2:9000
	[ "$MRC" = 0 ] || { fail "$name" "migrate exited $MRC"; stop_serve; return; }
	grep -qE "; [1-9][0-9]* before the freeze in [1-9]" "$T/mig.err" || { fail "$name" "no pre-copy round reported"; stop_serve; return; }
	: >"$vw/go"
	local f
	for f in "$@"; do
		for _ in $(seq $((200 * SCALE))); do [ -s "$vw/$f" ] && break; sleep 0.05; done
		grep -qx ok "$vw/$f" 2>/dev/null || { fail "$name" "$f: $(cat "$vw/$f" 2>/dev/null || echo none)"; stop_serve; return; }
	done
	stop_serve
	pass "$name"
}

# 9. pre-copy carries only pages that hold data: 256 MiB mapped, 4 MiB (1024
# pages) written across it.  The pages sent, by ferry's own count, stay within
# a few times the pages written (the mapping is 65536 pages), and on B the
# process finds its data and no untouched page of the mapping populated.
t_precopy_sparse() {
	local sw="$T/sparse"
	mkdir -p "$sw"
	ip netns exec $NA "$VMAS" sparse 256 4 "$sw" </dev/null >/dev/null 2>&1 &
	local sp=$!
	STARTED+=("$sp")
	for _ in $(seq $((200 * SCALE))); do [ -e "$sw/ready" ] && break; sleep 0.05; done
	[ -e "$sw/ready" ] || { fail precopy_sparse "the program did not start"; return; }
	start_serve $NB 10.77.0.2:9000 || { fail precopy_sparse "serve did not start"; return; }
	migrate $NA "$sp" 10.77.0.2:9000 -v
	[ "$MRC" = 0 ] || { fail precopy_sparse "migrate exited $MRC"; stop_serve; return; }
	local sent
	sent=$(awk '/pages sent/ {print $3}' "$T/mig.err")
	grep -qE "; [1-9][0-9]* before the freeze in [1-9]" "$T/mig.err" || { fail precopy_sparse "no pre-copy round reported"; stop_serve; return; }
	[ -n "$sent" ] && [ "$sent" -lt 4096 ] ||
		{ fail precopy_sparse "${sent:-?} pages sent for 1024 written (the mapping has 65536)"; stop_serve; return; }
	: >"$sw/go"
	for _ in $(seq $((200 * SCALE))); do [ -s "$sw/result" ] && break; sleep 0.05; done
	grep -qx ok "$sw/result" 2>/dev/null || { fail precopy_sparse "after migration: $(cat "$sw/result" 2>/dev/null)"; stop_serve; return; }
	stop_serve
	pass precopy_sparse
}

# 8. file locks (the hosts share the files): held by the frozen source until
# the image is complete, then by the copy on B; a restore that fails on B
# gives them back to the source.  lock_probe: what another process on A can
# take of the locks tests/progs/locks holds ("held" if nothing).
lock_probe() { # DIR
	ip netns exec $NA /usr/bin/python3 - "$1" <<'PY'
import fcntl, os, struct, sys
d, free = sys.argv[1], []
def ofd(name, start, ln):  # an OFD write lock: conflicts with any lock of another owner
    fd = os.open(os.path.join(d, name), os.O_RDWR)
    try:
        fcntl.fcntl(fd, 37, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, start, ln, 0))  # F_OFD_SETLK
        free.append("%s[%d,+%d]" % (name, start, ln))
    except OSError:
        pass
    os.close(fd)
def fl(name):
    fd = os.open(os.path.join(d, name), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        free.append(name)
    except OSError:
        pass
    os.close(fd)
for r in ((0, 10), (20, 10), (70, 5), (80, 0)):
    ofd("posix.dat", *r)
ofd("ofd.dat", 5, 10); ofd("ofd.dat", 40, 0); fl("sh.dat"); fl("ex.dat")
print("free: " + " ".join(free) if free else "held")
PY
}
t_locks_handover() {
	local lw="$T/locks" lp probe
	mkdir -p "$lw"
	ip netns exec $NA "$ROOT/tests/bin/locks" "$lw" </dev/null >>"$lw/out" 2>&1 &
	lp=$!
	STARTED+=("$lp")
	for _ in $(seq $((200 * SCALE))); do [ -e "$lw/ready" ] && break; sleep 0.05; done
	[ -e "$lw/ready" ] || { fail locks_handover "the program did not start: $(cat "$lw/out")"; return; }
	probe=$(lock_probe "$lw")
	[ "$probe" = held ] || { fail locks_handover "before the migration, A could take $probe"; return; }
	# B sees sh.dat as a FIFO (a bind mount in its mount namespace, which the
	# pre-flight's existence check lets through): its restore fails after the
	# source gave its locks up
	start_serve $NB 10.77.0.2:9000 "mkfifo $lw/fifo; mount --bind $lw/fifo $lw/sh.dat" ||
		{ fail locks_handover "serve did not start"; return; }
	migrate $NA "$lp" 10.77.0.2:9000 --no-pre-copy
	stop_serve
	[ "$MRC" = 1 ] || { fail locks_handover "migrate with a failing restore exited $MRC"; return; }
	grep -q "another kind of file" "$T/mig.err" || { fail locks_handover "the restore on B did not fail as planned"; return; }
	untouched "$lp" || { fail locks_handover "the source was left frozen or traced"; return; }
	grep -q "LOCK LOST" "$T/mig.err" && { fail locks_handover "the source lost a lock"; return; }
	probe=$(lock_probe "$lw")
	[ "$probe" = held ] || { fail locks_handover "after the failed restore on B, A could take $probe"; return; }
	start_serve $NB 10.77.0.2:9000 || { fail locks_handover "serve did not start"; return; }
	migrate $NA "$lp" 10.77.0.2:9000
	[ "$MRC" = 0 ] || { fail locks_handover "migrate exited $MRC"; stop_serve; return; }
	[ -e "/proc/$lp" ] && { fail locks_handover "the source still exists on A"; stop_serve; return; }
	probe=$(lock_probe "$lw")
	[ "$probe" = held ] || { fail locks_handover "with the process on B, A could take $probe"; stop_serve; return; }
	# the program checks its locks on B, from inside and with a helper
	: >"$lw/go"
	for _ in $(seq $((200 * SCALE))); do grep -qE "OK: |FAIL" "$lw/out" && break; sleep 0.05; done
	grep -q "OK: " "$lw/out" || { fail locks_handover "the program on B: $(grep -v note "$lw/out" | tail -5)"; stop_serve; return; }
	stop_serve
	probe=$(lock_probe "$lw")
	[ "$probe" = "free: posix.dat[0,+10] posix.dat[20,+10] posix.dat[70,+5] posix.dat[80,+0] ofd.dat[5,+10] ofd.dat[40,+0] sh.dat ex.dat" ] ||
		{ fail locks_handover "once the program ended, the probe still found: $probe"; return; }
	pass locks_handover
}

# 8. a dual-stack server on IPv4-mapped addresses (tests/net/dualstack.c, as the JVM
# opens its sockets) with --ip-map auto: refused when B has no IPv4 address (auto
# never moves an IPv4 service to IPv6), then moved within IPv4: reached over IPv4
# at 10.77.0.2, and from inside its sockets are on ::ffff:10.77.0.2
ds_report() { # ADDR: REPORT from the dualstack server at ADDR:7300, from C over IPv4
	timeout 10 ip netns exec $NC bash -c 'exec 3<>"/dev/tcp/$0/7300" && echo REPORT >&3 && cat <&3' "$1" 2>&1
}
t_dualstack() {
	local dw="$T/ds" rep l
	mkdir -p "$dw"
	ip netns exec $NA "$DS" "$dw" 10.77.0.1 10.77.0.100 </dev/null >"$T/ds.out" 2>&1 &
	local dp=$!
	STARTED+=("$dp")
	for _ in $(seq $((100 * SCALE))); do [ -s "$dw/ready" ] && break; sleep 0.05; done
	[ -s "$dw/ready" ] || { fail dualstack "dualstack did not start: $(cat "$T/ds.out")"; return; }
	ip -n $NB addr del 10.77.0.2/24 dev eth0
	if ! start_serve $NB "[fd77::2]:9000"; then
		ip -n $NB addr add 10.77.0.2/24 dev eth0
		fail dualstack_refuse_family "serve did not start: $(cat "$T/serve.out" 2>/dev/null)"
	else
		migrate $NA "$dp" "[fd77::2]:9000" --ip-map auto
		stop_serve
		ip -n $NB addr add 10.77.0.2/24 dev eth0
		if [ "$MRC" != 1 ]; then
			fail dualstack_refuse_family "migrate to a host without IPv4 exited $MRC, expected 1"
		elif ! grep -q "no IPv4 address" "$T/mig.err"; then
			fail dualstack_refuse_family "the refusal does not say B has no IPv4 address"
		elif ! untouched "$dp" || [[ "$(ds_report 10.77.0.1)" != "listener ::ffff:10.77.0.1 7300 v6only 0"* ]]; then
			fail dualstack_refuse_family "the source no longer serves on A"
		else
			pass dualstack_refuse_family
		fi
	fi
	# B makes v6-only IPv6 sockets by default: IPV6_V6ONLY=0 must travel
	ip netns exec $NB sysctl -qw net.ipv6.bindv6only=1
	start_serve $NB 10.77.0.2:9000 || { ip netns exec $NB sysctl -qw net.ipv6.bindv6only=0; fail dualstack "serve did not start"; return; }
	migrate $NA "$dp" 10.77.0.2:9000 --ip-map auto
	ip netns exec $NB sysctl -qw net.ipv6.bindv6only=0
	[ "$MRC" = 0 ] || { fail dualstack "migrate exited $MRC"; stop_serve; return; }
	grep -q -- "--ip-map auto: 10.77.0.1=10.77.0.2 (::ffff:10.77.0.1 moves to ::ffff:10.77.0.2)" "$T/mig.err" ||
		{ fail dualstack "the chosen map was not printed as 10.77.0.1=10.77.0.2"; stop_serve; return; }
	rep=$(ds_report 10.77.0.2)
	for l in "listener ::ffff:10.77.0.2 7300 v6only 0" "udp ::ffff:10.77.0.2 7301" \
		"udpc ::ffff:10.77.0.2 7302 ::ffff:10.77.0.100 7200"; do
		grep -qxF -- "$l" <<<"$rep" || { fail dualstack "the server's report lacks '$l': $(tr '\n' '|' <<<"$rep")"; stop_serve; return; }
	done
	[[ "$rep" =~ (^|$'\n')"pair ok ::ffff:10.77.0.2 7300 10.77.0.2 "[0-9]+($'\n'|$) ]] ||
		{ fail dualstack "the inner connection after the move: $(tr '\n' '|' <<<"$rep")"; stop_serve; return; }
	stop_serve
	pass dualstack
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
t_drain
t_drain_rollback
t_locks_handover
t_precopy
t_no_precopy
t_tcp_established
t_tcp_close
t_serve_netns
vmas_case precopy_fork fork result-parent result-child
vmas_case precopy_churn churn result
t_precopy_sparse
t_preflight
t_hostnames
t_json
t_kv_receiver_killed
hog_case receiver_killed kill
hog_case network_cut cut
hog_case tampered_stream tamper
t_dualstack
# every case reports once, PASS or FAIL: one that said neither was lost
CASES="outside_group vanished_file held_missing migrate migrate_back precopy no_precopy tcp_established tcp_close serve_netns precopy_fork precopy_churn precopy_sparse refuse_unmapped refuse_wrong_key refuse_pid_taken kv_receiver_killed
	receiver_killed network_cut tampered_stream drain drain_rollback locks_handover dualstack_refuse_family dualstack
	hostnames hostname_unresolvable json"
for c in $CASES; do
	[[ " $REPORTED " == *" $c "* ]] || fail "$c" "the case never reported a result"
done
sanitizer_reports "$T/all.out"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
