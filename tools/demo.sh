#!/bin/sh
# make demo: start the sandbox on a free port and run the main jobs against it: the example script,
# a memory reset, a chat export and the cohort report (files in demo-out/); then stop the sandbox.
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
export IBLAI_BASE_URL="http://127.0.0.1:$port" IBLAI_API_KEY=demo IBLAI_ORG=main IBLAI_USERNAME="$admin"
build/bin/iblai examples/org_overview.lua

# The workflows: reset three users' memory (a dry run, the reset, a dry run that finds nothing),
# then export two users' chat history.
demo=demo-out
rm -rf "$demo" && mkdir -p "$demo"
build/bin/iblai -e 'local c <close> = assert(iblai.from_env())
  for u in c:each("core_platform_users_retrieve", { page_size = 5 }) do
    if u.username ~= os.getenv("IBLAI_USERNAME") then print(u.username) end
  end' | head -3 > "$demo/users.txt"
echo
echo "== iblai memory-reset --users $demo/users.txt --dry-run"
build/bin/iblai memory-reset --users "$demo/users.txt" --dry-run --quiet
echo
echo "== iblai memory-reset --users $demo/users.txt --journal $demo/reset.journal"
build/bin/iblai memory-reset --users "$demo/users.txt" --journal "$demo/reset.journal"
echo
echo "== the same dry run again: every store is empty now"
build/bin/iblai memory-reset --users "$demo/users.txt" --dry-run --quiet
echo
head -2 "$demo/users.txt" > "$demo/two.txt"
echo "== iblai export-chats --users $demo/two.txt --out $demo/exports"
build/bin/iblai export-chats --users "$demo/two.txt" --out "$demo/exports" --poll-initial 0.2
echo "the exported files are in $demo/exports:"
ls -l "$demo/exports"

echo
echo "== iblai cohort-report --aggregation weekly (the last 12 weeks; also written to $demo/cohort-report.html)"
start=$(date -u -d '83 days ago' +%Y-%m-%d)
build/bin/iblai cohort-report --start "$start" --aggregation weekly --out "$demo/cohort-report.html"
build/bin/iblai cohort-report --start "$start" --aggregation weekly
