-- An admin's first look at an org: its users, what they have made, and the last month's cohorts.
-- iblai examples/org_overview.lua        (IBLAI_BASE_URL, IBLAI_API_KEY, IBLAI_ORG, IBLAI_USERNAME)
local client <close> = assert(iblai.from_env())
local org = assert(client.org, "set IBLAI_ORG")

-- Every user of the org: `each` walks the pages (fetching ahead) whatever the listing's envelope.
local users = {}
for user in client:each("core_platform_users_retrieve", { platform_key = org }) do users[#users + 1] = user end
print(("org %s: %d users"):format(org, #users))

-- Artifact counts of the first users, all asked at once; {org} comes from the client, and
-- {user_id} is a username. One item a page is enough: the page tells the count.
local calls = {}
for i = 1, math.min(10, #users) do
  calls[i] = { "ai_mentor_orgs_users_artifacts_list", { user_id = users[i].username, page_size = 1 } }
end
local results, errs = client:call_many(calls)
local width = 0
for i = 1, #calls do width = math.max(width, #users[i].username) end
for i = 1, #calls do
  local name = users[i].username
  if results[i] then
    local n = results[i].count
    print(("  %-" .. width .. "s  %4d %s"):format(name, n, n == 1 and "artifact" or "artifacts"))
  else
    print(("  %-" .. width .. "s  %s"):format(name, tostring(errs[i])))
  end
end

-- New and returning users per week over the last 30 days ({user_id} is the client's username).
local today = os.time()
local cohorts, err = client:call("ai_analytics_orgs_users_user_cohorts_over_time_retrieve", {
  start_date = os.date("!%Y-%m-%d", today - 30 * 86400), end_date = os.date("!%Y-%m-%d", today),
  aggregation = "weekly",
})
if not cohorts then error(err, 0) end
local row = "  %-13s  %5s  %9s"
print(row:format("week starting", "new", "returning"))
for i, period in ipairs(cohorts.periods) do
  print(row:format(period:sub(1, 10), cohorts.new_users[i], cohorts.veteran_users[i]))
end
