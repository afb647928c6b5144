#!/bin/sh
# make docs: the reference builds without a warning from LDoc, and every public function of the
# files it covers (config.ld: the iblai modules, the workflows, iblai.h) is in it.
set -eu
log=$(mktemp)
items=$(mktemp)
trap 'rm -f "$log" "$items"' EXIT
make --no-print-directory -s docs > "$log" 2>&1 || { cat "$log"; exit 1; }
# LDoc prints these two when it merges a module's files (calls.lua into iblai): not warnings.
if grep -v -e "^reading configuration from config.ld$" -e "^output written to " -e "^found master module" \
  -e "^\*\*\*closing section from master module\*\*\*$" "$log"; then
  echo "LDoc warned (above)"
  exit 1
fi
[ -s build/docs/index.html ]
LUA_PATH="tools/?.lua;;" ldoc --filter ldoc_items.list . > "$items" 2>/dev/null
lua5.4 tools/check-docs.lua "$items"
