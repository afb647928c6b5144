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
# What the rock says it holds (the client, the core, the workflows) loads from the tree; the
# modules that need the program are not in it.
LUA_PATH="$tree/share/lua/5.4/?.lua;$tree/share/lua/5.4/?/init.lua" LUA_CPATH="$tree/lib/lua/5.4/?.so;;" \
  lua5.4 -e '
    local i = require "iblai"
    assert(package.searchpath("iblai.core", package.cpath):find("'"$tree"'", 1, true))
    for _, m in ipairs { "iblai.workflows.memory_reset", "iblai.workflows.chat_export", "iblai.workflows.cohort_report",
      "iblai.render.html" } do assert(require(m)) end
    for _, m in ipairs { "iblai.cli", "iblai.cli.call", "iblai.sandbox", "iblai.sandbox.model" } do
      assert(not package.searchpath(m, package.path), m .. " is in the rock")
    end
    print("rock loads: iblai " .. i.version .. ", without the program'"'"'s modules")'
grep -q "make install" "$tree"/lib/luarocks/rocks-5.4/iblai/scm-1/iblai-scm-1.rockspec
