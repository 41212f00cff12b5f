# tests/net/incr.sh - sourced by tests/net/run.sh and tests/net/migrate.sh:
# the INCR client (tests/net/incr.c) against demo/kvserver.c across a move
# that breaks its connection (issue 18).
#
# The client pipelines INCRs, then stops reading: the server answers every
# request it got and its replies pile up in its send queue (the client's
# receive buffer is small).  The move is started then, so at the freeze the
# send queue holds replies the client has not received; the client reads
# again once the source is gone (ferry ends the connection then).  After the
# move the server's value must equal the last reply the client received:
# every reply written before the freeze arrived, and nothing the server did
# not answer was applied.  Without the drain (--drain-timeout 0, or a ferry
# that resets at once) the replies in the send queue are lost and the value
# is larger.
#
# The caller provides INCR (the client binary), SCALE, and optionally nap()
# (a sleep that does not fork).

incr_nap() { if declare -F nap >/dev/null; then nap "$1"; else sleep "$1"; fi; }

# INCR_STATE = the State letter of pid $1 ("" if gone); no fork
incr_state() {
	local l lines=()
	INCR_STATE=""
	mapfile -t lines 2>/dev/null <"/proc/$1/status" || return 0
	for l in "${lines[@]}"; do
		[ "${l%%:*}" = State ] || continue
		l=${l#*:}
		l=${l#"${l%%[![:space:]]*}"}
		INCR_STATE=${l:0:1}
		return 0
	done
}

# incr_start NS_C NS_S ADDR:PORT DIR SRVPID: starts the client in NS_C
# against the kvserver SRVPID (in NS_S) at ADDR:PORT (INCRPID); returns 0
# once the client paused, the server read every request, is idle (sleeping
# in epoll_wait) and has replies in its send queue; else 1 with INCR_WHY
incr_start() {
	local nc=$1 ns=$2 addr=$3 dir=$4 spid=$5 port=${3##*:} n rq="" sq="" q
	mkdir -p "$dir"
	rm -f "$dir/paused" "$dir/resume" "$dir/incr.out"
	# 200 replies before the pause, no more: the client's receive buffer is
	# small from the start, and with it TCP crawls on zero-window probes
	ip netns exec "$nc" "$INCR" "$addr" n 512 200 "$dir" </dev/null >"$dir/incr.out" 2>&1 &
	INCRPID=$!
	for ((n = 0; n < 200 * SCALE; n++)); do
		if [ -e "$dir/paused" ]; then
			q=$(ip netns exec "$ns" ss -Htn state established "( sport = :$port )")
			read -r rq sq _ <<<"$q"
			incr_state "$spid"
			[ "$rq" = 0 ] && [ "${sq:-0}" -gt 0 ] && [ "$INCR_STATE" = S ] && return 0
		fi
		incr_nap 0.05
	done
	local sst
	incr_state "$spid"
	sst=$INCR_STATE
	incr_state "$INCRPID"
	INCR_WHY="no replies waiting in the server's send queue (client paused: $([ -e "$dir/paused" ] && echo yes || echo no), state '$INCR_STATE': $(head -c 200 "$dir/incr.out"); server state '$sst', Recv-Q '$rq' Send-Q '$sq')"
	return 1
}

# incr_move DIR SRCPID CMD...: runs the move CMD in the background; lets the
# client read again once SRCPID is gone (dead or a zombie) or CMD ended;
# returns CMD's exit status
incr_move() {
	local dir=$1 src=$2 mp
	shift 2
	"$@" &
	mp=$!
	while kill -0 "$mp" 2>/dev/null; do
		incr_state "$src"
		[ -z "$INCR_STATE" ] || [ "$INCR_STATE" = Z ] && break
		incr_nap 0.02
	done
	: >"$dir/resume"
	wait "$mp"
}

# incr_last DIR: waits for the client; INCR_LAST = the last value it
# received; 1 with INCR_WHY if it failed
incr_last() {
	local dir=$1 rc w
	wait "$INCRPID"
	rc=$?
	INCR_LAST=""
	read -r w INCR_LAST _ <"$dir/incr.out"
	[ "$rc" = 0 ] && [ "$w" = last ] && [ -n "$INCR_LAST" ] && return 0
	INCR_WHY="the client exited $rc: $(head -c 300 "$dir/incr.out")"
	return 1
}
