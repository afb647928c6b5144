--- The cohort report as one JSON object. Every documented key is present: a figure whose call
-- failed is null, an empty list is [] (never {}), and counts are written as integers.
local json = require "iblai.json"

local M = {}

local null = json.null

local function v(x)
  if x == nil then return null end
  return x
end

local function list(t)
  if #t == 0 then return json.empty_array end
  return t
end

-- A copy of a flat table with the given keys, nil as null.
local function pick(src, keys)
  local out = {}
  for _, k in ipairs(keys) do out[k] = v(src and src[k]) end
  return out
end

local PERIOD = { "start", "end", "days", "new_users", "veteran_users", "returning_share", "registered",
  "conversations", "sessions", "avg_messages", "avg_daily_active_users" }
local TOTALS = { "new_users", "veteran_users", "returning_share", "registered", "conversations", "sessions",
  "avg_messages", "avg_daily_active_users", "peak_daily_active_users", "peak_day", "active_users", "messages" }
local CHANGED = { "new_users", "veteran_users", "conversations", "avg_messages", "avg_daily_active_users" }

local function sentiment(s)
  if not s then return null end
  local counts, shares = {}, {}
  for _, k in ipairs(s.names) do counts[k], shares[k] = s.counts[k], v(s.shares[k]) end
  return { total = s.total, counts = counts, shares = shares, order = list(s.names) }
end

local function overview(o)
  if not o then return null end
  local out = {}
  for k, f in pairs(o) do out[k] = { total = f.total, change = v(f.change) } end
  return out
end

--- The report as a plain table ready for JSON (nulls and empty arrays marked).
-- @param report the table cohort_report.run returns
-- @return table
function M.document(report)
  local periods, daily, topics, errs = {}, {}, {}, {}
  for i, p in ipairs(report.periods) do periods[i] = pick(p, PERIOD) end
  for i, d in ipairs(report.daily_active_users) do daily[i] = { date = d.date, users = d.users } end
  for i, t in ipairs(report.topics) do
    topics[i] = { name = t.name, conversations = t.conversations, share = v(t.share), sentiment = v(t.sentiment) }
  end
  for i, e in ipairs(report.errors) do errs[i] = { call = e.call, operation = e.operation, message = e.message } end
  local prev = report.previous or {}
  local r = report.range
  return {
    org = v(report.org),
    range = { start = r.start, ["end"] = r["end"], aggregation = r.aggregation, mentor = v(r.mentor), days = r.days },
    previous_range = prev.start and { start = prev.start, ["end"] = prev["end"] } or null,
    periods = list(periods),
    daily_active_users = list(daily),
    totals = pick(report.totals, TOTALS),
    previous = prev.start and pick(prev, CHANGED) or null,
    change = prev.start and pick(report.change, CHANGED) or null,
    topics = list(topics),
    sentiment = sentiment(report.sentiment),
    overview = overview(report.overview),
    activity = v(report.activity),
    sections = report.sections,
    errors = list(errs),
    notes = list(report.notes),
  }
end

--- Renders the report as JSON text (one object, one line, and a newline).
-- @param report the table cohort_report.run returns
-- @return string
function M.render(report)
  return assert(json.encode(M.document(report))) .. "\n"
end

return M
