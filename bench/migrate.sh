#!/usr/bin/env bash
# bench/migrate.sh - live migration between simulated hosts (network
# namespaces; host B with a PID namespace of its own): for processes holding
# 64, 256 and 1024 MiB of touched memory, the median over BENCH_RUNS runs of
# the downtime (frozen on A until running on B, as `ferry migrate` reports
# it) and of the whole `ferry migrate` command, each as a ratio to a memcpy
# of the same bytes into fresh memory measured in the same run.  Appends a
# table to bench/results.md (BENCH_OUT).
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
FERRY=${FERRY:-$ROOT/ferry}
SIZES=${BENCH_SIZES:-64 256 1024}
RUNS=${BENCH_RUNS:-3}
OUT=${BENCH_OUT:-bench/results.md}
export FERRY_NET_PREFIX=fbench
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
tests/net/hosts.sh up >/dev/null || { log "cannot build the hosts"; exit 1; }
"$FERRY" keygen -o "$W/key"

rows=()
raw=()
for mode in ${BENCH_MODES:-plain pre-copy}; do
for size in $SIZES; do
	downs=() totals=() floors=()
	for ((run = 1; run <= RUNS; run++)); do
		floor=$(bench/bin/memfloor "$size" 3 2>/dev/null | tail -n 1)
		hw="$W/hog-$mode-$size-$run"
		mkdir -p "$hw"
		ip netns exec fbench-a bench/bin/hog "$size" "$hw" </dev/null >/dev/null 2>&1 &
		hp=$!
		PIDS+=("$hp")
		for _ in $(seq 600); do [ -e "$hw/ready" ] && break; sleep 0.05; done
		token=$(sed -n 2p "$hw/ready") # the migrated hog must show it again
		rm -f "$W/serve.out"
		ip netns exec fbench-b unshare --pid --fork --kill-child --mount-proc bash -c \
			"$FERRY serve --listen 10.77.0.2:9000 --key $W/key --once >$W/serve.out 2>&1; sleep 600" \
			</dev/null >/dev/null 2>&1 &
		sp=$!
		PIDS+=("$sp")
		for _ in $(seq 100); do grep -q serving "$W/serve.out" 2>/dev/null && break; sleep 0.05; done
		extra=--no-pre-copy
		[ "$mode" = pre-copy ] && extra=--pre-copy
		if ! ip netns exec fbench-a "$FERRY" migrate -t "$hp" --to 10.77.0.2:9000 --key "$W/key" $extra 2>"$W/mig.err"; then
			log "migration of $size MiB failed: $(tail -n 1 "$W/mig.err")"
			exit 1
		fi
		down=$(awk '/freeze time/ {print $3}' "$W/mig.err")
		total=$(awk '/total time/ {print $3}' "$W/mig.err")
		: >"$hw/go"
		for _ in $(seq 600); do [ -s "$hw/result" ] && break; sleep 0.05; done
		[ "$(cat "$hw/result" 2>/dev/null)" = "ok"$'\n'"$token" ] ||
			{ log "the migrated process's memory check failed (or it is a fresh start)"; exit 1; }
		kill -9 "$sp" 2>/dev/null
		wait "$sp" 2>/dev/null
		log "$mode $size MiB run $run/$RUNS: floor ${floor}s downtime ${down}s total ${total}s"
		downs+=("$down") totals+=("$total") floors+=("$floor")
	done
	fm=$(median "${floors[@]}")
	dm=$(median "${downs[@]}")
	tm=$(median "${totals[@]}")
	rows+=("$(printf '| %s | %s | %.3f | %.2f | %.3f | %.2f | %.3f |' "$mode" "$size" "$dm" "$(echo "$dm / $fm" | bc -l)" \
		"$tm" "$(echo "$tm / $fm" | bc -l)" "$fm")")
	raw+=("- $mode $size MiB: downtime ${downs[*]}; total ${totals[*]}; floor ${floors[*]}")
done
done
table=$(
	echo "| mode | size MiB | downtime median s | downtime/floor | migrate median s | migrate/floor | floor median s |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	printf '%s\n' "${rows[@]}"
)
echo "$table"
{
	echo
	echo "## Live migration (ferry migrate between simulated hosts)"
	echo
	echo "$table"
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
} >>"$OUT"
log "appended to $OUT"
