#!/usr/bin/env bash
# bench/migrate.sh - live migration between simulated hosts (network
# namespaces; host B with a PID namespace of its own): for processes holding
# 64, 256 and 1024 MiB of touched memory (BENCH_SIZES), the median over
# BENCH_RUNS runs of the downtime (frozen on A until running on B, as `ferry
# migrate` reports it) and of the whole `ferry migrate` command, each as a
# ratio to a memcpy of the same bytes into fresh memory measured in the same
# run; and for sparse memory (BENCH_SPARSE, MAPPED:WRITTEN MiB, default
# 1024:10) the pages sent and the downtime, against a memcpy of the written
# bytes; and the Java server of tests/real (BENCH_JAVA=0 skips it; skipped
# with a message without java) moved with --ip-map auto: pages sent and the
# downtime, pre-copy against --no-pre-copy.  BENCH_MODES="plain pre-copy"
# picks the modes.  Appends the tables to bench/results.md (BENCH_OUT).
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
# carry
# shellcheck source=tests/lib.sh
. tests/lib.sh
close_inherited_fds "$0"
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
# ferry migrate counts them) and PRE (those sent before the freeze)
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
	PRE=$(awk '/pages sent/ {print $6}' "$W/mig.err")
	# the freeze broken down (0 from a ferry that does not print it)
	SENDT=$(awk '/dump \+ send/ {print $4}' "$W/mig.err")
	INDEXT=$(awk '$1 == "index" {print $2}' "$W/mig.err")
	RESTT=$(awk '$1 == "restore" {print $2}' "$W/mig.err")
	CONFT=$(awk '$1 == "confirmation" {print $2}' "$W/mig.err")
	SENDT=${SENDT:-0} INDEXT=${INDEXT:-0} RESTT=${RESTT:-0} CONFT=${CONFT:-0}
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
	downs=() totals=() floors=() sendts=() indexts=() restts=() confts=()
	for ((run = 1; run <= RUNS; run++)); do
		floor=$(bench/bin/memfloor "$size" 3 2>/dev/null | tail -n 1)
		one_run "$mode" "$W/hog-$mode-$size-$run" bench/bin/hog "$size"
		log "$mode $size MiB run $run/$RUNS: floor ${floor}s downtime ${DOWN}s (dump+send $SENDT, index $INDEXT, restore $RESTT, confirmation $CONFT) total ${TOTAL}s"
		downs+=("$DOWN") totals+=("$TOTAL") floors+=("$floor")
		sendts+=("$SENDT") indexts+=("$INDEXT") restts+=("$RESTT") confts+=("$CONFT")
	done
	fm=$(median "${floors[@]}")
	dm=$(median "${downs[@]}")
	tm=$(median "${totals[@]}")
	rows+=("$(printf '| %s | %s | %.3f | %.2f | %.3f | %.3f | %.3f | %.3f | %.3f | %.2f | %.3f |' "$mode" "$size" "$dm" "$(echo "$dm / $fm" | bc -l)" \
		"$(median "${sendts[@]}")" "$(median "${indexts[@]}")" "$(median "${restts[@]}")" "$(median "${confts[@]}")" \
		"$tm" "$(echo "$tm / $fm" | bc -l)" "$fm")")
	raw+=("- $mode $size MiB: downtime ${downs[*]}; dump+send ${sendts[*]}; index ${indexts[*]}; restore ${restts[*]}; confirmation ${confts[*]}; total ${totals[*]}; floor ${floors[*]}")
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

# The Java server of tests/real (Server.java: an HttpServer bound to A's
# address, so listening on [::ffff:10.77.0.1]:8080, a counter and 8 MiB of
# numbers in its heap), moved with --ip-map auto; after each move a client on
# host C must find its state on B's address and one more /inc answered.
# -v: ferry migrate says when the image was sent (IMG, seconds after the
# freeze); the rest of the freeze is the restore on B.
JAVA_OPTS=${BENCH_JAVA_OPTS--Xmx64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1}
jclient() { # CMD HOST [WANT]: tests/real/client.py on host C (JOUT: its output)
	local cmd=$1 host=$2
	shift 2
	JOUT=$(ip netns exec fbench-c timeout 60 python3 tests/real/client.py "$cmd" "$host" 8080 "$@" 2>&1 </dev/null)
}
java_run() { # MODE WORKDIR
	local mode=$1 hw=$2 jp="" state
	mkdir -p "$hw"
	# setsid: a daemon has a session of its own; the JVM names its pid in
	# the ready file; JAVA_OPTS are words on purpose
	# shellcheck disable=SC2086
	nsenter --net=/run/netns/fbench-a -- setsid java $JAVA_OPTS -cp "$W/classes" Server 10.77.0.1 8080 "$hw/ready" \
		</dev/null >"$hw/out" 2>&1 &
	PIDS+=("$!")
	disown # ferry kills the source: no "Killed" line from bash
	for _ in $(seq 600); do [ -s "$hw/ready" ] && break; sleep 0.05; done
	read -r jp <"$hw/ready" 2>/dev/null
	[ -n "$jp" ] || { log "the Java server did not start: $(grep -m 1 -E 'Exception|Error' "$hw/out")"; exit 1; }
	PIDS+=("$jp")
	for _ in 1 2 3 4 5; do jclient java-inc 10.77.0.1 || { log "java /inc on A: $JOUT"; exit 1; }; done
	[ "$JOUT" = 5 ] || { log "the Java server's counter is $JOUT after 5 /inc"; exit 1; }
	jclient java-get 10.77.0.1 || { log "java /get on A: $JOUT"; exit 1; }
	state=$JOUT
	start_serve
	migrate_to_b "$mode" "$jp" --ip-map auto -v
	IMG=$(sed -n 's/.*image sent in \([0-9.]*\) s.*/\1/p' "$W/mig.err")
	jclient java-get 10.77.0.2 "$state" || { log "the migrated Java server on 10.77.0.2: $JOUT"; exit 1; }
	jclient java-inc 10.77.0.2 || { log "java /inc on 10.77.0.2: $JOUT"; exit 1; }
	[ "$JOUT" = 6 ] || { log "the migrated Java server answered /inc with $JOUT, expected 6"; exit 1; }
	stop_serve
}
jrows=()
jraw=()
declare -A jdown=()
if [ "${BENCH_JAVA:-1}" = 0 ]; then
	:
elif ! command -v java >/dev/null || ! command -v javac >/dev/null; then
	log "skipping the Java server: java or javac is not installed (scripts/deps.sh installs openjdk-17-jdk-headless)"
elif ! javac -d "$W/classes" tests/real/Server.java 2>"$W/javac.err"; then
	log "javac tests/real/Server.java failed: $(head -c 300 "$W/javac.err")"
	exit 1
else
	for mode in ${BENCH_MODES:-plain pre-copy}; do
		downs=() sents=() pres=() imgs=()
		for ((run = 1; run <= RUNS; run++)); do
			java_run "$mode" "$W/java-$mode-$run"
			log "$mode java run $run/$RUNS: downtime ${DOWN}s (image sent after ${IMG}s), $SENT pages sent, $PRE before the freeze"
			downs+=("$DOWN") sents+=("$SENT") pres+=("$PRE") imgs+=("$IMG")
		done
		dm=$(median "${downs[@]}")
		jdown[$mode]=$dm
		pm=$(median "${sents[@]}")
		prm=$(median "${pres[@]}")
		im=$(median "${imgs[@]}")
		jrows+=("$(printf '| %s | %.0f | %.0f | %.1f | %.3f | %.3f | %.3f |' "$mode" "$pm" "$prm" "$(echo "$pm * 4096 / 1048576" | bc -l)" \
			"$dm" "$im" "$(echo "$dm - $im" | bc -l)")")
		jraw+=("- $mode java: downtime ${downs[*]}; image sent after ${imgs[*]}; pages sent ${sents[*]}; before the freeze ${pres[*]}")
	done
fi
{
if [ ${#rows[@]} -gt 0 ]; then
	echo
	echo "## Live migration (ferry migrate between simulated hosts)"
	echo
	echo "| mode | size MiB | downtime median s | downtime/floor | dump+send s | index s | restore s | confirmation s | migrate median s | migrate/floor | floor median s |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	printf '%s\n' "${rows[@]}"
	echo
	echo "The downtime broken down as \`ferry migrate\` prints it (medians of each"
	echo "part, so they need not add up): dump+send, the frozen dump of what is left"
	echo "and its transfer; index, the destination matching pre-copied pages to the"
	echo "image; restore, \`ferry restore\` on B until the process runs; confirmation,"
	echo "the rest (the image's last frames in flight, the last messages)."
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
if [ ${#jrows[@]} -gt 0 ]; then
	echo
	echo "## Live migration of the Java server"
	echo
	echo "| mode | pages sent median | before the freeze median | MiB sent | downtime median s | image sent after s | restore s (difference) |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	printf '%s\n' "${jrows[@]}"
	echo
	if [ -n "${jdown[plain]:-}" ] && [ -n "${jdown[pre-copy]:-}" ]; then
		printf 'Downtime with pre-copy / without: %.2f\n\n' "$(echo "${jdown[pre-copy]} / ${jdown[plain]}" | bc -l)"
	fi
	echo "tests/real/Server.java (java ${JAVA_OPTS:-with default options}) bound to host A's address, so"
	echo "listening on [::ffff:10.77.0.1]:8080, with a counter at 5 and 8 MiB of"
	echo "numbers in its heap, moved by \`ferry migrate --ip-map auto -v\` (plain:"
	echo "--no-pre-copy).  Image sent after: seconds from the freeze until the"
	echo "image was through (dump of what is left, transfer); the rest of the"
	echo "downtime is the restore on B.  After each move a client on host C found"
	echo "the same state on 10.77.0.2 and had one more /inc answered 6."
	echo
	echo "Raw runs:"
	echo
	printf '%s\n' "${jraw[@]}"
fi
} >"$W/table"
cat "$W/table"
cat "$W/table" >>"$OUT"
log "appended to $OUT"
