#!/usr/bin/env bash
# Regenerates fuzz/corpus/image/ from real dumps of a few test programs
# (run as root after `make`; the committed seeds came from this).  Page
# contents (pages-*.img) are dropped: the decoders never read them, and
# the harness recomputes every size and checksum anyway.
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
out=$ROOT/fuzz/corpus/image
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for prog in evfds files locks shm_share threads signals timers unix pipes tree; do
	w=$tmp/w-$prog
	mkdir -p "$w"
	"$ROOT/tests/bin/$prog" "$w" >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 100); do [ -e "$w/ready" ] && break; sleep 0.05; done
	if ! "$ROOT/ferry" dump -t "$pid" -D "$tmp/img-$prog" >/dev/null 2>&1; then
		kill -9 "$pid" 2>/dev/null || true
		echo "mkseeds: cannot dump $prog" >&2
		continue
	fi
	wait "$pid" 2>/dev/null || true
	python3 - "$tmp/img-$prog" "$out/$prog" <<'PY'
import os, sys
d, dst = sys.argv[1], sys.argv[2]
names = ["manifest.json"] + sorted(n for n in os.listdir(d) if n != "manifest.json")
with open(dst, "wb") as o:
    for n in names:
        data = b"" if n.startswith("pages-") else open(os.path.join(d, n), "rb").read()
        o.write(b"=== " + n.encode() + b"\n" + data + b"\n")
PY
done
ls -la "$out"
