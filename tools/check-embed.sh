#!/bin/sh
# The embedding examples against libiblai, each run from an empty directory (so nothing can come
# from disk): examples/embed/host.c, built against the static and the shared library, against
# the sandbox (exit 0 with the answer; exit 1 for a wrong key and for a server that is not
# there); examples/embed/users_from_host.c resetting its users in restricted mode, twice, and
# refusing a script that reaches for a program; several lua_States on several threads.
set -eu
root=$(pwd)
out=$(mktemp -d)
sandbox="" server=""
trap 'kill $sandbox $server 2>/dev/null; rm -rf "$out"' EXIT
cflags="-Wall -Wextra -Werror -Isrc $(pkg-config --cflags lua5.4)"
static="build/lib/libiblai.a $(pkg-config --libs libcurl lua5.4) -lm -lpthread"
cc $cflags examples/embed/host.c $static -o "$out/host-static"
cc $cflags examples/embed/host.c -Lbuild/lib -liblai $(pkg-config --libs lua5.4) -o "$out/host-shared"
cc $cflags examples/embed/users_from_host.c $static -o "$out/users_from_host"
cc $cflags examples/embed/threads.c $static -o "$out/threads"

build/bin/iblai sandbox --quiet --today 2026-11-24 --api-key sandbox-key > "$out/sandbox" &
sandbox=$!
build/bin/iblai spec/support/server.lua > "$out/server" &
server=$!
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
  [ -s "$out/sandbox" ] && [ -s "$out/server" ] && break
  sleep 0.25
done
export IBLAI_BASE_URL="http://127.0.0.1:$(awk '{print $2}' "$out/sandbox")" IBLAI_API_KEY=sandbox-key IBLAI_ORG=main
cd "$out"
./host-static | tee static.txt
LD_LIBRARY_PATH="$root/build/lib" ./host-shared | tee shared.txt
grep -q "^iblai .*: 50 users in org main; the first is " static.txt
cmp static.txt shared.txt
if IBLAI_API_KEY=wrong ./host-static 2>wrong.txt; then echo "host: a wrong key exited 0"; exit 1; fi
grep -q "HTTP 401" wrong.txt
if IBLAI_BASE_URL=http://127.0.0.1:1 ./host-static 2>dead.txt; then echo "host: a dead server exited 0"; exit 1; fi
grep -q "check that base_url (IBLAI_BASE_URL) is right" dead.txt

./users_from_host | tee reset1.txt
grep -q "^reset 3 users: .* 0 failed$" reset1.txt
./users_from_host | tee reset2.txt
grep -q "^reset 3 users: 0 chats, 0 prompt, 0 edx, 0 profile and 0 mentor memories deleted; 15 stores already empty, 0 failed$" reset2.txt
echo 'os.execute("touch escaped")' > evil.lua
if ./users_from_host evil.lua 2>evil.txt; then echo "users_from_host: a script ran a program"; exit 1; fi
grep -q "attempt to call a nil value (field 'execute')" evil.txt
[ ! -e escaped ]

./threads "http://127.0.0.1:$(awk '{print $2}' server)"
