#!/usr/bin/env bash
# tests/net/run.sh - ferry's network tests: TCP/UDP sockets dumped on one
# simulated host and restored on another.  Run from the repo root, as root:
#     tests/net/run.sh
# (it re-runs itself under tests/bin/subreaper, so that killed sources and
# orphaned restored processes are reaped at once).
#
# Hosts (tests/net/hosts.sh, brought up here and ALWAYS torn down on exit):
# network namespaces ferry-a (10.77.0.1, fd77::1), ferry-b (10.77.0.2,
# fd77::2) and ferry-c (10.77.0.100, fd77::100, the clients) on a bridge in
# ferry-br.  Programs (built here into tests/bin/net-* when missing or
# stale): tests/net/echo_server.c, client.c, selfconn.c, dualstack.c.
#
# Scenarios (names for FERRY_NET_TESTS):
#   tcp4-migrate     echo server on 10.77.0.1:7000 with an established client
#                    (C1, `hold`) and an in-flight one (C2, never accepted),
#                    dumped and restored into host B with
#                    --ip-map 10.77.0.1=10.77.0.2: a new client is served on
#                    10.77.0.2:7000; C1 sees ECONNRESET/EOF after the dump
#                    started, before its own 20 s timeout; C2 is reset; the restored server finds
#                    a closed TCP stub (local 10.77.0.2) at C1's old fd and
#                    closes exactly that one connection; nothing leaves host B
#                    for C1's connection (nftables output counter stays 0)
#   tcp6-migrate     the same over IPv6, fd77::1 -> fd77::2, port 7001
#   wildcard         listeners on 0.0.0.0:7002 and [::]:7003 restored into host
#                    B without a map serve on 10.77.0.2 / fd77::2
#   tcp-established  --tcp-established, restored into host A again: a `stream`
#                    client (data in flight both ways) finishes byte-exact
#   tcp-established-v4mapped  the same with the server on [::ffff:10.77.0.1]
#                    (a dual-stack socket): the network lock holds the
#                    connection's IPv4 packets
#   selfconn         a process connected to itself over 127.0.0.1 moves to
#                    host B (with a map) and its connection still carries 1 MiB
#                    each way, queued bytes included
#   udp-bound        UDP echo on 10.77.0.1:7100 remapped to 10.77.0.2 answers
#                    from 10.77.0.2:7100
#   udp-connected    UDP socket bound to 10.77.0.1:7101 and connected to
#                    10.77.0.100:7200 sends from 10.77.0.2:7101 after the move
#   tcp-close-dump   dump --tcp-established --tcp-close: no network lock, the
#                    held client (tests/net/held.py) is reset, the server
#                    restored on host A finds a closed stub at its fd
#   tcp-close-restore  dump --tcp-established (lock installed, client not
#                    reset), restore --tcp-close on host A: lock lifted, stub
#                    at the fd, the client's next request meets a reset
#   unlock           dump --tcp-established, then `ferry unlock`: lock gone,
#                    the client's next request meets a reset; unlock again
#                    (nothing left to lift) exits 0 too
#   skip-in-flight   dump --skip-in-flight of a server with an in-flight
#                    client: accepted, the client is reset, the dump says so,
#                    the restored server serves
#   dualstack-v4map  a dual-stack server (tests/net/dualstack.c: AF_INET6
#                    sockets with IPV6_V6ONLY off on ::ffff:10.77.0.1, as
#                    the JVM opens them): a TCP listener, a bound and a
#                    connected UDP socket, a connection held by a client on
#                    C, and a connection inside the process between an
#                    AF_INET and an AF_INET6 end.  Without a map the restore
#                    into B refuses, naming 10.77.0.1; with
#                    --ip-map 10.77.0.1=10.77.0.2 (B makes IPv6 sockets
#                    v6-only by default, so IPV6_V6ONLY must travel) a client
#                    on C reaches it over IPv4 at 10.77.0.2, and the server
#                    reports from inside: every socket on ::ffff:10.77.0.2,
#                    the held connection a closed stub, the inner connection
#                    still carrying data both ways; UDP answers from
#                    10.77.0.2:7301 and sends from 10.77.0.2:7302
#   dualstack-v6map  the same with --ip-map ::ffff:10.77.0.1=::ffff:10.77.0.2
#   err-no-map       restore of a server bound to 10.77.0.1 into host B without
#                    a map: exit 1, one line naming 10.77.0.1, 10.77.0.2 and
#                    --ip-map, no process left
#   err-ip-map-syntax  bad --ip-map values exit 2 with a message
#   err-port-taken   restore onto 10.77.0.2:7000 already taken in host B: exit
#                    1 naming the address and port, no process left, the other
#                    listener undisturbed
#   drain            issue 18: an INCR client (tests/net/incr.c) pipelining to
#                    demo/kvserver.c on 10.77.0.1:7004, with replies waiting in
#                    the server's send queue at the freeze, across dump +
#                    restore --ip-map into host B: the value on B equals the
#                    last reply the client received, in each of
#                    FERRY_DRAIN_RUNS (20) runs (tests/net/incr.sh)
#   drain-expires    the same client not reading during dump --drain-timeout
#                    0.5: the dump resets it with the replies undelivered (it
#                    says so), and the value on B is past the client's last
#   tcp-closing      issue 10: connections in CLOSE_WAIT, FIN_WAIT1 (data
#                    and FIN unacknowledged) and CLOSING to a client on C, dumped with
#                    --tcp-established, restored on A with restore
#                    --tcp-established --skip-in-flight: the client reads
#                    exactly "Hello World!" then EOF, and the server's reply
#                    to its half-closed request; the server checks its states
#   restore-flags    restore --tcp-established of an image whose dump broke
#                    an outside connection: refused (nothing created), so is
#                    --tcp-established --tcp-close; plain restore works
#   kinds-map        UDP-Lite, UDP with a queued datagram, IP_FREEBIND (on a
#                    mapped and on an absent address), ping v4/v6 and raw
#                    sockets moved to B with --ip-map: each where the map
#                    says, the datagram read with its sender, ping answered
# Harness self-test (FERRY_NET_SELFTEST=1, no ferry involved): the hosts, the
# programs and the checks themselves (st-* tests).
#
# Environment:
#   FERRY_NET_TESTS="a b"   run only these tests
#   FERRY_NET_SELFTEST=1    run the harness self-test instead of the scenarios
#   FERRY_NET_PREFIX=P      namespaces P-a P-b P-c P-br (default ferry)
#   FERRY_NET_EXEC=nsenter  enter hosts with `nsenter --net=` instead of
#                           `ip netns exec` (which also unshares the mount ns)
#   FERRY_BIN=path          the ferry binary (default ./ferry)
#   FERRY_ASAN=1            longer timeouts, no one-line check on messages
#   FERRY_KEEP=1            keep the temp dir (printed) for inspection
#   STREAM_SECONDS=N        length of the tcp-established stream (default 6)
#   FERRY_DRAIN_RUNS=N      runs of the drain test (default 20)
# Output: "PASS name" / "FAIL name: reason" per test, then
# "N passed, N failed"; exit status 1 if anything failed.

set -u
export LC_ALL=C
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
NETSRC=$ROOT/tests/net
BIN=$ROOT/tests/bin
FERRY=${FERRY_BIN:-$ROOT/ferry}
PFX=${FERRY_NET_PREFIX:-ferry}
NSA=$PFX-a NSB=$PFX-b NSC=$PFX-c
ASAN=${FERRY_ASAN:-0}
SCALE=1
[ "$ASAN" = 1 ] && SCALE=3
SELFTEST=${FERRY_NET_SELFTEST:-0}
SELECT=" ${FERRY_NET_TESTS:-} "
STREAM_SECONDS=${STREAM_SECONDS:-6}
CFLAGS_NET="-O1 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE"

[ "$(id -u)" = 0 ] || { echo "tests/net/run.sh: must run as root" >&2; exit 2; }
for t in ip nsenter gcc timeout; do
	command -v "$t" >/dev/null || { echo "tests/net/run.sh: '$t' not found" >&2; exit 2; }
done

# --- build (before anything else: the subreaper may need building too) --------
build() { # build OUT SRC [DEPS...]: compile SRC into OUT if missing or stale
	local out=$1 src=$2 d stale=0
	shift 2
	[ -x "$out" ] || stale=1
	for d in "$src" "$@"; do [ "$d" -nt "$out" ] && stale=1; done
	[ $stale = 1 ] || return 0
	mkdir -p "$BIN"
	# shellcheck disable=SC2086
	gcc $CFLAGS_NET -o "$out" "$src" || { echo "tests/net/run.sh: cannot build $out" >&2; exit 2; }
}
build "$BIN/subreaper" "$ROOT/tests/subreaper.c"
for p in echo_server client selfconn dualstack; do
	build "$BIN/net-$p" "$NETSRC/$p.c" "$NETSRC/netutil.h"
done
for p in closing kinds; do build "$BIN/net-$p" "$NETSRC/$p.c" "$NETSRC/netutil.h"; done
build "$BIN/net-kvserver" "$ROOT/demo/kvserver.c"
build "$BIN/net-incr" "$NETSRC/incr.c"
SERVER=$BIN/net-echo_server
CLIENT=$BIN/net-client
SELFCONN=$BIN/net-selfconn
KV=$BIN/net-kvserver
INCR=$BIN/net-incr
DRAIN_RUNS=${FERRY_DRAIN_RUNS:-20}
DUALSTACK=$BIN/net-dualstack

# --- run as a child subreaper ---------------------------------------------------
if [ "${FERRY_REAPED:-}" != 1 ]; then
	export FERRY_REAPED=1
	exec "$BIN/subreaper" "$0" "$@"
fi

SELF=$(readlink -f "$0")
# shellcheck source=tests/lib.sh
. "$(dirname "$(dirname "$SELF")")/lib.sh"
close_inherited_fds "$SELF"

# bash reports every background job killed by a signal on stderr; the tests
# kill on purpose (ferry dump kills the source), so drop exactly those lines
exec 2> >(grep --line-buffered -v -E '^.*: line [0-9]+: +[0-9]+ Killed( |$)' >&2)

TMPROOT=$(mktemp -d "${TMPDIR:-/tmp}/ferry-net.XXXXXX") || exit 2
TMPROOT=$(cd "$TMPROOT" && pwd -P)
chmod 755 "$TMPROOT"

# sleep without forking (keeps pids free between dump and restore)
mkfifo "$TMPROOT/.nap" || exit 2
exec {NAPFD}<>"$TMPROOT/.nap"
nap() { read -r -t "$1" -u "$NAPFD" _ 2>/dev/null; return 0; }


PASSED=0
FAILED=0
REASON=""
WD=""
PIDMAX_OLD=""
PIDMAX_SET=""
HOSTS_UP=0

# --- process helpers (pstat, track, alive, wait_exit ... are in tests/lib.sh) ---

pinfo() {
	local cmd=()
	pstat "$1"
	[ -n "$PSTATE" ] || { echo "pid $1 gone"; return 0; }
	mapfile -d '' cmd 2>/dev/null <"/proc/$1/cmdline"
	echo "pid $1 state $PSTATE cmd '${cmd[*]:0:3}'"
}

# stop pid $1 if it is still one of ours: SIGTERM, then SIGKILL
stop_pid() {
	local p=$1
	is_ours "$p" || return 0
	kill -TERM "$p" 2>/dev/null
	wait_gone "$p" 2 && return 0
	is_ours "$p" && kill -KILL "$p" 2>/dev/null
	wait_gone "$p" 2
	return 0
}

kill_test_pids() {
	local p
	for p in "${PIDS[@]}"; do
		is_ours "$p" && kill -KILL "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		wait_gone "$p" 2
		wait "$p" 2>/dev/null
	done
	PIDS=()
	return 0
}

# wait (timeout $2 s) until file $1 exists and is non-empty
wait_file() {
	local n=$(($2 * 20 * SCALE))
	while [ ! -s "$1" ] && [ $n -gt 0 ]; do
		nap 0.05
		n=$((n - 1))
	done
	[ -s "$1" ]
}

# FIRST = first line of file $1 ("" if none)
first_line() {
	FIRST=""
	[ -r "$1" ] && read -r FIRST <"$1"
	return 0
}

# wait (timeout $3 s) until the first line of file $1 is $2
wait_content() {
	local n=$(($3 * 20 * SCALE))
	while :; do
		first_line "$1"
		[ "$FIRST" = "$2" ] && return 0
		[ $n -gt 0 ] || return 1
		nap 0.05
		n=$((n - 1))
	done
}

# number of lines of file $1 -> NLINES (no fork)
count_lines() {
	local l
	NLINES=0
	[ -r "$1" ] || return 0
	while IFS= read -r l || [ -n "$l" ]; do NLINES=$((NLINES + 1)); done <"$1"
}

# EPOCHREALTIME -> ns in $1's variable name
now_ns() {
	local t=$EPOCHREALTIME
	printf -v "$1" '%s' "${t/./}000"
}

# --- hosts -----------------------------------------------------------------------

# NSCMD = the command prefix that runs a command inside host $1 (it execs the
# command: the pid of a background `"${NSCMD[@]}" prog &` is prog's)
nscmd() {
	if [ "${FERRY_NET_EXEC:-ip}" = nsenter ]; then
		NSCMD=(nsenter "--net=/run/netns/$1" --)
	else
		NSCMD=(ip netns exec "$1")
	fi
}
# run a command inside host $1 (in the foreground)
in_ns() {
	nscmd "$1"
	shift
	"${NSCMD[@]}" "$@"
}

# host:port -> "A.B.C.D:P" or "[V6]:P"
hp() {
	case $1 in
	*:*) printf '[%s]:%s' "$1" "$2" ;;
	*) printf '%s:%s' "$1" "$2" ;;
	esac
}

# start a program in host $1 in the background; LASTPID is the program's
# pid (ip netns exec / nsenter exec it), its output goes to $WD/out
bg_in() {
	local ns=$1
	shift
	nscmd "$ns"
	"${NSCMD[@]}" "$@" </dev/null >>"$WD/out" 2>&1 {NAPFD}>&- &
	LASTPID=$!
	track "$LASTPID"
}

# start_server NAME HOST ARGS...: echo server with workdir $WD/NAME; waits for
# its ready file; sets SPID
start_server() {
	local name=$1 ns=$2 got
	shift 2
	mkdir -p "$WD/$name"
	bg_in "$ns" "$SERVER" --workdir "$WD/$name" "$@"
	SPID=$LASTPID
	local n=$((5 * 20 * SCALE))
	while [ ! -s "$WD/$name/ready" ] && [ $n -gt 0 ]; do
		alive "$SPID" || { wait "$SPID"; REASON="server $name ($*) exited with status $? before ready: $(tail -n 2 "$WD/out")"; return 1; }
		nap 0.05
		n=$((n - 1))
	done
	first_line "$WD/$name/ready"
	got=$FIRST
	[ -n "$got" ] || { REASON="server $name ($*) not ready after 5 s"; return 1; }
	[ "$got" = "$SPID" ] || { REASON="server $name runs as pid $got, but \$! is $SPID (a wrapper?)"; return 1; }
}

# run a client in host C in the foreground (10 s at most): CRC, COUT
client_fg() {
	COUT=$(in_ns "$NSC" timeout -k 2 $((10 * SCALE)) "$CLIENT" "$@" 2>&1 </dev/null {NAPFD}>&-)
	CRC=$?
	echo "client $* -> $CRC: $COUT" >>"$WD/out"
}

# expect `client echo ADDR:PORT` from host C to succeed
echo_ok() {
	client_fg echo "$1"
	[ "$CRC" = 0 ] && [[ "$COUT" == ok* ]] || { REASON="echo client to $1 failed ($CRC): $COUT"; return 1; }
}

# --- nftables: count packets host $1 sends -----------------------------------------

# nft_count_setup HOST RULE...: table inet ferrytest with a counter "watch"
# and an output chain with one `RULE counter name watch` per RULE
nft_count_setup() {
	local ns=$1 f=$WD/nft.rules r
	shift
	command -v nft >/dev/null || { REASON="nft not found (apt-get install nftables)"; return 1; }
	{
		echo "table inet ferrytest"
		echo "delete table inet ferrytest"
		echo "table inet ferrytest {"
		echo "  counter watch { }"
		echo "  chain out {"
		echo "    type filter hook output priority 0; policy accept;"
		for r in "$@"; do echo "    $r counter name \"watch\""; done
		echo "  }"
		echo "}"
	} >"$f"
	in_ns "$ns" nft -f "$f" >>"$WD/out" 2>&1 {NAPFD}>&- || { REASON="nft -f $f failed in $ns: $(tail -n 3 "$WD/out")"; return 1; }
}

# NFT_PACKETS = packets counted by "watch" in host $1 ("" if unreadable)
nft_count_read() {
	local out
	NFT_PACKETS=""
	out=$(in_ns "$1" nft list counter inet ferrytest watch 2>&1 {NAPFD}>&-)
	[[ "$out" =~ packets\ ([0-9]+) ]] && NFT_PACKETS=${BASH_REMATCH[1]}
	echo "nft counter in $1: ${NFT_PACKETS:-?} ($out)" >>"$WD/out"
}

nft_count_drop() { in_ns "$1" nft delete table inet ferrytest >/dev/null 2>&1 {NAPFD}>&-; return 0; }

# --- ferry -----------------------------------------------------------------------

# ferry_dump PID DIR [args]: DRC, DUMP_T0/DUMP_T1 (ns, around the command),
# stderr in $WD/dump.err
ferry_dump() {
	local pid=$1 dir=$2
	shift 2
	log "ferry dump -t $pid -D $dir $*"
	now_ns DUMP_T0
	timeout -k 5 $((60 * SCALE)) "$FERRY" dump -t "$pid" -D "$dir" "$@" </dev/null >>"$WD/ferry.log" 2>"$WD/dump.err" {NAPFD}>&-
	DRC=$?
	now_ns DUMP_T1
	cat "$WD/dump.err" >>"$WD/ferry.log"
	log "dump exit status $DRC"
}

# dump_kill PID DIR [args]: dump, then the source (our child) must be killed
dump_kill() {
	local pid=$1
	ferry_dump "$@"
	[ "$DRC" = 0 ] || { REASON="ferry dump exited $DRC: $(head -c 300 "$WD/dump.err")"; return 1; }
	wait_exit "$pid" 10 || { REASON="source still alive 10 s after the dump ($(pinfo "$pid"))"; return 1; }
	[ "$WRC" = 137 ] || { REASON="source exited $WRC after the dump, expected 137 (SIGKILL)"; return 1; }
	wait_gone "$pid" 5 || { REASON="pid $pid still exists 5 s after the dump"; return 1; }
}

# restore_detach PID DIR [args]: `ferry restore -D DIR -d --pidfile F args`
# must exit 0 with PID in F and running
restore_detach() {
	local pid=$1 dir=$2 pf="$WD/pidfile.$RANDOM" got
	shift 2
	log "ferry restore -D $dir -d --pidfile $pf $*"
	timeout -k 5 $((60 * SCALE)) "$FERRY" restore -D "$dir" -d --pidfile "$pf" "$@" </dev/null >>"$WD/ferry.log" 2>"$WD/restore.err" {NAPFD}>&-
	RRC=$?
	cat "$WD/restore.err" >>"$WD/ferry.log"
	log "restore exit status $RRC"
	[ "$RRC" = 0 ] || { REASON="ferry restore exited $RRC: $(head -c 300 "$WD/restore.err")"; return 1; }
	first_line "$pf"
	got=$FIRST
	[ "$got" = "$pid" ] || { REASON="restore wrote pidfile '$got', expected $pid"; return 1; }
	pstat "$pid"
	START[$pid]=$PSTART
	is_ours "$pid" && alive "$pid" || { REASON="restored pid $pid is not running ($(pinfo "$pid"))"; return 1; }
}

# restore_bg PID DIR [args]: `ferry restore` without -d in the background
# (RPID), waiting until PID runs untraced
restore_bg() {
	local pid=$1 dir=$2 pf="$WD/pidfile.$RANDOM" got="" tp st
	shift 2
	log "ferry restore -D $dir --pidfile $pf $*"
	"$FERRY" restore -D "$dir" --pidfile "$pf" "$@" </dev/null >>"$WD/ferry.log" 2>>"$WD/ferry.log" {NAPFD}>&- &
	RPID=$!
	track "$RPID"
	local n=$((30 * 20 * SCALE))
	while [ $n -gt 0 ]; do
		if [ -s "$pf" ]; then
			first_line "$pf"
			got=$FIRST
			[ "$got" = "$pid" ] || { REASON="restore wrote pidfile '$got', expected $pid"; return 1; }
			sfield "$pid" TracerPid
			tp=$SF
			pstat "$pid"
			st=$PSTATE
			if [ "$tp" = 0 ] && [ -n "$st" ] && [ "$st" != t ] && [ "$st" != T ] && [ "$st" != Z ]; then
				START[$pid]=$PSTART
				return 0
			fi
		fi
		if ! alive "$RPID"; then
			wait "$RPID" 2>/dev/null
			REASON="ferry restore exited with status $? before the process ran: $(tail -n 2 "$WD/ferry.log")"
			return 1
		fi
		nap 0.05
		n=$((n - 1))
	done
	REASON="restore did not complete in 30 s (pidfile '$got', $(pinfo "$pid"))"
	return 1
}

# restore_fail CODE ERRFILE PID DIR [args]: `ferry restore` must exit CODE;
# afterwards no process has PID
restore_fail() {
	local code=$1 err=$2 pid=$3 dir=$4 pf="$WD/negpid.$RANDOM"
	shift 4
	log "ferry restore -D $dir --pidfile $pf $* (must exit $code)"
	timeout -k 5 $((60 * SCALE)) "$FERRY" restore -D "$dir" -d --pidfile "$pf" "$@" </dev/null >>"$WD/ferry.log" 2>"$err" {NAPFD}>&-
	RRC=$?
	cat "$err" >>"$WD/ferry.log"
	log "restore exit status $RRC"
	if [ "$RRC" != "$code" ]; then
		REASON="ferry restore $* exited $RRC, expected $code: $(head -c 300 "$err")"
		[ "$RRC" = 0 ] && { pstat "$pid"; START[$pid]=$PSTART; track "$pid"; }
		return 1
	fi
	wait_gone "$pid" 2 || { REASON="a process with pid $pid exists after the failed restore ($(pinfo "$pid"))"; return 1; }
	[ ! -s "$pf" ] || { REASON="the failed restore wrote its pidfile"; return 1; }
}

# the error message in file $1: non-empty, one line
check_msg() {
	local n=0 l
	while IFS= read -r l; do [[ "$l" =~ [^[:space:]] ]] && n=$((n + 1)); done <"$1"
	[ $n -ge 1 ] || { REASON="no error message on stderr"; return 1; }
	[ "$ASAN" = 1 ] || [ $n = 1 ] || { REASON="error message has $n lines: $(head -c 300 "$1")"; return 1; }
}

msg_has() { # file needle...  (case-insensitive)
	local f=$1 s
	shift
	for s in "$@"; do
		grep -qiF -- "$s" "$f" || { REASON="error message lacks '$s': $(head -c 300 "$f")"; return 1; }
	done
}

# --- scenario 1/2: migrate a server with an established and an in-flight client ---

# tcp_migrate FAMILY(4|6) PORT
tcp_migrate() {
	local fam=$1 port=$2 sa sb cl ipk
	if [ "$fam" = 4 ]; then
		sa=10.77.0.1 sb=10.77.0.2 cl=10.77.0.100 ipk=ip
	else
		sa=fd77::1 sb=fd77::2 cl=fd77::100 ipk=ip6
	fi
	local A B S=$WD/srv
	A=$(hp $sa "$port")
	B=$(hp $sb "$port")
	start_server srv "$NSA" --listen "$A" || return 1
	local pid=$SPID
	# C1: established, one message exchanged
	mkdir -p "$WD/c1" "$WD/c2"
	bg_in "$NSC" "$CLIENT" hold "$A" "$WD/c1"
	wait_file "$WD/c1/held" 5 || { REASON="hold client: no held file: $(tail -n 2 "$WD/out")"; return 1; }
	local c1addr c1port
	read -r c1addr c1port <"$WD/c1/held"
	[ "$c1addr" = "$cl" ] || { REASON="hold client's local address is $c1addr, expected $cl"; return 1; }
	# its fd in the server
	local fd="" f pa pp
	while read -r f pa pp; do
		[ "$pa" = "$c1addr" ] && [ "$pp" = "$c1port" ] && fd=$f
	done <"$S/accepted"
	[ -n "$fd" ] || { REASON="the server did not record accepting C1 ($c1addr $c1port)"; return 1; }
	# C2: in flight
	: >"$S/pause-accept"
	wait_content "$S/accept-state" paused 3 || { REASON="server did not pause accepting"; return 1; }
	bg_in "$NSC" "$CLIENT" inflight "$A" "$WD/c2"
	wait_file "$WD/c2/inflight-connected" 5 || { REASON="inflight client did not connect: $(tail -n 2 "$WD/out")"; return 1; }
	nap 0.2
	count_lines "$S/accepted"
	[ "$NLINES" = 1 ] || { REASON="server accepted $NLINES connections before the dump, expected 1"; return 1; }
	first_line "$S/closes"
	[ "$FIRST" = 0 ] || { REASON="closes is '$FIRST' before the dump"; return 1; }
	# watch host B's output for C1's connection (set up before the dump: no
	# process between dump and restore)
	nft_count_setup "$NSB" "$ipk daddr $cl tcp dport $c1port" "tcp sport $port tcp dport $c1port" || return 1

	dump_kill "$pid" "$WD/img" || return 1
	restore_detach "$pid" "$WD/img" --netns "/run/netns/$NSB" --ip-map "$sa=$sb" || return 1

	# the old connection's fd is closed exactly once by the loop, and was a
	# TCP socket with the mapped address when it was: the server's close-log
	# says so (looking at /proc/PID/fd races with the server, which reuses
	# the number for its own files right after closing the stub)
	wait_content "$S/closes" 1 3 || { first_line "$S/closes"; REASON="closes is '$FIRST' 3 s after the restore, expected 1 (close-log: $(cat "$S/close-log" 2>/dev/null))"; return 1; }
	local lfd lerr lname lvia lsock laddr lport x
	read -r lfd x lerr lname x lvia x x x lsock x laddr lport <"$S/close-log"
	[ "$lfd" = "$fd" ] || { REASON="the restored server closed fd $lfd, but C1's connection was fd $fd"; return 1; }
	[ "$lsock" = "tcp$fam" ] || { REASON="fd $fd was '$lsock' in the restored server, expected tcp$fam (close-log: $(cat "$S/close-log"))"; return 1; }
	[ "$laddr" = "$sb" ] || { REASON="the stub at fd $fd has local address $laddr $lport, expected $sb"; return 1; }

	# C1 saw the connection fail right after the dump
	wait_file "$WD/c1/client-result" 3 || { REASON="C1 recorded no result"; return 1; }
	local what t
	read -r what t <"$WD/c1/client-result"
	case $what in
	ECONNRESET | EOF) ;;
	*) REASON="C1's connection ended with '$what', expected ECONNRESET or EOF"; return 1 ;;
	esac
	# after the dump started, and before the client's own 20 s timeout (a
	# TIMEOUT result): how soon is for bench/
	[ "$t" -ge "$DUMP_T0" ] 2>/dev/null || { REASON="C1's connection failed ($what) before the dump started"; return 1; }
	# C2 was reset
	wait_file "$WD/c2/inflight-result" 3 || { REASON="C2 (in flight) recorded no result"; return 1; }
	read -r what t <"$WD/c2/inflight-result"
	case $what in
	ECONNRESET | EPOLLHUP | EOF) ;;
	*) REASON="C2 (in flight) ended with '$what', expected a reset"; return 1 ;;
	esac
	[ "$t" -ge "$DUMP_T0" ] 2>/dev/null || { REASON="C2 was reset ($what) before the dump started"; return 1; }

	# nothing left host B for the old connection, and no second close
	nap 1
	nft_count_read "$NSB"
	[ "$NFT_PACKETS" = 0 ] || { REASON="host B sent ${NFT_PACKETS:-?} packet(s) for C1's old connection (to port $c1port)"; return 1; }
	first_line "$S/closes"
	[ "$FIRST" = 1 ] || { REASON="closes is '$FIRST' 1 s after the restore, expected 1"; return 1; }
	nft_count_drop "$NSB"

	# the restored server accepts again, on the new address
	rm -f "$S/pause-accept"
	wait_content "$S/accept-state" accepting 3 || { REASON="restored server did not resume accepting"; return 1; }
	echo_ok "$B" || return 1
	alive "$pid" || { REASON="restored server died ($(tail -n 2 "$WD/out"))"; return 1; }
	stop_pid "$pid"
}

t_tcp4_migrate() { tcp_migrate 4 7000; }
t_tcp6_migrate() { tcp_migrate 6 7001; }

# --- scenario 3: wildcard listeners, no map ----------------------------------------
t_wildcard() {
	start_server s4 "$NSA" --listen 0.0.0.0:7002 || return 1
	local p4=$SPID
	start_server s6 "$NSA" --listen "[::]:7003" || return 1
	local p6=$SPID
	echo_ok 10.77.0.1:7002 || return 1
	echo_ok "[fd77::1]:7003" || return 1
	dump_kill "$p4" "$WD/img4" || return 1
	dump_kill "$p6" "$WD/img6" || return 1
	restore_detach "$p4" "$WD/img4" --netns "/run/netns/$NSB" || return 1
	restore_detach "$p6" "$WD/img6" --netns "/run/netns/$NSB" || return 1
	echo_ok 10.77.0.2:7002 || return 1
	echo_ok "[fd77::2]:7003" || return 1
	stop_pid "$p4"
	stop_pid "$p6"
}

# --- scenario 4: --tcp-established, same address -------------------------------
# tcp_established LISTEN PORT: the server listens on LISTEN (port PORT), the
# stream client connects to 10.77.0.1:PORT
tcp_established() {
	local listen=$1 port=$2
	start_server srv "$NSA" --listen "$listen" || return 1
	local pid=$SPID
	mkdir -p "$WD/st"
	bg_in "$NSC" "$CLIENT" stream 10.77.0.1:$port "$WD/st" "$STREAM_SECONDS"
	local cpid=$LASTPID
	wait_file "$WD/st/stream-started" 5 || { REASON="stream did not start: $(tail -n 2 "$WD/out")"; return 1; }
	nap "$(((STREAM_SECONDS + 2) / 3))"
	[ ! -e "$WD/st/stream-result" ] || { REASON="the stream ended before the dump: $(cat "$WD/st/stream-result")"; return 1; }
	in_ns "$NSA" ss -tnm >>"$WD/out" 2>&1 {NAPFD}>&-
	# the server's connection has unread and unsent data when it is dumped
	# (both queues travel with it): seen in one of up to 20 looks
	local out rq sq n=20
	while [ $n -gt 0 ]; do
		out=$(in_ns "$NSA" ss -tnH state established sport = :$port 2>&1)
		read -r rq sq _ <<<"$out"
		[ "${rq:-0}" -gt 0 ] 2>/dev/null && [ "${sq:-0}" -gt 0 ] 2>/dev/null && break
		n=$((n - 1))
		nap 0.05
	done
	[ $n -gt 0 ] || { REASON="the server's queues were never both non-empty before the dump: $out"; return 1; }
	local before
	first_line "$WD/st/stream-progress"
	before=$FIRST
	dump_kill "$pid" "$WD/img" --tcp-established || return 1
	[ ! -e "$WD/st/stream-result" ] || { REASON="the stream ended during the dump: $(cat "$WD/st/stream-result")"; return 1; }
	restore_detach "$pid" "$WD/img" --netns "/run/netns/$NSA" || return 1
	echo "stream progress at the dump: $before" >>"$WD/out"
	wait_exit "$cpid" $((STREAM_SECONDS + 90)) || { first_line "$WD/st/stream-progress"; REASON="the stream did not finish (progress now: $FIRST, at the dump: $before)"; return 1; }
	first_line "$WD/st/stream-result"
	[[ "$FIRST" == ok\ * ]] || { REASON="stream result '$FIRST' (progress at the dump: $before)"; return 1; }
	[ "$WRC" = 0 ] || { REASON="stream client exited $WRC"; return 1; }
	alive "$pid" || { REASON="restored server died"; return 1; }
	stop_pid "$pid"
}
t_tcp_established() { tcp_established 10.77.0.1:7004 7004; }
# a dual-stack server's connection is IPv4 on the wire: the network lock must
# hold its packets as IPv4 ones, or host A resets the client meanwhile
t_tcp_established_v4mapped() { tcp_established "[::ffff:10.77.0.1]:7005" 7005; }

# --- scenario 4': --tcp-close, ferry unlock, --skip-in-flight -------------------

# held_at ADDR PORT DIR: tests/net/held.py from host C holds a connection to
# the echo server (its COUNT line echoed back) until DIR/result
held_at() {
	mkdir -p "$3"
	bg_in "$NSC" /usr/bin/python3 "$NETSRC/held.py" "$1" "$2" "$3" $((30 * SCALE))
	wait_file "$3/held" 5 || { REASON="held client: no held file: $(tail -n 2 "$WD/out")"; return 1; }
}
held_poke() { # DIR WANT: after DIR/poke the client reports WANT
	: >"$1/poke"
	wait_file "$1/result" 35 || { REASON="held client recorded no result"; return 1; }
	first_line "$1/result"
	[ "$FIRST" = "$2" ] || { REASON="held client: '$FIRST', expected '$2'"; return 1; }
}
has_lock() { in_ns "$NSA" nft list tables 2>/dev/null {NAPFD}>&- | grep -q "ferry_lock_$1"; }
# the restored server closed one connection, a tcp4 stub on 10.77.0.1
stub_closed() {
	local S=$1 lsock laddr x
	wait_content "$S/closes" 1 3 || { first_line "$S/closes"; REASON="closes is '$FIRST' after the restore, expected 1"; return 1; }
	read -r x x x x x x x x x lsock x laddr x <"$S/close-log"
	[ "$lsock" = tcp4 ] && [ "$laddr" = 10.77.0.1 ] || { REASON="close-log: $(cat "$S/close-log")"; return 1; }
}
t_tcp_close_dump() {
	start_server srv "$NSA" --listen 10.77.0.1:7006 || return 1
	local pid=$SPID
	held_at 10.77.0.1 7006 "$WD/h" || return 1
	dump_kill "$pid" "$WD/img" --tcp-established --tcp-close || return 1
	! has_lock "$pid" || { REASON="dump --tcp-close installed a network lock"; return 1; }
	wait_file "$WD/h/result" 35 || { REASON="held client recorded no result"; return 1; }
	first_line "$WD/h/result"
	[ "$FIRST" = RESET ] || { REASON="held client: '$FIRST', expected RESET"; return 1; }
	restore_detach "$pid" "$WD/img" --netns "/run/netns/$NSA" || return 1
	stub_closed "$WD/srv" || return 1
	echo_ok 10.77.0.1:7006 && stop_pid "$pid"
}
t_tcp_close_restore() {
	start_server srv "$NSA" --listen 10.77.0.1:7007 || return 1
	local pid=$SPID
	held_at 10.77.0.1 7007 "$WD/h" || return 1
	dump_kill "$pid" "$WD/img" --tcp-established || return 1
	has_lock "$pid" || { REASON="dump --tcp-established installed no network lock"; return 1; }
	[ ! -e "$WD/h/result" ] || { REASON="the held client ended at the dump: $(cat "$WD/h/result")"; return 1; }
	restore_detach "$pid" "$WD/img" --netns "/run/netns/$NSA" --tcp-close || return 1
	! has_lock "$pid" || { REASON="restore --tcp-close left the network lock"; return 1; }
	stub_closed "$WD/srv" || return 1
	held_poke "$WD/h" RESET || return 1
	echo_ok 10.77.0.1:7007 && stop_pid "$pid"
}
t_unlock() {
	start_server srv "$NSA" --listen 10.77.0.1:7008 || return 1
	local pid=$SPID rc
	held_at 10.77.0.1 7008 "$WD/h" || return 1
	dump_kill "$pid" "$WD/img" --tcp-established || return 1
	has_lock "$pid" || { REASON="dump --tcp-established installed no network lock"; return 1; }
	"$FERRY" unlock -D "$WD/img" >>"$WD/ferry.log" 2>&1 {NAPFD}>&-
	rc=$?
	[ "$rc" = 0 ] || { REASON="ferry unlock exited $rc"; return 1; }
	! has_lock "$pid" || { REASON="ferry unlock left the network lock"; return 1; }
	held_poke "$WD/h" RESET || return 1
	# nothing left to lift (lifted above, or by hand): no error either
	"$FERRY" unlock -D "$WD/img" >>"$WD/ferry.log" 2>"$WD/unlock.err" {NAPFD}>&-
	rc=$?
	cat "$WD/unlock.err" >>"$WD/ferry.log"
	[ "$rc" = 0 ] || { REASON="a second ferry unlock exited $rc: $(head -c 300 "$WD/unlock.err")"; return 1; }
	! has_lock "$pid" || { REASON="the second ferry unlock installed a lock"; return 1; }
}
t_skip_in_flight() {
	start_server srv "$NSA" --listen 10.77.0.1:7009 || return 1
	local pid=$SPID what t
	: >"$WD/srv/pause-accept"
	wait_content "$WD/srv/accept-state" paused 3 || { REASON="server did not pause accepting"; return 1; }
	mkdir -p "$WD/c2"
	bg_in "$NSC" "$CLIENT" inflight 10.77.0.1:7009 "$WD/c2"
	wait_file "$WD/c2/inflight-connected" 5 || { REASON="inflight client did not connect"; return 1; }
	dump_kill "$pid" "$WD/img" --skip-in-flight || return 1
	msg_has "$WD/dump.err" "1 in-flight connection(s) skipped" || return 1
	wait_file "$WD/c2/inflight-result" 25 || { REASON="the in-flight client recorded no result"; return 1; }
	read -r what t <"$WD/c2/inflight-result"
	case $what in
	ECONNRESET | EPOLLHUP | EOF) ;;
	*) REASON="the in-flight client ended with '$what', expected a reset"; return 1 ;;
	esac
	restore_detach "$pid" "$WD/img" --netns "/run/netns/$NSA" || return 1
	rm -f "$WD/srv/pause-accept"
	echo_ok 10.77.0.1:7009 && stop_pid "$pid"
}

# --- scenario 5: a connection inside the tree -----------------------------------
t_selfconn() {
	mkdir -p "$WD/sc"
	bg_in "$NSA" "$SELFCONN" "$WD/sc"
	local pid=$LASTPID
	wait_file "$WD/sc/ready" 5 || { REASON="selfconn not ready: $(tail -n 2 "$WD/out")"; return 1; }
	dump_kill "$pid" "$WD/img" || return 1
	restore_bg "$pid" "$WD/img" --netns "/run/netns/$NSB" --ip-map 10.77.0.1=10.77.0.2 || return 1
	: >"$WD/sc/go"
	wait_exit "$RPID" 30 || { REASON="selfconn did not finish 30 s after go"; return 1; }
	[ "$WRC" = 0 ] || { REASON="selfconn (via ferry restore) exited $WRC: $(grep -h 'FAIL' "$WD/out" | tail -n 1)"; return 1; }
	grep -q '^OK: ' "$WD/out" || { REASON="selfconn printed no OK line"; return 1; }
}

# --- scenario 6: UDP -----------------------------------------------------------------
t_udp_bound() {
	start_server u "$NSA" --udp 10.77.0.1:7100 || return 1
	local pid=$SPID
	client_fg udp 10.77.0.1:7100
	[ "$COUT" = "from 10.77.0.1 7100" ] || { REASON="before the dump: udp client got '$COUT'"; return 1; }
	dump_kill "$pid" "$WD/img" || return 1
	restore_detach "$pid" "$WD/img" --netns "/run/netns/$NSB" --ip-map 10.77.0.1=10.77.0.2 || return 1
	client_fg udp 10.77.0.2:7100
	[ "$CRC" = 0 ] && [ "$COUT" = "from 10.77.0.2 7100" ] || { REASON="udp client to 10.77.0.2:7100 got '$COUT' (exit $CRC)"; return 1; }
	stop_pid "$pid"
}

# udp_recv_check DIR EXPECTED SERVERDIR: udprecv on 10.77.0.100:7200 in host C,
# then the server sends; the sender must be EXPECTED ("ADDR PORT")
udp_recv_check() {
	local d=$1 want=$2 sd=$3
	mkdir -p "$d"
	bg_in "$NSC" "$CLIENT" udprecv 10.77.0.100:7200 "$d"
	local rp=$LASTPID
	wait_file "$d/udp-ready" 5 || { REASON="udprecv not ready: $(tail -n 2 "$WD/out")"; return 1; }
	: >"$sd/send-udp"
	wait_exit "$rp" 5 || { REASON="nothing received from the connected UDP socket (udp-log: $(tail -n 2 "$sd/udp-log" 2>/dev/null))"; return 1; }
	first_line "$d/udp-from"
	[ "$FIRST" = "$want" ] || { REASON="datagram came from '$FIRST', expected '$want'"; return 1; }
	first_line "$d/udp-data"
	[ "$FIRST" = hello-from-server ] || { REASON="datagram was '$FIRST'"; return 1; }
}

t_udp_connected() {
	start_server u "$NSA" --udp 10.77.0.1:7101 --udp-connect 10.77.0.100:7200 || return 1
	local pid=$SPID
	udp_recv_check "$WD/r1" "10.77.0.1 7101" "$WD/u" || { REASON="before the dump: $REASON"; return 1; }
	dump_kill "$pid" "$WD/img" || return 1
	restore_detach "$pid" "$WD/img" --netns "/run/netns/$NSB" --ip-map 10.77.0.1=10.77.0.2 || return 1
	udp_recv_check "$WD/r2" "10.77.0.2 7101" "$WD/u" || return 1
	stop_pid "$pid"
}

# --- scenario 8: a dual-stack server on IPv4-mapped addresses (the JVM's way) ---

# ds_request ADDR LINE: LINE to the dualstack server at ADDR:7300 from host C
# over IPv4 (bash's /dev/tcp with a dotted address is AF_INET); the reply
# in DSREP, one line per socket for REPORT
ds_request() {
	DSREP=$(in_ns "$NSC" timeout -k 2 $((10 * SCALE)) bash -c 'exec 3<>"/dev/tcp/$0/7300" && echo "$1" >&3 && cat <&3' \
		"$1" "$2" 2>&1 </dev/null {NAPFD}>&-)
	echo "$2 to $1:7300 -> $DSREP" >>"$WD/out"
}
ds_has() { # LINE...: each a whole line of DSREP
	local l
	for l in "$@"; do
		grep -qxF -- "$l" <<<"$DSREP" ||
			{ REASON="the server's report lacks '$l': $(tr '\n' '|' <<<"$DSREP")"; return 1; }
	done
}

# dualstack_move MAP: dump the dualstack server on A, restore it into B with --ip-map MAP
dualstack_move() {
	local map=$1 a=10.77.0.1 b=10.77.0.2 c=10.77.0.100
	mkdir -p "$WD/ds" "$WD/h"
	bg_in "$NSA" "$DUALSTACK" "$WD/ds" $a $c
	local pid=$LASTPID
	wait_file "$WD/ds/ready" 5 || { REASON="dualstack not ready: $(tail -n 2 "$WD/out")"; return 1; }
	ds_request $a REPORT
	ds_has "listener ::ffff:$a 7300 v6only 0" "udp ::ffff:$a 7301" "udpc ::ffff:$a 7302 ::ffff:$c 7200" ||
		{ REASON="before the dump: $REASON"; return 1; }
	[[ "$DSREP" == *"pair ok ::ffff:$a 7300 $a "* ]] || { REASON="before the dump, the inner connection: $DSREP"; return 1; }
	bg_in "$NSC" "$CLIENT" hold $a:7300 "$WD/h"
	wait_file "$WD/h/held" 5 || { REASON="hold client: no held file: $(tail -n 2 "$WD/out")"; return 1; }
	dump_kill "$pid" "$WD/img" || return 1

	# no map: refused, and the message names the IPv4 address to map
	restore_fail 1 "$WD/nomap.err" "$pid" "$WD/img" --netns "/run/netns/$NSB" || return 1
	check_msg "$WD/nomap.err" || return 1
	msg_has "$WD/nomap.err" "needs address $a," "--ip-map $a=NEW" || return 1

	# B's IPv6 sockets are v6-only unless told otherwise: a mapped bind
	# works only if the socket's IPV6_V6ONLY=0 travelled with it
	in_ns "$NSB" sysctl -qw net.ipv6.bindv6only=1 {NAPFD}>&- || { REASON="cannot set bindv6only in B"; return 1; }
	restore_detach "$pid" "$WD/img" --netns "/run/netns/$NSB" --ip-map "$map"
	local rc=$?
	in_ns "$NSB" sysctl -qw net.ipv6.bindv6only=0 {NAPFD}>&-
	[ $rc = 0 ] || return 1

	# C1 saw its connection fail
	wait_file "$WD/h/client-result" 3 || { REASON="the held client recorded no result"; return 1; }
	local what t
	read -r what t <"$WD/h/client-result"
	case $what in
	ECONNRESET | EOF) ;;
	*) REASON="the held client's connection ended with '$what', expected ECONNRESET or EOF"; return 1 ;;
	esac

	# over IPv4 to B's address, and the server's own view of its sockets
	ds_request $b REPORT
	ds_has "listener ::ffff:$b 7300 v6only 0" "udp ::ffff:$b 7301" "udpc ::ffff:$b 7302 ::ffff:$c 7200" \
		"held ::ffff:$b 7300 eof" || return 1
	[[ "$DSREP" =~ (^|$'\n')"pair ok ::ffff:$b 7300 $b "[0-9]+($'\n'|$) ]] ||
		{ REASON="the inner connection (AF_INET to AF_INET6) after the move: $(tr '\n' '|' <<<"$DSREP")"; return 1; }
	client_fg udp $b:7301
	[ "$CRC" = 0 ] && [ "$COUT" = "from $b 7301" ] || { REASON="udp client to $b:7301 got '$COUT' (exit $CRC)"; return 1; }
	mkdir -p "$WD/r"
	bg_in "$NSC" "$CLIENT" udprecv $c:7200 "$WD/r"
	local rp=$LASTPID
	wait_file "$WD/r/udp-ready" 5 || { REASON="udprecv not ready: $(tail -n 2 "$WD/out")"; return 1; }
	ds_request $b UDPSEND
	[ "$DSREP" = sent ] || { REASON="UDPSEND: $DSREP"; return 1; }
	wait_exit "$rp" 5 || { REASON="nothing received from the connected UDP socket"; return 1; }
	first_line "$WD/r/udp-from"
	[ "$FIRST" = "$b 7302" ] || { REASON="the connected UDP socket sent from '$FIRST', expected '$b 7302'"; return 1; }
	alive "$pid" || { REASON="restored server died ($(tail -n 2 "$WD/out"))"; return 1; }
	stop_pid "$pid"
	# show says what each socket is to the map: its IPv4 address
	"$FERRY" show -D "$WD/img" >"$WD/show.out" 2>&1 {NAPFD}>&- || { REASON="ferry show failed: $(tail -n 2 "$WD/show.out")"; return 1; }
	local want
	for want in "tcp6 listen [::ffff:$a]:7300, IPv4 $a on a dual-stack socket (IPV6_V6ONLY 0)" \
		"udp6 plain [::ffff:$a]:7302 -> [::ffff:$c]:7200, IPv4 $a on a dual-stack socket (IPV6_V6ONLY 0)"; do
		grep -qF -- "$want" "$WD/show.out" || { REASON="ferry show lacks '$want'"; return 1; }
	done
}
t_dualstack_v4map() { dualstack_move 10.77.0.1=10.77.0.2; }
t_dualstack_v6map() { dualstack_move ::ffff:10.77.0.1=::ffff:10.77.0.2; }

# --- scenario 7: errors -------------------------------------------------------------
# one image of a server bound to 10.77.0.1:7000, shared by the err-* tests
ERRIMG=""
ERRPID=""
err_image() {
	[ -n "$ERRIMG" ] && return 0
	start_server srv "$NSA" --listen 10.77.0.1:7000 || return 1
	ERRPID=$SPID
	dump_kill "$ERRPID" "$WD/img" || return 1
	ERRIMG=$WD/img
}

t_err_no_map() {
	err_image || return 1
	restore_fail 1 "$WD/nomap.err" "$ERRPID" "$ERRIMG" --netns "/run/netns/$NSB" || return 1
	check_msg "$WD/nomap.err" || return 1
	msg_has "$WD/nomap.err" 10.77.0.1 10.77.0.2 --ip-map || return 1
}

t_err_ip_map_syntax() {
	err_image || return 1
	local m i=0
	for m in 10.77.0.1 10.77.0.1=banana 10.77.0.1=fd77::2; do
		i=$((i + 1))
		restore_fail 2 "$WD/syntax$i.err" "$ERRPID" "$ERRIMG" --netns "/run/netns/$NSB" --ip-map "$m" ||
			{ REASON="--ip-map $m: $REASON"; return 1; }
		check_msg "$WD/syntax$i.err" || { REASON="--ip-map $m: $REASON"; return 1; }
	done
}

t_err_port_taken() {
	err_image || return 1
	start_server blocker "$NSB" --listen 10.77.0.2:7000 || return 1
	local bpid=$SPID
	restore_fail 1 "$WD/taken.err" "$ERRPID" "$ERRIMG" --netns "/run/netns/$NSB" --ip-map 10.77.0.1=10.77.0.2 || return 1
	check_msg "$WD/taken.err" || return 1
	msg_has "$WD/taken.err" 10.77.0.2 7000 || return 1
	alive "$bpid" || { REASON="the listener already on 10.77.0.2:7000 died"; return 1; }
	echo_ok 10.77.0.2:7000 || { REASON="the listener already on 10.77.0.2:7000: $REASON"; return 1; }
	stop_pid "$bpid"
}

# --- harness self-test (no ferry) -------------------------------------------------

st_hosts() {
	local out
	out=$(ip -br addr 2>&1)
	[[ "$out" != *10.77.0.* && "$out" != *fd77:* ]] || { REASON="the root namespace has a 10.77.0.x / fd77:: address"; return 1; }
	start_server a "$NSA" --listen 0.0.0.0:7000 || return 1
	start_server a6 "$NSA" --listen "[::]:7001" || return 1
	start_server b "$NSB" --listen 10.77.0.2:7000 || return 1
	start_server b6 "$NSB" --listen "[fd77::2]:7001" || return 1
	echo_ok 10.77.0.1:7000 && echo_ok "[fd77::1]:7001" && echo_ok 10.77.0.2:7000 && echo_ok "[fd77::2]:7001" || return 1
	client_fg echo 10.77.0.1:7009
	[ "$CRC" = 1 ] && [[ "$COUT" == *ECONNREFUSED* ]] || { REASON="echo to a closed port: '$COUT' ($CRC)"; return 1; }
	# hosts are apart: A's 0.0.0.0 listener is not reachable on B's address
	client_fg echo 10.77.0.2:7001
	[ "$CRC" = 1 ] || { REASON="10.77.0.2:7001 answered"; return 1; }
}

# the checks of tcp_migrate, with the source killed instead of dumped
st_hold_inflight() {
	local S=$WD/srv
	start_server srv "$NSA" --listen 10.77.0.1:7000 || return 1
	local pid=$SPID
	mkdir -p "$WD/c1" "$WD/c2"
	bg_in "$NSC" "$CLIENT" hold 10.77.0.1:7000 "$WD/c1"
	wait_file "$WD/c1/held" 5 || { REASON="no held file"; return 1; }
	: >"$S/pause-accept"
	wait_content "$S/accept-state" paused 3 || { REASON="server did not pause"; return 1; }
	bg_in "$NSC" "$CLIENT" inflight 10.77.0.1:7000 "$WD/c2"
	wait_file "$WD/c2/inflight-connected" 5 || { REASON="inflight did not connect"; return 1; }
	nap 0.3
	count_lines "$S/accepted"
	[ "$NLINES" = 1 ] || { REASON="$NLINES accepted while paused"; return 1; }
	[ ! -e "$WD/c1/client-result" ] && [ ! -e "$WD/c2/inflight-result" ] || { REASON="a client ended early"; return 1; }
	nft_count_setup "$NSA" "ip daddr 10.77.0.100 tcp dport $(cut -d' ' -f2 "$WD/c1/held")" || return 1
	local t0 t1 what t
	now_ns t0
	kill -KILL "$pid"
	now_ns t1
	wait_file "$WD/c1/client-result" 3 && wait_file "$WD/c2/inflight-result" 3 || { REASON="clients recorded no result"; return 1; }
	read -r what t <"$WD/c1/client-result"
	[[ "$what" == EOF || "$what" == ECONNRESET ]] && [ "$t" -ge "$t0" ] && [ "$t" -le $((t1 + 1000000000)) ] ||
		{ REASON="C1: $what at $t (kill at $t0)"; return 1; }
	read -r what t <"$WD/c2/inflight-result"
	[ "$what" = ECONNRESET ] && [ "$t" -ge "$t0" ] || { REASON="C2: $what at $t (kill at $t0)"; return 1; }
	# the counter sees the FIN of the killed server's connection to C1
	nft_count_read "$NSA"
	[ "${NFT_PACKETS:-0}" -ge 1 ] || { REASON="nft counter did not count the FIN to C1 (${NFT_PACKETS:-?})"; return 1; }
	# a server that sees its client go away counts one close, naming the fd
	start_server s2 "$NSA" --listen 10.77.0.1:7000 || return 1
	mkdir -p "$WD/c3"
	bg_in "$NSC" "$CLIENT" hold 10.77.0.1:7000 "$WD/c3"
	local cp=$LASTPID fd pa pp
	wait_file "$WD/c3/held" 5 || { REASON="no held file (2)"; return 1; }
	read -r fd pa pp <"$WD/s2/accepted"
	kill -KILL "$cp"
	wait_content "$WD/s2/closes" 1 3 || { REASON="closes did not become 1"; return 1; }
	local lfd lsock laddr x
	read -r lfd x x x x x x x x lsock x laddr x <"$WD/s2/close-log"
	[ "$lfd" = "$fd" ] && [ "$lsock" = tcp4 ] && [ "$laddr" = 10.77.0.1 ] || { REASON="close-log: $(cat "$WD/s2/close-log")"; return 1; }
	rm -f "$S/pause-accept"
}

st_stream() {
	start_server srv "$NSA" --listen 10.77.0.1:7004 || return 1
	mkdir -p "$WD/st"
	bg_in "$NSC" "$CLIENT" stream 10.77.0.1:7004 "$WD/st" 4
	local cpid=$LASTPID out
	wait_file "$WD/st/stream-started" 5 || { REASON="stream did not start"; return 1; }
	nap 1.5
	# data queued both ways, in both hosts
	out=$(in_ns "$NSA" ss -tnH state established sport = :7004 2>&1)
	echo "A: $out" >>"$WD/out"
	read -r rq sq _ <<<"$out"
	[ "${rq:-0}" -gt 0 ] && [ "${sq:-0}" -gt 0 ] || { REASON="server side queues empty mid-stream: $out"; return 1; }
	out=$(in_ns "$NSC" ss -tnH state established dport = :7004 2>&1)
	echo "C: $out" >>"$WD/out"
	read -r rq sq _ <<<"$out"
	[ "${rq:-0}" -gt 0 ] && [ "${sq:-0}" -gt 0 ] || { REASON="client side queues empty mid-stream: $out"; return 1; }
	wait_exit "$cpid" 30 || { REASON="stream did not end"; return 1; }
	first_line "$WD/st/stream-result"
	[ "$WRC" = 0 ] && [[ "$FIRST" == ok\ * ]] || { REASON="stream: '$FIRST' ($WRC)"; return 1; }
}

st_udp() {
	start_server u "$NSA" --udp 10.77.0.1:7100 || return 1
	start_server u6 "$NSA" --udp "[fd77::1]:7100" || return 1
	client_fg udp 10.77.0.1:7100
	[ "$COUT" = "from 10.77.0.1 7100" ] || { REASON="udp v4: '$COUT'"; return 1; }
	client_fg udp "[fd77::1]:7100"
	[ "$COUT" = "from fd77::1 7100" ] || { REASON="udp v6: '$COUT'"; return 1; }
	start_server uc "$NSA" --udp 10.77.0.1:7101 --udp-connect 10.77.0.100:7200 || return 1
	udp_recv_check "$WD/r1" "10.77.0.1 7101" "$WD/uc" || return 1
	udp_recv_check "$WD/r2" "10.77.0.1 7101" "$WD/uc" || { REASON="second send: $REASON"; return 1; }
}

st_selfconn() {
	mkdir -p "$WD/sc"
	bg_in "$NSA" "$SELFCONN" "$WD/sc"
	local pid=$LASTPID
	wait_file "$WD/sc/ready" 5 || { REASON="selfconn not ready"; return 1; }
	: >"$WD/sc/go"
	wait_exit "$pid" 30 || { REASON="selfconn did not finish"; return 1; }
	[ "$WRC" = 0 ] && grep -q '^OK: ' "$WD/out" || { REASON="selfconn exited $WRC: $(tail -n 1 "$WD/out")"; return 1; }
}

# the checks of the error tests, on a plain failing command
st_errcheck() {
	printf 'ferry: 10.77.0.1 is not an address of this host (10.77.0.2, fd77::2): use --ip-map\n' >"$WD/m1"
	check_msg "$WD/m1" && msg_has "$WD/m1" 10.77.0.1 10.77.0.2 --ip-map || return 1
	printf 'a\nb\n' >"$WD/m2"
	[ "$ASAN" = 1 ] || ! check_msg "$WD/m2" || { REASON="a two-line message passed check_msg"; return 1; }
	: >"$WD/m3"
	! check_msg "$WD/m3" || { REASON="an empty message passed check_msg"; return 1; }
	REASON=""
}

# --- issue 18: a broken connection delivers the replies already written -------------

# shellcheck source=tests/net/incr.sh
. "$NETSRC/incr.sh"

# drain_kv DIR: kvserver on 10.77.0.1:7004 in host A (KVPID), ready
drain_kv() {
	local n=$((5 * 20 * SCALE))
	mkdir -p "$1"
	bg_in "$NSA" "$KV" 10.77.0.1:7004 "$1/kv.ready"
	KVPID=$LASTPID
	while [ ! -e "$1/kv.ready" ] && [ $n -gt 0 ]; do
		nap 0.05
		n=$((n - 1))
	done
	[ -e "$1/kv.ready" ] || { REASON="kvserver not ready after 5 s: $(tail -n 2 "$WD/out")"; return 1; }
}
drain_dump() { # PID DIR SECONDS
	timeout -k 5 $((60 * SCALE)) "$FERRY" dump -t "$1" -D "$2" --drain-timeout "$3" </dev/null >>"$WD/ferry.log" 2>"$WD/dump.err" {NAPFD}>&-
}
# drain_value: VALUE = the reply to GET n from the kvserver on host B
drain_value() {
	VALUE=$(in_ns "$NSC" timeout 5 bash -c 'exec 3<>/dev/tcp/10.77.0.2/7004 && echo "GET n" >&3 && read -r -t 3 r <&3 && echo "$r"' 2>&1 {NAPFD}>&-)
}
# drain_restore PID DIR: restore the dumped kvserver on host B with the map
drain_restore() {
	wait_exit "$1" 10 || { REASON="source still alive 10 s after the dump"; return 1; }
	wait_gone "$1" 5 || { REASON="pid $1 still exists 5 s after the dump"; return 1; }
	restore_detach "$1" "$2" --netns "/run/netns/$NSB" --ip-map 10.77.0.1=10.77.0.2
}

# the INCR client across dump + restore --ip-map, DRAIN_RUNS times: the value
# on B is the last reply the client received (tests/net/incr.sh)
t_drain() {
	local run d
	for ((run = 1; run <= DRAIN_RUNS; run++)); do
		d=$WD/run$run
		drain_kv "$d" || return 1
		incr_start "$NSC" "$NSA" 10.77.0.1:7004 "$d" "$KVPID" || { REASON="run $run: $INCR_WHY"; return 1; }
		track "$INCRPID"
		# a generous bound: the client reads as soon as the source is gone
		incr_move "$d" "$KVPID" drain_dump "$KVPID" "$d/img" $((10 * SCALE))
		DRC=$?
		cat "$WD/dump.err" >>"$WD/ferry.log"
		[ "$DRC" = 0 ] || { REASON="run $run: ferry dump exited $DRC: $(head -c 300 "$WD/dump.err")"; return 1; }
		drain_restore "$KVPID" "$d/img" || { REASON="run $run: $REASON"; return 1; }
		incr_last "$d" || { REASON="run $run: $INCR_WHY"; return 1; }
		drain_value
		stop_pid "$KVPID"
		[ "$VALUE" = "VALUE $INCR_LAST" ] ||
			{ REASON="run $run: the server on B has '$VALUE', the last reply the client received was $INCR_LAST"; return 1; }
	done
}

# a client that does not read within --drain-timeout is reset with the
# replies undelivered, as without the drain: the dump does not wait longer,
# and the value on B is past the last reply the client received
t_drain_expires() {
	local d=$WD/run
	drain_kv "$d" || return 1
	incr_start "$NSC" "$NSA" 10.77.0.1:7004 "$d" "$KVPID" || { REASON="$INCR_WHY"; return 1; }
	track "$INCRPID"
	drain_dump "$KVPID" "$d/img" 0.5
	DRC=$?
	cat "$WD/dump.err" >>"$WD/ferry.log"
	[ "$DRC" = 0 ] || { REASON="ferry dump exited $DRC: $(head -c 300 "$WD/dump.err")"; return 1; }
	grep -q "reset with [1-9][0-9]* byte(s) undelivered" "$WD/dump.err" ||
		{ REASON="the dump did not say it reset with data undelivered: $(head -c 300 "$WD/dump.err")"; return 1; }
	: >"$d/resume"
	drain_restore "$KVPID" "$d/img" || return 1
	incr_last "$d" || { REASON="$INCR_WHY"; return 1; }
	drain_value
	stop_pid "$KVPID"
	[[ "$VALUE" =~ ^VALUE\ ([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -gt "$INCR_LAST" ] ||
		{ REASON="the server on B has '$VALUE', the client's last reply was $INCR_LAST: expected more (replies undelivered)"; return 1; }
}

# --- issue 10: closing states, restore's CRIU flags, every datagram kind moved -----

# wait_result DIR WHAT: DIR/result must become "ok" within 60 s
wait_result() {
	wait_file "$1/result" $((60 * SCALE)) || { REASON="$2 recorded no result"; return 1; }
	first_line "$1/result"
	[ "$FIRST" = ok ] || { REASON="$2: $FIRST"; return 1; }
}

# a server in host A holding c1 in CLOSE_WAIT (the client's "request" and
# FIN unread), c2 in FIN_WAIT1 ("Hello World!" and its FIN written, not
# acknowledged: host C drops c2's packets) and c3 in CLOSING (FINs crossed,
# ours unacknowledged), dumped with --tcp-established,
# restored on host A with restore --tcp-established --skip-in-flight (the
# flags CRIU scripts pass to both commands): once C stops dropping, the
# client reads exactly "Hello World!" then EOF on c2 and the server's
# answer on c1; the server checks its own states and queue from inside
t_tcp_closing() {
	local S=$WD/srv C=$WD/cl pid c2port
	mkdir -p "$S" "$C"
	bg_in "$NSA" "$BIN/net-closing" server 10.77.0.1:7010 "$S"
	pid=$LASTPID
	wait_file "$S/ready" 5 || { REASON="closing server not ready: $(tail -n 2 "$WD/out")"; return 1; }
	bg_in "$NSC" "$BIN/net-closing" client 10.77.0.1:7010 "$C"
	wait_file "$C/connected" 5 || { REASON="closing client did not connect: $(tail -n 2 "$WD/out")"; return 1; }
	first_line "$C/c2port"
	c2port=$FIRST
	printf 'table inet ferryclose {\n chain in {\n  type filter hook input priority -300; policy accept;\n  ip saddr 10.77.0.1 tcp sport 7010 tcp dport { %s } drop\n }\n}\n' "$c2port" >"$WD/close.nft"
	in_ns "$NSC" nft -f "$WD/close.nft" >>"$WD/out" 2>&1 {NAPFD}>&- || { REASON="nft in C failed"; return 1; }
	: >"$S/c2-blocked"
	wait_file "$S/c3-shut" 5 || { REASON="the server did not shut c3 down"; return 1; }
	: >"$C/c3-shut"	# the client's FIN crosses the server's (dropped) one
	wait_file "$S/states" 10 || { REASON="the server never reported its states"; return 1; }
	first_line "$S/states"
	[ "$FIRST" = "c1 CLOSE_WAIT c2 FIN_WAIT1 c3 CLOSING" ] || { REASON="states before the dump: '$FIRST'"; return 1; }
	dump_kill "$pid" "$WD/img" --tcp-established || return 1
	restore_detach "$pid" "$WD/img" --netns "/run/netns/$NSA" --tcp-established --skip-in-flight || return 1
	: >"$S/go"
	wait_result "$S" "the restored server" || return 1
	in_ns "$NSC" nft delete table inet ferryclose >>"$WD/out" 2>&1 {NAPFD}>&-
	: >"$C/read"
	wait_result "$C" "the client" || return 1
	stop_pid "$pid"
}

# restore --tcp-established of an image whose dump broke a connection to an
# outside peer: refused before anything exists, naming the flag and the
# connection; with --tcp-close as well: refused as a contradiction; without
# it (and with --skip-in-flight): restored, the connection a closed stub
t_restore_flags() {
	start_server srv "$NSA" --listen 10.77.0.1:7011 || return 1
	local pid=$SPID
	held_at 10.77.0.1 7011 "$WD/h" || return 1
	dump_kill "$pid" "$WD/img" || return 1
	restore_fail 1 "$WD/e1" "$pid" "$WD/img" --netns "/run/netns/$NSA" --tcp-established || return 1
	check_msg "$WD/e1" && msg_has "$WD/e1" "--tcp-established" "without --tcp-established" "10.77.0.100" || return 1
	restore_fail 1 "$WD/e2" "$pid" "$WD/img" --netns "/run/netns/$NSA" --tcp-established --tcp-close || return 1
	check_msg "$WD/e2" && msg_has "$WD/e2" "contradict" || return 1
	restore_detach "$pid" "$WD/img" --netns "/run/netns/$NSA" --skip-in-flight || return 1
	stub_closed "$WD/srv" || return 1
	echo_ok 10.77.0.1:7011 && stop_pid "$pid"
}

# tests/net/kinds.c on host A (UDP-Lite, UDP with a datagram from C queued,
# IP_FREEBIND on 10.77.0.1 and on an address nobody has, ping v4 and v6,
# raw ICMP) restored on host B with --ip-map 10.77.0.1=10.77.0.2
# --ip-map fd77::1=fd77::2: each socket bound to a mapped address is on the
# new one, the freebind one on no host's address stays where it was, the
# queued datagram is read with its sender, and the moved ping socket gets
# its echo reply from C
t_kinds_map() {
	local K=$WD/k pid
	mkdir -p "$K"
	for ns in "$NSA" "$NSB"; do
		in_ns "$ns" sysctl -qw net.ipv4.ping_group_range="0 2147483647" {NAPFD}>&- || { REASON="cannot allow ping sockets in $ns"; return 1; }
	done
	bg_in "$NSA" "$BIN/net-kinds" 10.77.0.1 fd77::1 "$K"
	pid=$LASTPID
	wait_file "$K/ready" 5 || { REASON="kinds not ready: $(tail -n 2 "$WD/out")"; return 1; }
	in_ns "$NSC" python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.77.0.100", 7500)); s.sendto(b"hello", ("10.77.0.1", 7401))' {NAPFD}>&- || { REASON="cannot send the datagram from C"; return 1; }
	nap 0.2
	dump_kill "$pid" "$WD/img" || return 1
	restore_detach "$pid" "$WD/img" --netns "/run/netns/$NSB" --ip-map 10.77.0.1=10.77.0.2 --ip-map fd77::1=fd77::2 || return 1
	: >"$K/go"
	wait_file "$K/report" 10 || { REASON="kinds wrote no report"; return 1; }
	local want got
	want=$(printf '%s\n' "udplite 10.77.0.2:7400" "udp 10.77.0.2:7401" "fb 10.77.0.2:7402" "fbabs 10.77.0.99:7403" \
		"ping 10.77.0.2" "ping6 fd77::2" "raw 10.77.0.2" "udp-read hello from 10.77.0.100:7500" "ping-reply ok" "done")
	got=$(cat "$K/report")
	[ "$got" = "$want" ] || { REASON="report: $(tr '\n' '|' <<<"$got") expected: $(tr '\n' '|' <<<"$want")"; return 1; }
	stop_pid "$pid"
}

# a ping socket connected to host C (connect() shows only in
# /proc/net/icmp, and restore would bring it back unconnected): the dump
# refuses, naming it, and the source runs on, not traced
t_ping_connected() {
	local pid tp
	in_ns "$NSA" sysctl -qw net.ipv4.ping_group_range="0 2147483647" {NAPFD}>&- || { REASON="cannot allow ping sockets in $NSA"; return 1; }
	bg_in "$NSA" python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
s.connect(("10.77.0.100", 0))
open(sys.argv[1], "w").write("ready\n")
time.sleep(120)' "$WD/ping.ready"
	pid=$LASTPID
	wait_file "$WD/ping.ready" 5 || { REASON="ping holder not ready: $(tail -n 2 "$WD/out")"; return 1; }
	ferry_dump "$pid" "$WD/img"
	[ "$DRC" != 0 ] || { REASON="the dump of a connected ping socket succeeded"; return 1; }
	grep -q "is connected" "$WD/dump.err" && grep -q "nothing was changed" "$WD/dump.err" ||
		{ REASON="refusal does not say so: $(head -c 300 "$WD/dump.err")"; return 1; }
	tp=$(awk '/^TracerPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
	[ "$tp" = 0 ] || { REASON="source not running untraced after the refusal (TracerPid '$tp')"; return 1; }
	stop_pid "$pid"
}

# --- runner ------------------------------------------------------------------------

cleanup() {
	trap '' INT TERM HUP
	kill_test_pids
	[ -n "$ERRPID" ] && stop_pid "$ERRPID"
	if [ "$HOSTS_UP" = 1 ]; then
		FERRY_NET_PREFIX=$PFX "$NETSRC/hosts.sh" down {NAPFD}>&- || echo "tests/net/run.sh: hosts.sh down failed" >&2
	fi
	if [ -n "$PIDMAX_SET" ]; then
		local cur
		read -r cur </proc/sys/kernel/pid_max
		[ "$cur" = "$PIDMAX_SET" ] && echo "$PIDMAX_OLD" >/proc/sys/kernel/pid_max
	fi
	exec {NAPFD}>&-
	if [ "${FERRY_KEEP:-0}" = 1 ]; then
		echo "kept $TMPROOT" >&2
	else
		rm -rf "$TMPROOT"
	fi
}
trap cleanup EXIT
trap 'echo "tests/net/run.sh: interrupted" >&2; exit 130' INT TERM HUP

# pids: a killed source's pid must stay free until its restore
read -r PIDMAX_OLD </proc/sys/kernel/pid_max
if [ "$PIDMAX_OLD" -lt 4194304 ]; then
	echo 4194304 >/proc/sys/kernel/pid_max && PIDMAX_SET=4194304
fi

# hosts.sh up deletes and recreates the namespaces: never pull them from
# under processes that still run in them (another run, someone's session)
if [ "${FERRY_NET_FORCE:-0}" != 1 ]; then
	for ns in "$NSA" "$NSB" "$NSC" "$PFX-br"; do
		[ -e "/run/netns/$ns" ] || continue
		busy=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
		if [ -n "$busy" ]; then
			echo "tests/net/run.sh: netns $ns is in use (pids $busy); stop them, pick other hosts with FERRY_NET_PREFIX=NAME, or set FERRY_NET_FORCE=1" >&2
			exit 2
		fi
	done
fi
HOSTS_UP=1
FERRY_NET_PREFIX=$PFX "$NETSRC/hosts.sh" up {NAPFD}>&- || { echo "tests/net/run.sh: hosts.sh up failed" >&2; exit 1; }

run_test() {
	local name=$1 fn=$2
	if [ "$SELECT" != "  " ] && [[ "$SELECT" != *" $name "* ]]; then
		return 0
	fi
	WD=$TMPROOT/$name
	mkdir -p "$WD"
	REASON=""
	if [ "$SELFTEST" != 1 ] && [ ! -x "$FERRY" ]; then
		REASON="no ferry binary at $FERRY"
		false
	else
		$fn
	fi
	local rc=$?
	kill_test_pids
	# under the sanitizers a report fails the test even when ferry's exit
	# status looked right (a leak on an error path keeps its exit status)
	if [ "$ASAN" = 1 ] && [ $rc = 0 ] &&
		grep -rq -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$WD" 2>/dev/null; then
		rc=1
		REASON="sanitizer report in $(grep -rl -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$WD" | head -n 1)"
	fi
	if [ $rc = 0 ]; then
		echo "PASS $name"
		PASSED=$((PASSED + 1))
	else
		echo "FAIL $name: ${REASON:-failed}"
		FAILED=$((FAILED + 1))
	fi
}

if [ "$SELFTEST" = 1 ]; then
	run_test st-hosts st_hosts
	run_test st-hold-inflight st_hold_inflight
	run_test st-stream st_stream
	run_test st-udp st_udp
	run_test st-selfconn st_selfconn
	run_test st-errcheck st_errcheck
else
	run_test tcp4-migrate t_tcp4_migrate
	run_test tcp6-migrate t_tcp6_migrate
	run_test wildcard t_wildcard
	run_test tcp-established t_tcp_established
	run_test tcp-established-v4mapped t_tcp_established_v4mapped
	run_test selfconn t_selfconn
	run_test udp-bound t_udp_bound
	run_test udp-connected t_udp_connected
	run_test tcp-close-dump t_tcp_close_dump
	run_test tcp-close-restore t_tcp_close_restore
	run_test unlock t_unlock
	run_test skip-in-flight t_skip_in_flight
	run_test dualstack-v4map t_dualstack_v4map
	run_test dualstack-v6map t_dualstack_v6map
	run_test err-no-map t_err_no_map
	run_test err-ip-map-syntax t_err_ip_map_syntax
	run_test err-port-taken t_err_port_taken
	run_test drain t_drain
	run_test drain-expires t_drain_expires
	run_test tcp-closing t_tcp_closing
	run_test restore-flags t_restore_flags
	run_test kinds-map t_kinds_map
	run_test ping-connected t_ping_connected
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
