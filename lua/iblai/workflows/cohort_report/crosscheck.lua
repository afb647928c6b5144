--- The API's user-cohorts-over-time beside the report's own counts, like with like: its
-- new_users are registrations in the period (the report's `registered`), its veteran_users the
-- distinct users active in the period who registered before the requested range. Registrations
-- add up, so monthly periods compare with the sum of its days; veteran users are distinct per
-- the API's period, so they are compared only where its aggregation is the report's (daily, weekly).
-- @module iblai.workflows.cohort_report.crosscheck
local calendar = require "iblai.workflows.cohort_report.calendar"
local figures = require "iblai.workflows.cohort_report.figures"

local M = {}

M.OPERATION = "ai_analytics_orgs_users_user_cohorts_over_time_retrieve"

--- How many disagreements the notes name; the rest are counted.
M.QUOTED = 3

-- An API figure as the notes quote it.
local function shown(v)
  if v == nil then return "not a number" end
  return figures.describe(v)
end

--- Compares the API's answer with the report's counts.
-- @param body the decoded answer {periods, new_users, veteran_users}
-- @param o the report's options (first, aggregation)
-- @param periods the report's periods
-- @param rows the report's lifecycle rows (registered per period)
-- @param sets sets[k] = usernames active in period k
-- @param joined username -> registration day (false when unknown)
-- @param note function(where, problem) for figures no count can be
-- @return { periods = { {start, registered, api_new_users, veteran_users, api_veteran_users} },
--   disagreements = n, veterans = bool }, or nil and what is wrong with the answer's shape
function M.compare(body, o, periods, rows, sets, joined, note)
  if type(body) ~= "table" or not figures.is_list(body.periods) or not figures.is_list(body.new_users)
    or not figures.is_list(body.veteran_users) then
    return nil, "expected {periods, new_users, veteran_users}"
  end
  local veterans = o.aggregation ~= "monthly"
  local api_new, api_vet, odd_new, odd_vet = {}, {}, {}, {}
  for k = 1, #periods do api_new[k], api_vet[k] = 0, 0 end
  for i, label in ipairs(body.periods) do
    local z = calendar.day_of(label)
    if not z then return nil, ("periods[%d] is %s, not a date"):format(i, figures.describe(label)) end
    local k = calendar.find(periods, z) -- a week the API starts before the range is the first
    local n, p1 = figures.read(body.new_users[i], "count")
    local v, p2 = figures.read(body.veteran_users[i], "count")
    if p1 then note(("new_users[%d] (%s)"):format(i, calendar.format(z)), p1) end
    if p2 then note(("veteran_users[%d] (%s)"):format(i, calendar.format(z)), p2) end
    odd_new[k], odd_vet[k] = odd_new[k] or p1 ~= nil, odd_vet[k] or p2 ~= nil
    -- A period with a figure that is not a number has no sum: nil, never a partial one.
    api_new[k] = api_new[k] and n and figures.add(api_new[k], n) or nil
    api_vet[k] = api_vet[k] and v and figures.add(api_vet[k], v) or nil
  end
  local out, disagree = { periods = {}, disagreements = 0, veterans = veterans, differences = {} }, 0
  for k, p in ipairs(periods) do
    local veteran = 0
    for u in pairs(sets[k]) do
      local j = joined[u]
      if j and j < o.first then veteran = veteran + 1 end
    end
    local row = { start = calendar.format(p.first), registered = rows[k].registered, api_new_users = api_new[k] }
    if odd_new[k] then row.flagged = { api_new_users = true } end
    if veterans then
      row.veteran_users, row.api_veteran_users = veteran, api_vet[k]
      if odd_vet[k] then
        row.flagged = row.flagged or {}
        row.flagged.api_veteran_users = true
      end
    end
    out.periods[k] = row
    local differs = row.registered ~= row.api_new_users or (veterans and row.veteran_users ~= row.api_veteran_users)
    if differs then
      disagree = disagree + 1
      if #out.differences < M.QUOTED then
        local text = ("%s: registered %s here, new_users %s there"):format(row.start, row.registered,
          shown(row.api_new_users))
        if veterans then
          text = text .. ("; registered before the range and active %s here, veteran_users %s there"):format(
            row.veteran_users, shown(row.api_veteran_users))
        end
        out.differences[#out.differences + 1] = text
      end
    end
  end
  out.disagreements = disagree
  return out
end

return M
