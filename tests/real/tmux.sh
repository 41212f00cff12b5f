#!/usr/bin/env bash
# tests/real/tmux.sh - tmux from Debian with a shell running a full-screen
# program (less), dumped, restored, and attached again from a new terminal.
#
# The tmux server (its own socket in the temp dir, no config) runs `sh`, in
# which `less` shows /etc/services and has searched for "ssh".  The server's
# tree (server, shell, less: a pseudo-terminal whose master tmux holds, the
# shell's session with the terminal as controlling terminal and less's group
# in front, the shell's /dev/tty) is dumped with `ferry dump` (the source
# dies) and restored with `ferry restore -d`.  Then a new client attaches
# from a new terminal (script(1)) fed through a FIFO, and:
#   - the client's terminal shows the redrawn screen (less's ssh line);
#   - keys typed reach the program and the shell: `q` leaves less, a command
#     line typed at the shell runs (`tmux capture-pane` shows its output);
#   - the pane's shell still has its pid, and less's group is the
#     terminal's foreground group (as before the move).
# Output: "PASS tmux" / "FAIL tmux: reason", then "N passed, N failed, N
# skipped"; exit 1 on failure.  Run as root
# from anywhere; FERRY_KEEP=1 keeps the temp dir.
set -u
export LC_ALL=C
cd "$(dirname "$0")/../.." || exit 2
FERRY=${FERRY_BIN:-$PWD/ferry}
for t in tmux script less "$FERRY"; do
	command -v "$t" >/dev/null || { echo "SKIP tmux: $t not installed (scripts/deps.sh)"; echo "0 passed, 0 failed, 1 skipped"; exit 0; }
done
WD=$(mktemp -d /tmp/ferry-tmux.XXXXXX)
SOCK=$WD/sock
PIDS=""
cleanup() {
	local p
	tmux -S "$SOCK" kill-server 2>/dev/null
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	[ -n "${FERRY_KEEP:-}" ] && echo "kept $WD" || rm -rf "$WD"
}
trap cleanup EXIT
fail() {
	echo "FAIL tmux: $*"
	[ -s "$WD/ferry.log" ] && sed 's/^/    | /' "$WD/ferry.log" | tail -20
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
}
tm() { tmux -S "$SOCK" "$@"; }
pane() { tm capture-pane -p -t t 2>/dev/null; }
# wait_for SECONDS CMD...: poll CMD every 50 ms
wait_for() {
	local n=$(($1 * 20))
	shift
	while [ $n -gt 0 ]; do "$@" && return 0; sleep 0.05; n=$((n - 1)); done
	return 1
}
pane_has() { pane | grep -q -- "$1"; }
file_has() { grep -aq -- "$2" "$1" 2>/dev/null; }

TERM=xterm tm -f /dev/null new -d -s t -x 80 -y 24 sh || fail "tmux did not start"
SPID=$(tm display -p -t t '#{pid}')
SHPID=$(tm display -p -t t '#{pane_pid}')
PIDS="$SPID $SHPID"
tm send-keys -t t 'less /etc/services' Enter
wait_for 10 pane_has 'services' || fail "less did not show /etc/services: $(pane | head -3)"
tm send-keys -t t '/^ssh' Enter
wait_for 10 pane_has '^ssh' || fail "less did not find ssh: $(pane | head -3)"
BEFORE=$(pane)
tpgid() { awk '{ sub(/.*\) /, ""); print $6 }' "/proc/$1/stat"; }
LESSPID=$(pgrep -P "$SHPID" less)
[ -n "$LESSPID" ] && [ "$(tpgid "$SHPID")" = "$LESSPID" ] || fail "less ($LESSPID) is not in front before the dump"

"$FERRY" dump -t "$SPID" -D "$WD/img" >>"$WD/ferry.log" 2>&1 || fail "dump exited $?"
wait_for 10 eval '! kill -0 '"$SPID"' 2>/dev/null' || fail "the tmux server survived the dump"
"$FERRY" restore -d -D "$WD/img" --pidfile "$WD/pidfile" >>"$WD/ferry.log" 2>&1 || fail "restore exited $?"
read -r got <"$WD/pidfile"
[ "$got" = "$SPID" ] || fail "restored pid '$got', expected $SPID"
[ "$(tm display -p -t t '#{pane_pid}')" = "$SHPID" ] || fail "the pane's shell is not pid $SHPID"
[ "$(pane)" = "$BEFORE" ] || fail "the pane changed across the move: $(pane | head -3)"
[ "$(tpgid "$SHPID")" = "$LESSPID" ] || fail "less ($LESSPID) is not in front after the restore ($(tpgid "$SHPID"))"

# a new terminal: script(1) runs the client, fed keys through a FIFO
mkfifo "$WD/keys"
TERM=xterm script -qfec "tmux -S $SOCK attach -t t" "$WD/typescript" <"$WD/keys" >/dev/null 2>&1 &
CPID=$!
disown "$CPID"
PIDS="$PIDS $CPID"
exec {KEYS}>"$WD/keys"
wait_for 10 file_has "$WD/typescript" 'ssh' || fail "the attached client's screen was not redrawn"
printf 'q' >&"$KEYS"
wait_for 10 eval '! pane_has "^ssh"' || fail "q did not reach less: $(pane | head -3)"
printf 'echo typed-$((6*7))\r' >&"$KEYS"
wait_for 10 pane_has '^typed-42' || fail "the typed command did not run: $(pane | tail -5)"
wait_for 10 file_has "$WD/typescript" 'typed-42' || fail "the client's terminal did not show the output"
exec {KEYS}>&-
echo "PASS tmux"
echo "1 passed, 0 failed, 0 skipped"
