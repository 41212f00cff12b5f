#!/usr/bin/env bash
# tests/run.sh - ferry's end-to-end tests.  Run from anywhere as root
# (it re-runs itself under tests/bin/subreaper).
# Needs ./ferry and tests/bin/* built (`make`).
#
# Every test program (tests/progs/NAME.c -> tests/bin/NAME WORKDIR ...) sets
# up state, creates WORKDIR/ready, waits for a trigger, verifies its state and
# exits 0/1.  Between ready and the trigger this runner dumps it
# (`ferry dump`, which kills the source) and restores it (`ferry restore`,
# same PID) -- twice by default -- then triggers and expects exit status 0
# from `ferry restore` (which passes the program's status through).
# Triggers: file   = create WORKDIR/go
#           fifo   = write "go" into the FIFO WORKDIR/trigger (block_read/select)
#           signal = kill -USR1 PID (block_pause)
# Before a fifo/signal trigger the runner waits until /proc/PID/syscall shows
# the program blocked in the expected syscall again.
# A restore counts as complete when its --pidfile holds the PID and the
# process is neither traced nor stopped.  After each dump the image must have
# manifest.json (with a '"version": 1,' line), core-PID.json, pages-PID.img
# and pagemap-PID.img.
#
# Tests: unit-* (every tests/bin/unit-*, exit 0/1); the programs listed in
# POSITIVE below (2 cycles; counter 5; mem_anon also checks each image is
# < 8 MiB; shm_share that each shared object is stored once; attrs gets
# extra args and FERRY_TEST_ENV; regs_avx2 = regs_avx forced to AVX2; mem_cow_copied = mem_cow
# with restore's copy fallback forced (FERRY_TEST_NO_COW_PLACE); python = /usr/bin/python3 writing WORKDIR/pycount); every
# other tests/progs/NAME.c as a standard test (file trigger, 2 cycles); then
# the tests with a flow of their own (NEGATIVE below: `ferry check` and the
# command line; `dump --check`; a cgroup that is gone; seccomp strict mode;
# a thread with its own credentials; a shell job, restore --detach, a stopped process; refused
# dumps -- sockets of unsupported kinds, io_uring, fds in flight, pty
# masters, devices, userfaultfd, ... -- and
# a dump that fails partway (full or read-only image directory), each
# leaving the source running; damaged images, wrong version, missing CPU
# features, taken PID, missing file) and `ferry show` against /proc.
# Processes are only ever killed by PID: those the runner started, and those
# whose command line names the test's unique temp dir.
#
# Environment:
#   FERRY_TESTS="a b"  run only these tests ("unit" = all unit tests)
#   FERRY_NODUMP=1     no dump/restore: only check the programs themselves
#                      (negative tests are skipped)
#   FERRY_ASAN=1       ferry built with sanitizers: longer timeouts, no
#                      one-line check on error messages
#   FERRY_KEEP=1       keep the temp dir (printed) for inspection
#   FERRY_BIN=path     the ferry binary to test (default ./ferry)
# Output: "PASS name" / "FAIL name: reason" / "SKIP name: reason" per test
# (a test that sets SKIP to its reason and fails: e.g. a CPU without
# AVX-512), then
# "N passed, N failed, N skipped".
# Exit status 1 if anything failed.

set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
FERRY=${FERRY_BIN:-$ROOT/ferry}
BIN=$ROOT/tests/bin
# run as a child subreaper (tests/bin/subreaper), so that killed sources and
# orphaned restored processes free their PIDs at once: PID 1 may reap
# orphaned zombies only every few seconds, and a restore needs the PID free
if [ "${FERRY_REAPED:-}" != 1 ] && [ -x "$ROOT/tests/bin/subreaper" ]; then
	export FERRY_REAPED=1
	exec "$ROOT/tests/bin/subreaper" "$ROOT/tests/run.sh" "$@"
fi
PY=/usr/bin/python3
NODUMP=${FERRY_NODUMP:-0}
ASAN=${FERRY_ASAN:-0}
SCALE=1
[ "$ASAN" = 1 ] && SCALE=3
SELECT=" ${FERRY_TESTS:-} "

SELF=$(readlink -f "$0")
# shellcheck source=tests/lib.sh
. "$(dirname "$SELF")/lib.sh"
close_inherited_fds "$SELF"

# bash reports every background job killed by a signal ("line N: PID Killed
# ...") on stderr; the tests kill on purpose, so drop exactly those lines
exec 2> >(trap '' INT TERM HUP; exec grep --line-buffered -v -E '^.*: line [0-9]+: +[0-9]+ Killed( |$)' >&2)
FILTER_PID=$!

TMPROOT=$(mktemp -d "${TMPDIR:-/tmp}/ferry-tests.XXXXXX") || exit 2
TMPROOT=$(cd "$TMPROOT" && pwd -P)
chmod 711 "$TMPROOT" # test programs that drop root (thread_creds) reach their dir
trap 'rm -rf "$TMPROOT"' EXIT # replaced by cleanup() below

# sleep without forking: read with a timeout on a FIFO nobody writes
# (children must not inherit it: every command we start closes it)
mkfifo "$TMPROOT/.nap" || exit 2
exec {NAPFD}<>"$TMPROOT/.nap"
# (no redirections on it: a signal trap that runs inside a builtin with a
# temporary redirection would print to it)
nap() { read -r -t "$1" -u "$NAPFD" _; return 0; }


# a restored process needs its PID free: with pid_max 32768 PIDs wrap
# quickly; raise it for this run (restored at exit)
PIDMAX_OLD=""
if [ -w /proc/sys/kernel/pid_max ]; then
	read -r PIDMAX_OLD </proc/sys/kernel/pid_max
	if [ "$PIDMAX_OLD" -lt 4194304 ] && echo 4194304 2>/dev/null >/proc/sys/kernel/pid_max; then
		:
	else
		PIDMAX_OLD=""
	fi
fi

PASSED=0
FAILED=0
SKIPPED=0
REASON=""
WD=""
PID=""        # the test program's pid (kept across restores)
RPID=""       # the current `ferry restore` (foreground mode) pid

# --- process helpers (pstat, track, alive, wait_exit ... are in tests/lib.sh) ---

# kill every process whose command line names directory $1 (a test's dir or
# our temp dir: unique paths, so only processes of ours): children of test
# programs, restored processes, ferry commands
kill_naming() {
	local f p a
	for f in /proc/[0-9]*/cmdline; do
		p=${f#/proc/}
		p=${p%/cmdline}
		[ "$p" = $$ ] && continue
		a=()
		mapfile -d '' a 2>/dev/null <"$f" || continue
		[[ "${a[*]}" == *"$1"* ]] && kill -KILL "$p" 2>/dev/null
	done
	return 0
}

kill_ours() {
	local p
	for p in "${PIDS[@]}"; do
		is_ours "$p" && kill -KILL "$p" 2>/dev/null
	done
	kill_naming "$TMPROOT"
}

cleanup() {
	trap '' INT TERM HUP
	kill_ours
	nap 0.2
	exec {NAPFD}>&-
	[ -n "$PIDMAX_OLD" ] && echo "$PIDMAX_OLD" 2>/dev/null >/proc/sys/kernel/pid_max
	if [ "${FERRY_KEEP:-0}" = 1 ]; then
		echo "kept $TMPROOT" >&2
	else
		rm -rf "$TMPROOT"
	fi
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM HUP

# process state letter, for messages
pstate() {
	pstat "$1"
	echo "$PSTATE"
}

# one-line description of a process for failure messages
pinfo() {
	local st wc sc cmd=()
	st=$(pstate "$1")
	[ -n "$st" ] || { echo "pid $1: gone"; return 0; }
	read -r wc 2>/dev/null <"/proc/$1/wchan"
	read -r sc _ 2>/dev/null <"/proc/$1/syscall"
	mapfile -d '' cmd 2>/dev/null <"/proc/$1/cmdline"
	echo "pid $1: state $st, wchan ${wc:-?}, syscall ${sc:-?}, TracerPid $(status_field "$1" TracerPid), cmd '${cmd[*]:0:3}'"
}

status_field() { sfield "$@"; echo "$SF"; }

# wait until pid $1 is blocked in one of the syscall numbers $2 ("0" or "270 23")
wait_syscall() {
	local n=$(( 10 * 20 * SCALE )) sc=""
	while [ $n -gt 0 ]; do
		read -r sc _ 2>/dev/null <"/proc/$1/syscall"
		[[ " $2 " == *" $sc "* ]] && return 0
		nap 0.05
		n=$((n - 1))
	done
	REASON="pid $1 not blocked in syscall ($2) after restore; /proc/$1/syscall: ${sc:-gone}, state $(pstate "$1")"
	return 1
}

# --- test protocol -------------------------------------------------------------

# start_prog [VAR=val...] -- CMD ARGS...   (program stdout/stderr -> WD/out)
start_cmd() {
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	env "${envs[@]}" "$@" </dev/null >>"$WD/out" 2>&1 {NAPFD}>&- &
	PID=$!
	track "$PID"
}

wait_ready() {
	local n=$(( 10 * 20 * SCALE ))
	while [ ! -e "$WD/ready" ] && [ $n -gt 0 ]; do
		if ! alive "$PID"; then
			wait "$PID" 2>/dev/null
			REASON="exited with status $? before ready"
			return 1
		fi
		nap 0.05
		n=$((n - 1))
	done
	[ -e "$WD/ready" ] || { REASON="not ready after 10 s"; return 1; }
}

# ferry_dump DIR [extra args]; sets DRC, stderr in $WD/dump.err
ferry_dump() {
	local dir=$1
	shift
	log "ferry dump -t $PID -D $dir $*"
	timeout --foreground -k 5 $((60 * SCALE)) "$FERRY" dump -t "$PID" -D "$dir" "$@" >>"$WD/ferry.log" 2>"$WD/dump.err" {NAPFD}>&-
	DRC=$?
	cat "$WD/dump.err" >>"$WD/ferry.log"
	log "dump exit status $DRC"
}

# start `ferry restore -D DIR` in the background and wait until the process
# runs; sets RPID
# (with "stopped" as $2: the process must come back stopped, state T)
ferry_restore_bg() {
	local dir=$1 pf="$WD/pidfile.$RANDOM" want=${2:-running}
	log "ferry restore -D $dir --pidfile $pf ${RESTORE_ARGS:-}"
	# shellcheck disable=SC2086
	"$FERRY" restore -D "$dir" --pidfile "$pf" ${RESTORE_ARGS:-} </dev/null >>"$WD/ferry.log" 2>>"$WD/ferry.log" {NAPFD}>&- &
	RPID=$!
	track "$RPID"
	local n=$(( 30 * 20 * SCALE )) got=""
	while [ $n -gt 0 ]; do
		if [ -s "$pf" ]; then
			read -r got <"$pf"
			[ "$got" = "$PID" ] || { REASON="restore wrote pidfile '$got', expected $PID"; return 1; }
			sfield "$PID" TracerPid
			pstat "$PID"
			if [ "$SF" = 0 ] && { { [ "$want" = stopped ] && [ "$PSTATE" = T ]; } ||
				{ [ "$want" != stopped ] && [ -n "$PSTATE" ] && [ "$PSTATE" != t ] && [ "$PSTATE" != T ] && [ "$PSTATE" != Z ]; }; }; then
				START[$PID]=$PSTART # the restored process now holds the pid
				return 0
			fi
		fi
		if ! alive "$RPID"; then
			wait "$RPID" 2>/dev/null
			REASON="ferry restore exited with status $? before the process ran"
			return 1
		fi
		nap 0.05
		n=$((n - 1))
	done
	REASON="restore did not complete in 30 s (pidfile '$got', pid state $(pstate "$PID"), TracerPid $(status_field "$PID" TracerPid))"
	return 1
}

# the image files the format promises
check_image() {
	local d=$1 f
	for f in manifest.json "core-$PID.json" "pages-$PID.img" "pagemap-$PID.img"; do
		[ -f "$d/$f" ] || { REASON="image $d lacks $f"; return 1; }
	done
	grep -q '"version": 1,' "$d/manifest.json" || { REASON="$d/manifest.json has no '\"version\": 1,' line"; return 1; }
}

# dump + restore $1 times; the program must be ready.  Hooks (function names,
# may be empty): POST_DUMP_HOOK DIR after each dump.
POST_DUMP_HOOK=""
cycles() {
	local n=$1 i
	for ((i = 1; i <= n; i++)); do
		ferry_dump "$WD/img$i"
		[ "$DRC" = 0 ] || { REASON="dump #$i exited $DRC: $(head -c 300 "$WD/dump.err")"; return 1; }
		if [ "$i" = 1 ]; then
			wait_exit "$PID" 10 || { REASON="source still alive 10 s after dump #1 ($(pinfo "$PID"))"; return 1; }
			[ "$WRC" = 137 ] || { REASON="source exited $WRC after dump #1, expected 137 (SIGKILL)"; return 1; }
		else
			wait_exit "$RPID" 10 || { REASON="restore #$((i - 1)) still running 10 s after dump #$i ($(pinfo "$RPID"); $(pinfo "$PID"))"; return 1; }
			[ "$WRC" = 137 ] || { REASON="ferry restore #$((i - 1)) exited $WRC after dump #$i, expected 137"; return 1; }
		fi
		wait_gone "$PID" 10 || { REASON="pid $PID still exists 10 s after dump #$i (state $(pstate "$PID"))"; return 1; }
		check_image "$WD/img$i" || return 1
		if [ -n "$POST_DUMP_HOOK" ]; then $POST_DUMP_HOOK "$WD/img$i" || return 1; fi
		ferry_restore_bg "$WD/img$i" || { REASON="restore #$i: $REASON"; return 1; }
		nap 0.15 # let it run a little before the next step
	done
}

# trigger KIND
trigger() {
	case $1 in
	file) : >"$WD/go" ;;
	fifo)
		timeout --foreground 10 bash -c 'printf go >"$1"' _ "$WD/trigger" {NAPFD}>&- || { REASON="could not write the trigger FIFO"; return 1; }
		: >"$WD/go" ;;
	signal) kill -USR1 "$PID" || { REASON="kill -USR1 $PID failed"; return 1; } ;;
	esac
}

# the final wait: the program (NODUMP) or the last ferry restore must exit 0
wait_final() {
	local who=$PID what="program"
	[ -n "$RPID" ] && { who=$RPID; what="ferry restore (program status)"; }
	wait_exit "$who" 30 || { REASON="$what did not exit within 30 s after the trigger ($(pinfo "$who"); $(pinfo "$PID"))"; return 1; }
	[ "$WRC" = 0 ] || { REASON="$what exited $WRC"; return 1; }
	if [ -n "$RPID" ]; then
		wait_gone "$PID" 5 || { REASON="pid $PID still exists after ferry restore exited"; return 1; }
	fi
	grep -q 'OK: ' "$WD/out" || [ -n "${NO_OK_LINE:-}" ] || { REASON="program printed no OK line"; return 1; }
}

# standard test: standard NAME TRIGGER CYCLES [VAR=val...] -- CMD...
SYSCALLS=""
standard() {
	local trig=$1 n=$2
	shift 2
	start_cmd "$@"
	wait_ready || return 1
	if [ "$NODUMP" != 1 ]; then
		cycles "$n" || return 1
	fi
	nap 0.1 # at least some run time between ready and the trigger
	if [ -n "$SYSCALLS" ]; then wait_syscall "$PID" "$SYSCALLS" || return 1; fi
	[ -n "${PRE_TRIGGER_HOOK:-}" ] && { $PRE_TRIGGER_HOOK || return 1; }
	trigger "$trig" || return 1
	wait_final
}

# --- negative-test helpers -------------------------------------------------

# the error message in file $1: non-empty, one line (up to 3 tolerated)
check_msg() {
	local lines
	[ -s "$1" ] && grep -q '[^[:space:]]' "$1" || { REASON="no error message on stderr"; return 1; }
	lines=$(grep -c '' "$1")
	if [ "$ASAN" != 1 ] && [ "$lines" -gt 3 ]; then
		REASON="error message has $lines lines: $(head -c 300 "$1")"
		return 1
	fi
}

msg_has() { # file needle [needle...]  (case-insensitive)
	local f=$1 s
	shift
	for s in "$@"; do
		if [[ $s =~ ^[0-9]+$ ]]; then # a number: as a whole word (pid 123 is not 1234)
			grep -qwF -- "$s" "$f"
		else
			grep -qiF -- "$s" "$f"
		fi || { REASON="error message lacks '$s': $(head -c 300 "$f")"; return 1; }
	done
}

# ferry restore DIR must fail: exit 1, a message, no process with $PID
restore_must_fail() {
	local dir=$1 pf="$WD/negpid.$RANDOM" rp n
	log "ferry restore -D $dir (must fail)"
	"$FERRY" restore -D "$dir" --pidfile "$pf" </dev/null >>"$WD/ferry.log" 2>"$WD/restore.err" {NAPFD}>&- &
	rp=$!
	track "$rp"
	n=$(( 30 * 20 * SCALE ))
	while alive "$rp" && [ $n -gt 0 ]; do
		if [ -s "$pf" ]; then
			REASON="restore of a bad image succeeded (pidfile written)"
			kill -KILL "$rp" 2>/dev/null
			is_ours "$PID" && kill -KILL "$PID" 2>/dev/null
			wait "$rp" 2>/dev/null
			return 1
		fi
		nap 0.05
		n=$((n - 1))
	done
	if alive "$rp"; then
		REASON="restore of a bad image still running after 30 s"
		kill -KILL "$rp"
		wait "$rp" 2>/dev/null
		return 1
	fi
	wait "$rp" 2>/dev/null
	RRC=$?
	cat "$WD/restore.err" >>"$WD/ferry.log"
	[ "$RRC" = 1 ] || { REASON="restore exited $RRC, expected 1: $(head -c 300 "$WD/restore.err")"; return 1; }
	check_msg "$WD/restore.err" || return 1
}

no_process() { # after a failed restore, $PID must not exist (zombies reaped within 2 s)
	wait_gone "$PID" 2 || { REASON="a process with pid $PID exists after the failed restore (state $(pstate "$PID"))"; return 1; }
}

# start counter (or $1), dump it once (source killed), check the image
dumped_once() {
	start_cmd -- "$BIN/${1:-counter}" "$WD"
	wait_ready || return 1
	ferry_dump "$WD/img"
	[ "$DRC" = 0 ] || { REASON="dump exited $DRC: $(head -c 300 "$WD/dump.err")"; return 1; }
	wait_exit "$PID" 10 || { REASON="source alive 10 s after dump"; return 1; }
	[ "$WRC" = 137 ] || { REASON="source exited $WRC after dump, expected 137"; return 1; }
	wait_gone "$PID" 10 || { REASON="pid $PID still exists after dump"; return 1; }
	check_image "$WD/img"
}

# after a negative check: the pristine copy restores and passes (so the
# failure above was about the damage, not a broken restore)
control_restore() {
	rm -f "$WD/go"
	ferry_restore_bg "$1" || { REASON="control restore of the intact image: $REASON"; return 1; }
	nap 0.1
	trigger file && wait_final || { REASON="control restore of the intact image: $REASON"; return 1; }
}

flip_byte() { # file [digit]: change one byte in the middle (digit: keep it a digit)
	"$PY" - "$1" "${2:-}" <<'EOF'
import sys
p, digit = sys.argv[1], sys.argv[2] == "digit"
with open(p, "r+b") as f:
    data = f.read()
    i = len(data) // 2
    if digit:
        while i < len(data) and not chr(data[i]).isdigit():
            i += 1
        if i == len(data):
            sys.exit("no digit after the middle of " + p)
        new = b"8" if data[i:i+1] == b"9" else bytes([data[i] + 1])
    else:
        new = bytes([data[i] ^ 0xFF])
    f.seek(i)
    f.write(new)
EOF
}

one_file() { # glob -> the single matching file in FILE
	local m=($1)
	[ ${#m[@]} = 1 ] && [ -f "${m[0]}" ] || { REASON="expected exactly one $1"; return 1; }
	FILE=${m[0]}
}

# --- the tests -----------------------------------------------------------------

mem_anon_size() { # image of the 1 GiB sparse mapping stays small
	local sz
	sz=$(du -sb "$1" | cut -f1)
	[ "$sz" -lt $((8 * 1024 * 1024)) ] || { REASON="image $1 is $sz bytes, expected < 8 MiB"; return 1; }
}
t_mem_anon()        { POST_DUMP_HOOK=mem_anon_size standard file 2 -- "$BIN/mem_anon" "$WD"; }
t_mem_heap()        { standard file 2 -- "$BIN/mem_heap" "$WD"; }
t_mem_stack()       { standard file 2 -- "$BIN/mem_stack" "$WD"; }
t_mem_file()        { standard file 2 -- "$BIN/mem_file" "$WD"; }
t_vdso()            { standard file 2 -- "$BIN/vdso" "$WD"; }
# mem_cow_copied: a VMA shared copy-on-write that restore cannot place (ferry's
# memory in the way, forced) gets its shared pages copied: same content
t_mem_cow_copied()  { FERRY_TEST_NO_COW_PLACE=1 standard file 2 -- "$BIN/mem_cow" "$WD" copied; }
# (a CPU without the feature: a skip, with its reason)
cpu_has() { grep -qw "$1" /proc/cpuinfo || { SKIP="this CPU (or kernel) has no $1"; return 1; }; }
t_regs_avx()        { cpu_has avx512f && standard file 2 -- "$BIN/regs_avx" "$WD" avx512; }
t_regs_avx2()       { cpu_has avx2 && standard file 2 -- "$BIN/regs_avx" "$WD" avx2; }
t_signals()         { standard file 2 -- "$BIN/signals" "$WD"; }
t_thread_state()    { standard file 2 -- "$BIN/thread_state" "$WD"; }
t_attrs()           { standard file 2 FERRY_TEST_ENV=hello-attrs -- "$BIN/attrs" "$WD" alpha "two words" ""; }
t_files()           { standard file 2 -- "$BIN/files" "$WD"; }
t_pipes()           { standard file 2 -- "$BIN/pipes" "$WD"; }
t_block_read()      { SYSCALLS="0" standard fifo 2 -- "$BIN/block_read" "$WD"; }
t_block_select()    { SYSCALLS="270 23 7" standard fifo 2 -- "$BIN/block_select" "$WD"; }
t_block_pause()     { SYSCALLS="34" standard signal 2 -- "$BIN/block_pause" "$WD"; }
# rseq_cs: each image must hold the main thread at its abort handler, not
# inside the critical section it spins in
rseq_not_inside() { # image dir
	local start end
	read -r start end <"$WD/cs" || { REASON="no WORKDIR/cs"; return 1; }
	"$PY" - "$1/core-$PID.json" "$start" "$end" <<'PY' >>"$WD/out" 2>&1 || { REASON="$(tail -n 1 "$WD/out")"; return 1; }
import json, sys
core = json.load(open(sys.argv[1]))
start, end = int(sys.argv[2], 16), int(sys.argv[3], 16)
main = [t for t in core["threads"] if t["tid"] == core.get("pid", t["tid"])] or core["threads"][:1]
rip = int(main[0]["regs"]["rip"], 16)
if start <= rip < end:
    sys.exit("image: the main thread was saved at 0x%x, inside its rseq critical section [0x%x, 0x%x)" % (rip, start, end))
PY
}
# shm_share: each of its 3 shared objects is stored once (shared.json, one
# shmem-N.img each) and both processes map those same objects
shm_once() { # image dir
	"$PY" - "$1" <<'PY' >>"$WD/out" 2>&1 || { REASON="$(tail -n 1 "$WD/out")"; return 1; }
import glob, json, os, sys
d = sys.argv[1]
shm = json.load(open(os.path.join(d, "shared.json")))["shmem"]
kinds = sorted(o["kind"] for o in shm)
if kinds != ["anon", "memfd", "sysv"]:
    sys.exit("image: shared.json holds shared memory objects %s, expected one anon, one memfd, one sysv" % kinds)
imgs = glob.glob(os.path.join(d, "shmem-*.img"))
if len(imgs) != 3:
    sys.exit("image: %d shmem-*.img files, expected 3" % len(imgs))
cores = glob.glob(os.path.join(d, "core-*.json"))
if len(cores) != 2:
    sys.exit("image: %d core files, expected 2 (parent and child)" % len(cores))
for f in cores:
    mm = json.load(open(f))["mm"]
    used = sorted(mm["files"][v["file"]].get("shmem", -1) for v in mm["vmas"] if v["kind"] in ("shared-anon", "sysv"))
    if used != [0, 1, 2]:
        sys.exit("image: %s maps shared memory objects %s, expected [0, 1, 2]" % (os.path.basename(f), used))
PY
}
t_shm_share() { POST_DUMP_HOOK=shm_once standard file 2 -- "$BIN/shm_share" "$WD"; }
# (the program is told how many restores to expect)
t_rseq_cs() {
	local n=2
	[ "$NODUMP" = 1 ] && n=0
	POST_DUMP_HOOK=rseq_not_inside standard file 2 -- "$BIN/rseq_cs" "$WD" $n
}
# (a 600 s sleep, back in clock_nanosleep/nanosleep after each restore,
# ended by the signal)
t_block_nanosleep() { SYSCALLS="230 35" standard signal 2 -- "$BIN/block_nanosleep" "$WD"; }
t_static_counter()  { standard file 2 -- "$BIN/static_counter" "$WD"; }
t_counter()         { standard file 5 -- "$BIN/counter" "$WD"; }
t_tcp_syn_sent()    { standard file 1 -- "$BIN/tcp_syn_sent" "$WD"; }	# completes after one restore

PYSCRIPT='
import os, sys, time
w = sys.argv[1]
os.setsid()
f = open(os.path.join(w, "pycount"), "a")
go = os.path.join(w, "go")
i = 0
while True:
    f.write("%d\n" % i)
    f.flush()
    i += 1
    if i == 5:
        with open(os.path.join(w, "ready.tmp"), "w") as r:
            r.write("%d\n" % os.getpid())
        os.rename(os.path.join(w, "ready.tmp"), os.path.join(w, "ready"))
    if i > 5 and os.path.exists(go):
        print("done", flush=True)
        sys.exit(0)
    if not os.path.isdir(w):
        sys.exit(3)
    time.sleep(0.02)
'
py_lines() { local a=(); mapfile -t a <"$WD/pycount"; echo "${#a[@]}"; }
py_grows() { # after the last restore, lines keep coming
	local l0 n=$((10 * 20 * SCALE))
	l0=$(py_lines)
	while [ "$(py_lines)" -lt $((l0 + 5)) ] && [ $n -gt 0 ]; do nap 0.05; n=$((n - 1)); done
	[ "$(py_lines)" -ge $((l0 + 5)) ] || { REASON="pycount stuck at $(py_lines) lines after restore"; return 1; }
}
t_python() {
	NO_OK_LINE=1 PRE_TRIGGER_HOOK=py_grows standard file 2 -- "$PY" -I -c "$PYSCRIPT" "$WD" || return 1
	grep -qx done "$WD/out" || { REASON="python did not print 'done'"; return 1; }
	local a=() i
	mapfile -t a <"$WD/pycount"
	[ ${#a[@]} -ge 10 ] || { REASON="only ${#a[@]} lines in pycount"; return 1; }
	for ((i = 0; i < ${#a[@]}; i++)); do
		[ "${a[i]}" = "$i" ] || { REASON="pycount line $((i + 1)) is '${a[i]}', expected $i (gap or repeat)"; return 1; }
	done
}

# dump_refused WHAT NEEDLE...: the dump of $PID exits 1 with a one-line
# message naming the pid and every needle, and saying nothing was changed
dump_refused() {
	local what=$1
	shift
	ferry_dump "$WD/img"
	[ "$DRC" = 1 ] || { REASON="dump of $what exited $DRC, expected 1"; return 1; }
	check_msg "$WD/dump.err" && msg_has "$WD/dump.err" "$PID" "$@" "nothing was changed"
}

# untraced PID...: each runs on, neither stopped nor traced by the refused dump
untraced() {
	local p
	for p in "$@"; do
		alive "$p" || { REASON="pid $p died after the refused dump"; return 1; }
		sfield "$p" TracerPid
		[ "$SF" = 0 ] || { REASON="pid $p still traced (TracerPid $SF)"; return 1; }
	done
}

# dump_gone DIR [ARGS...]: dump $PID (killing it) and wait until it is gone
dump_gone() {
	ferry_dump "$@"
	[ "$DRC" = 0 ] || { REASON="dump exited $DRC: $(head -c 300 "$WD/dump.err")"; return 1; }
	wait_exit "$PID" 10 || { REASON="source still alive 10 s after the dump"; return 1; }
	wait_gone "$PID" 10 || { REASON="pid $PID still exists after the dump"; return 1; }
}

# after a refused dump the source runs on: not stopped, not traced, and it
# makes progress (its 1 ms sleeps add voluntary context switches)
runs_on() {
	local st tp v0 n=$((10 * 20 * SCALE))
	alive "$PID" || { REASON="source died after the refused dump"; return 1; }
	st=$(pstate "$PID")
	tp=$(status_field "$PID" TracerPid)
	[ "$st" != T ] && [ "$st" != t ] || { REASON="source left stopped (state $st)"; return 1; }
	[ "$tp" = 0 ] || { REASON="source still traced (TracerPid $tp)"; return 1; }
	v0=$(status_field "$PID" voluntary_ctxt_switches)
	while [ "$(status_field "$PID" voluntary_ctxt_switches)" -lt $((v0 + 20)) ] && [ $n -gt 0 ]; do
		nap 0.05
		n=$((n - 1))
	done
	[ $n -gt 0 ] || { REASON="source makes no progress after the refused dump ($(pinfo "$PID"))"; return 1; }
}

# refused KIND NEEDLE...: sock_refuse holding KIND; dump exits 1 with a
# message naming the pid and the needles, and the source runs on unharmed
refused() {
	local kind=$1
	shift
	start_cmd -- "$BIN/sock_refuse" "$WD" "$kind"
	wait_ready || return 1
	dump_refused "a process holding $kind" "$@" "nothing was changed" || return 1
	[ ! -e "$WD/img/manifest.json" ] || { REASON="the refused dump left a manifest.json in $WD/img"; return 1; }
	runs_on && trigger file && wait_final
}

# negative: a socket fd makes dump refuse, and the source is left alone
t_neg_socket()      { refused netlink 42 socket queued; }
t_neg_packet()      { refused packet 42 "packet" ring; }
t_neg_rawq()        { refused rawq 42 "raw" "queued"; }
t_neg_io_uring()    { refused io_uring 42 io_uring; }
t_neg_inflight()    { refused inflight 42 "in flight"; }
t_neg_pending()     { refused pending 42 "waiting to be accepted" "data sent"; }
t_neg_ptmx()        { refused ptmx 42 "pseudo-terminal master"; }
t_neg_device()      { refused device 42 "/dev/kmsg"; }
t_neg_userfaultfd() { refused userfaultfd 42 userfaultfd; }
t_neg_procout()     { refused procout 42 "/proc/1/status" "not in the dumped tree"; }
t_neg_utsns()       { refused utsns 42 "uts:[" "other than the host's"; }
t_neg_aio()         { refused aio "async I/O context" "io_setup"; }
t_neg_owner()       { refused owner 42 "F_SETOWN" "process 1"; }
t_neg_own_uts()     { refused ownuts "UTS namespace" "does not carry namespaces"; }
t_neg_pidns_children() { refused pidns_children "PID namespace for its children" "does not carry namespaces"; }

# dump --check: surveys without stopping; an io_uring instance
# and a userfaultfd are each one line naming the pid, exit 1, and the
# source runs on untouched (neither stopped nor traced); a clean program
# gets no line and exit 0.
check_survey() { # expected-status needle...
	local want=$1 out
	shift
	log "ferry dump --check -t $PID"
	out=$(timeout --foreground -k 5 $((60 * SCALE)) "$FERRY" dump --check -t "$PID" 2>>"$WD/ferry.log" {NAPFD}>&-)
	local rc=$?
	echo "$out" >>"$WD/ferry.log"
	[ "$rc" = "$want" ] || { REASON="dump --check exited $rc, expected $want (output: $out)"; return 1; }
	if [ "$want" = 0 ]; then
		[ -z "$out" ] || { REASON="dump --check printed '$out' for a clean program"; return 1; }
		return 0
	fi
	[ "$(echo "$out" | wc -l)" = 1 ] || { REASON="dump --check printed $(echo "$out" | wc -l) lines, expected 1: $out"; return 1; }
	local n
	for n in "pid $PID:" "$@"; do
		[[ "$out" == *"$n"* ]] || { REASON="dump --check output lacks '$n': $out"; return 1; }
	done
}
t_dump_check() {
	start_cmd -- "$BIN/sock_refuse" "$WD" io_uring
	wait_ready || return 1
	check_survey 1 "fd 42" io_uring || return 1
	runs_on && trigger file && wait_final || return 1
	local w=$WD
	WD=$w/userfaultfd
	mkdir -p "$WD" && : >"$WD/out"
	start_cmd -- "$BIN/sock_refuse" "$WD" userfaultfd
	wait_ready || return 1
	check_survey 1 "fd 42" userfaultfd || return 1
	runs_on && trigger file && wait_final || return 1
	WD=$w/clean
	mkdir -p "$WD" && : >"$WD/out"
	start_cmd -- "$BIN/counter" "$WD"
	wait_ready || return 1
	check_survey 0 || return 1
	runs_on && trigger file && wait_final
}

# restore --detach of a process with a parent-death signal: ferry exits at
# once, which must not send it the signal (its parent is not restored)
t_pdeathsig_detach() {
	local pf="$WD/pidfile" got=""
	start_cmd -- "$BIN/pdeathsig" "$WD" detached
	wait_ready || return 1
	dump_gone "$WD/img" || return 1
	log "ferry restore -d -D $WD/img --pidfile $pf"
	timeout --foreground -k 5 $((60 * SCALE)) "$FERRY" restore -d -D "$WD/img" --pidfile "$pf" \
		</dev/null >>"$WD/ferry.log" 2>"$WD/restore.err" {NAPFD}>&-
	local rc=$?
	cat "$WD/restore.err" >>"$WD/ferry.log"
	[ "$rc" = 0 ] || { REASON="restore -d exited $rc: $(head -c 300 "$WD/restore.err")"; return 1; }
	read -r got 2>/dev/null <"$pf"
	[ "$got" = "$PID" ] || { REASON="restore -d wrote pidfile '$got', expected $PID"; return 1; }
	msg_has "$WD/restore.err" "$PID" "parent-death signal" || return 1
	pstat "$PID"
	START[$PID]=$PSTART
	trigger file || return 1
	# not our child any more (the subreaper reaps it): its verdict is its output
	wait_gone "$PID" 30 || { REASON="the restored process did not finish ($(pinfo "$PID"))"; return 1; }
	grep -q 'OK: ' "$WD/out" || { REASON="the restored process printed no OK line"; return 1; }
}

# dnsmasq from Debian (scripts/deps.sh): a netlink route socket bound to its
# groups, and UDP and TCP on 127.0.0.1.  Dumped, restored, it answers the
# same query again; then stopped by its PID with SIGTERM (exit status 0).
dns_query() { # PORT: DNSANS = the A record of ferry.test, or ""
	DNSANS=$(timeout 5 python3 - "$1" <<'PYEOF' 2>/dev/null
import socket, struct, sys
q = struct.pack('>HHHHHH', 0x1234, 0x0100, 1, 0, 0, 0) + b'\x05ferry\x04test\x00' + struct.pack('>HH', 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
s.sendto(q, ('127.0.0.1', int(sys.argv[1])))
print('.'.join(str(b) for b in s.recv(512)[-4:]))
PYEOF
)
}
t_dnsmasq() {
	command -v dnsmasq >/dev/null || { SKIP="no dnsmasq (scripts/deps.sh installs dnsmasq-base)"; REASON=$SKIP; return 1; }
	local port=$((20000 + RANDOM % 20000)) n=$((100 * SCALE))
	echo "address=/ferry.test/10.9.8.7" >"$WD/dnsmasq.conf"
	start_cmd -- dnsmasq -k --conf-file="$WD/dnsmasq.conf" --port=$port --listen-address=127.0.0.1 \
		--bind-interfaces --no-resolv --no-hosts --user=root
	DNSANS=""
	while [ "$DNSANS" != 10.9.8.7 ] && [ $n -gt 0 ] && alive "$PID"; do dns_query $port; nap 0.05; n=$((n - 1)); done
	[ "$DNSANS" = 10.9.8.7 ] || { REASON="dnsmasq did not answer before the dump: $(tail -c 300 "$WD/out")"; return 1; }
	grep -q 'socket:' <(ls -l /proc/"$PID"/fd) || { REASON="dnsmasq holds no socket"; return 1; }
	dump_gone "$WD/img" || return 1
	grep -q '"kind": "netlink"' "$WD/img/shared.json" || { REASON="the image has no netlink socket"; return 1; }
	ferry_restore_bg "$WD/img" || return 1
	dns_query $port
	[ "$DNSANS" = 10.9.8.7 ] || { REASON="restored dnsmasq answered '$DNSANS', expected 10.9.8.7"; return 1; }
	kill -TERM "$PID"
	NO_OK_LINE=1 wait_final
}

# A process whose main thread exited while another runs on: refused.
t_neg_main_exited() {
	start_cmd -- "$BIN/main_exited" "$WD"
	wait_ready || return 1
	dump_refused "a process whose main thread exited" "main thread exited" || return 1
	trigger file && wait_final
}

# A job-control stopped process (kill -STOP): dump -R leaves it stopped, and
# dump + restore bring it back stopped, untraced; SIGCONT lets it go on.
wait_state() { # pid state seconds
	local n=$(($3 * 20 * SCALE))
	while pstat "$1" && [ "$PSTATE" != "$2" ] && [ $n -gt 0 ]; do nap 0.05; n=$((n - 1)); done
	[ "$PSTATE" = "$2" ]
}
t_stopped() {
	start_cmd -- "$BIN/counter" "$WD"
	wait_ready || return 1
	kill -STOP "$PID"
	wait_state "$PID" T 5 || { REASON="kill -STOP did not stop it (state $PSTATE)"; return 1; }
	ferry_dump "$WD/img0" -R
	[ "$DRC" = 0 ] || { REASON="dump -R of a stopped process exited $DRC: $(head -c 300 "$WD/dump.err")"; return 1; }
	nap 0.2
	pstat "$PID"
	[ "$PSTATE" = T ] || { REASON="dump -R left it in state '$PSTATE', not stopped"; return 1; }
	dump_gone "$WD/img" || return 1
	# complete once it is stopped and untraced
	ferry_restore_bg "$WD/img" stopped || { REASON="restore of a stopped process: $REASON"; return 1; }
	nap 0.3
	pstat "$PID"
	[ "$PSTATE" = T ] || { REASON="the restored process did not stay stopped (state '$PSTATE')"; return 1; }
	kill -CONT "$PID"
	trigger file && wait_final
}

# cgroup v2 membership (tests/progs/cgroup.c) in a cgroup made for the test;
# then, the cgroup removed after a dump, restore refuses before making
# anything, naming the cgroup.
cg_mount() { awk '$0 ~ / - cgroup2 / && $4 == "/" { print $5; exit }' /proc/self/mountinfo; }
cg_rmdir() { # dir: once its processes are gone
	local n=$((100 * SCALE))
	while ! rmdir "$1" 2>/dev/null && [ -d "$1" ] && [ $n -gt 0 ]; do nap 0.05; n=$((n - 1)); done
	[ ! -d "$1" ]
}
t_cgroup() {
	local mnt cg
	mnt=$(cg_mount)
	[ -n "$mnt" ] || { SKIP="no cgroup2 mounted"; return 1; }
	cg="$mnt/ferry-test-$$-${RANDOM}"
	mkdir "$cg" 2>/dev/null || { SKIP="cannot make a cgroup under $mnt"; return 1; }
	standard file 2 -- "$BIN/cgroup" "$WD" "$cg" || { cg_rmdir "$cg"; return 1; }
	local w=$WD
	WD=$w/gone
	mkdir -p "$WD" && : >"$WD/out"
	start_cmd -- "$BIN/cgroup" "$WD" "$cg"
	wait_ready || { cg_rmdir "$cg"; return 1; }
	dump_gone "$WD/img" || { cg_rmdir "$cg"; return 1; }
	cg_rmdir "$cg" || { REASON="cannot remove $cg after the dump"; return 1; }
	log "ferry restore -D $WD/img (its cgroup removed)"
	"$FERRY" restore -D "$WD/img" </dev/null >>"$WD/ferry.log" 2>"$WD/restore.err" {NAPFD}>&-
	local rc=$?
	cat "$WD/restore.err" >>"$WD/ferry.log"
	[ "$rc" = 1 ] || { REASON="restore into a removed cgroup exited $rc, expected 1"; return 1; }
	msg_has "$WD/restore.err" "$PID" "${cg#"$mnt"}" "does not exist here" || return 1
	[ ! -e "/proc/$PID" ] || { REASON="pid $PID exists after the refused restore"; return 1; }
}

# A thread in seccomp strict mode comes back in it (tests/progs/seccomp.c).
t_seccomp_strict() { standard file 2 -- "$BIN/seccomp" "$WD" strict; }

# A thread that changed its own credentials (raw setresuid): carried per
# thread; every thread finds its own credentials after restore.
t_thread_creds_mixed() { standard file 2 -- "$BIN/thread_creds" "$WD" mixed; }

# A shell job on a terminal: script(1) gives it one (a pty), bash runs it
# without exec'ing it, so it keeps the shell's session and group.
t_shell_job() {
	local pf="$WD/pidfile"
	script -qfec "bash -c '$BIN/tty_job $WD; true'" /dev/null </dev/null >>"$WD/out" 2>&1 {NAPFD}>&- &
	local SPID=$!
	track "$SPID"
	PID=$SPID
	wait_ready || return 1
	read -r PID <"$WD/ready"
	track "$PID"
	ferry_dump "$WD/img0"
	[ "$DRC" = 1 ] || { REASON="dump without --shell-job exited $DRC, expected 1"; return 1; }
	msg_has "$WD/dump.err" "$PID" "--shell-job" "nothing was changed" || return 1
	alive "$PID" || { REASON="the job died after the refused dump"; return 1; }
	ferry_dump "$WD/img" --shell-job
	[ "$DRC" = 0 ] || { REASON="dump --shell-job exited $DRC: $(head -c 300 "$WD/dump.err")"; return 1; }
	wait_gone "$PID" 10 || { REASON="the job survived the dump"; return 1; }
	wait_exit "$SPID" 10 || { REASON="script(1) did not end after its job was dumped"; return 1; }
	log "ferry restore -D $WD/img --shell-job (under script)"
	script -qfec "bash -c '$FERRY restore -D $WD/img --shell-job --pidfile $pf 2>>$WD/ferry.log; echo restore-exit \$?'" \
		/dev/null </dev/null >>"$WD/out2" 2>&1 {NAPFD}>&- &
	RPID=$!
	track "$RPID"
	local n=$((200 * SCALE))
	while [ ! -s "$pf" ] && [ $n -gt 0 ] && alive "$RPID"; do nap 0.05; n=$((n - 1)); done
	[ -s "$pf" ] || { REASON="the restore did not start the job: $(tail -c 300 "$WD/ferry.log")"; return 1; }
	nap 0.2
	: >"$WD/go"
	wait_exit "$RPID" 30 || { REASON="the restored job did not finish"; return 1; }
	grep -q "restore-exit 0" "$WD/out2" || { REASON="restored job failed: $(tr -d '\r' <"$WD/out2" | tail -c 400)"; return 1; }
	grep -q "writing to the terminal works" "$WD/out2" || { REASON="nothing written on the new terminal"; return 1; }
}

# a lease with a POSIX lock on the same file, which ferry cannot carry
# together: refused, naming pid, fd and kind; the source runs on with both
t_neg_lease() {
	start_cmd -- "$BIN/lock_lease" "$WD"
	wait_ready || return 1
	dump_refused "a process holding a lease" 41 lease "another lock" "nothing was changed" || return 1
	alive "$PID" || { REASON="source died after the refused dump"; return 1; }
	sfield "$PID" TracerPid
	[ "$SF" = 0 ] || { REASON="source still traced (TracerPid $SF)"; return 1; }
	trigger file && wait_final
}

# a flock lock whose description a process outside the tree shares (flock(1)
# runs the program holding it): the outside process would keep the lock, so
# dump refuses, naming both
t_neg_lock_outside() {
	local fp
	flock "$WD/lockfile" sleep 600 </dev/null >/dev/null 2>&1 {NAPFD}>&- &
	fp=$!
	track "$fp"
	for _ in $(seq $((100 * SCALE))); do PID=$(ps -o pid= --ppid "$fp" | tr -d ' '); [ -n "$PID" ] && break; nap 0.05; done
	[ -n "$PID" ] || { REASON="flock(1) started no program"; return 1; }
	track "$PID"
	dump_refused "a flock lock shared with a process outside the tree" 3 flock "lockfile" "$fp" "outside the tree" || return 1
	alive "$PID" || { REASON="the program died after the refused dump"; return 1; }
	kill -KILL "$PID" "$fp" 2>/dev/null
	return 0
}

# a lock someone else took between the dump and the restore: the restore
# fails before any process runs, naming the lock and its holder; once it is
# free again the image restores with every lock (tests/progs/locks checks)
t_neg_lock_taken() {
	local hp got=""
	start_cmd -- "$BIN/locks" "$WD"
	wait_ready || return 1
	dump_gone "$WD/img" || return 1
	"$PY" -c 'import fcntl, sys, time
f = open(sys.argv[1], "r+")
fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
open(sys.argv[2], "w").close()
time.sleep(600)' "$WD/posix.dat" "$WD/taken" </dev/null >>"$WD/ferry.log" 2>&1 {NAPFD}>&- &
	hp=$!
	track "$hp"
	for _ in $(seq $((100 * SCALE))); do [ -e "$WD/taken" ] && break; nap 0.05; done
	[ -e "$WD/taken" ] || { REASON="the other process could not take the lock"; kill -KILL "$hp"; return 1; }
	restore_must_fail "$WD/img" || { kill -KILL "$hp"; return 1; }
	kill -KILL "$hp"
	wait "$hp" 2>/dev/null
	msg_has "$WD/restore.err" "$PID" "POSIX read lock" "posix.dat" "held by pid $hp" "nothing was restored" || return 1
	no_process || return 1
	control_restore "$WD/img"
}

# A daemon started from a script without setsid, with a worker: both sit in
# the script's group.  dump refuses without --shell-job, naming the worker,
# the group and the option, and leaves both alone; with it the tree comes
# back in ferry restore's group (checked inside the restored daemon).
t_outside_group() {
	local spid w g
	start_cmd -- "$BIN/outside_group" "$WD"
	spid=$PID
	wait_ready || return 1
	read -r PID <"$WD/ready" && read -r w <"$WD/worker" && read -r g <"$WD/group" ||
		{ REASON="no pids from the program"; return 1; }
	track "$PID"
	track "$w"
	dump_refused "a tree in a group led from outside" "$w" "$g" "--shell-job" || return 1
	untraced "$PID" "$w" || return 1
	dump_gone "$WD/img" --shell-job || return 1
	wait_exit "$spid" 10 || { REASON="the launcher did not end after the daemon was dumped"; return 1; }
	RESTORE_ARGS=--shell-job ferry_restore_bg "$WD/img" || return 1
	nap 0.1
	trigger file && wait_final
}

# a deleted file still linked under another name, only in another directory
# (dump looks in the deleted name's; deleted_linked is the carried case): a
# copy would not be that name's file any more, so dump refuses and the
# program writes on
t_neg_deleted_linked() {
	start_cmd -- "$BIN/deleted_wronly" "$WD" linked
	wait_ready || return 1
	dump_refused "a deleted file linked elsewhere" "fd" "linked elsewhere" || return 1
	untraced "$PID" || return 1
	trigger file && wait_final
}

# a unix connection to a process outside the tree: refused, both ends named
t_neg_unix_outside() {
	start_cmd -- "$BIN/unix_outside" "$WD"
	wait_ready || return 1
	dump_refused "a process connected to an outside unix socket" 33 "outside" "outside.sock" || return 1
	alive "$PID" || { REASON="source died after the refused dump"; return 1; }
	trigger file && wait_final
}

# a dump that fails partway -- the image directory on a 256 KiB tmpfs (in a
# private mount namespace) that the 8 MiB of counter's pages do not fit, or
# on a read-only one -- exits 1 naming what failed, and the source runs on
# as before, then passes its own checks
dump_fails_on() { # mount options
	mkdir -p "$WD/mnt"
	log "ferry dump -t $PID -D $WD/mnt/img (on a tmpfs -o $1)"
	timeout --foreground -k 5 $((60 * SCALE)) unshare -m sh -c \
		'mount --make-rprivate / && mount -t tmpfs -o "$1" ferry-test "$2" && exec "$3" dump -t "$4" -D "$2/img"' \
		_ "$1" "$WD/mnt" "$FERRY" "$PID" >>"$WD/ferry.log" 2>"$WD/dump.err" {NAPFD}>&-
	DRC=$?
	cat "$WD/dump.err" >>"$WD/ferry.log"
	[ "$DRC" = 1 ] || { REASON="dump onto a tmpfs -o $1 exited $DRC, expected 1"; return 1; }
	check_msg "$WD/dump.err" && msg_has "$WD/dump.err" "$WD/mnt/img" && runs_on
}
t_neg_dump_enospc() {
	start_cmd -- "$BIN/counter" "$WD"
	wait_ready || return 1
	dump_fails_on size=256k && msg_has "$WD/dump.err" "No space left" || return 1
	dump_fails_on ro && msg_has "$WD/dump.err" "Read-only" || return 1
	trigger file && wait_final
}

t_neg_truncated() {
	dumped_once || return 1
	cp -a "$WD/img" "$WD/img.orig"
	one_file "$WD/img/pages-*.img" || return 1
	truncate -s -4096 "$FILE" || { REASON="truncate failed"; return 1; }
	restore_must_fail "$WD/img" && msg_has "$WD/restore.err" "${FILE##*/}" && no_process &&
		control_restore "$WD/img.orig"
}

t_neg_flip_pages() {
	dumped_once || return 1
	cp -a "$WD/img" "$WD/img.orig"
	one_file "$WD/img/pages-*.img" && flip_byte "$FILE" || { REASON="${REASON:-flip failed}"; return 1; }
	restore_must_fail "$WD/img" && msg_has "$WD/restore.err" "${FILE##*/}" && no_process &&
		control_restore "$WD/img.orig"
}

t_neg_flip_core() {
	dumped_once || return 1
	cp -a "$WD/img" "$WD/img.orig"
	one_file "$WD/img/core-*.json" && flip_byte "$FILE" digit || { REASON="${REASON:-flip failed}"; return 1; }
	restore_must_fail "$WD/img" && msg_has "$WD/restore.err" "${FILE##*/}" && no_process &&
		control_restore "$WD/img.orig"
}

t_neg_version() {
	dumped_once || return 1
	cp -a "$WD/img" "$WD/img.orig"
	sed -i 's/"version": 1,/"version": 999,/' "$WD/img/manifest.json"
	grep -q '"version": 999,' "$WD/img/manifest.json" || { REASON="could not patch the version"; return 1; }
	restore_must_fail "$WD/img" && msg_has "$WD/restore.err" version && no_process &&
		control_restore "$WD/img.orig"
}

# an image whose threads use CPU state features this CPU lacks (AMX tile
# config and data, claimed in each xsave area's software-reserved xfeatures,
# the core file's checksum in manifest.json fixed): refused before anything
# is created, naming the features
t_neg_cpu_features() {
	dumped_once || return 1
	cp -a "$WD/img" "$WD/img.orig"
	grep -qw amx_tile /proc/cpuinfo && { SKIP="this CPU has AMX: no feature left to claim"; return 1; }
	"$PY" - "$WD/img" "$PID" <<'PY' >>"$WD/out" 2>&1 || { REASON="could not patch the image: $(tail -n 1 "$WD/out")"; return 1; }
import ctypes, json, os, sys
d, pid = sys.argv[1], sys.argv[2]
name = "core-%s.json" % pid
core = json.load(open(os.path.join(d, name)))
AMX = (1 << 17) | (1 << 18)
for t in core["threads"]:
    xs = bytearray.fromhex(t["xstate"])
    f = int.from_bytes(xs[472:480], "little") | AMX # struct _fpx_sw_bytes.xfeatures
    xs[472:480] = f.to_bytes(8, "little")
    t["xstate"] = xs.hex()
    t["xfeatures"] = hex(f)
data = json.dumps(core, indent=1).encode()
open(os.path.join(d, name), "wb").write(data)
xxh = ctypes.CDLL("libxxhash.so.0")
xxh.XXH3_64bits.restype = ctypes.c_uint64
xxh.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
m = json.load(open(os.path.join(d, "manifest.json")))
m["files"][name] = {"size": len(data), "xxh3": "%016x" % xxh.XXH3_64bits(data, len(data))}
json.dump(m, open(os.path.join(d, "manifest.json"), "w"), indent=2)
PY
	restore_must_fail "$WD/img" && msg_has "$WD/restore.err" "$PID" "0x60000" "lacks" && no_process &&
		control_restore "$WD/img.orig"
}

t_neg_pid_taken() {
	start_cmd -- "$BIN/counter" "$WD"
	wait_ready || return 1
	ferry_dump "$WD/img" -R
	[ "$DRC" = 0 ] || { REASON="dump -R exited $DRC: $(head -c 300 "$WD/dump.err")"; return 1; }
	nap 0.1
	alive "$PID" || { REASON="dump -R killed the source"; return 1; }
	local st
	st=$(pstate "$PID")
	[ "$st" != T ] && [ "$st" != t ] || { REASON="dump -R left the source stopped (state $st)"; return 1; }
	[ "$(status_field "$PID" TracerPid)" = 0 ] || { REASON="dump -R left the source traced"; return 1; }
	check_image "$WD/img" || return 1
	# restore while the pid is taken: exit 1, message names the pid and holder
	local pf="$WD/negpid" rp n=$((30 * 20 * SCALE))
	log "ferry restore -D $WD/img (pid taken, must fail)"
	"$FERRY" restore -D "$WD/img" --pidfile "$pf" </dev/null >>"$WD/ferry.log" 2>"$WD/restore.err" {NAPFD}>&- &
	rp=$!
	track "$rp"
	while alive "$rp" && [ $n -gt 0 ]; do nap 0.05; n=$((n - 1)); done
	alive "$rp" && { REASON="restore onto a taken pid hangs"; return 1; }
	wait "$rp"
	RRC=$?
	cat "$WD/restore.err" >>"$WD/ferry.log"
	[ "$RRC" = 1 ] || { REASON="restore onto a taken pid exited $RRC, expected 1"; return 1; }
	check_msg "$WD/restore.err" && msg_has "$WD/restore.err" "$PID" counter || return 1
	alive "$PID" || { REASON="the running source died"; return 1; }
	# the source is unharmed: let it finish, it must pass
	trigger file || return 1
	wait_exit "$PID" 30 || { REASON="source did not exit after go"; return 1; }
	[ "$WRC" = 0 ] || { REASON="source exited $WRC after dump -R and a refused restore"; return 1; }
	wait_gone "$PID" 5 || { REASON="pid $PID still taken"; return 1; }
	# and the -R image restores once the pid is free
	rm -f "$WD/go"
	: >"$WD/out"
	control_restore "$WD/img"
}

t_neg_missing_file() {
	dumped_once files || return 1
	rm -f "$WD/rw.dat"
	restore_must_fail "$WD/img" && msg_has "$WD/restore.err" "$WD/rw.dat" && no_process
}

# show and show --json describe the process as /proc saw it just before the
# dump: its pid and name, every thread, every mapping, every fd
t_show() {
	local f
	start_cmd -- "$BIN/threads" "$WD"
	wait_ready || return 1
	nap 0.2 # the threads are all started
	ls "/proc/$PID/task" >"$WD/tasks" && ls "/proc/$PID/fd" >"$WD/fds" &&
		cp "/proc/$PID/maps" "$WD/maps" || { REASON="cannot read /proc/$PID"; return 1; }
	dump_gone "$WD/img" || return 1
	check_image "$WD/img" || return 1
	log "ferry show -D $WD/img [--json]"
	"$FERRY" show -D "$WD/img" >"$WD/show.out" 2>>"$WD/ferry.log" {NAPFD}>&- || { REASON="show exited $?"; return 1; }
	"$FERRY" show -D "$WD/img" --json >"$WD/show.json" 2>>"$WD/ferry.log" {NAPFD}>&- ||
		{ REASON="show --json exited $?"; return 1; }
	"$PY" - "$WD" "$PID" <<'PY' >>"$WD/out" 2>&1 || { REASON="$(tail -n 1 "$WD/out")"; return 1; }
import json, os, re, sys
wd, pid = sys.argv[1], int(sys.argv[2])
rd = lambda n: open(os.path.join(wd, n)).read()
tids = sorted(int(x) for x in rd("tasks").split())
fds = sorted(int(x) for x in rd("fds").split())
vmas = []
for l in rd("maps").splitlines():
    r, perms = l.split()[:2]
    s, e = (int(x, 16) for x in r.split("-"))
    vmas.append((s, e, perms))
text = rd("show.out")
def need(cond, msg):
    if not cond:
        sys.exit("show: " + msg)
need(re.search(r'^process %d "threads"' % pid, text, re.M), "no 'process %d \"threads\"' line" % pid)
m = re.search(r"^threads \((\d+)\):", text, re.M)
need(m and int(m.group(1)) == len(tids), "'threads (N):' says %s, /proc had %d" % (m and m.group(1), len(tids)))
shown = sorted(int(x) for x in re.findall(r"^  tid (\d+) ", text, re.M))
need(shown == tids, "thread lines %s, /proc had %s" % (shown, tids))
m = re.search(r"^memory: (\d+) VMAs", text, re.M)
need(m and int(m.group(1)) == len(vmas), "'memory: N VMAs' says %s, /proc had %d" % (m and m.group(1), len(vmas)))
shown = [(int(a, 16), int(b, 16), p) for a, b, p in re.findall(r"^  ([0-9a-f]+)-([0-9a-f]+) (\S{4}) ", text, re.M)]
need(shown == vmas, "memory map differs from /proc/PID/maps: first difference (shown, /proc) %s" %
     (next(((a, b) for a, b in zip(shown + [None] * len(vmas), vmas + [None] * len(shown)) if a != b), None),))
m = re.search(r"^fds \((\d+)\):", text, re.M)
need(m and int(m.group(1)) == len(fds), "'fds (N):' says %s, /proc had %d" % (m and m.group(1), len(fds)))
shown = sorted(int(x) for x in re.findall(r"^ +(\d+)e? +\S+ ", text[m.end():].split("\nsignals")[0], re.M))
need(shown == fds, "fd lines %s, /proc had %s" % (shown, fds))
d = json.load(open(os.path.join(wd, "show.json")))
need(d["manifest"]["root_pid"] == pid and d["manifest"]["pids"] == [pid], "--json manifest: root_pid/pids %s/%s" %
     (d["manifest"].get("root_pid"), d["manifest"].get("pids")))
p = d["processes"][str(pid)]
need(p["pid"] == pid and p["comm"] == "threads", "--json process: pid %s comm %s" % (p.get("pid"), p.get("comm")))
need(sorted(t["tid"] for t in p["threads"]) == tids, "--json threads differ from /proc")
need([(int(v["start"], 16) if isinstance(v["start"], str) else v["start"],
       int(v["end"], 16) if isinstance(v["end"], str) else v["end"], v["perms"]) for v in p["mm"]["vmas"]] == vmas,
     "--json mm.vmas differ from /proc/PID/maps")
need(sorted(f["fd"] for f in p["fds"]) == fds, "--json fds differ from /proc")
PY
	control_restore "$WD/img"
}

# `ferry check`: exit 0 here (a missing essential feature fails the run, it
# is not a warning), one ok/warn/FAIL line per feature; without privileges
# it exits 1 naming them; bad usage exits 2
t_check() {
	local rc
	"$FERRY" check >"$WD/check.out" 2>&1 {NAPFD}>&-
	rc=$?
	cat "$WD/check.out" >>"$WD/ferry.log"
	[ "$rc" = 0 ] || { REASON="ferry check exited $rc: $(grep -v '^ok' "$WD/check.out" | head -c 300)"; return 1; }
	grep -v -q -E '^(ok|warn|FAIL) |^ferry check: ' "$WD/check.out" &&
		{ REASON="ferry check printed a line that is not ok/warn/FAIL: $(grep -v -E '^(ok|warn|FAIL) |^ferry check: ' "$WD/check.out" | head -n 1)"; return 1; }
	[ "$(grep -c -E '^ok ' "$WD/check.out")" -ge 10 ] || { REASON="ferry check reports fewer than 10 features ok"; return 1; }
	# unprivileged: nobody, no capabilities
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
		"$FERRY" check >"$WD/check.out" 2>&1 {NAPFD}>&-
	rc=$?
	cat "$WD/check.out" >>"$WD/ferry.log"
	[ "$rc" = 1 ] || { REASON="ferry check without privileges exited $rc, expected 1"; return 1; }
	grep -q '^FAIL privileges' "$WD/check.out" || { REASON="ferry check without privileges has no 'FAIL privileges' line"; return 1; }
	"$FERRY" check --bogus >"$WD/check.out" 2>&1 {NAPFD}>&-
	rc=$?
	[ "$rc" = 2 ] || { REASON="ferry check --bogus exited $rc, expected 2"; return 1; }
}

# the command line: --version, --help, COMMAND --help (exit 0); bad usage
# (exit 2, a message); -v makes dump say what it does
usage_fails() { # args...: exit 2 with something on stderr
	local rc
	"$FERRY" "$@" >/dev/null 2>"$WD/usage.err" {NAPFD}>&-
	rc=$?
	[ "$rc" = 2 ] || { REASON="ferry $* exited $rc, expected 2 (bad usage)"; return 1; }
	[ -s "$WD/usage.err" ] || { REASON="ferry $*: no message on stderr"; return 1; }
}
t_cli() {
	local out help c rc
	out=$("$FERRY" --version 2>&1 {NAPFD}>&-) || { REASON="ferry --version exited $?"; return 1; }
	[[ $out =~ ^ferry\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || { REASON="ferry --version printed '$out'"; return 1; }
	help=$("$FERRY" --help 2>&1 {NAPFD}>&-) || { REASON="ferry --help exited $?"; return 1; }
	for c in dump restore show check unlock keygen serve migrate; do
		grep -q "^  $c " <<<"$help" || { REASON="ferry --help does not list '$c'"; return 1; }
		out=$("$FERRY" "$c" --help 2>&1 {NAPFD}>&-)
		rc=$?
		[ "$rc" = 0 ] || { REASON="ferry $c --help exited $rc"; return 1; }
		grep -q "usage: ferry $c" <<<"$out" || { REASON="ferry $c --help prints no usage line"; return 1; }
		usage_fails "$c" --no-such-option || return 1
	done
	usage_fails || return 1
	usage_fails no-such-command || return 1
	usage_fails dump -D "$WD/img" || return 1
	usage_fails dump -t notapid -D "$WD/img" || return 1
	usage_fails restore || return 1
	usage_fails show || return 1
	usage_fails migrate -t 1 --key /dev/null || return 1
	usage_fails serve --key /dev/null || return 1
	# -v: dump says what it did, on stderr; without it, nothing
	start_cmd -- "$BIN/counter" "$WD"
	wait_ready || return 1
	ferry_dump "$WD/img0" -R
	[ "$DRC" = 0 ] || { REASON="dump -R exited $DRC"; return 1; }
	[ -s "$WD/dump.err" ] && { REASON="dump without -v printed: $(head -c 200 "$WD/dump.err")"; return 1; }
	ferry_dump "$WD/img1" -R -v
	[ "$DRC" = 0 ] || { REASON="dump -R -v exited $DRC"; return 1; }
	msg_has "$WD/dump.err" "$PID" "dumped to $WD/img1" || return 1
	trigger file && wait_final
}

# any other tests/progs/NAME.c: a standard test (trigger file, 2 cycles)
t_generic() {
	[ -x "$BIN/$TNAME" ] || { REASON="$BIN/$TNAME not built"; return 1; }
	standard file 2 -- "$BIN/$TNAME" "$WD"
}

POSITIVE="mem_anon mem_heap mem_stack mem_file mem_cow_copied vdso regs_avx regs_avx2 signals thread_state attrs files pipes
block_read block_select block_pause block_nanosleep static_counter counter python"
NOT_STANDALONE="sock_refuse tty_job unix_outside main_exited lock_lease outside_group" # programs used only by the tests below
for src in "$ROOT"/tests/progs/*.c; do
	n=${src##*/}
	n=${n%.c}
	[[ " $(echo $POSITIVE $NOT_STANDALONE) " == *" $n "* ]] || POSITIVE="$POSITIVE $n"
done
NEGATIVE="check cli dump_check shell_job outside_group neg_deleted_linked pdeathsig_detach stopped neg_socket neg_packet neg_rawq neg_io_uring neg_inflight neg_pending neg_ptmx dnsmasq
neg_device neg_userfaultfd seccomp_strict neg_procout neg_utsns neg_aio neg_owner neg_own_uts neg_pidns_children thread_creds_mixed neg_main_exited neg_unix_outside neg_lease neg_lock_outside neg_lock_taken neg_dump_enospc neg_truncated neg_flip_pages neg_flip_core neg_version neg_cpu_features neg_pid_taken neg_missing_file show"

# --- driver --------------------------------------------------------------------

selected() { [ "$SELECT" = "  " ] || [[ "$SELECT" == *" $1 "* ]] || { [[ $1 == unit-* ]] && [[ "$SELECT" == *" unit "* ]]; }; }

print_log() { # label file
	[ -s "$2" ] || return 0
	echo "    --- $1 (last 40 lines of $2):"
	tail -n 40 "$2" | sed 's/^/    | /'
}

run_test() { # name function
	local name=$1 fn=$2 ok
	selected "$name" || return 0
	TNAME=$name
	declare -F "$fn" >/dev/null || fn=t_generic
	WD="$TMPROOT/$name"
	mkdir -p "$WD"
	: >"$WD/out"
	: >"$WD/ferry.log"
	REASON="" SKIP="" PID="" RPID="" POST_DUMP_HOOK="" PRE_TRIGGER_HOOK="" SYSCALLS="" NO_OK_LINE=""
	local first=${#PIDS[@]}
	$fn
	ok=$?
	# under the sanitizers a report fails the test even when ferry's exit
	# status looked right (a leak on an error path keeps its exit status)
	if [ "$ASAN" = 1 ] && [ $ok = 0 ] &&
		grep -q -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$WD/ferry.log" "$WD/out" 2>/dev/null; then
		ok=1
		REASON="sanitizer report (see the logs below)"
	fi
	# kill whatever this test left running (what we started, and any process
	# whose command line names this test's dir: children of a test program,
	# restored ones), reap our children among them
	local i p n
	# (by start time too: a process whose main thread exited has an empty
	# command line, and one left running would hang the wait below)
	for ((i = first; i < ${#PIDS[@]}; i++)); do
		p=${PIDS[i]}
		pstat "$p"
		if is_ours "$p" || { [ -n "$PSTART" ] && [ "${START[$p]:-}" = "$PSTART" ]; }; then
			kill -KILL "$p" 2>/dev/null
		fi
	done
	kill_naming "$WD"
	for ((i = first; i < ${#PIDS[@]}; i++)); do
		p=${PIDS[i]}
		n=40
		while alive "$p" && [ $n -gt 0 ]; do nap 0.05; n=$((n - 1)); done
		alive "$p" || wait "$p" 2>/dev/null
	done
	if [ $ok = 0 ]; then
		echo "PASS $name"
		PASSED=$((PASSED + 1))
	elif [ -n "$SKIP" ]; then
		echo "SKIP $name: $SKIP"
		SKIPPED=$((SKIPPED + 1))
	else
		echo "FAIL $name: ${REASON:-failed}"
		FAILED=$((FAILED + 1))
		print_log "program output" "$WD/out"
		print_log "ferry" "$WD/ferry.log"
	fi
	[ "${FERRY_KEEP:-0}" = 1 ] || rm -rf "$WD"
}

skip() { selected "$1" || return 0; echo "SKIP $1: $2"; SKIPPED=$((SKIPPED + 1)); }

unit_test() {
	# no --foreground: on a timeout, timeout kills the unit's whole process
	# group, so helpers it forked (servers, proxies) do not outlive it
	timeout -k 5 $((120 * SCALE)) "$UNIT" >"$WD/out" 2>&1 {NAPFD}>&-
	local rc=$?
	[ $rc = 0 ] || { REASON="exit status $rc"; return 1; }
}

if [ "$NODUMP" != 1 ] && [ ! -x "$FERRY" ]; then
	echo "run.sh: warning: $FERRY not found (run make)" >&2
fi
for n in $SELECT; do
	known=0
	for k in $POSITIVE $NEGATIVE unit; do [ "$n" = "$k" ] && known=1; done
	[[ $n == unit-* ]] && known=1
	[ $known = 1 ] || echo "run.sh: warning: unknown test '$n'" >&2
done

for UNIT in "$BIN"/unit-*; do
	[ -x "$UNIT" ] || continue
	run_test "$(basename "$UNIT")" unit_test
done
for t in $POSITIVE; do
	run_test "$t" "t_$t"
done
for t in $NEGATIVE; do
	if [ "$NODUMP" = 1 ]; then
		skip "$t" "needs ferry (FERRY_NODUMP=1)"
	else
		run_test "$t" "t_$t"
	fi
done

# stderr through the filter may lag: end it, so the summary is the last line
exec 2>&1
n=40
while alive "$FILTER_PID" && [ $n -gt 0 ]; do nap 0.05; n=$((n - 1)); done
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" = 0 ]
