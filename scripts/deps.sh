#!/usr/bin/env bash
# Installs the Debian packages ferry builds and tests with, when missing.  Idempotent.
# The real servers of tests/real (redis, memcached, nginx, a JDK) are only
# installed, never started: tests/real/run.sh starts its own instances.
set -e
pkgs="gcc make libc6-dev libjansson-dev libxxhash-dev libsodium-dev nftables iproute2 python3 bc"
# man pages (scdoc), and man to check they render; the Debian package (issue 17)
pkgs="$pkgs scdoc man-db groff-base dpkg-dev debhelper fakeroot lintian pkgconf"
# clang with libFuzzer and its sanitizer runtimes: the fuzz targets (fuzz/)
pkgs="$pkgs clang libclang-rt-dev"
pkgs="$pkgs redis-server redis-tools memcached nginx openjdk-17-jdk-headless"
pkgs="$pkgs dnsmasq-base tmux less bsdutils"	# tests/run.sh dnsmasq; tests/real/tmux.sh (script is bsdutils')
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing" >&2
if [ "$(id -u)" != 0 ]; then echo "deps: need root to install$missing" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
# a server package's postinst starts its service through invoke-rc.d unless
# /usr/sbin/policy-rc.d says no (exit 101): while we install, it says no, so
# no redis, memcached or nginx of the distribution runs on this host
policy=/usr/sbin/policy-rc.d
ours=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# scripts/deps.sh: no service starts while ferry installs its deps\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	ours=1
fi
trap '[ -n "$ours" ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
