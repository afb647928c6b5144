#!/bin/sh
# make bench: every measurement in one run, against servers on 127.0.0.1, printed as ratios
# against a plain C libcurl baseline (sending the same requests) or a peer client.
# Rounds are interleaved and the best of three is kept, to damp the noise of shared machines.
set -eu
cd "$(dirname "$0")/.."
out=$(mktemp -d)
pids=""
trap 'kill $pids 2>/dev/null; rm -rf "$out"' EXIT

# start NAME ARGS...: runs `iblai ARGS`, waits for its "port N pid P" line, sets $url
start() {
  name=$1
  shift
  build/bin/iblai "$@" > "$out/$name" &
  pids="$pids $!"
  for _ in $(seq 1 50); do [ -s "$out/$name" ] && break; sleep 0.1; done
  url="http://127.0.0.1:$(awk '{print $2}' "$out/$name")"
}
best() { tr ' ' '\n' | sort -n | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

cc -O2 bench/plain.c $(pkg-config --cflags --libs libcurl) -o "$out/plain"
cc -O2 bench/multi.c $(pkg-config --cflags --libs libcurl) -o "$out/multi"
start test spec/support/server.lua
test_url=$url
start bench bench/server.lua
bench_url=$url
start sandbox sandbox --quiet --today 2026-11-24
sandbox_url=$url

N=${BENCH_N:-5000}
D=${BENCH_DELETES:-20000}
plain="" sdk="" walk="" ts="" multi="" many=""
for _ in 1 2 3; do
  plain="$plain $("$out/plain" "$test_url/ids" "$N")"
  sdk="$sdk $(build/bin/iblai bench/sequential.lua "$test_url" /ids "$N")"
  walk="$walk $(build/bin/iblai bench/walk.lua "$bench_url")"
  ts="$ts $(node bench/walk_ts.mjs "$bench_url")"
  multi="$multi $("$out/multi" "$bench_url" "$D" 32)"
  many="$many $(build/bin/iblai bench/deletes.lua "$bench_url" "$D" 32)"
done
plain=$(echo $plain | best) sdk=$(echo $sdk | best) walk=$(echo $walk | best) ts=$(echo $ts | best)
multi=$(echo $multi | best) many=$(echo $many | best)

echo "sequential small GETs, $N per round (requests/s):"
printf '  plain C libcurl loop      %10.1f\n' "$plain"
printf '  iblai client:request      %10.1f   ratio %sx (target >= 0.85x)\n' "$sdk" "$(ratio "$sdk" "$plain")"
echo "walking 100 pages of 100 items (items/s):"
printf '  TypeScript @iblai/iblai-api, page by page %10.1f\n' "$ts"
printf '  iblai client:each         %10.1f   ratio %sx (target >= 3x)\n' "$walk" "$(ratio "$walk" "$ts")"
echo "$D DELETEs at concurrency 32 (requests/s):"
printf '  plain C libcurl multi     %10.1f\n' "$multi"
printf '  iblai client:call_many    %10.1f   ratio %sx (target >= 0.75x)\n' "$many" "$(ratio "$many" "$multi")"

set -- $(build/bin/iblai bench/million.lua "$bench_url")
echo "client:each over $1 items: peak resident memory $2 MB (target < 64 MB)"

user=$(curl -s -H "Authorization: Api-Token bench" "$sandbox_url/api/core/platform/users/?page_size=1" |
  sed 's/.*"username":"\([^"]*\)".*/\1/')
rps=$(wrk -t2 -c16 -d5s -H "Authorization: Api-Token bench" \
  "$sandbox_url/api/ai-mentor/orgs/main/users/$user/custom-instruction/" | awk '/Requests\/sec/ { print $2 }')
printf 'sandbox, small GET over 16 keep-alive connections (wrk, 5 s): %.1f requests/s (target >= 10000)\n' "$rps"

# Memory reset of 1,000 sandbox users, all stores, every answer 20 ms late: at concurrency 16,
# and one request at a time on the first $S users of an identical sandbox (the whole 1,000 would
# take minutes; the per-user rate is what is compared).
S=${BENCH_RESET_SEQ:-100}
start reset16 sandbox --quiet --today 2026-11-24 --users 1000 --latency 20
set -- $(build/bin/iblai bench/memory_reset.lua "$url" 16)
fast=$1
echo "memory reset, all stores, sandbox --latency 20 (users/s):"
printf '  --concurrency 16, %d users (%d items deleted in %.1f s) %8.2f\n' "$2" "$3" "$4" "$fast"
start reset1 sandbox --quiet --today 2026-11-24 --users 1000 --latency 20
set -- $(build/bin/iblai bench/memory_reset.lua "$url" 1 "$S")
printf '  one request at a time, first %d users (%d items in %.1f s) %8.2f   ratio %sx (target >= 10x)\n' \
  "$2" "$3" "$4" "$1" "$(ratio "$fast" "$1")"
