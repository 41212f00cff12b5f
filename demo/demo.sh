#!/usr/bin/env bash
# make demo: move a running key-value server to a host with another IP
# address while clients keep using it.  Hosts are network namespaces made
# here (tests/net/hosts.sh); host B has a PID namespace of its own, as a
# second machine would.  Everything is cleaned up at the end.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
FERRY=$ROOT/ferry
export FERRY_NET_PREFIX=fdemo
A=fdemo-a B=fdemo-b C=fdemo-c
W=$(mktemp -d /tmp/ferry-demo.XXXXXX)
PIDS=()
cleanup() {
	: >"$W/stop"
	sleep 0.5
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	tests/net/hosts.sh down >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
step() { printf '   %s\n' "$*"; }

gcc -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o "$W/kvserver" demo/kvserver.c || exit 1
tests/net/hosts.sh up >/dev/null || { echo "demo: cannot create the simulated hosts"; exit 1; }
"$FERRY" keygen -o "$W/key"

say "1. Two hosts and a client, as network namespaces:"
step "host A 10.77.0.1   host B 10.77.0.2   client host 10.77.0.100"

say "2. Host A runs a key-value server bound to 10.77.0.1:7000"
ip netns exec $A "$W/kvserver" 10.77.0.1:7000 "$W/ready" </dev/null >/dev/null 2>&1 &
KV=$!
disown "$KV"	# it is killed by the migration: no job report for that
PIDS+=("$KV")
while [ ! -e "$W/ready" ]; do sleep 0.05; done
step "pid $KV"
ip netns exec $C bash -c 'exec 3<>/dev/tcp/10.77.0.1/7000; for i in $(seq 1 500); do echo "SET city$i value-of-city-$i" >&3; read -r r <&3; done'
step "it holds 500 keys written by an earlier client"

say "3. Host B waits for migrations: ferry serve (in a PID namespace of its own)"
ip netns exec $B unshare --pid --fork --kill-child --mount-proc bash -c \
	"$FERRY serve --listen 10.77.0.2:9000 --key $W/key --once >$W/serve.out 2>&1; sleep 3600" </dev/null >/dev/null 2>&1 &
PIDS+=($!)
while ! grep -q serving "$W/serve.out" 2>/dev/null; do sleep 0.05; done
step "listening on 10.77.0.2:9000, with the pre-shared key made by ferry keygen"

say "4. Two clients write and read continuously; they know both addresses"
client() { # NAME
	ip netns exec $C bash -c '
		name=$0 w=$1 addrs=(10.77.0.1 10.77.0.2) cur=0 n=0 bad=0
		while [ ! -e "$w/stop" ]; do
			if ! exec 3<>/dev/tcp/${addrs[cur]}/7000; then cur=$(((cur + 1) % 2)); sleep 0.1; continue; fi 2>/dev/null
			echo "   [$name] connected to ${addrs[cur]}:7000"
			while [ ! -e "$w/stop" ]; do
				n=$((n + 1))
				printf "SET %s-%d v%d\n" $name $n $n >&3 2>/dev/null && read -r -t 2 r <&3 || {
					echo "   [$name] connection to ${addrs[cur]} reset; reconnecting"; n=$((n - 1)); break; }
				printf "GET city%d\n" $(( (n % 500) + 1 )) >&3 2>/dev/null && read -r -t 2 r <&3 || {
					echo "   [$name] connection to ${addrs[cur]} reset; reconnecting"; break; }
				[ "$r" = "VALUE value-of-city-$(( (n % 500) + 1 ))" ] || bad=$((bad + 1))
				sleep 0.05
			done
			exec 3<&- 2>/dev/null
			cur=$(((cur + 1) % 2))
		done
		echo "   [$name] wrote $n keys, $bad wrong reads"; echo "$n" >"$w/$name.count"' "$1" "$W" 2>/dev/null &
	PIDS+=($!)
}
client alice
client bob
sleep 2

say "5. ferry migrate -t $KV --to 10.77.0.2:9000 --key KEY --ip-map auto   (run on host A)"
ip netns exec $A "$FERRY" migrate -t "$KV" --to 10.77.0.2:9000 --key "$W/key" --ip-map auto 2>&1 | sed 's/^/   /'
sleep 2

say "6. On host B the same process (pid $KV) serves on 10.77.0.2 with all its data"
ip netns exec $C bash -c 'exec 3<>/dev/tcp/10.77.0.2/7000; echo COUNT >&3; read -r r <&3; echo "   COUNT -> $r";
	echo "GET city42" >&3; read -r r <&3; echo "   GET city42 -> $r"; echo STATS >&3; read -r r <&3; echo "   STATS -> $r"'
step "old host A: pid $KV $( [ -e /proc/$KV ] && echo 'still exists?!' || echo 'is gone')"
: >"$W/stop"
sleep 1
total=0
for n in alice bob; do total=$((total + $(cat "$W/$n.count" 2>/dev/null || echo 0))); done
got=$(ip netns exec $C bash -c 'exec 3<>/dev/tcp/10.77.0.2/7000; echo COUNT >&3; read -r r <&3; echo ${r#COUNT }')
step "the clients wrote $total keys; the server on B holds $got keys (500 + theirs)"

say "7. Cleaning up"
