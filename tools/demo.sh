#!/bin/sh
# make demo: start a local server on a free port, run the example against it, stop it.
set -eu
cd "$(dirname "$0")/.."
portfile=$(mktemp)
build/bin/iblai spec/support/server.lua > "$portfile" &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$portfile"' EXIT
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$portfile" ] && break; sleep 0.2; done
port=$(awk '{print $2}' "$portfile")
echo "demo server on http://127.0.0.1:$port"
IBLAI_BASE_URL="http://127.0.0.1:$port" IBLAI_API_KEY=demo-key IBLAI_ORG=main IBLAI_USERNAME=demo \
  build/bin/iblai examples/hello.lua
