--- The cohort report as one JSON object. Every documented key is present: a figure whose call
-- failed is null, an empty list is [] (never {}), and counts are written as integers.
-- `flagged` lists the figures the API should not have sent (or made from such), by path.
local json = require "iblai.json"
local build = require "iblai.workflows.cohort_report.build"

local M = {}

local null = json.null

-- A number JSON cannot hold (no figure should be one) is written as null.
local function v(x)
  if x == nil or (type(x) == "number" and (x ~= x or x == math.huge or x == -math.huge)) then return null end
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

local PERIOD = { "start", "end", "days", "registered", "active_users", "new_users", "returning_users",
  "resurrecting_users", "dormant_users", "conversations", "sessions", "avg_messages", "avg_daily_active_users" }
local TOTALS = { "active_users", "new_users", "returning_users", "registered", "org_users", "conversations",
  "sessions", "avg_messages", "avg_daily_active_users", "peak_daily_active_users", "peak_day", "messages" }
local CHANGED = { "active_users", "new_users", "returning_users", "registered", "avg_daily_active_users",
  "conversations", "avg_messages" }

local function retention(tri)
  if not tri then return null end
  local out = {}
  for i, r in ipairs(tri) do out[i] = { start = r.start, size = r.size, active = list(r.active) } end
  return list(out)
end

local function cross_check(cc)
  if not cc then return null end
  local periods = {}
  for i, p in ipairs(cc.periods) do
    periods[i] = { start = p.start, registered = v(p.registered), api_new_users = v(p.api_new_users) }
    if cc.veterans then periods[i].veteran_users, periods[i].api_veteran_users = v(p.veteran_users), v(p.api_veteran_users) end
  end
  return { operation = "ai_analytics_orgs_users_user_cohorts_over_time_retrieve", veterans = cc.veterans,
    disagreements = cc.disagreements, periods = list(periods) }
end

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
    topics[i] = { name = t.name, conversations = v(t.conversations), share = v(t.share), sentiment = v(t.sentiment) }
  end
  for i, e in ipairs(report.errors) do
    errs[i] = { call = e.call, operation = e.operation, kind = e.kind, message = e.message }
  end
  local prev = report.previous or {}
  local r = report.range
  return {
    org = v(report.org),
    range = { start = r.start, ["end"] = r["end"], aggregation = r.aggregation, mentor = v(r.mentor), days = r.days },
    previous_range = prev.start and { start = prev.start, ["end"] = prev["end"] } or null,
    periods = list(periods),
    retention = retention(report.retention),
    cross_check = cross_check(report.cross_check),
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
    flagged = list(build.flagged_paths(report)),
    notes = list(report.notes),
  }
end

-- Every string of a value, keys too.
local function strings(x, out)
  if type(x) == "string" then
    out[#out + 1] = x
  elseif type(x) == "table" then
    for k, y in pairs(x) do
      strings(k, out)
      strings(y, out)
    end
  end
  return out
end

-- iblai.json writes [] and large integers through marker strings that begin with a NUL byte,
-- so a server string with a NUL byte could be rewritten as one. Such strings go in as
-- placeholders unique in the document and come back, each encoded on its own, after.
local function encode(doc)
  local all, risky = strings(doc, {}), {}
  for _, s in ipairs(all) do
    if s:find("\0", 1, true) then risky[s] = true end
  end
  if next(risky) == nil then return assert(json.encode(doc)) end
  local prefix, clash
  repeat
    prefix, clash = ("iblai-placeholder-%d-"):format(math.random(1, 1 << 40)), false
    for _, s in ipairs(all) do clash = clash or s:find(prefix, 1, true) ~= nil end
  until not clash
  local back, n = {}, 0
  local function swap(x)
    if type(x) == "string" and risky[x] then
      if risky[x] ~= true then return risky[x] end
      n = n + 1
      back[prefix .. n] = x
      risky[x] = prefix .. n
      return risky[x]
    end
    if type(x) ~= "table" or x == json.empty_array or x == null then return x end
    local copy = {}
    for k, y in pairs(x) do copy[swap(k)] = swap(y) end
    return setmetatable(copy, getmetatable(x))
  end
  local text = assert(json.encode(swap(doc)))
  return (text:gsub('"(' .. prefix:gsub("%-", "%%-") .. '%d+)"', function(p) return assert(json.encode(back[p])) end))
end

--- Renders the report as JSON text (one object, one line, and a newline).
-- @param report the table cohort_report.run returns
-- @return string
function M.render(report)
  return encode(M.document(report)) .. "\n"
end

return M
