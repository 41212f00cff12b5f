#!/usr/bin/env bash
# Every test of ferry: unit tests and self-checking programs (tests/run.sh),
# the network scenarios between simulated hosts (tests/net/run.sh), live
# migration between them (tests/net/migrate.sh), what serve withstands
# (tests/net/serve_security.sh), a fault at every step (tests/net/faults.sh),
# 10 moves of the soak (bench/soak.sh), real servers from Debian moved both
# ways (tests/real/run.sh), tmux dumped, restored and attached again
# (tests/real/tmux.sh), every fuzz target for 30 s (tests/fuzz.sh, built by
# `make fuzz-build`), and ferry as a package: man pages, make install, the
# Debian package, libferry (tests/pkg.sh).
# Ends with one line "N passed, N failed, N skipped" for all of them (a
# suite's ", N skipped" is optional); exits 1 on any failure.  Run as root
# from anywhere (make check runs it).
set -u
cd "$(dirname "$0")/.." || exit 2
total_pass=0
total_fail=0
total_skip=0
suite() {
	local out rc line p f k
	out=$(mktemp)
	# a suite that hangs ends with a failure, not a CI job that never ends
	# (SIGTERM first: the runners clean up their namespaces and processes)
	timeout -k 60 1800 "$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	rm -f "$out"
	if [ -z "$line" ]; then
		echo "FAIL $*: the suite ended without a summary (exit $rc)"
		total_fail=$((total_fail + 1))
		return
	fi
	p=${line%% passed*}
	f=${line#*, }
	f=${f%% failed*}
	k=0
	[[ $line =~ ,\ ([0-9]+)\ skipped ]] && k=${BASH_REMATCH[1]}
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	total_skip=$((total_skip + k))
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "FAIL $*: exit status $rc with no failed test"
		total_fail=$((total_fail + 1))
	fi
}
suite tests/run.sh
suite tests/net/run.sh
suite tests/net/migrate.sh
suite tests/net/serve_security.sh
suite tests/net/faults.sh
# the soak, short: 10 moves (make soak does 200); its report is not kept
suite env SOAK_MOVES=10 SOAK_OUT=/dev/null bench/soak.sh
suite tests/real/run.sh
suite tests/real/tmux.sh
suite tests/pkg.sh
suite tests/fuzz.sh
echo
echo "all suites: $total_pass passed, $total_fail failed, $total_skip skipped"
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" = 0 ]
