#!/usr/bin/env bash
# Installs the Debian packages ferry builds and tests with, when missing.  Idempotent.
set -e
pkgs="gcc make libc6-dev libjansson-dev libxxhash-dev libsodium-dev nftables iproute2 python3 bc"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing" >&2
if [ "$(id -u)" != 0 ]; then echo "deps: need root to install$missing" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq $missing >/dev/null
