#!/usr/bin/env bash
# bench/run.sh: times `ferry dump` and `ferry restore -d` of a process holding
# 64, 256 and 1024 MiB of incompressible memory, and compares each median with
# the "floor" (bench/memfloor: memcpy of the same amount into fresh memory).
# Every restored process must verify its memory, or the run fails and no
# numbers are written.  Prints a markdown table and writes it, with the
# machine details, to bench/results.md.
#
# Limits: images go to a tmpfs, so disk speed is out of the picture; timings
# are wall clock around the whole ferry command (process start-up included)
# taken in bash, ~1 ms resolution in practice; the target is one
# single-threaded process with no open files (bench/hog.c).  Needs root and
# about 2x the largest size free in RAM.
#
# Knobs (environment): FERRY=./ferry  BENCH_SIZES="64 256 1024"  BENCH_RUNS=3
# BENCH_OUT=bench/results.md  BENCH_TIMEOUT=300 (seconds per ferry command).
set -euo pipefail
export LC_ALL=C   # decimal point in EPOCHREALTIME and awk output

here=$PWD
self=$(readlink -f "$0")
cd "$(dirname "$0")/.."
# the benchmarked programs must not inherit our fds (flock's lock file, say:
# ferry refuses a lock it cannot carry)
# shellcheck source=tests/lib.sh
. tests/lib.sh
close_inherited_fds "$self"

FERRY=${FERRY:-./ferry}
SIZES=${BENCH_SIZES:-64 256 1024}
RUNS=${BENCH_RUNS:-3}
OUT=${BENCH_OUT:-bench/results.md}
TIMEOUT=${BENCH_TIMEOUT:-300}
BIN=bench/bin   # ignored by .gitignore

log() { echo "bench: $*" >&2; }
die() { log "error: $*"; exit 1; }

# A FERRY given relative to the caller's directory must survive the cd above.
case $FERRY in
/*) ;;
*/*) [ -e "$here/$FERRY" ] && FERRY=$here/$FERRY ;;
*) FERRY=$(command -v "$FERRY" || echo "$FERRY") ;;
esac

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer, not '$RUNS'"
[ "$RUNS" -ge 3 ] || log "warning: BENCH_RUNS=$RUNS; medians of fewer than 3 runs mean little"
for s in $SIZES; do [[ $s =~ ^[1-9][0-9]*$ ]] || die "BENCH_SIZES entries are MiB counts, not '$s'"; done
[ -n "${SIZES// /}" ] || die "BENCH_SIZES is empty"
[ "$(id -u)" = 0 ] || die "must run as root (mounts a tmpfs; ferry needs root)"
[ -x "$FERRY" ] || die "$FERRY is not an executable (build it with make, or set FERRY=)"
((BASH_VERSINFO[0] >= 5)) || die "needs bash >= 5 for EPOCHREALTIME"

max=0
for s in $SIZES; do
	if ((s > max)); then max=$s; fi
done
avail=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)
# Peak is the source (or the restored copy) plus its image on the tmpfs.
need=$((2 * max + 512))
((avail >= need)) || die "need ~$need MiB of available memory for $max MiB runs, have $avail MiB"

mkdir -p "$BIN"
for p in memfloor hog; do
	gcc -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o "$BIN/$p" "bench/$p.c"
done
HOG=$(realpath "$BIN/hog")
FLOOR=$BIN/memfloor

MNT=""
PIDS=()    # hogs we started or had ferry restore; cleanup kills what is left
KEEPERS=() # subshells that reap the hogs we started

# Only a PID still running our hog binary is ours: by cleanup time a PID may
# have been reused by something else.
kill_if_hog() {
	local exe
	exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 0
	[ "$exe" = "$HOG" ] || return 0
	kill -KILL "$1" 2>/dev/null || true
}

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	set +e   # cleanup must run to the end whatever fails
	for p in "${PIDS[@]}"; do kill_if_hog "$p"; done
	# A restore that failed after starting the process leaves a hog we
	# have no PID for; hogs given our private tmpfs as WORKDIR are ours.
	if [ -n "$MNT" ]; then
		for p in /proc/[0-9]*; do
			{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF " $MNT/" && kill_if_hog "${p#/proc/}"
		done
	fi
	# Each keeper exits once its hog is dead and reaped.
	for p in "${KEEPERS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -n "$MNT" ]; then
		if mountpoint -q "$MNT"; then
			umount "$MNT" 2>/dev/null || umount -l "$MNT" || log "could not unmount $MNT"
		fi
		rmdir "$MNT" 2>/dev/null || log "could not remove $MNT"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Running and not a zombie: a restored hog is not our child, so nobody here
# reaps it, and a subreaper above us may leave it as a zombie for a while.
alive() {
	local st
	st=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# wait_dead PID SECONDS
wait_dead() {
	local deadline=$((SECONDS + $2))
	while alive "$1"; do
		((SECONDS < deadline)) || return 1
		sleep 0.01
	done
}

# wait_file PATH PID SECONDS: fails early if PID dies first.
wait_file() {
	local deadline=$((SECONDS + $3))
	until [ -s "$1" ]; do
		alive "$2" || return 1
		((SECONDS < deadline)) || return 1
		sleep 0.01
	done
}

# median V...: middle value, mean of the two middle ones for an even count.
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { if (NR % 2) printf "%.6f", v[(NR + 1) / 2]; else printf "%.6f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }

# run_ferry LOG ARGS...: the command timed by the caller; output kept for errors.
run_ferry() {
	local logf=$1
	shift
	timeout --foreground -k 5 "$TIMEOUT" "$FERRY" "$@" </dev/null >"$logf" 2>&1
}

MNT=$(mktemp -d /tmp/ferry-bench.XXXXXX)
mount -t tmpfs -o "size=$((2 * max + 256))m,mode=0700" ferry-bench "$MNT"
# Private, so the mount does not leak into other mount namespaces.
mount --make-private "$MNT"

# One dump/restore cycle of a SIZE MiB hog; sets R_DUMP, R_RESTORE, R_IMG.
cycle() {
	local size=$1 work=$MNT/work img=$MNT/img pidfile=$MNT/restored.pid
	local keeper pid rpid t0 t1 t2 t3 result token

	rm -rf "$work" "$img" "$pidfile"
	mkdir -p "$work" "$img"
	# setsid: the target leads its own session, so it can be dumped and
	# restored without dragging this shell's session along.  The keeper
	# subshell reaps it as soon as it dies, which frees its PID for the
	# restore, and swallows bash's "Killed" job notice.
	(
		setsid "$HOG" "$size" "$work" </dev/null >/dev/null 2>&1 &
		echo $! >"$work/pid"
		wait $! 2>/dev/null
	) &
	keeper=$!
	KEEPERS+=("$keeper")
	wait_file "$work/pid" "$keeper" 10 || die "could not start $HOG"
	pid=$(cat "$work/pid")
	PIDS+=("$pid")
	wait_file "$work/ready" "$pid" 300 ||
		die "hog ($size MiB) did not get ready: $(cat "$work/result" 2>/dev/null || echo no result)"
	[ "$(head -n 1 "$work/ready")" = "$pid" ] || die "hog reports pid $(head -n 1 "$work/ready"), expected $pid"
	token=$(sed -n 2p "$work/ready") # the restored hog must show it again

	t0=$EPOCHREALTIME
	run_ferry "$MNT/dump.log" dump -t "$pid" -D "$img" ||
		die "ferry dump -t $pid failed (status $?):"$'\n'"$(tail -n 20 "$MNT/dump.log")"
	t1=$EPOCHREALTIME
	wait_dead "$pid" 30 || die "source pid $pid still running 30 s after ferry dump returned"
	wait "$keeper" || true
	R_IMG=$(du -sb "$img" | cut -f1)

	t2=$EPOCHREALTIME
	run_ferry "$MNT/restore.log" restore -D "$img" -d --pidfile "$pidfile" ||
		die "ferry restore failed (status $?):"$'\n'"$(tail -n 20 "$MNT/restore.log")"
	t3=$EPOCHREALTIME
	rpid=$(cat "$pidfile" 2>/dev/null || true)
	[[ $rpid =~ ^[0-9]+$ ]] || die "ferry restore wrote no usable pid to --pidfile ('$rpid')"
	PIDS+=("$rpid")

	touch "$work/go"
	wait_dead "$rpid" 120 || die "restored hog (pid $rpid) did not exit within 120 s of go"
	result=$(cat "$work/result" 2>/dev/null || echo "no result file")
	[ "$result" = "ok"$'\n'"$token" ] ||
		die "restored hog (pid $rpid, $size MiB) failed verification (or is a fresh start): $result"

	R_DUMP=$(elapsed "$t0" "$t1")
	R_RESTORE=$(elapsed "$t2" "$t3")
	rm -rf "$work" "$img" "$pidfile"
}

# The floor is sampled right before every cycle, not once per size: on a VM
# that hands freed memory back to the host, faulting it in again costs more
# after a cycle freed a few hundred MiB, and ferry pays that too.
FLOOR_RUNS=3
rows=()
raw=()
for size in $SIZES; do
	floors=() dumps=() restores=() imgs=()
	for ((i = 1; i <= RUNS; i++)); do
		floors+=("$("$FLOOR" "$size" "$FLOOR_RUNS" 2>/dev/null)")
		cycle "$size"
		log "$size MiB run $i/$RUNS: floor ${floors[-1]}s dump ${R_DUMP}s restore ${R_RESTORE}s image $R_IMG bytes"
		dumps+=("$R_DUMP")
		restores+=("$R_RESTORE")
		imgs+=("$R_IMG")
	done
	floor=$(median "${floors[@]}")
	d=$(median "${dumps[@]}")
	r=$(median "${restores[@]}")
	im=$(median "${imgs[@]}")
	rows+=("$(awk -v s="$size" -v d="$d" -v r="$r" -v im="$im" -v f="$floor" 'BEGIN {
		printf "| %d | %.3f | %.2f | %.3f | %.2f | %.1f | %.3f |", s, d, d / f, r, r / f, im / 1048576, f }')")
	raw+=("- $size MiB: dump ${dumps[*]}; restore ${restores[*]}; floor ${floors[*]}")
done

# Single line "model name" is what x86 /proc/cpuinfo offers; other arches differ.
cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
rev=$(git rev-parse --short HEAD 2>/dev/null || echo "no commit")
[ -z "$(git status --porcelain 2>/dev/null | head -1)" ] || rev="$rev (uncommitted changes)"

table=$(
	echo "| size MiB | dump median s | dump/floor | restore median s | restore/floor | image MiB | floor median s |"
	echo "|---:|---:|---:|---:|---:|---:|---:|"
	printf '%s\n' "${rows[@]}"
)
echo "$table"

tmp=$OUT.tmp
{
	echo "# ferry benchmark"
	echo
	echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "- kernel: $(uname -r)"
	echo "- CPU: ${cpu:-unknown}, $(nproc) CPUs online"
	echo "- memory: $mem"
	echo "- ferry: $rev"
	echo "- runs per size: $RUNS (medians reported); images on tmpfs"
	echo
	echo "$table"
	echo
	echo "Floor: memcpy of the same size into fresh, never-touched mmap memory, page"
	echo "faults included (bench/memfloor.c), median of $FLOOR_RUNS copies taken just"
	echo "before each cycle; the table shows the median of those.  Ratios are ferry"
	echo "median / floor median."
	echo "Dump and restore times are wall clock around the whole ferry command;"
	echo "restore is detached (-d) and each restored process verified all its memory."
	echo
	echo "Raw runs (seconds, in run order):"
	echo
	printf '%s\n' "${raw[@]}"
} >"$tmp"
mv "$tmp" "$OUT"
log "wrote $OUT"
