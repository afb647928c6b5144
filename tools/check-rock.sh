#!/bin/sh
# Builds and installs the rock offline into a scratch tree, then loads it from there.
set -eu
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
# Debian keeps curl.h under the multiarch include directory, which luarocks does not search.
multiarch=$(cc -print-multiarch)
luarocks --lua-version 5.4 make --deps-mode=none --tree "$tree" rockspec/iblai-scm-1.rockspec \
  CURL_INCDIR="/usr/include/$multiarch" CURL_LIBDIR="/usr/lib/$multiarch" >"$tree/log" 2>&1 ||
  { cat "$tree/log"; exit 1; }
cd "$tree"
LUA_PATH="$tree/share/lua/5.4/?.lua;$tree/share/lua/5.4/?/init.lua;;" LUA_CPATH="$tree/lib/lua/5.4/?.so;;" \
  lua5.4 -e 'local i = require "iblai"; assert(package.searchpath("iblai.core", package.cpath):find("'"$tree"'", 1, true)); print("rock loads: iblai " .. i.version)'
