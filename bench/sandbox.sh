#!/bin/sh
# make bench, the sandbox at an org's size: how long `--users 20000` takes to listen and what it
# holds; each route over 16 keep-alive connections (wrk) at 50 and at 20,000 users, side by side
# (best of BENCH_SANDBOX_ROUNDS interleaved rounds); a memory reset of all 20,000 users at
# --concurrency 16, timed, with the CPU each side spent, and checked by a dry run afterwards.
set -eu
cd "$(dirname "$0")/.."
out=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$out"' EXIT
trap 'exit 1' INT TERM HUP PIPE # so that the sandboxes are stopped also when, say, `| head` closes the output

# start NAME ARGS...: a sandbox; sets $url, $pid and $took (seconds until it listened)
start() {
  name=$1
  shift
  t0=$(date +%s.%N)
  build/bin/iblai sandbox --quiet --today 2026-11-24 "$@" > "$out/$name" &
  pids="$pids $!"
  for _ in $(seq 1 1000); do [ -s "$out/$name" ] && break; sleep 0.01; done
  took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  url="http://127.0.0.1:$(awk '{print $2}' "$out/$name")"
  pid=$(awk '{print $4}' "$out/$name")
}
mb() { awk -v k="$2:" '$1 == k { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
cpu() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }
rps() { wrk -t2 -c16 -d"${BENCH_SANDBOX_SECONDS:-2}"s -H "Authorization: Api-Token bench" "$1" |
  awk '/Requests\/sec/ { print $2 }'; }
best() { tr ' ' '\n' | grep . | sort -n | tail -1; }

start small --users 50
small=$url
start large --users 20000
large=$url large_pid=$pid
echo "iblai sandbox --users 20000: listening after $took s (target <= 3 s), $(mb "$pid" VmRSS) MB resident (target < 200 MB)"

build/bin/iblai bench/sandbox_routes.lua "$small" > "$out/routes"
echo "the sandbox, one user's routes over 16 keep-alive connections (wrk, requests/s, best of ${BENCH_SANDBOX_ROUNDS:-3}):"
printf '  %-28s %10s %10s %7s\n' route "50 users" "20,000" ratio
slowest_page=""
while IFS="$(printf '\t')" read -r label path; do
  a="" b=""
  for _ in $(seq 1 "${BENCH_SANDBOX_ROUNDS:-3}"); do
    a="$a $(rps "$small$path")"
    b="$b $(rps "$large$path")"
  done
  a=$(echo "$a" | best) b=$(echo "$b" | best)
  printf '  %-28s %10.0f %10.0f %6.2fx\n' "$label" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { print b / a }')"
  case "$label" in "artifacts, a page of 10") slowest_page="$a $b" ;; esac
done < "$out/routes"
set -- $slowest_page
echo "  target: every route >= 0.8x at 20,000 users; a page of 10 artifacts >= 10000 at both ($1 and $2)"
echo "  * an analytics report reads every conversation of its date range (through a time index): it grows with the org's activity"

c0=$(cpu "$large_pid")
t0=$(date +%s.%N)
IBLAI_BASE_URL=$large IBLAI_API_KEY=bench IBLAI_ORG=main /usr/bin/time -f "%U %S" -o "$out/client" \
  build/bin/iblai memory-reset --all --concurrency 16 --yes --quiet --json > "$out/reset.json"
elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
server_cpu=$(awk -v a="$c0" -v b="$(cpu "$large_pid")" 'BEGIN { printf "%.1f", b - a }')
client_cpu=$(awk '{ printf "%.1f", $1 + $2 }' "$out/client")
deleted=$(sed 's/.*"deleted":{\([^}]*\)}.*/\1/' "$out/reset.json" | tr ',' '\n' | awk -F: '{ n += $2 } END { print n }')
failed=$(grep -c '"failed":\[\]' "$out/reset.json" || true)
IBLAI_BASE_URL=$large IBLAI_API_KEY=bench IBLAI_ORG=main \
  build/bin/iblai memory-reset --all --concurrency 16 --yes --quiet --json --dry-run > "$out/left.json"
left=$(sed 's/.*"would_delete":{\([^}]*\)}.*/\1/' "$out/left.json" | tr ',' '\n' | awk -F: '{ n += $2 } END { print n }')
echo "iblai memory-reset --all of 20,000 sandbox users at --concurrency 16: $elapsed s, $deleted items deleted" \
  "($([ "$failed" = 1 ] && echo "none failed" || echo "SOME FAILED")), $left left (a dry run after it)"
echo "  CPU: the client $client_cpu s, the sandbox $server_cpu s; the sandbox then holds $(mb "$large_pid" VmRSS) MB" \
  "(peak $(mb "$large_pid" VmHWM) MB)"
