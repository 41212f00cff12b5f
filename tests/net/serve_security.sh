#!/usr/bin/env bash
# tests/net/serve_security.sh - what `ferry serve` must withstand (issue 15,
# docs/migration.md "Security"): a local user planting names in /dev/shm,
# clients that connect and stall or trickle, key files others can read, a
# key holder breaking the protocol (fd leak, names outside the staging
# directory, bogus counts, a huge image, a peer-named pid), a redirected
# connection, a destination that never answers.  Simulated hosts as in
# migrate.sh (prefix fsec); serve runs in a PID namespace of its own.
# Ends with "N passed, N failed"; exits 1 on any failure.  Run as root from
# the repo root (tests/all.sh does), under flock /tmp/ferry-net.lock.
# FERRY_BIN=PATH tests another build of ferry (e.g. one with a fix taken
# out, to see a case fail); FERRY_SEC_TESTS="name ..." runs only those cases
# (t_NAME below).
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
FERRY=${FERRY_BIN:-$ROOT/ferry}
if [ "${FERRY_REAPED:-}" != 1 ] && [ -x "$ROOT/tests/bin/subreaper" ]; then
	export FERRY_REAPED=1
	exec "$ROOT/tests/bin/subreaper" "$ROOT/tests/net/serve_security.sh" "$@"
fi
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"
close_inherited_fds "$0"
SCALE=1
[ "${FERRY_ASAN:-0}" = 1 ] && SCALE=3
export FERRY_NET_PREFIX=fsec
NA=fsec-a NB=fsec-b NC=fsec-c
T=$(mktemp -d /tmp/ferry-sec.XXXXXX)
export T
chmod 755 "$T"
PASSED=0 FAILED=0 STARTED=()
SHM_PLANTED=()

cleanup() {
	local p
	for p in "${STARTED[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in "${STARTED[@]}"; do wait "$p" 2>/dev/null; done
	tests/net/hosts.sh down >/dev/null 2>&1
	for p in "${SHM_PLANTED[@]}"; do rm -rf -- "$p"; done
	rm -rf "$T"
}
exec 2> >(trap '' INT TERM HUP; exec grep --line-buffered -v -E '^.*: line [0-9]+: +[0-9]+ Killed( |$)' >&2)
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p tests/bin
gcc -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o tests/bin/net-kvserver demo/kvserver.c || exit 2
gcc -O1 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc/core -o tests/bin/net-evilpeer tests/net/evilpeer.c \
	src/core/chan.c src/core/util.c src/core/log.c -lsodium || exit 2
KV=$ROOT/tests/bin/net-kvserver EVIL=$ROOT/tests/bin/net-evilpeer
tests/net/hosts.sh up >/dev/null || { echo "serve_security.sh: cannot build the hosts"; exit 2; }
"$FERRY" keygen -o "$T/key" || exit 2

pass() { echo "PASS $1"; PASSED=$((PASSED + 1)); }
fail() {
	echo "FAIL $1: $2"; FAILED=$((FAILED + 1))
	[ -f "$T/mig.err" ] && sed 's/^/    | migrate: /' "$T/mig.err" | tail -8
	[ -f "$T/serve.out" ] && sed 's/^/    | serve: /' "$T/serve.out" | tail -12
}
# wait_for N CMD...: until CMD succeeds, at most N/20 s (a bound, not a timing)
wait_for() {
	local n=$(($1 * SCALE))
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.05; done
	"$@"
}
in_log() { grep -q -- "$1" "$T/serve.out" 2>/dev/null; }

start_kv() { # NS ADDR -> KVPID
	rm -f "$T/kv.ready"
	ip netns exec "$1" "$KV" "$2:7000" "$T/kv.ready" </dev/null >/dev/null 2>&1 &
	KVPID=$!
	STARTED+=("$KVPID")
	wait_for 100 test -e "$T/kv.ready"
}
kv() { timeout 5 ip netns exec "$1" bash -c 'exec 3<>/dev/tcp/$0/7000 && printf "%s\n" "$1" >&3 && read -r -t 3 r <&3 && echo "$r"' "$2" "$3" 2>/dev/null; }
# start_serve PRE [serve args]: ferry serve on B (10.77.0.2:9000) in a PID
# namespace of its own, cwd $T/cwd; PRE runs first inside it.  The log ends
# with "SERVE_EXIT rc" when serve exits.  Sets SERVE and HOLDER.
start_serve() {
	local pre=$1
	shift
	rm -f "$T/serve.out"
	mkdir -p "$T/cwd"
	ip netns exec $NB unshare --pid --fork --kill-child --mount-proc bash -c \
		'cd "$4" && eval "$1"; "$0" serve --listen 10.77.0.2:9000 --key "$2" "${@:5}" >"$3" 2>&1; echo "SERVE_EXIT $?" >>"$3"; sleep 600' \
		"$FERRY" "$pre" "$T/key" "$T/serve.out" "$T/cwd" "$@" </dev/null >/dev/null 2>&1 &
	SERVE=$!
	STARTED+=("$SERVE")
	wait_for 100 in_log "serving migrations"
	HOLDER=$(ps -o pid= --ppid "$SERVE" | tr -d ' ' | head -n 1)
	in_log "serving migrations"
}
stop_serve() {
	kill -9 "$SERVE" 2>/dev/null
	wait "$SERVE" 2>/dev/null
	[ -n "${HOLDER:-}" ] && wait_for 200 eval '[ ! -e "/proc/$HOLDER" ]'
	cat "$T/serve.out" >>"$T/all.out" 2>/dev/null
	rm -f "$T/serve.out"
}
migrate() { # PID TO [args]: ferry migrate from A, rc in MRC
	local pid=$1 to=$2
	shift 2
	timeout 60 ip netns exec $NA "$FERRY" migrate -t "$pid" --to "$to" --key "$T/key" "$@" >/dev/null 2>"$T/mig.err"
	MRC=$?
	cat "$T/mig.err" >>"$T/all.out"
}
untouched() {
	local st tp
	st=$(awk '/^State:/{print $2}' "/proc/$1/status" 2>/dev/null)
	tp=$(awk '/^TracerPid:/{print $2}' "/proc/$1/status" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != T ] && [ "$st" != t ] && [ "$tp" = 0 ]
}
# a migration of a fresh kv server A -> B that must succeed, data and all
real_migration() { # case-name [migrate args]
	local name=$1
	shift
	start_kv $NA 10.77.0.1 || { fail "$name" "kv server did not start"; return 1; }
	kv $NC 10.77.0.1 "SET sec ret" >/dev/null
	migrate "$KVPID" 10.77.0.2:9000 --ip-map auto "$@"
	[ "$MRC" = 0 ] || { fail "$name" "the real migration failed (exit $MRC)"; kill -9 "$KVPID" 2>/dev/null; return 1; }
	[ "$(kv $NC 10.77.0.2 "GET sec")" = "VALUE ret" ] || { fail "$name" "the data did not arrive on B"; return 1; }
	return 0
}
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

# 1. A local user plants names in world-writable /dev/shm: a name that is a
# shell command, a directory with a FIFO for its lock, a link to a directory
# of root's, a look-alike staging directory of its own.  The sweep before a
# migration runs nothing, opens none of them, removes none of them, and the
# migration succeeds; a real stale staging directory of ferry's still goes.
t_local_user() {
	local evil="/dev/shm/ferry-incoming.x';touch FERRY-PWNED;'" fifo=/dev/shm/ferry-incoming.fsecfifo
	local link=/dev/shm/ferry-incoming.fseclink own=/dev/shm/ferry-incoming.fsecown stale=/dev/shm/ferry-incoming.fsecstale
	SHM_PLANTED+=("$evil" "$fifo" "$link" "$own" "$stale")
	mkdir -p "$T/victim" && echo keep >"$T/victim/file"
	as_nobody touch "$evil" || { fail local_user "nobody cannot write /dev/shm"; return; }
	as_nobody mkdir -m 700 "$fifo" && as_nobody mkfifo "$fifo/lock"
	as_nobody ln -s "$T/victim" "$link"
	as_nobody mkdir -m 700 "$own" && as_nobody touch "$own/lock" "$own/data"
	mkdir -m 700 "$stale" && touch "$stale/lock" "$stale/data"	# as a killed receiver leaves it
	start_serve true --once || { fail local_user "serve did not start"; return; }
	real_migration local_user || { stop_serve; return; }
	wait_for 200 in_log SERVE_EXIT
	[ -e "$T/cwd/FERRY-PWNED" ] && { fail local_user "a command from a file name ran as root"; stop_serve; return; }
	[ -e "$evil" ] && [ -p "$fifo/lock" ] && [ -L "$link" ] && [ -e "$own/data" ] ||
		{ fail local_user "the sweep removed another user's entry"; stop_serve; return; }
	[ "$(cat "$T/victim/file" 2>/dev/null)" = keep ] || { fail local_user "the sweep followed a link"; stop_serve; return; }
	[ -e "$stale" ] && { fail local_user "a stale staging directory of ferry's was not swept"; stop_serve; return; }
	in_log "SERVE_EXIT 0" || { fail local_user "serve did not end well: $(tail -n 1 "$T/serve.out")"; stop_serve; return; }
	stop_serve
	pass local_user
}

# 2. Port probes, garbage, stalled and trickling clients come and go while a
# real migration runs; --once counts only the authenticated migration.
t_stalls() {
	local i
	start_serve true --once || { fail stalls "serve did not start"; return; }
	for i in 1 2 3; do	# connect and stall
		ip netns exec $NC bash -c 'exec 3<>/dev/tcp/10.77.0.2/9000 && sleep 120' >/dev/null 2>&1 &
		STARTED+=($!)
	done
	ip netns exec $NC bash -c 'exec 3<>/dev/tcp/10.77.0.2/9000 || exit
		for i in $(seq 100); do printf x >&3 || exit; sleep 1; done' >/dev/null 2>&1 &
	STARTED+=($!)
	ip netns exec $NC bash -c 'exec 3<>/dev/tcp/10.77.0.2/9000' 2>/dev/null		# a port probe
	ip netns exec $NC bash -c 'exec 3<>/dev/tcp/10.77.0.2/9000 && printf "GET / HTTP/1.0\r\n\r\n" >&3' 2>/dev/null
	wait_for 200 eval '[ "$(grep -c "no migration" "$T/serve.out" 2>/dev/null)" -ge 2 ]' ||
		{ fail stalls "serve did not log the probes as failed handshakes"; stop_serve; return; }
	in_log SERVE_EXIT && { fail stalls "serve --once ended on a connection that never authenticated"; stop_serve; return; }
	real_migration stalls || { stop_serve; return; }
	wait_for 200 in_log SERVE_EXIT
	in_log "SERVE_EXIT 0" || { fail stalls "serve --once did not end with the migration"; stop_serve; return; }
	stop_serve
	pass stalls
}

# 3. One deadline for the whole handshake: a client trickling a byte a
# second (each read makes progress, so no socket timeout fires) is dropped
# long before it could finish the handshake.
t_deadline() {
	start_serve true --handshake-timeout 2 || { fail handshake_deadline "serve did not start"; return; }
	ip netns exec $NC bash -c 'exec 3<>/dev/tcp/10.77.0.2/9000 || exit
		for i in $(seq 100); do printf x >&3 2>/dev/null || break; echo $i >"$0"; sleep 1; done' "$T/trickled" >/dev/null 2>&1
	local n; n=$(cat "$T/trickled" 2>/dev/null)
	[ -n "$n" ] && [ "$n" -lt 20 ] || { fail handshake_deadline "the trickling client sent ${n:-?} bytes before serve dropped it"; stop_serve; return; }
	in_log "did not finish within 2 s" || { fail handshake_deadline "no word of the deadline in serve's log"; stop_serve; return; }
	stop_serve
	pass handshake_deadline
}

# 4. More stalled connections than serve takes at once: the real migration
# waits for a slot (a dropped stall) and succeeds.
t_cap() {
	local i
	start_serve true --once --handshake-timeout 3 || { fail conn_cap "serve did not start"; return; }
	for i in $(seq 24); do
		ip netns exec $NC bash -c 'exec 3<>/dev/tcp/10.77.0.2/9000 && sleep 120' >/dev/null 2>&1 &
		STARTED+=($!)
	done
	real_migration conn_cap --timeout 30 || { stop_serve; return; }
	stop_serve
	pass conn_cap
}

# 5. Key files: keygen -o writes mode 0600 and never over a file; serve and
# migrate refuse a key others can read or that is not theirs, saying the fix.
t_keys() {
	local k=$T/keys
	mkdir -p "$k"
	"$FERRY" keygen -o "$k/a" || { fail key_modes "keygen -o failed"; return; }
	[ "$(stat -c %a "$k/a")" = 600 ] || { fail key_modes "keygen -o wrote mode $(stat -c %a "$k/a")"; return; }
	"$FERRY" keygen -o "$k/a" 2>"$k/err" && { fail key_modes "keygen -o replaced an existing file"; return; }
	(umask 022 && "$FERRY" keygen >"$k/b") && [ "$(grep -c . "$k/b")" = 1 ] || { fail key_modes "keygen > FILE no longer works"; return; }
	timeout 5 "$FERRY" serve --listen 127.0.0.1:1 --key "$k/b" 2>"$k/err" && { fail key_modes "serve took a 0644 key"; return; }
	grep -q "chmod 600" "$k/err" || { fail key_modes "no fix in: $(cat "$k/err")"; return; }
	cp "$k/a" "$k/c" && chmod 640 "$k/c"
	"$FERRY" migrate -t 1 --to 127.0.0.1:1 --key "$k/c" 2>"$k/err" && { fail key_modes "migrate took a 0640 key"; return; }
	grep -q "group or others can read it" "$k/err" || { fail key_modes "migrate: $(cat "$k/err")"; return; }
	cp "$k/a" "$k/d" && chown nobody "$k/d" && chmod 600 "$k/d"
	timeout 5 "$FERRY" serve --listen 127.0.0.1:1 --key "$k/d" 2>"$k/err" && { fail key_modes "serve took a key owned by nobody"; return; }
	grep -q "chown" "$k/err" || { fail key_modes "no fix in: $(cat "$k/err")"; return; }
	pass key_modes
}

# 5'. dump refuses an image directory another user owns (made ahead in /tmp:
# they could read the memory, or plant links for root to write through).
t_dump_dir() {
	local d=$T/nobodys
	mkdir -p "$d" && chown nobody "$d"
	sleep 1000 </dev/null >/dev/null 2>&1 &
	local sp=$!
	STARTED+=("$sp")
	"$FERRY" dump -t "$sp" -D "$d" 2>"$T/dump.err" && { fail dump_dir_owner "dump wrote into nobody's directory"; return; }
	grep -q "belongs to uid" "$T/dump.err" || { fail dump_dir_owner "$(cat "$T/dump.err")"; return; }
	untouched "$sp" || { fail dump_dir_owner "the source was touched"; return; }
	kill -9 "$sp"
	pass dump_dir_owner
}

# 6. A key holder that breaks the protocol: each refused with a logged
# reason, and serve serves on (a real migration afterwards).
evil() { # name MODE ARGS...: evilpeer from C, its answer in $T/evil.out
	timeout 30 ip netns exec $NC "$EVIL" client 10.77.0.2:9000 "$T/key" "$@" >"$T/evil.out" 2>&1
}
t_evil() {
	start_serve true --max-staging 4M || { fail evil_fdleak "serve did not start"; return; }
	evil fdleak
	wait_for 100 in_log "a file begins before the last one ended" && pass evil_fdleak ||
		fail evil_fdleak "a second file-begin frame was not refused: $(cat "$T/evil.out")"
	evil manifest
	grep -q "not a plain file name" "$T/evil.out" && pass evil_manifest_name ||
		fail evil_manifest_name "a manifest name outside the staging directory: $(cat "$T/evil.out")"
	evil counts
	wait_for 100 in_log "premap-4242.img has a bad page run" && pass evil_counts ||
		fail evil_counts "a premap claiming 2^62 pages was not refused: $(cat "$T/evil.out")"
	evil big $((8 << 20))
	wait_for 100 in_log "staging limit of 4 MiB" && pass staging_limit ||
		fail staging_limit "an 8 MiB image passed a 4 MiB limit: $(cat "$T/evil.out")"
	wait_for 100 eval '! ls -d /dev/shm/ferry-incoming.?????? >/dev/null 2>&1' ||
		fail staging_limit "a refused image was left in /dev/shm"
	real_migration evil_serves_on && pass evil_serves_on
	stop_serve
}

# 7. kill_restored: when the source never hears the result, serve kills the
# tree it restored, and nothing the peer names (core-PID.json of a process
# of this host's).
t_kill_scope() {
	local img=$T/img spid vpid
	sleep 1000 </dev/null >/dev/null 2>&1 &
	spid=$!
	STARTED+=("$spid")
	"$FERRY" dump -t "$spid" -D "$img" >/dev/null 2>"$T/dump.err" || { fail kill_restored_scope "dump: $(cat "$T/dump.err")"; return; }
	wait "$spid" 2>/dev/null
	start_serve 'sleep 600 & echo $! >"$T/victim.pid"' || { fail kill_restored_scope "serve did not start"; return; }
	vpid=$(cat "$T/victim.pid")
	ip netns exec $NC "$EVIL" client 10.77.0.2:9000 "$T/key" sendimg "$img" "core-$vpid.json" >"$T/evil.out" 2>&1
	wait_for 400 in_log "killed the" || { fail kill_restored_scope "serve did not undo the restore: $(cat "$T/evil.out")"; stop_serve; return; }
	nsenter -t "$HOLDER" -p -m kill -0 "$vpid" 2>/dev/null || { fail kill_restored_scope "serve killed pid $vpid, named by the peer"; stop_serve; return; }
	wait_for 100 eval '! nsenter -t "$HOLDER" -p -m grep -q sleep "/proc/$spid/comm" 2>/dev/null' ||
		{ fail kill_restored_scope "the restored pid $spid still runs"; stop_serve; return; }
	stop_serve
	pass kill_restored_scope
}

# 8. The destination's identity: through a relay the source reaches a serve
# that was not the one it named, and refuses before freezing (serve logs the
# source's reason); naming the serve's own address with --dest-addr works.
t_identity() {
	start_serve true || { fail dest_identity "serve did not start"; return; }
	ip netns exec $NC /usr/bin/python3 - <<'PY' &
import socket, threading
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.77.0.100", 9100)); l.listen(4); l.settimeout(60)
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError: pass
    try: b.shutdown(socket.SHUT_WR)
    except OSError: pass
for _ in range(2):
    c, _ = l.accept(); s = socket.create_connection(("10.77.0.2", 9000))
    threading.Thread(target=pipe, args=(c, s), daemon=True).start()
    threading.Thread(target=pipe, args=(s, c), daemon=True).start()
threading.Event().wait(60)
PY
	STARTED+=($!)
	wait_for 200 eval 'ip netns exec $NC ss -Hltn "sport = :9100" | grep -q .'
	start_kv $NA 10.77.0.1 || { fail dest_identity "kv server did not start"; stop_serve; return; }
	migrate "$KVPID" 10.77.0.100:9100 --ip-map auto
	[ "$MRC" = 1 ] || { fail dest_identity "migrate through a relay exited $MRC, expected 1"; stop_serve; return; }
	grep -q "says it was reached at 10.77.0.2:9000, not at 10.77.0.100:9100" "$T/mig.err" ||
		{ fail dest_identity "the redirection was not named"; stop_serve; return; }
	untouched "$KVPID" || { fail dest_identity "the source was left frozen"; stop_serve; return; }
	wait_for 100 in_log "the other side gave up: the destination says it was reached" ||
		{ fail source_reason_logged "serve did not log the source's reason"; stop_serve; return; }
	pass source_reason_logged
	migrate "$KVPID" 10.77.0.100:9100 --ip-map auto --dest-addr 10.77.0.2:9000
	[ "$MRC" = 0 ] || { fail dest_identity "--dest-addr through the relay: exit $MRC"; stop_serve; return; }
	stop_serve
	pass dest_identity
}

# 9. A destination that says "still at work" forever: --restore-timeout ends
# the wait and the source runs on.
t_restore_timeout() {
	start_kv $NA 10.77.0.1 || { fail restore_timeout "kv server did not start"; return; }
	ip netns exec $NB "$EVIL" server 10.77.0.2:9300 "$T/key" >"$T/evilsrv.out" 2>&1 &
	STARTED+=($!)
	wait_for 100 grep -q LISTENING "$T/evilsrv.out"
	migrate "$KVPID" 10.77.0.2:9300 --ip-map 10.77.0.1=10.77.0.2 --restore-timeout 2
	[ "$MRC" = 1 ] || { fail restore_timeout "migrate exited $MRC, expected 1"; return; }
	grep -q -- "--restore-timeout" "$T/mig.err" || { fail restore_timeout "no word of --restore-timeout"; return; }
	untouched "$KVPID" || { fail restore_timeout "the source was left frozen"; return; }
	kill -9 "$KVPID"
	pass restore_timeout
}

for t in ${FERRY_SEC_TESTS:-local_user stalls deadline cap keys dump_dir evil kill_scope identity restore_timeout}; do
	"t_$t"
done
sanitizer_reports "$T/all.out"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
