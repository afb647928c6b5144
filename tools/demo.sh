#!/bin/sh
# make demo: start the sandbox on a free port, run the main example against it, write the
# cohort report (demo-out/cohort-report.html) and print it as Markdown, stop the sandbox.
set -eu
cd "$(dirname "$0")/.."
portfile=$(mktemp)
build/bin/iblai sandbox --quiet --seed 7 --users 60 > "$portfile" &
sandbox=$!
trap 'kill $sandbox 2>/dev/null; rm -f "$portfile"' EXIT
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do [ -s "$portfile" ] && break; sleep 0.2; done
port=$(awk '{print $2}' "$portfile")
echo "sandbox on http://127.0.0.1:$port"
admin=$(curl -s -H "Authorization: Api-Token demo" "http://127.0.0.1:$port/api/core/platform/users/?page_size=1" |
  sed 's/.*"username":"\([^"]*\)".*/\1/')
IBLAI_BASE_URL="http://127.0.0.1:$port" IBLAI_API_KEY=demo IBLAI_ORG=main IBLAI_USERNAME="$admin" \
  build/bin/iblai examples/org_overview.lua
export IBLAI_BASE_URL="http://127.0.0.1:$port" IBLAI_API_KEY=demo IBLAI_ORG=main IBLAI_USERNAME="$admin"
mkdir -p demo-out
start=$(date -u -d '83 days ago' +%Y-%m-%d)
build/bin/iblai cohort-report --start "$start" --aggregation weekly --out demo-out/cohort-report.html
echo
build/bin/iblai cohort-report --start "$start" --aggregation weekly
