#!/bin/sh
# Runs every test and check of the project and ends with the line "N passed, N failed".
# --fast skips the valgrind pass and the rock build.
set -u
cd "$(dirname "$0")/.."
fast=${1:-}
passed=0
failed=0
counts=$(mktemp)
trap 'rm -f "$counts"' EXIT

# Each busted spec counts once.
specs() {
  label=$1
  shift
  echo "== $label"
  : > "$counts"
  "$@" lua5.4 /usr/bin/busted -o spec/support/output.lua
  rc=$?
  if [ -s "$counts" ]; then
    read -r p f < "$counts"
  else
    p=0 f=1 # busted died before reporting
  fi
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
  passed=$((passed + p))
  failed=$((failed + f))
}

# Each check counts once.
check() {
  label=$1
  shift
  echo "== $label"
  if "$@"; then
    passed=$((passed + 1))
    echo "ok: $label"
  else
    failed=$((failed + 1))
    echo "FAILED: $label"
  fi
}

specs "busted specs" env IBLAI_COUNTS="$counts"
check "embedding: examples/embed (host.c, users_from_host.c, threads.c) against libiblai and the sandbox" \
  sh tools/check-embed.sh
check "make install, the examples built with pkg-config alone against the installed sandbox" sh tools/check-install.sh
check "luacheck" luacheck -q lua spec tools bench examples
check "make docs: the reference builds without a warning, every public function in it" sh tools/check-docs.sh
check "C builds warning-free (-Wall -Wextra -Werror)" \
  make --no-print-directory -s B=build/werror OPT=-O1 WARN="-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror" all
if [ "$fast" != "--fast" ]; then
  check "the rock from a fresh clone: luarocks make, the program in bin/, Ctrl-C, a source rock offline" sh tools/check-rock.sh
  vg="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --suppressions=tools/valgrind.supp"
  specs "busted specs under valgrind (client and servers)" \
    env IBLAI_COUNTS="$counts" IBLAI_TEST_WRAPPER="$vg" IBLAI_SLOW=1 $vg
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
