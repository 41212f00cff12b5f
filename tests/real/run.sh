#!/usr/bin/env bash
# tests/real/run.sh - real servers from Debian moved between simulated hosts:
# the programs users move, with the state they hold.
#
# Servers (started here, each with its own config, port and files in the
# temp dir, on host A's address 10.77.0.1; never the distribution's
# service):
#   redis      redis-server (daemonized, its bio and jemalloc threads), 6000
#              keys of varied length, a 6 MiB value, a list, a hash, a counter
#   memcached  memcached -d with 2 worker threads, 5000 items with flags and
#              a 900 KiB one
#   nginx      nginx (daemonized) master and 2 worker processes serving a
#              docroot of small files and a 3 MiB one
#   java       tests/real/Server.java (OpenJDK 17, com.sun.net.httpserver)
#              bound to 10.77.0.1, so listening on [::ffff:10.77.0.1]:8080,
#              with a counter and 8 MiB of numbers in its heap
# Each is moved two ways (test names for FERRY_REAL_TESTS):
#   NAME-dump     `ferry dump`, then `ferry restore --netns <host B>
#                 --ip-map 10.77.0.1=10.77.0.2`
#   NAME-migrate  `ferry serve` on host B in a PID, mount and network
#                 namespace of its own (as a second machine has), `ferry
#                 migrate --ip-map auto` with pre-copy (the default) from A
# After each move a client on host C checks every key, item, file or the
# counter on the new address 10.77.0.2, and a client that held a connection
# to the old address (one request answered, then waiting for more) must have
# seen it reset, not hang.  nginx must run its master and the same 2 workers.
# A migration must have run pre-copy rounds, and the tree must run in B's
# PID namespace with its PIDs.
#
# Hosts: tests/net/hosts.sh with FERRY_NET_PREFIX=freal (freal-a, freal-b,
# freal-c, freal-br), brought up here and always torn down on exit, with every
# process we started and the temp dir.
# Environment: FERRY_REAL_TESTS="redis-dump java-migrate ..." runs only
# those; FERRY_ASAN=1 longer waits, and a sanitizer report in ferry's output
# fails; FERRY_KEEP=1 keeps the temp dir.
# Output: "PASS name" / "FAIL name: reason" per test, then "N passed, N
# failed"; exit 1 on any failure.  Run as root from anywhere (tests/all.sh
# does).
set -u
export LC_ALL=C
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
FERRY=${FERRY_BIN:-$ROOT/ferry}
CLIENT_PY=$ROOT/tests/real/client.py
SELECT=" ${FERRY_REAL_TESTS:-} "
SCALE=1
[ "${FERRY_ASAN:-0}" = 1 ] && SCALE=3 # ferry under the sanitizers is ~3x slower

[ "$(id -u)" = 0 ] || { echo "tests/real/run.sh: must run as root" >&2; exit 2; }
# a missing program is a failure, never a skip (scripts/deps.sh installs them)
missing=""
for t in redis-server memcached nginx java javac python3 ip nsenter unshare setsid "$FERRY"; do
	command -v "$t" >/dev/null || missing+=" $t"
done
if [ -n "$missing" ]; then
	echo "FAIL setup: not installed:$missing (scripts/deps.sh installs them)"
	echo "0 passed, 1 failed"
	exit 1
fi

# run as a child subreaper: the daemons we start, and the restored trees once
# ferry restore -d exits, are our children, and killed ones free their PIDs
if [ "${FERRY_REAPED:-}" != 1 ]; then
	[ -x "$ROOT/tests/bin/subreaper" ] || { echo "tests/real/run.sh: build first (make all)" >&2; exit 2; }
	export FERRY_REAPED=1
	exec "$ROOT/tests/bin/subreaper" "$ROOT/tests/real/run.sh" "$@"
fi

SELF=$(readlink -f "$0")
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"
close_inherited_fds "$SELF"

export FERRY_NET_PREFIX=freal
NA=freal-a NB=freal-b NC=freal-c
A=10.77.0.1 B=10.77.0.2
T=$(mktemp -d /tmp/ferry-real.XXXXXX) || exit 2
T=$(cd "$T" && pwd -P)
chmod 755 "$T" # nginx's workers (www-data) read their docroot under it
TMPROOT=$T
WD=$T
PASSED=0 FAILED=0 REPORTED=""
SERVES=() # pids of the `unshare` around each serve
HOLDPID="" # the client holding a connection
OLD_PID_MAX=$(cat /proc/sys/kernel/pid_max)

# sleep without forking
mkfifo "$T/.nap" || exit 2
exec {NAPFD}<>"$T/.nap"
nap() { read -r -t "$1" -u "$NAPFD" _ 2>/dev/null; return 0; }


# every descendant of pid $1 (children of each of its threads), depth first
descendants() {
	local c t kids
	for t in /proc/"$1"/task/*/children; do
		kids=""
		read -r kids 2>/dev/null <"$t" # the list ends without a newline
		for c in $kids; do
			echo "$c"
			descendants "$c"
		done
	done
}

# kill the tree rooted at pid $1 if that is still the process we track
kill_tree() {
	local p all
	alive "$1" || return 0
	all="$1 $(descendants "$1")"
	for p in $all; do kill -9 "$p" 2>/dev/null; done
	for p in $all; do wait_gone "$p" 5; done
}

stop_serve() { # $1: the unshare's pid, $2: the namespace's init
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	# the namespace's init goes last, and every process of B's PID namespace
	# (the migrated tree) with it
	[ -n "${2:-}" ] && wait_gone "$2" 10
	return 0
}

cleanup() {
	local p i
	for p in "${PIDS[@]}"; do kill_tree "$p"; done
	[ -n "${HOLDPID:-}" ] && kill -9 "$HOLDPID" 2>/dev/null
	for ((i = 0; i < ${#SERVES[@]}; i += 2)); do stop_serve "${SERVES[i]}" "${SERVES[i + 1]}"; done
	tests/net/hosts.sh down >/dev/null 2>&1
	for d in /dev/shm/ferry-incoming.*; do
		[ -d "$d" ] && flock -n "$d/lock" rm -rf "$d"
	done
	[ "$(cat /proc/sys/kernel/pid_max)" = 4194304 ] && echo "$OLD_PID_MAX" >/proc/sys/kernel/pid_max
	if [ "${FERRY_KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
# bash reports every background job killed by a signal on stderr; the tests
# kill on purpose (ferry dump kills the source), so drop exactly those lines
exec 2> >(trap '' INT TERM HUP; exec grep --line-buffered -v -E '^.*: line [0-9]+: +[0-9]+ Killed( |$)' >&2)
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$OLD_PID_MAX" -lt 4194304 ] && echo 4194304 >/proc/sys/kernel/pid_max
tests/net/hosts.sh up >/dev/null || { echo "FAIL setup: cannot build the hosts"; echo "0 passed, 1 failed"; exit 1; }
"$FERRY" keygen -o "$T/key" || exit 2
mkdir -p "$T/classes"
javac -d "$T/classes" tests/real/Server.java 2>"$T/javac.err" ||
	{ echo "FAIL setup: javac: $(head -c 300 "$T/javac.err")"; echo "0 passed, 1 failed"; exit 1; }

REASON=""
pass() { echo "PASS $1 ${2:-}"; PASSED=$((PASSED + 1)); REPORTED+=" $1 "; }
fail() {
	echo "FAIL $1: $2"
	FAILED=$((FAILED + 1))
	REPORTED+=" $1 "
}

in_ns() { # NS CMD...: run CMD in host NS's network namespace only
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" -- "$@"
}
client() { # CMD ARGS...: client.py on host C (CLIENT_OUT, its exit status)
	CLIENT_OUT=$(in_ns "$NC" timeout $((60 * SCALE)) python3 "$CLIENT_PY" "$@" 2>&1 </dev/null {NAPFD}>&-)
}
listening() { # NS PORT: something listens on TCP PORT in host NS
	[ -n "$(in_ns "$1" ss -Hltn "sport = :$2" 2>/dev/null)" ]
}
wait_for() { # SECONDS CMD...: poll CMD every 50 ms
	local n=$(($1 * 20 * SCALE))
	shift
	until "$@"; do
		[ $n -gt 0 ] || return 1
		nap 0.05
		n=$((n - 1))
	done
}
pidfile_ok() { [ -s "$1" ] && read -r SPID <"$1" && [ -n "$SPID" ] && [ -e "/proc/$SPID" ]; }

# --- the servers ---------------------------------------------------------------
# start_KIND DIR: start the server on host A, wait until it serves; SPID is
# the root of its tree; PORT, PROTO (for the holding client).  fill_KIND: its
# data, through A's address; check_KIND ADDR: all of it there.

start_redis() {
	PORT=6379 PROTO=redis
	in_ns "$NA" redis-server --bind "$A" --port $PORT --daemonize yes --pidfile "$1/redis.pid" \
		--dir "$1" --logfile "$1/redis.log" --save "" --appendonly no --protected-mode no \
		</dev/null >"$1/out" 2>&1 {NAPFD}>&- || { REASON="redis-server: $(tail -n 3 "$1/out" "$1/redis.log")"; return 1; }
	wait_for 10 pidfile_ok "$1/redis.pid" && wait_for 10 listening "$NA" $PORT ||
		{ REASON="redis-server did not start: $(tail -n 3 "$1/redis.log")"; return 1; }
}
fill_redis() { client redis-fill "$A" $PORT 6000; }
check_redis() { client redis-check "$1" $PORT 6000; }

start_memcached() {
	PORT=11211 PROTO=mc
	chmod 1777 "$1" # its pid file is written as user memcache
	in_ns "$NA" memcached -d -P "$1/memcached.pid" -l "$A" -p $PORT -U 0 -u memcache -m 64 -t 2 -I 1m \
		</dev/null >"$1/out" 2>&1 {NAPFD}>&- || { REASON="memcached: $(tail -n 3 "$1/out")"; return 1; }
	wait_for 10 pidfile_ok "$1/memcached.pid" && wait_for 10 listening "$NA" $PORT ||
		{ REASON="memcached did not start: $(tail -n 3 "$1/out")"; return 1; }
}
fill_memcached() { client mc-fill "$A" $PORT 5000; }
check_memcached() { client mc-check "$1" $PORT 5000; }

nginx_workers() { # the worker pids of master $1, sorted (WORKERS), seen from
	local c   # B's PID namespace in a migration
	WORKERS=$($INB bash -c 'for c in $(cat /proc/$0/task/*/children); do
		[ "$(cat /proc/$c/comm)" = nginx ] && echo $c; done | sort -n | tr "\n" " "' "$1" 2>/dev/null)
	[ -n "$WORKERS" ] && [ "$(wc -w <<<"$WORKERS")" = 2 ]
}
start_nginx() {
	PORT=8080 PROTO=http
	local d=$1 i
	mkdir -p "$d/www/sub" "$d/tmp"
	echo "<html>ferry real test</html>" >"$d/www/index.html"
	for i in $(seq 1 40); do printf 'file %d %0*d\n' "$i" $((i * 37)) 0 >"$d/www/sub/f$i.txt"; done
	head -c $((3 << 20)) /dev/urandom >"$d/www/blob.bin"
	chmod -R a+rX "$d/www"
	cat >"$d/nginx.conf" <<-EOF
		user www-data;
		worker_processes 2;
		pid $d/nginx.pid;
		error_log $d/error.log;
		events { worker_connections 64; }
		http {
		    access_log $d/access.log;
		    client_body_temp_path $d/tmp/body;
		    proxy_temp_path $d/tmp/proxy;
		    fastcgi_temp_path $d/tmp/fastcgi;
		    uwsgi_temp_path $d/tmp/uwsgi;
		    scgi_temp_path $d/tmp/scgi;
		    keepalive_timeout 300s;
		    server {
		        listen $A:$PORT;
		        root $d/www;
		    }
		}
	EOF
	in_ns "$NA" nginx -c "$d/nginx.conf" -p "$d" -e "$d/error.log" </dev/null >"$d/out" 2>&1 {NAPFD}>&- ||
		{ REASON="nginx: $(tail -n 3 "$d/out" "$d/error.log")"; return 1; }
	INB=""
	wait_for 10 pidfile_ok "$d/nginx.pid" && wait_for 10 listening "$NA" $PORT && wait_for 10 nginx_workers "$SPID" ||
		{ REASON="nginx did not start with 2 workers (${WORKERS:-none}): $(tail -n 3 "$d/error.log")"; return 1; }
	WORKERS_BEFORE=$WORKERS
}
fill_nginx() { client http-get "$A" $PORT "$DIR/www"; }
check_nginx() { client http-get "$1" $PORT "$DIR/www"; }
after_nginx() { # the master runs the same 2 workers as before the move
	nginx_workers "$SPID" || { REASON="nginx master $SPID has workers '${WORKERS:-}' after the move, expected 2"; return 1; }
	[ "$WORKERS" = "$WORKERS_BEFORE" ] ||
		{ REASON="nginx master $SPID has workers $WORKERS after the move, before it had $WORKERS_BEFORE"; return 1; }
}

java_ready() { [ -s "$1" ] && listening "$NA" $PORT; }
start_java() {
	PORT=8080 PROTO=java
	# setsid: a daemon has a session of its own.  The JVM names its pid in
	# the ready file (the pid of a background job is not the JVM's when a
	# wrapper forks)
	nsenter --net="/run/netns/$NA" -- setsid java -Xmx64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
		-cp "$T/classes" Server "$A" $PORT "$1/ready" </dev/null >"$1/out" 2>&1 {NAPFD}>&- &
	wait_for 30 java_ready "$1/ready" || { REASON="the Java server did not start: $(grep -m 1 -E 'Exception|Error' "$1/out")"; return 1; }
	read -r SPID <"$1/ready"
	[ "$(cat "/proc/$SPID/comm" 2>/dev/null)" = java ] || { REASON="pid $SPID of the ready file is not the JVM"; return 1; }
	# dual-stack: the JVM's listener is an IPv6 socket on the v4-mapped address
	[ -n "$(in_ns "$NA" ss -Hltn6 "sport = :$PORT" | grep -F "[::ffff:$A]:$PORT")" ] ||
		{ REASON="the JVM does not listen on [::ffff:$A]:$PORT: $(in_ns "$NA" ss -Hltn "sport = :$PORT")"; return 1; }
}
fill_java() {
	local i
	for i in 1 2 3 4 5; do client java-inc "$A" $PORT || return 1; done
	[ "$CLIENT_OUT" = 5 ] || { CLIENT_OUT="the counter is $CLIENT_OUT after 5 /inc"; return 1; }
	client java-get "$A" $PORT || return 1
	JAVA_STATE=$CLIENT_OUT
}
check_java() { # the state as before the move, then one more /inc
	client java-get "$1" $PORT "$JAVA_STATE" || return 1
	client java-inc "$1" $PORT || return 1
	[ "$CLIENT_OUT" = 6 ] || { CLIENT_OUT="/inc answered $CLIENT_OUT after the move, expected 6"; return 1; }
}

# --- the moves -----------------------------------------------------------------

move_dump() { # dump on A, restore into B with the map
	timeout $((120 * SCALE)) "$FERRY" dump -t "$SPID" -D "$DIR/img" </dev/null >"$DIR/dump.out" 2>&1 {NAPFD}>&-
	local rc=$?
	cat "$DIR/dump.out" >>"$T/all.out"
	[ $rc = 0 ] || { REASON="ferry dump exited $rc: $(tail -n 3 "$DIR/dump.out")"; return 1; }
	local p
	for p in $TREE; do wait_gone "$p" 10 || { REASON="pid $p is still there after the dump"; return 1; }; done
	timeout $((120 * SCALE)) "$FERRY" restore -D "$DIR/img" -d --pidfile "$DIR/restored.pid" \
		--netns "/run/netns/$NB" --ip-map "$A=$B" </dev/null >"$DIR/restore.out" 2>&1 {NAPFD}>&-
	rc=$?
	cat "$DIR/restore.out" >>"$T/all.out"
	[ $rc = 0 ] || { REASON="ferry restore exited $rc: $(tail -n 3 "$DIR/restore.out")"; return 1; }
	track "$SPID"
	alive "$SPID" || { REASON="the restored root $SPID does not run"; return 1; }
}

move_migrate() { # serve on B (own PID, mount and network namespaces), migrate from A
	local serve holder
	ip netns exec "$NB" unshare --pid --fork --kill-child --mount-proc bash -c \
		'"$0" serve --listen "$1":9000 --key "$2" --once >"$3" 2>&1; sleep 3600' \
		"$FERRY" "$B" "$T/key" "$DIR/serve.out" </dev/null >/dev/null 2>&1 {NAPFD}>&- &
	serve=$!
	wait_for 10 grep -q "serving migrations" "$DIR/serve.out" 2>/dev/null
	holder=$(cat "/proc/$serve/task/$serve/children" 2>/dev/null)
	holder=${holder%% *}
	SERVES+=("$serve" "$holder")
	grep -q "serving migrations" "$DIR/serve.out" 2>/dev/null ||
		{ REASON="serve did not start: $(tail -n 3 "$DIR/serve.out")"; return 1; }
	INB="nsenter -t $holder -p -m --"
	in_ns "$NA" timeout $((120 * SCALE)) "$FERRY" migrate -t "$SPID" --to "$B:9000" --key "$T/key" \
		--ip-map auto </dev/null >"$DIR/mig.out" 2>"$DIR/mig.err" {NAPFD}>&-
	local rc=$?
	cat "$DIR/mig.err" "$DIR/serve.out" >>"$T/all.out" 2>/dev/null
	[ $rc = 0 ] || { REASON="ferry migrate exited $rc: $(tail -n 4 "$DIR/mig.err")"; return 1; }
	# (a v4-mapped socket's map is said as its IPv4 one, with a note after)
	grep -qE -- "--ip-map auto: ${A//./\\.}=${B//./\\.}( |\$)" "$DIR/mig.err" ||
		{ REASON="migrate did not choose the map $A=$B: $(grep -- '--ip-map auto' "$DIR/mig.err")"; return 1; }
	grep -qE "; [1-9][0-9]* before the freeze in [1-9]" "$DIR/mig.err" ||
		{ REASON="no pre-copy round: $(grep 'pages sent' "$DIR/mig.err")"; return 1; }
	local p
	for p in $TREE; do alive "$p" && { REASON="pid $p still runs on A after the migration"; return 1; }; done
	# the tree runs in B's PID namespace, with its PIDs
	for p in $TREE; do
		[ "$($INB cat "/proc/$p/comm" 2>/dev/null)" = "$(cat "$DIR/comm.$p")" ] ||
			{ REASON="pid $p ($(cat "$DIR/comm.$p")) does not run in B's PID namespace"; return 1; }
	done
}

# run_case KIND dump|migrate
run_case() {
	local kind=$1 how=$2 name=$1-$2 p
	[ "$SELECT" = "  " ] || [[ "$SELECT" == *" $name "* ]] || return 0
	DIR=$T/$name
	mkdir -p "$DIR/hold"
	chmod 755 "$DIR"
	INB="" SPID="" REASON="" CLIENT_OUT=""
	local t0=$SECONDS
	if ! real_case "$kind" "$how"; then
		fail "$name" "$REASON"
	else
		pass "$name" "($((SECONDS - t0)) s)"
	fi
	# whatever happened, nothing of this case runs on
	[ -n "$SPID" ] && kill_tree "$SPID"
	for ((p = 0; p < ${#SERVES[@]}; p += 2)); do stop_serve "${SERVES[p]}" "${SERVES[p + 1]}"; done
	SERVES=()
	[ -n "${HOLDPID:-}" ] && kill -9 "$HOLDPID" 2>/dev/null && wait "$HOLDPID" 2>/dev/null
	HOLDPID=""
}
real_case() {
	local kind=$1 how=$2 p what t
	"start_$kind" "$DIR" || return 1
	TREE="$SPID $(descendants "$SPID")"
	for p in $TREE; do
		track "$p"
		cat "/proc/$p/comm" >"$DIR/comm.$p"
	done
	"fill_$kind" || { REASON="filling on $A: $CLIENT_OUT"; return 1; }
	in_ns "$NC" python3 "$CLIENT_PY" hold "$PROTO" "$A" "$PORT" "$DIR/hold" </dev/null >"$DIR/hold.out" 2>&1 {NAPFD}>&- &
	HOLDPID=$!
	wait_for 10 test -e "$DIR/hold/held" || { REASON="the holding client did not connect: $(cat "$DIR/hold.out")"; return 1; }
	"move_$how" || return 1
	"check_$kind" "$B" || { REASON="on the new address $B: $CLIENT_OUT"; return 1; }
	if declare -F "after_$kind" >/dev/null; then "after_$kind" || return 1; fi
	# the client of the old address learned at once that its connection is gone
	wait_for 5 test -e "$DIR/hold/result" || { REASON="the client holding a connection to $A hangs"; return 1; }
	read -r what t <"$DIR/hold/result"
	[ "$what" = ECONNRESET ] || { REASON="the client holding a connection to $A saw $what, expected a reset"; return 1; }
	# the old address serves nothing (the source is gone)
	! in_ns "$NC" timeout 5 bash -c "exec 3<>/dev/tcp/$A/$PORT" 2>/dev/null ||
		{ REASON="something still accepts on $A:$PORT"; return 1; }
}

for k in redis memcached nginx java; do
	run_case "$k" dump
	run_case "$k" migrate
done

# every selected case reported once
for k in redis memcached nginx java; do
	for h in dump migrate; do
		n=$k-$h
		[ "$SELECT" = "  " ] || [[ "$SELECT" == *" $n "* ]] || continue
		[[ "$REPORTED" == *" $n "* ]] || fail "$n" "the case never reported a result"
	done
done
sanitizer_reports "$T/all.out"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
