--- People per period as PostHog's lifecycle counts them, totals that count each person once, and
-- the retention triangle, all from sets of usernames (people.lua) and registration days.
-- A user with no known registration day (absent from the listing, or no date_joined), or one
-- active before registering, counts as registered before the period, so that in every period
-- active = new + returning + resurrecting exactly; the report names how many there were.
-- @module iblai.workflows.cohort_report.lifecycle
local calendar = require "iblai.workflows.cohort_report.calendar"

local M = {}

--- The most periods a retention triangle is made for (n periods make n(n+1)/2 cells).
M.MAX_RETENTION = 400

local function registered_in(j, p)
  return j and j >= p.first and j <= p.last
end

--- The lifecycle of each period.
-- @param periods the report's periods ({first, last})
-- @param sets sets[k] = usernames active in period k
-- @param before usernames active in the calendar period before the first
-- @param joined username -> registration day (false when unknown)
-- @return list of { registered, active_users, new_users, returning_users, resurrecting_users,
--   dormant_users } lined up with periods
function M.periods(periods, sets, before, joined)
  local rows = {}
  for k = 1, #periods do
    rows[k] = { registered = 0, active_users = 0, new_users = 0, returning_users = 0, resurrecting_users = 0,
      dormant_users = 0 }
  end
  for _, day in pairs(joined) do
    local k = day and calendar.locate(periods, day)
    if k then rows[k].registered = rows[k].registered + 1 end
  end
  for k, p in ipairs(periods) do
    local row, now, was = rows[k], sets[k], k == 1 and before or sets[k - 1]
    for u in pairs(now) do
      row.active_users = row.active_users + 1
      if registered_in(joined[u], p) then
        row.new_users = row.new_users + 1
      elseif was[u] then
        row.returning_users = row.returning_users + 1
      else
        row.resurrecting_users = row.resurrecting_users + 1
      end
    end
    for u in pairs(was) do
      if not now[u] then row.dormant_users = row.dormant_users + 1 end
    end
  end
  return rows
end

--- Totals over a window, each person once: active (distinct), new (registered in the window
-- and active in it), returning (the other active ones), registered.
-- @param span { first, last }
-- @param active set of the usernames active in the window
-- @param joined username -> registration day (false when unknown)
-- @return { active_users, new_users, returning_users, registered }
function M.totals(span, active, joined)
  local out = { active_users = 0, new_users = 0, returning_users = 0, registered = 0 }
  for u in pairs(active) do
    out.active_users = out.active_users + 1
    if registered_in(joined[u], span) then out.new_users = out.new_users + 1 end
  end
  out.returning_users = out.active_users - out.new_users
  for _, day in pairs(joined) do
    if registered_in(day, span) then out.registered = out.registered + 1 end
  end
  return out
end

--- The retention triangle: one row per registration period, with how many of those users were
-- active in that period and in each one after it.
-- @param periods the report's periods
-- @param sets sets[k] = usernames active in period k
-- @param joined username -> registration day (false when unknown)
-- @return list of { first = day, size, active = { n0, n1, ... } }, or nil when there are more
--   than MAX_RETENTION periods
function M.retention(periods, sets, joined)
  local n = #periods
  if n > M.MAX_RETENTION then return nil end
  local cohort, rows = {}, {}
  for k, p in ipairs(periods) do
    rows[k] = { first = p.first, size = 0, active = {} }
    for j = 1, n - k + 1 do rows[k].active[j] = 0 end
  end
  for u, day in pairs(joined) do
    local k = day and calendar.locate(periods, day)
    if k then
      cohort[u] = k
      rows[k].size = rows[k].size + 1
    end
  end
  for j = 1, n do
    for u in pairs(sets[j]) do
      local c = cohort[u]
      if c and c <= j then rows[c].active[j - c + 1] = rows[c].active[j - c + 1] + 1 end
    end
  end
  return rows
end

--- Active users the data cannot place in time: absent from the users listing, or active in a
-- period that ended before they registered (both counted as registered before).
-- @param periods the report's periods
-- @param sets sets[k] = usernames active in period k
-- @param joined username -> registration day (false when unknown)
-- @return unlisted, early: counts of distinct users
function M.oddities(periods, sets, joined)
  local unlisted, early = {}, {}
  for k, p in ipairs(periods) do
    for u in pairs(sets[k]) do
      local j = joined[u]
      if j == nil then unlisted[u] = true elseif j and j > p.last then early[u] = true end
    end
  end
  local a, b = 0, 0
  for _ in pairs(unlisted) do a = a + 1 end
  for _ in pairs(early) do b = b + 1 end
  return a, b
end

return M
