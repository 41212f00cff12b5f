#!/usr/bin/env bash
# tests/fuzz.sh - runs every libFuzzer target of fuzz/ (built by
# `make fuzz-build` into fuzz/bin/) for FUZZ_SECONDS each (default 30, what
# make check gives them; `make fuzz` gives 180), starting from its seed
# corpus fuzz/corpus/TARGET (which holds every input that once crashed a
# target: a regression test).  What the fuzzer adds to the corpus is kept in
# a temp dir, not in the tree.
# A target passes when it ran for its time without a crash, a sanitizer
# report, a leak, a timeout (10 s for one input) or an out-of-memory (2 GiB).
# On a failure the input is saved in fuzz/crashes/ (add it to the corpus
# once fixed) and the report's first lines printed.
# Environment: FUZZ_SECONDS, FUZZ_TARGETS="image proc" (default: all),
#              FUZZ_JOBS (parallel targets, default 1: the box is shared).
# Output: "PASS name (N runs in S s)" / "FAIL name: reason" per target, then
# "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
secs=${FUZZ_SECONDS:-30}
targets=${FUZZ_TARGETS:-$(cd fuzz && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')}
pass=0
fail=0
tmp=$(mktemp -d /tmp/ferry-fuzz.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p fuzz/crashes
for t in $targets; do
	bin=$ROOT/fuzz/bin/$t
	if [ ! -x "$bin" ]; then
		echo "FAIL $t: $bin is not built (make fuzz-build)"
		fail=$((fail + 1))
		continue
	fi
	case $t in
	image) maxlen=262144 ;;
	*) maxlen=65536 ;;
	esac
	mkdir -p "$tmp/$t"
	log=$tmp/$t.log
	# the harnesses' scratch dirs go with $tmp
	mkdir -p "$tmp/scratch"
	(cd "$tmp" && FUZZ_SCRATCH=$tmp/scratch ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 "$bin" -max_total_time="$secs" -max_len=$maxlen \
		-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$ROOT/fuzz/crashes/$t-" -print_final_stats=1 \
		"$tmp/$t" "$ROOT/fuzz/corpus/$t" >"$log" 2>&1)
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ "$rc" = 0 ] && [ -n "$runs" ]; then
		echo "PASS $t (${runs} runs in ${secs} s)"
		pass=$((pass + 1))
	else
		why=$(grep -m1 -E 'ERROR: |runtime error|deadly signal|Timeout|out-of-memory|SUMMARY' "$log")
		echo "FAIL $t: exit $rc: ${why:-see below}"
		grep -E '^(==|    #[0-9]|SUMMARY|artifact_prefix|Test unit written)' "$log" | head -n 30 | sed 's/^/    /'
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
