#!/usr/bin/env bash
# tests/net/hosts.sh up|down|status - simulated hosts for ferry's network tests.
#
# Each host is a network namespace; the hosts are joined by a bridge that
# lives in a namespace of its own, so nothing in the root namespace (its
# interfaces, addresses, routes, firewall) is touched:
#
#   ferry-a  eth0 10.77.0.1/24    fd77::1/64     host A (source)
#   ferry-b  eth0 10.77.0.2/24    fd77::2/64     host B (destination)
#   ferry-c  eth0 10.77.0.100/24  fd77::100/64   host C (clients)
#   ferry-br br0 with ports veth-a, veth-b, veth-c (no addresses)
#
# Only the connected routes of 10.77.0.0/24 and fd77::/64 exist in the hosts
# (no default route): nothing can be routed out of these namespaces.
# IPv6 addresses are added with nodad (and DAD is off in the hosts), so they
# are usable at once.  `up` first runs `down`; `down` is idempotent.
# The namespaces appear as /run/netns/NAME (what `ferry restore --netns`
# takes).
# FERRY_NET_PREFIX=P names them P-a, P-b, P-c, P-br instead (default
# "ferry"), e.g. to keep a second set of hosts apart from one in use.

set -u
HOSTS=(a b c)
declare -A V4=([a]=10.77.0.1 [b]=10.77.0.2 [c]=10.77.0.100)
declare -A V6=([a]=fd77::1 [b]=fd77::2 [c]=fd77::100)
PFX=${FERRY_NET_PREFIX:-ferry}
case $PFX in
*[!a-z0-9_.-]* | '') echo "hosts.sh: bad FERRY_NET_PREFIX '$PFX'" >&2; exit 2 ;;
esac
BR=$PFX-br
ALL=("$PFX-a" "$PFX-b" "$PFX-c" "$BR")

die() { echo "hosts.sh: $*" >&2; exit 1; }

# run a command inside namespace $1 (only its network namespace)
inns() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" -- "$@"
}

down() {
	local ns
	for ns in "${ALL[@]}"; do
		if [ -e "/run/netns/$ns" ]; then
			ip netns del "$ns" 2>/dev/null || die "cannot delete netns $ns"
		fi
	done
	return 0
}

up() {
	down
	local ns h
	for ns in "${ALL[@]}"; do
		ip netns add "$ns" || die "cannot create netns $ns"
	done
	# the switch
	ip -n $BR link set lo up || die "$BR: lo up"
	ip -n $BR link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0 ||
		die "$BR: cannot create br0"
	inns $BR sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
		>/dev/null 2>&1 # the switch has no addresses, not even link-local ones
	ip -n $BR link set br0 up || die "$BR: br0 up"
	for h in "${HOSTS[@]}"; do
		ns=$PFX-$h
		# the veth pair is created in the bridge namespace and its peer goes
		# straight into the host: it never exists in the root namespace
		ip -n $BR link add "veth-$h" type veth peer name eth0 netns "$ns" ||
			die "cannot create the veth pair of $ns"
		ip -n $BR link set "veth-$h" master br0 || die "cannot attach veth-$h to br0"
		ip -n $BR link set "veth-$h" up || die "veth-$h up"
		inns "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
			net.ipv6.conf.eth0.accept_dad=0 net.ipv6.conf.all.accept_ra=0 \
			net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.eth0.accept_ra=0 >/dev/null ||
			die "$ns: sysctl"
		ip -n "$ns" link set lo up || die "$ns: lo up"
		ip -n "$ns" addr add "${V4[$h]}/24" dev eth0 || die "$ns: addr ${V4[$h]}"
		ip -n "$ns" -6 addr add "${V6[$h]}/64" dev eth0 nodad || die "$ns: addr ${V6[$h]}"
		ip -n "$ns" link set eth0 up || die "$ns: eth0 up"
	done
	# wait (at most 5 s) until every host's eth0 carrier is up
	local n=100 ok
	while :; do
		ok=1
		for h in "${HOSTS[@]}"; do
			grep -q 'state UP' < <(ip -n "$PFX-$h" link show eth0) || ok=0
		done
		[ $ok = 1 ] && break
		n=$((n - 1))
		[ $n -gt 0 ] || die "eth0 not up in every host after 5 s"
		sleep 0.05
	done
	return 0
}

status() {
	local ns
	for ns in "${ALL[@]}"; do
		echo "== $ns"
		ip -n "$ns" -br addr 2>/dev/null || echo "(missing)"
	done
}

[ "$(id -u)" = 0 ] || die "must run as root"
case ${1:-} in
up) up ;;
down) down ;;
status) status ;;
*) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
