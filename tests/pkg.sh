#!/usr/bin/env bash
# tests/pkg.sh - ferry as an installed package (issue 17).  Run from the
# repo root as root after `make` (tests/all.sh does).
#   man-options    every option in `ferry CMD --help` appears in the command's
#                  man page (src/cmd/man/ferry-CMD.8.scd), and every page
#                  renders with `man --warnings -l` without a warning
#   install        make install DESTDIR=tmp (PREFIX=/usr/local): the binary
#                  runs, the man pages, completion, unit and its environment
#                  file are where the unit says; systemd-analyze verify
#                  accepts the unit; make uninstall leaves only the config
#   json-dump-restore  dump --json and restore --json of tests/bin/counter
#                  (which checks its own state after the restore): the
#                  events parse and say what happened (tests/json_check.py)
#   json-error     dump --json of tests/bin/sock_refuse (a netlink socket at
#                  fd 42): one error event with the pid, the fd, the object
#                  and the message stderr shows
#   json-check     check --json: an event per feature, a result that
#                  matches the exit status
#   libferry       after make install DESTDIR=tmp, tests/lib/api.c builds with
#                  `pkg-config --cflags --libs ferry` (PKG_CONFIG_PATH and
#                  PKG_CONFIG_SYSROOT_DIR into tmp), links libferry.so.0 (its
#                  soname; only ferry_* exported) and drives check, dump,
#                  restore (the counter checks its own state) and a refused
#                  dump through the API (see its header)
#   deb            dpkg-buildpackage -us -uc -b in a copy of the tree: the
#                  .debs build (ferry, libferry0, libferry-dev), lintian
#                  reports no error, they install with dpkg -i (the binary
#                  runs, man finds its pages, the unit is where systemd
#                  looks, pkg-config finds ferry) and purge leaving none of
#                  their files.  Skipped under FERRY_ASAN=1 (the plain run
#                  builds it; the package is built with its own flags), and
#                  when a ferry package is installed already (not ours to
#                  replace).
# FERRY_BIN=path tests another ferry binary (the install and deb cases build
# their own); FERRY_PKG_NODEB=1 leaves out the deb case.
# Ends with "N passed, N failed, N skipped"; exits 1 on any failure.
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
FERRY=${FERRY_BIN:-$ROOT/ferry}
# under tests/bin/subreaper: the programs the dumps kill are orphans it
# reaps at once, so that their PIDs are free for the restores
if [ "${FERRY_REAPED:-}" != 1 ] && [ -x "$ROOT/tests/bin/subreaper" ]; then
	export FERRY_REAPED=1
	exec "$ROOT/tests/bin/subreaper" "$ROOT/tests/pkg.sh" "$@"
fi
T=$(mktemp -d /tmp/ferry-pkg.XXXXXX)
trap 'rm -rf "$T"' EXIT
PASSED=0 FAILED=0 SKIPPED=0
pass() { echo "PASS $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $1: $2"; FAILED=$((FAILED + 1)); }
skip() { echo "SKIP $1: $2"; SKIPPED=$((SKIPPED + 1)); }
CMDS="dump restore show check unlock keygen serve migrate"

t_man_options() {
	local c o missing="" w
	make -s man >"$T/man.log" 2>&1 || { fail man-options "make man: $(tail -3 "$T/man.log")"; return; }
	for c in $CMDS; do
		[ -s "build/man/ferry-$c.8" ] || { missing+=" ferry-$c.8(absent)"; continue; }
		MANWIDTH=200 man -l "build/man/ferry-$c.8" 2>/dev/null >"$T/$c.txt"
		# long options, and short ones written as "-x," or "-x|" in the usage
		for o in $("$FERRY" "$c" --help 2>&1 | grep -oE -- '(^|[ [|])--?[a-zA-Z][a-zA-Z-]*' | grep -oE -- '--?[a-zA-Z][a-zA-Z-]*' | sort -u); do
			grep -qE -- "(^|[^a-zA-Z-])$o([^a-zA-Z-]|$)" "$T/$c.txt" || missing+=" $c:$o"
		done
	done
	for f in build/man/*.8; do
		w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
		[ -z "$w" ] || missing+=" $(basename "$f"):warning($w)"
	done
	[ -z "$missing" ] && pass man-options || fail man-options "missing or wrong:$missing"
}

t_install() {
	local d=$T/root p=/usr/local f
	make -s install DESTDIR="$d" >"$T/install.log" 2>&1 || { fail install "make install: $(tail -3 "$T/install.log")"; return; }
	for f in $p/sbin/ferry $p/lib/libferry.so.0 $p/lib/libferry.so $p/include/ferry.h $p/lib/pkgconfig/ferry.pc $p/share/man/man8/ferry.8 $p/share/man/man8/ferry-migrate.8 \
		$p/share/bash-completion/completions/ferry $p/lib/systemd/system/ferry-serve.service /etc/ferry/serve.conf; do
		[ -e "$d$f" ] || { fail install "$f not installed"; return; }
	done
	[ "$("$d$p/sbin/ferry" --version)" = "$("$FERRY" --version)" ] || { fail install "the installed ferry does not run"; return; }
	grep -q "^ExecStart=$p/sbin/ferry serve --listen \${FERRY_LISTEN} --key \${FERRY_KEY}" "$d$p/lib/systemd/system/ferry-serve.service" ||
		{ fail install "ExecStart does not run $p/sbin/ferry"; return; }
	grep -q "^EnvironmentFile=/etc/ferry/serve.conf" "$d$p/lib/systemd/system/ferry-serve.service" || { fail install "no EnvironmentFile"; return; }
	# the completion completes
	bash -c ". '$d$p/share/bash-completion/completions/ferry'; COMP_WORDS=(ferry mig); COMP_CWORD=1; _ferry; echo \"\${COMPREPLY[*]}\"" >"$T/comp" 2>&1
	[ "$(cat "$T/comp")" = migrate ] || { fail install "completion of 'ferry mig': $(cat "$T/comp")"; return; }
	if command -v systemd-analyze >/dev/null; then
		# verify resolves ExecStart on the real root: point it at our binary
		sed "s|^ExecStart=$p/sbin/ferry|ExecStart=$d$p/sbin/ferry|; s|^EnvironmentFile=/etc|EnvironmentFile=-$d/etc|; /^ConditionPathExists=/d" \
			"$d$p/lib/systemd/system/ferry-serve.service" >"$T/ferry-serve.service"
		MANPATH="$d$p/share/man" SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$T/ferry-serve.service" >"$T/verify" 2>&1 ||
			{ fail install "systemd-analyze verify: $(cat "$T/verify")"; return; }
		grep -v "^$" "$T/verify" | grep -q . && { fail install "systemd-analyze verify warns: $(cat "$T/verify")"; return; }
	fi
	echo changed >>"$d/etc/ferry/serve.conf"
	make -s install DESTDIR="$d" >/dev/null 2>&1 && grep -q "^changed" "$d/etc/ferry/serve.conf" ||
		{ fail install "a second install replaced the admin's serve.conf"; return; }
	make -s uninstall DESTDIR="$d" >"$T/uninstall.log" 2>&1 || { fail install "make uninstall: $(cat "$T/uninstall.log")"; return; }
	left=$(cd "$d" && find . -type f | sort | tr '\n' ' ')
	left="$left$(cd "$d" && find . -type l | sort | tr '\n' ' ')"
	[ "$left" = "./etc/ferry/serve.conf " ] || { fail install "after make uninstall: $left"; return; }
	pass install
}

# dpkg_wait LOG ARGS...: dpkg ARGS, waiting (up to 2 min) while another
# dpkg or apt holds its lock (an install elsewhere on this host)
dpkg_wait() {
	local log=$1 n
	shift
	for n in $(seq 60); do
		dpkg "$@" >"$log" 2>&1 && return 0
		grep -q "lock" "$log" || return 1
		sleep 2
	done
	return 1
}

t_deb() {
	local src=$T/deb/src f files
	if [ "${FERRY_ASAN:-0}" = 1 ]; then skip deb "the plain run builds the package"; return; fi
	if dpkg-query -W -f='${Status}' ferry libferry0 libferry-dev 2>/dev/null | grep -q "ok installed"; then
		skip deb "a ferry package is installed on this host already"; return
	fi
	mkdir -p "$src"
	# a copy: dpkg-buildpackage cleans and builds in the tree it is given
	tar --exclude=./build --exclude=./tests/bin --exclude=./bench/bin --exclude=./ferry --exclude=./.git -cf - . | tar -C "$src" -xf -
	(cd "$src" && dpkg-buildpackage -us -uc -b) >"$T/deb.log" 2>&1 || { fail deb "dpkg-buildpackage: $(tail -5 "$T/deb.log")"; return; }
	lintian --fail-on error "$T"/deb/*.changes >"$T/lintian" 2>&1 ||
		{ fail deb "lintian: $(grep -E '^E:' "$T/lintian" | head -5)"; return; }
	dpkg_wait "$T/dpkg.log" -i "$T"/deb/ferry_*_amd64.deb "$T"/deb/libferry0_*_amd64.deb "$T"/deb/libferry-dev_*_amd64.deb ||
		{ fail deb "dpkg -i: $(tail -3 "$T/dpkg.log")"; dpkg --purge ferry libferry-dev libferry0 >/dev/null 2>&1; return; }
	files=$(dpkg-query -L ferry libferry0 libferry-dev | while read -r f; do { [ -f "$f" ] || [ -L "$f" ]; } && [ ! -d "$f" ] && echo "$f"; done)
	local bad=""
	[ "$(/usr/sbin/ferry --version)" = "$("$FERRY" --version)" ] || bad+=" /usr/sbin/ferry does not run;"
	[ "$(man -w ferry-migrate 2>/dev/null)" = /usr/share/man/man8/ferry-migrate.8.gz ] || bad+=" man -w ferry-migrate: $(man -w ferry-migrate 2>&1);"
	[ -f /lib/systemd/system/ferry-serve.service ] || bad+=" no unit;"
	[ "$(pkg-config --libs ferry 2>&1 | xargs)" = "-lferry" ] || bad+=" pkg-config --libs ferry: $(pkg-config --libs ferry 2>&1);"
	dpkg_wait "$T/purge.log" --purge ferry libferry-dev libferry0 || bad+=" dpkg --purge: $(tail -3 "$T/purge.log");"
	for f in $files; do [ -e "$f" ] && bad+=" $f left after purge;"; done
	[ -e /etc/ferry ] && bad+=" /etc/ferry left after purge;"
	[ -z "$bad" ] && pass deb || fail deb "$bad"
}

# start_prog NAME DIR [ARGS]: tests/bin/NAME in a session of its own, ready; PID
start_prog() {
	local name=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	# orphaned at once (the subshell exits): the subreaper reaps it
	( setsid "tests/bin/$name" "$dir" "$@" </dev/null >"$dir.out" 2>&1 & echo $! >"$dir.pid" )
	PID=$(cat "$dir.pid")
	for _ in $(seq 200); do [ -e "$dir/ready" ] && return 0; sleep 0.05; done
	return 1
}

t_json_dump_restore() {
	local w=$T/jc rc why
	start_prog counter "$w" || { fail json-dump-restore "counter did not start"; return; }
	"$FERRY" dump -t "$PID" -D "$T/jc-img" --json >"$T/dump.json" 2>"$T/dump.err" ||
		{ fail json-dump-restore "dump: $(cat "$T/dump.err")"; kill -9 "$PID"; return; }
	why=$(python3 tests/json_check.py dump "$T/dump.json" "$PID" 2>&1) || { fail json-dump-restore "dump: $why"; return; }
	"$FERRY" restore -D "$T/jc-img" --json >"$T/restore.json" 2>"$T/restore.err" &
	local rp=$!
	for _ in $(seq 200); do grep -q '"restored"' "$T/restore.json" && break; sleep 0.05; done
	: >"$w/go"
	wait "$rp"
	rc=$?
	[ "$rc" = 0 ] || { fail json-dump-restore "restore (the program's own check) exited $rc: $(cat "$T/restore.err" "$w.out")"; return; }
	why=$(python3 tests/json_check.py restore "$T/restore.json" "$PID" 2>&1) || { fail json-dump-restore "restore: $why"; return; }
	pass json-dump-restore
}

t_json_error() {
	local w=$T/je why
	start_prog sock_refuse "$w" netlink || { fail json-error "sock_refuse did not start"; return; }
	"$FERRY" dump -t "$PID" -D "$T/je-img" --json >"$T/err.json" 2>"$T/err.err"
	rc=$?
	: >"$w/go"
	[ "$rc" = 1 ] || { fail json-error "dump exited $rc"; kill -9 "$PID"; return; }
	why=$(python3 tests/json_check.py error "$T/err.json" "$PID" 42 "$(sed -n 's/^ferry dump: //p' "$T/err.err")" 2>&1) ||
		{ fail json-error "$why"; kill -9 "$PID"; return; }
	pass json-error
}

t_json_check() {
	local rc why
	"$FERRY" check --json >"$T/check.json" 2>"$T/check.err"
	rc=$?
	why=$(python3 tests/json_check.py check "$T/check.json" "$rc" 2>&1) || { fail json-check "$why"; return; }
	grep -qv '^{' "$T/check.json" && { fail json-check "a line that is not JSON: $(grep -v '^{' "$T/check.json" | head -1)"; return; }
	pass json-check
}

t_libferry() {
	local d=$T/lroot p=/usr/local flags w=$T/lc why
	make -s install DESTDIR="$d" >"$T/linstall.log" 2>&1 || { fail libferry "make install: $(tail -3 "$T/linstall.log")"; return; }
	flags=$(PKG_CONFIG_PATH="$d$p/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$d" pkg-config --cflags --libs ferry 2>&1) ||
		{ fail libferry "pkg-config: $flags"; return; }
	# shellcheck disable=SC2086 # flags are words
	gcc -std=gnu11 -Wall -Wextra -Werror -o "$T/api" tests/lib/api.c $flags >"$T/cc.log" 2>&1 ||
		{ fail libferry "cc $flags: $(head -5 "$T/cc.log")"; return; }
	readelf -d "$T/api" | grep -q 'NEEDED.*\[libferry.so.0\]' || { fail libferry "the test program does not link libferry.so.0"; return; }
	why=$(nm -D --defined-only "$d$p/lib/libferry.so.0" | awk '$2 == "T" && $3 !~ /^ferry_/ { print $3 }')
	[ -z "$why" ] || { fail libferry "libferry exports more than ferry_*: $why"; return; }
	start_prog counter "$w" || { fail libferry "counter did not start"; return; }
	local cp=$PID
	start_prog sock_refuse "$T/lr" netlink || { fail libferry "sock_refuse did not start"; kill -9 "$cp"; return; }
	local rp=$PID
	LD_LIBRARY_PATH="$d$p/lib" "$T/api" "$cp" "$w" "$T/lc-img" "$rp" >"$T/api.out" 2>"$T/api.err"
	rc=$?
	: >"$T/lr/go"
	kill -9 "$cp" 2>/dev/null
	[ "$rc" = 0 ] || { fail libferry "$(grep FAIL "$T/api.out") (exit $rc; $(tail -3 "$T/api.err"))"; return; }
	pass libferry
}

t_man_options
t_install
t_libferry
t_json_dump_restore
t_json_error
t_json_check
[ -n "${FERRY_PKG_NODEB:-}" ] || t_deb
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" = 0 ]
