#!/bin/sh
# make install into a scratch prefix, then build the embedding example with pkg-config alone
# and run the installed program from elsewhere.
set -eu
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
make --no-print-directory -s install PREFIX="$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc examples/embed/host.c $(pkg-config --cflags --libs iblai) -o "$prefix/host"
cd "$prefix"
LD_LIBRARY_PATH="$prefix/lib" ./host | grep -q "^iblai "
"$prefix/bin/iblai" --version | grep -q "^iblai "
LUA_CPATH="$prefix/lib/lua/5.4/?.so;;" LUA_PATH="$prefix/share/lua/5.4/?.lua;$prefix/share/lua/5.4/?/init.lua;;" \
  lua5.4 -e 'require "iblai"; print("installed modules load")'
