# Process helpers shared by the test runners (tests/run.sh, tests/net/run.sh).
# They never fork (pids stay free between a dump and its restore) and never
# kill by name: a process is "ours" only if we started it (PIDS) and it is
# still the same process (START: its start time, since pids get reused).
# The runner provides nap(), SCALE and TMPROOT before calling them.

# close_inherited_fds SCRIPT: closes every fd this shell inherited from
# whoever started it but 0-2 and the one bash reads SCRIPT through.  The
# programs under test would inherit them, and ferry would have to dump them
# (`flock LOCKFILE make check` would hand them a flock lock shared with
# flock(1), which ferry refuses to carry; a leaked daemon would hold it).
close_inherited_fds() {
	local f n self
	self=$(readlink -f "$1")
	for f in /proc/$$/fd/*; do
		n=${f##*/}
		[ "$n" -le 2 ] 2>/dev/null && continue
		[ "$(readlink "$f" 2>/dev/null)" = "$self" ] && continue
		eval "exec $n>&-" 2>/dev/null
	done
	return 0
}

PIDS=()          # processes started by the runner (tests/net/run.sh: by the current test)
declare -A START # pid -> start time (proc stat field 22) of the process we mean

# PSTATE (R S D T t Z ...) and PSTART of pid $1, both empty if gone; no fork
pstat() {
	local l f
	PSTATE="" PSTART=""
	read -r l 2>/dev/null <"/proc/$1/stat" || return 0
	l=${l##*) }
	f=($l)
	PSTATE=${f[0]} PSTART=${f[19]}
}

# SF = value of line "$2:" of /proc/$1/status, empty if gone; no fork.
# Read in one pass (mapfile): bash's `read` reads ahead and seeks back,
# and every seek on a /proc seq_file regenerates its text, so a line read
# that way can straddle two versions of the file (State: "S (sleeping)" and
# "R (running)" differ in length) and come out garbled.
sfield() {
	local l lines=()
	SF=""
	mapfile -t lines 2>/dev/null <"/proc/$1/status" || return 1
	for l in "${lines[@]}"; do
		[ "${l%%:*}" = "$2" ] || continue
		l=${l#*:}
		SF=${l#"${l%%[![:space:]]*}"}
		return 0
	done
	return 1
}

# remember pid $1 as ours, and which process it is (pids get reused)
track() {
	PIDS+=("$1")
	pstat "$1"
	START[$1]=$PSTART
}

# is pid $1 one of ours? (its command line names our temp dir; never kill by
# name, never kill a pid that was reused by someone else)
is_ours() {
	local a=()
	[ -r "/proc/$1/cmdline" ] || return 1
	mapfile -d '' a 2>/dev/null <"/proc/$1/cmdline" || return 1
	[[ "${a[*]}" == *"$TMPROOT"* ]]
}

# is the process we started as pid $1 still running (not a zombie, not a
# newer process that reuses the pid)?
alive() {
	pstat "$1"
	[ -n "$PSTATE" ] && [ "$PSTATE" != Z ] && [ "$PSTATE" != X ] &&
		{ [ -z "${START[$1]:-}" ] || [ "${START[$1]}" = "$PSTART" ]; }
}

# wait until our child $1 has exited (timeout $2 s), then reap it; sets WRC
wait_exit() {
	local pid=$1 n=$(( $2 * 20 * SCALE ))
	while alive "$pid" && [ $n -gt 0 ]; do
		nap 0.05
		n=$((n - 1))
	done
	if alive "$pid"; then
		WRC=124
		return 1
	fi
	wait "$pid" 2>/dev/null
	WRC=$?
	return 0
}

# wait until no process has pid $1 (timeout $2 s)
wait_gone() {
	local n=$(( $2 * 20 * SCALE ))
	while [ -e "/proc/$1" ] && [ $n -gt 0 ]; do
		nap 0.05
		n=$((n - 1))
	done
	[ ! -e "/proc/$1" ]
}

# note in the current test's ferry log
log() { echo "== $*" >>"$WD/ferry.log"; }

# sanitizer_reports FILE: under FERRY_ASAN=1 (ferry built with the
# sanitizers), a sanitizer report anywhere in FILE (all of ferry's output)
# is a failure, reported through the runner's fail().
sanitizer_reports() {
	[ "${FERRY_ASAN:-0}" = 1 ] || return 0
	grep -q -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$1" 2>/dev/null || return 0
	fail sanitizers "a sanitizer report in ferry's output:"
	grep -A12 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$1" | head -n 30 | sed 's/^/    | /'
}
