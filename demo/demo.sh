#!/usr/bin/env bash
# make demo: checkpoint a running program, kill it, bring it back, and watch it
# carry on with its PID, memory and open log file.  Cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/ferry-demo.XXXXXX)
pid=""
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }

gcc -O2 -o "$work/ticker" demo/ticker.c
bold "1. Start an example program: it counts, holds 64 MiB of heap, and logs to $work/ticker.log"
"$work/ticker" "$work/ticker.log" </dev/null >/dev/null 2>&1 &
pid=$!
sleep 1.5
echo "   pid $pid is running:"; tail -n 3 "$work/ticker.log" | sed 's/^/   /'

bold "2. ferry dump -t $pid -D $work/img   (freeze, write the image, kill the source)"
./ferry dump -t "$pid" -D "$work/img"
wait "$pid" 2>/dev/null || true
echo "   the image:"; du -sh "$work/img" | sed 's/^/   /'
./ferry show -D "$work/img" | head -n 4 | sed 's/^/   /'
echo "   pid $pid is gone: $(kill -0 "$pid" 2>/dev/null && echo 'still there?!' || echo yes)"
last=$(tail -n 1 "$work/ticker.log")
echo "   last line before the dump: $last"
sleep 1

bold "3. ferry restore -D $work/img -d   (same pid, same memory, same open file)"
./ferry restore -D "$work/img" -d --pidfile "$work/pid"
pid=$(cat "$work/pid")
sleep 1.5
echo "   pid $pid runs again; the log carries on where it stopped:"
grep -A 4 -F "$last" "$work/ticker.log" | sed 's/^/   /'

bold "4. Clean up: kill pid $pid"
kill -9 "$pid"
pid=""
echo "   done."
