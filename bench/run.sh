#!/bin/sh
# make bench: the same requests against the same local server, through a plain C libcurl
# loop and through the SDK, printed as ratios. Best of three rounds each, interleaved.
set -eu
cd "$(dirname "$0")/.."
N=${BENCH_N:-5000}
out=$(mktemp -d)
cc -O2 bench/plain.c $(pkg-config --libs --cflags libcurl) -o "$out/plain"
build/bin/iblai spec/support/server.lua > "$out/port" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$out"' EXIT
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$out/port" ] && break; sleep 0.2; done
base="http://127.0.0.1:$(awk '{print $2}' "$out/port")"

best() { sort -n | tail -1; }
plain="" sdk=""
for _ in 1 2 3; do
  plain="$plain $("$out/plain" "$base/ids" "$N")"
  sdk="$sdk $(build/bin/iblai bench/sequential.lua "$base" /ids "$N")"
done
p=$(echo $plain | tr ' ' '\n' | best)
s=$(echo $sdk | tr ' ' '\n' | best)
echo "sequential small GETs, $N per round, best of 3 (requests/s):"
printf '  plain C libcurl loop   %10.1f\n' "$p"
printf '  iblai client:request   %10.1f\n' "$s"
awk -v s="$s" -v p="$p" 'BEGIN { printf "  ratio sdk/plain        %10.2fx   (target >= 0.85x)\n", s / p }'

# The sandbox's throughput: a small GET over 16 keep-alive connections (wrk), target >= 10,000/s.
build/bin/iblai sandbox --quiet --today 2026-11-24 > "$out/sandbox" &
sandbox=$!
trap 'kill $server $sandbox 2>/dev/null; rm -rf "$out"' EXIT
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$out/sandbox" ] && break; sleep 0.2; done
sb="http://127.0.0.1:$(awk '{print $2}' "$out/sandbox")"
user=$(curl -s -H "Authorization: Api-Token bench" "$sb/api/core/platform/users/?page_size=1" |
  sed 's/.*"username":"\([^"]*\)".*/\1/')
rps=$(wrk -t2 -c16 -d5s -H "Authorization: Api-Token bench" \
  "$sb/api/ai-mentor/orgs/main/users/$user/custom-instruction/" | awk '/Requests\/sec/ { print $2 }')
echo "sandbox, small GET, 16 keep-alive connections, 5 s (wrk):"
printf '  requests/s             %10.1f   (target >= 10000)\n' "$rps"
