#!/usr/bin/env bash
# bench/migrate.sh - live migration between simulated hosts (network
# namespaces; host B with a PID namespace of its own): for processes holding
# 64, 256 and 1024 MiB of touched memory (BENCH_SIZES), the median over
# BENCH_RUNS runs of the downtime (frozen on A until running on B, as `ferry
# migrate` reports it) and of the whole `ferry migrate` command, each as a
# ratio to a memcpy of the same bytes into fresh memory measured in the same
# run; and for sparse memory (BENCH_SPARSE, MAPPED:WRITTEN MiB, default
# 1024:10) the pages sent and the downtime, against a memcpy of the written
# bytes.  Appends the tables to bench/results.md (BENCH_OUT).
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
FERRY=${FERRY:-$ROOT/ferry}
SIZES=${BENCH_SIZES-64 256 1024}
SPARSE=${BENCH_SPARSE-1024:10}
RUNS=${BENCH_RUNS:-3}
OUT=${BENCH_OUT:-bench/results.md}
export FERRY_NET_PREFIX=fbench
# close fds inherited from whoever started us (flock's lock file, say): the
# programs we migrate would inherit them, and ferry refuses a lock it cannot
# carry; keep 0-2 and the script's own fd
SELF=$(readlink -f "$0")
for f in "/proc/$$/fd"/*; do
	n=${f##*/}
	[ "$n" -le 2 ] 2>/dev/null && continue
	[ "$(readlink "$f" 2>/dev/null)" = "$SELF" ] && continue
	eval "exec $n>&-" 2>/dev/null
done
W=$(mktemp -d /tmp/ferry-benchmig.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	tests/net/hosts.sh down >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "bench: $*" >&2; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

mkdir -p bench/bin
for p in memfloor hog; do
	gcc -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o "bench/bin/$p" "bench/$p.c" || exit 1
done
gcc -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o bench/bin/vmas tests/net/vmas.c || exit 1
tests/net/hosts.sh up >/dev/null || { log "cannot build the hosts"; exit 1; }
"$FERRY" keygen -o "$W/key"

# start_serve: a `ferry serve --once` in host B, in a PID namespace of its own
# (SERVE: the unshare's pid; killing it ends the namespace and all in it)
start_serve() {
	rm -f "$W/serve.out"
	ip netns exec fbench-b unshare --pid --fork --kill-child --mount-proc bash -c \
		"$FERRY serve --listen 10.77.0.2:9000 --key $W/key --once >$W/serve.out 2>&1; sleep 600" \
		</dev/null >/dev/null 2>&1 &
	SERVE=$!
	PIDS+=("$SERVE")
	for _ in $(seq 100); do grep -q serving "$W/serve.out" 2>/dev/null && break; sleep 0.05; done
}
stop_serve() { kill -9 "$SERVE" 2>/dev/null; wait "$SERVE" 2>/dev/null; }

# migrate_to_b MODE PID [OPTION...]: migrates PID from host A to the serve on
# B (MODE plain: --no-pre-copy); sets DOWN, TOTAL (seconds), SENT (pages, as
# ferry migrate counts them)
migrate_to_b() {
	local mode=$1 pid=$2 extra=--no-pre-copy
	shift 2
	[ "$mode" = pre-copy ] && extra=--pre-copy
	if ! ip netns exec fbench-a "$FERRY" migrate -t "$pid" --to 10.77.0.2:9000 --key "$W/key" $extra "$@" \
		</dev/null 2>"$W/mig.err"; then
		log "migration of pid $pid failed: $(tail -n 1 "$W/mig.err")"
		exit 1
	fi
	DOWN=$(awk '/freeze time/ {print $3}' "$W/mig.err")
	TOTAL=$(awk '/total time/ {print $3}' "$W/mig.err")
	SENT=$(awk '/pages sent/ {print $3}' "$W/mig.err")
}

# one_run MODE WORKDIR PROGRAM ARGS...: starts the program in host A, migrates it
# to B, has it verify its memory; sets what migrate_to_b sets
one_run() {
	local mode=$1 hw=$2
	shift 2
	mkdir -p "$hw"
	ip netns exec fbench-a "$@" "$hw" </dev/null >/dev/null 2>&1 &
	local hp=$!
	PIDS+=("$hp")
	for _ in $(seq 600); do [ -e "$hw/ready" ] && break; sleep 0.05; done
	local token
	token=$(sed -n 2p "$hw/ready") # a program that prints one must show it again (no fresh start)
	start_serve
	migrate_to_b "$mode" "$hp"
	: >"$hw/go"
	for _ in $(seq 600); do [ -s "$hw/result" ] && break; sleep 0.05; done
	grep -q ok "$hw/result" 2>/dev/null || { log "the migrated process's memory check failed: $(cat "$hw/result" 2>/dev/null)"; exit 1; }
	[ -z "$token" ] || [ "$(sed -n 2p "$hw/result")" = "$token" ] ||
		{ log "the migrated process is a fresh start (its token changed)"; exit 1; }
	stop_serve
}

rows=()
raw=()
for mode in ${BENCH_MODES:-plain pre-copy}; do
for size in $SIZES; do
	downs=() totals=() floors=()
	for ((run = 1; run <= RUNS; run++)); do
		floor=$(bench/bin/memfloor "$size" 3 2>/dev/null | tail -n 1)
		one_run "$mode" "$W/hog-$mode-$size-$run" bench/bin/hog "$size"
		log "$mode $size MiB run $run/$RUNS: floor ${floor}s downtime ${DOWN}s total ${TOTAL}s"
		downs+=("$DOWN") totals+=("$TOTAL") floors+=("$floor")
	done
	fm=$(median "${floors[@]}")
	dm=$(median "${downs[@]}")
	tm=$(median "${totals[@]}")
	rows+=("$(printf '| %s | %s | %.3f | %.2f | %.3f | %.2f | %.3f |' "$mode" "$size" "$dm" "$(echo "$dm / $fm" | bc -l)" \
		"$tm" "$(echo "$tm / $fm" | bc -l)" "$fm")")
	raw+=("- $mode $size MiB: downtime ${downs[*]}; total ${totals[*]}; floor ${floors[*]}")
done
done

# Sparse memory: MAP MiB mapped, WRITTEN MiB of it written (tests/net/vmas.c
# sparse), pages sent and downtime; the floor is a memcpy of the written bytes.
srows=()
sraw=()
for spec in $SPARSE; do
	map=${spec%%:*} written=${spec##*:}
	for mode in ${BENCH_MODES:-plain pre-copy}; do
		downs=() sents=() floors=()
		for ((run = 1; run <= RUNS; run++)); do
			floor=$(bench/bin/memfloor "$written" 3 2>/dev/null | tail -n 1)
			one_run "$mode" "$W/sparse-$mode-$map-$run" bench/bin/vmas sparse "$map" "$written"
			log "$mode sparse $map MiB ($written written) run $run/$RUNS: floor ${floor}s downtime ${DOWN}s, $SENT pages sent"
			downs+=("$DOWN") sents+=("$SENT") floors+=("$floor")
		done
		fm=$(median "${floors[@]}")
		dm=$(median "${downs[@]}")
		pm=$(median "${sents[@]}")
		srows+=("$(printf '| %s | %s | %s | %d | %.0f | %.2f | %.3f | %.1f | %.4f |' "$mode" "$map" "$written" \
			$((written * 256)) "$pm" "$(echo "$pm / ($written * 256)" | bc -l)" "$dm" "$(echo "$dm / $fm" | bc -l)" "$fm")")
		sraw+=("- $mode sparse $map MiB, $written MiB written: downtime ${downs[*]}; pages sent ${sents[*]}; floor ${floors[*]}")
	done
done

{
if [ ${#rows[@]} -gt 0 ]; then
	echo
	echo "## Live migration (ferry migrate between simulated hosts)"
	echo
	echo "| mode | size MiB | downtime median s | downtime/floor | migrate median s | migrate/floor | floor median s |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	printf '%s\n' "${rows[@]}"
	echo
	echo "Downtime: from the freeze on host A until the destination reports the process"
	echo "running on host B, as \`ferry migrate\` prints it; migrate: the whole command"
	echo "(connection, pre-flight, transfer, restore).  The image goes through the"
	echo "encrypted channel over a veth pair and is staged in the destination's memory"
	echo "(tmpfs) before the restore.  plain: --no-pre-copy; pre-copy: the default (the benchmark's process"
	echo "is idle, so one round carries nearly everything).  Each migrated process"
	echo "verified all its memory."
	echo
	echo "Raw runs (seconds):"
	echo
	printf '%s\n' "${raw[@]}"
fi
if [ ${#srows[@]} -gt 0 ]; then
	echo
	echo "## Live migration of sparse memory"
	echo
	echo "| mode | mapped MiB | written MiB | pages written | pages sent median | sent/written | downtime median s | downtime/floor | floor median s |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	printf '%s\n' "${srows[@]}"
	echo
	echo "A process maps the first size anonymous and writes the second, one page in"
	echo "every few across the mapping (tests/net/vmas.c sparse), then is migrated"
	echo "as above.  Pages sent: \`ferry migrate\`'s own count (before and at the"
	echo "freeze, the process's other memory included).  Floor: memcpy of the written"
	echo "bytes into fresh memory (bench/memfloor.c), measured before each run.  Each"
	echo "migrated process verified its data and that no untouched page of the"
	echo "mapping is populated."
	echo
	echo "Raw runs:"
	echo
	printf '%s\n' "${sraw[@]}"
fi
} >"$W/table"
cat "$W/table"
cat "$W/table" >>"$OUT"
log "appended to $OUT"
