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
