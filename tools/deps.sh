#!/bin/sh
# Installs the Debian packages the project needs (as root), or prints the apt-get line.
set -eu
pkgs="lua5.4 liblua5.4-dev libcurl4-openssl-dev lua-cjson lua-busted lua-check lua-argparse lua-yaml
libmicrohttpd-dev luarocks valgrind pkg-config make gcc curl wrk"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "installing:$missing"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
else
  echo "missing Debian packages; run:" >&2
  echo "  sudo apt-get install -y$missing" >&2
  exit 1
fi
