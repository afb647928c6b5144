#!/bin/sh
# Builds examples/embed/host.c against the static and the shared library, runs both from
# an empty directory (so nothing can come from disk), and checks they reach a server;
# then runs several lua_States on several threads in one process.
set -eu
root=$(pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -Wall -Wextra -Werror -Isrc $(pkg-config --cflags lua5.4) examples/embed/host.c build/lib/libiblai.a \
  $(pkg-config --libs libcurl lua5.4) -lm -lpthread -o "$out/host-static"
cc -Wall -Wextra -Werror -Isrc $(pkg-config --cflags lua5.4) examples/embed/host.c -Lbuild/lib -liblai \
  $(pkg-config --libs lua5.4) -o "$out/host-shared"
cc -Wall -Wextra -Werror -Isrc $(pkg-config --cflags lua5.4) examples/embed/threads.c build/lib/libiblai.a \
  $(pkg-config --libs libcurl lua5.4) -lm -lpthread -o "$out/threads"
"$root/build/bin/iblai" "$root/spec/support/server.lua" > "$out/port" &
server=$!
sleep 0.5
port=$(awk '{print $2}' "$out/port")
cd "$out"
./host-static "http://127.0.0.1:$port" | tee "$out/static.txt"
LD_LIBRARY_PATH="$root/build/lib" ./host-shared "http://127.0.0.1:$port" | tee "$out/shared.txt"
./threads "http://127.0.0.1:$port"
kill "$server"
grep -q "^status 200$" "$out/static.txt"
grep -q "^status 200$" "$out/shared.txt"
