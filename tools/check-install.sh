#!/bin/sh
# make install into a scratch prefix, then build the embedding examples with pkg-config alone,
# run them from elsewhere against the installed program's sandbox, and run the installed
# program and modules.
set -eu
prefix=$(mktemp -d)
sandbox=""
trap 'kill $sandbox 2>/dev/null; rm -rf "$prefix"' EXIT
make --no-print-directory -s install PREFIX="$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc examples/embed/host.c $(pkg-config --cflags --libs iblai) -o "$prefix/host"
cc examples/embed/users_from_host.c $(pkg-config --cflags --libs iblai) -o "$prefix/users_from_host"
cd "$prefix"
"$prefix/bin/iblai" sandbox --quiet --today 2026-11-24 > sandbox.txt &
sandbox=$!
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do [ -s sandbox.txt ] && break; sleep 0.25; done
export IBLAI_BASE_URL="http://127.0.0.1:$(awk '{print $2}' sandbox.txt)" IBLAI_API_KEY=any IBLAI_ORG=main
export LD_LIBRARY_PATH="$prefix/lib"
./host | grep -q "^iblai .*: 50 users in org main"
./users_from_host | grep -q "^reset 3 users: .* 0 failed$"
"$prefix/bin/iblai" --version | grep -q "^iblai "
test -f "$prefix/share/lua/5.4/iblai/types/iblai.lua" && test -f "$prefix/share/lua/5.4/iblai/types/iblai_calls.lua"
LUA_CPATH="$prefix/lib/lua/5.4/?.so;;" LUA_PATH="$prefix/share/lua/5.4/?.lua;$prefix/share/lua/5.4/?/init.lua;;" \
  lua5.4 -e 'require "iblai"; print("installed modules load")'
