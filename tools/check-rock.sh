#!/bin/sh
# The rock as a new Lua user meets it, from a fresh clone of HEAD (not the working tree, and with
# no ../shared beside it): luarocks make with no extra variables, then with a caller's CFLAGS;
# the modules, the program in the tree's bin/ against its sandbox, the editor definitions,
# Ctrl-C under plain lua5.4; and a source rock (make rock) installed into an empty tree with no
# network.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
sandbox=""
trap '[ -z "$sandbox" ] || kill $sandbox 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "check-rock: $*" >&2; exit 1; }
rocks() { luarocks --lua-version 5.4 "$@" >"$work/log" 2>&1 || { cat "$work/log" >&2; fail "luarocks $* failed"; }; }

git clone -q "$root" "$work/iblai"
git -C "$work/iblai" checkout -q "$(git -C "$root" rev-parse HEAD)"
cd "$work/iblai"

rocks make --deps-mode=none --tree "$work/tree" rockspec/iblai-scm-1.rockspec
git clean -qfdx
rocks make --deps-mode=none --tree "$work/flags" rockspec/iblai-scm-1.rockspec CFLAGS="-O1 -DCALLER_FLAG"
grep -q "^gcc .*-O1 -DCALLER_FLAG .*-fPIC -I/usr/include/lua5.4" "$work/log" || fail "the caller's CFLAGS were not used: $(grep -m1 '^gcc' "$work/log")"
tree="$work/tree"

# The modules load from the tree; the program's own are built into it, not in the tree.
export LUA_PATH="$tree/share/lua/5.4/?.lua;$tree/share/lua/5.4/?/init.lua;;" LUA_CPATH="$tree/lib/lua/5.4/?.so;;"
TREE="$tree" lua5.4 -e '
  local tree = os.getenv("TREE")
  require "iblai"
  assert(package.searchpath("iblai.core", package.cpath):find(tree, 1, true))
  for _, m in ipairs { "iblai.workflows.memory_reset", "iblai.workflows.chat_export", "iblai.workflows.cohort_report",
    "iblai.render.html" } do assert(require(m)) end
  for _, m in ipairs { "iblai.cli", "iblai.sandbox" } do assert(not package.searchpath(m, package.path), m) end' ||
  fail "the rock's modules do not load"
for f in iblai.lua iblai_calls.lua iblai_operations/ai_mentor.lua; do
  [ -f "$tree/share/lua/5.4/iblai/types/$f" ] || fail "types/$f is not installed"
done

# The program from the tree's bin/: its sandbox, a command, and a plain lua5.4 script using the rock.
"$tree/bin/iblai" --version | grep -q "^iblai " || fail "bin/iblai --version"
"$tree/bin/iblai" sandbox --quiet --today 2026-11-24 >"$work/sandbox.txt" &
sandbox=$!
for _ in $(seq 100); do [ -s "$work/sandbox.txt" ] && break; sleep 0.1; done
export IBLAI_BASE_URL="http://127.0.0.1:$(awk '{print $2}' "$work/sandbox.txt")" IBLAI_API_KEY=any IBLAI_ORG=main
"$tree/bin/iblai" call core_platform_users_retrieve page_size=1 | grep -q '"count"' || fail "bin/iblai call"
lua5.4 -e 'local c = assert(require("iblai").from_env()); print(#assert(c:collect("core_platform_users_retrieve")))' |
  grep -qx 50 || fail "a lua5.4 script with the rock"
kill "$sandbox"
wait "$sandbox" || true
sandbox=""

# Ctrl-C under plain lua5.4 stops the rock's sleep at once, with lua5.4's own error.
lua5.4 -e 'io.stderr:write("ready\n"); require("iblai.core").sleep(30)' 2>"$work/int.txt" &
pid=$!
for _ in $(seq 100); do grep -q ready "$work/int.txt" && break; sleep 0.05; done
sleep 0.2
kill -INT $pid
start=$(date +%s)
wait $pid && fail "lua5.4 was not interrupted" || true
[ $(($(date +%s) - start)) -le 2 ] || fail "Ctrl-C took more than 2 s"
grep -q "^lua5.4: interrupted!" "$work/int.txt" || fail "no 'interrupted!': $(cat "$work/int.txt")"

# A source rock of HEAD installs into an empty tree without a network.
make -s rock >/dev/null
net=""
if unshare -n true 2>/dev/null; then net="unshare -n"; fi
$net luarocks --lua-version 5.4 install --deps-mode=none --tree "$work/offline" build/rock/iblai-scm-1.src.rock \
  >"$work/log" 2>&1 || { cat "$work/log" >&2; fail "the source rock did not install offline"; }
[ -x "$work/offline/bin/iblai" ] && [ -f "$work/offline/lib/lua/5.4/iblai/core.so" ] || fail "the source rock's files"
echo "rock: built from a fresh clone, program and sandbox run, Ctrl-C stops, source rock installs offline"
