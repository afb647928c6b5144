-- An admin's first look at an org: its users, what they have made, and the last month's cohorts.
-- iblai examples/org_overview.lua        (IBLAI_BASE_URL, IBLAI_API_KEY, IBLAI_ORG, IBLAI_USERNAME)
local json = require "iblai.json"
local client <close> = assert(iblai.from_env())
local org = assert(client.org, "set IBLAI_ORG")

local function get(path, query)
  local res, err = client:request { path = path, query = query }
  if not res then error(err, 0) end
  return res.body
end

-- The users listing numbers its pages (next_page) instead of linking them.
local users, page = {}, 1
repeat
  local body = get("/api/core/platform/users/", { platform_key = org, page = page, page_size = 100 })
  for _, u in ipairs(body.results) do users[#users + 1] = u end
  page = body.next_page
until page == json.null
print(("org %s: %d users"):format(org, #users))

-- Artifact counts for the first users, fetched concurrently on one connection pool.
local reqs = {}
for i = 1, math.min(10, #users) do
  reqs[i] = { path = ("/api/ai-mentor/orgs/%s/users/%s/artifacts/"):format(org, users[i].username),
    query = { page_size = 1 } }
end
local results, errs = client:request_many(reqs, { concurrency = 8 })
for i = 1, #reqs do
  local name = users[i].username
  if results[i] then
    print(("  %-26s %3d artifacts"):format(name, results[i].body.count))
  else
    print(("  %-26s %s"):format(name, tostring(errs[i])))
  end
end

-- New and returning users per week over the last 30 days.
local today = os.time()
local range = { start_date = os.date("!%Y-%m-%d", today - 30 * 86400), end_date = os.date("!%Y-%m-%d", today),
  aggregation = "weekly" }
local cohorts = get(("/api/ai-analytics/orgs/%s/users/%s/user-cohorts-over-time/"):format(org, client.username), range)
print("week starting          new  returning")
for i, period in ipairs(cohorts.periods) do
  print(("  %s   %4d  %9d"):format(period:sub(1, 10), cohorts.new_users[i], cohorts.veteran_users[i]))
end
