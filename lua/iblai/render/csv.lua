--- The cohort report as CSV: one tidy table per section, each after a "# section" line, the
-- tables separated by a blank line. Fields are quoted as RFC 4180 says; a missing figure (its
-- call failed) is an empty field; numbers are plain (no separators), shares in percent. The
-- `flagged` table names the figures the API should not have sent, as the JSON's paths do.
local build = require "iblai.workflows.cohort_report.build"
local shape = require "iblai.workflows.cohort_report.shape"

local function round(x)
  local r = math.floor(x * 10 + 0.5) / 10
  return math.tointeger(r) or r
end

local M = {}

--- One CSV field. A string that a spreadsheet would read as a formula (it starts with =, +, -,
-- @, a tab or a carriage return) gets a leading ' (OWASP's advice), so it stays text; a field
-- holding a quote, a comma or a line break is quoted, quotes doubled (RFC 4180). Numbers are
-- written plainly; one that is not finite (which no figure should be) is left empty.
-- @param v string, number, boolean or nil
-- @return string
function M.field(v)
  if v == nil then return "" end
  local s
  if type(v) == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "" end
    s = tostring(v)
    if math.type(v) == "float" then -- the shortest text that reads back as the same number
      s = ("%.15g"):format(v)
      if tonumber(s) ~= v then s = ("%.17g"):format(v) end
    end
  else
    s = tostring(v)
    if s:find("^[=+%-@\t\r]") then s = "'" .. s end
  end
  if s:find('[",\r\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local function line(values, n)
  local out = {}
  for i = 1, n do out[i] = M.field(values[i]) end
  return table.concat(out, ",")
end

local function section(name, head, rows)
  local out = { "# " .. name, line(head, #head) }
  for _, r in ipairs(rows) do out[#out + 1] = line(r, #head) end
  return table.concat(out, "\n")
end

local SUMMARY = { "active_users", "new_users", "returning_users", "registered", "org_users", "conversations",
  "sessions", "avg_messages", "avg_daily_active_users", "peak_daily_active_users", "messages" }

local function summary(report)
  local t, p, c = report.totals, report.previous or {}, report.change or {}
  local rows = {}
  for _, k in ipairs(SUMMARY) do rows[#rows + 1] = { k, t[k], p[k], c[k] } end
  return section("summary", { "metric", "value", "previous", "change_percent" }, rows)
end

--- The columns of the periods table, as the JSON names them.
M.PERIOD_COLUMNS = { "start", "end", "days", "registered", "active_users", "new_users", "returning_users",
  "resurrecting_users", "dormant_users", "conversations", "sessions", "avg_messages", "avg_daily_active_users" }

local function periods(report)
  local rows = {}
  for i, p in ipairs(report.periods) do
    local r = {}
    for j, k in ipairs(M.PERIOD_COLUMNS) do r[j] = p[k] end
    rows[i] = r
  end
  return section("periods", M.PERIOD_COLUMNS, rows)
end

-- The triangle, one row per cell: the cohort, the period it is about, how far after, how many.
local function retention(report)
  local rows = {}
  for i, r in ipairs(report.retention or {}) do
    for j, n in ipairs(r.active) do
      local p = report.periods[i + j - 1]
      rows[#rows + 1] = { r.start, r.size, p and p.start, j - 1, n, r.size > 0 and round(n * 100 / r.size) or nil }
    end
  end
  return section("retention", { "cohort_start", "size", "period_start", "offset", "active", "share" }, rows)
end

local function cross_check(report)
  local rows = {}
  for i, p in ipairs(report.cross_check and report.cross_check.periods or {}) do
    rows[i] = { p.start, p.registered, p.api_new_users, p.veteran_users, p.api_veteran_users }
  end
  return section("cross_check", { "start", "registered", "api_new_users", "veteran_users", "api_veteran_users" }, rows)
end

local function daily(report)
  local rows = {}
  for i, d in ipairs(report.daily_active_users) do rows[i] = { d.date, d.users } end
  return section("daily_active_users", { "date", "users" }, rows)
end

local function topics(report)
  local rows = {}
  for i, tp in ipairs(report.topics) do
    local mix = tp.sentiment
    rows[i] = { i, tp.name, tp.conversations, tp.share }
    for _, k in ipairs(shape.SENTIMENTS) do rows[i][#rows[i] + 1] = mix and (mix[k] or 0) end
  end
  local head = { "rank", "topic", "conversations", "share" }
  for _, k in ipairs(shape.SENTIMENTS) do head[#head + 1] = k end
  return section("topics", head, rows)
end

local function sentiment(report)
  local s, rows = report.sentiment, {}
  if s then
    for i, k in ipairs(s.names) do rows[i] = { k, s.counts[k], s.shares[k] } end
  end
  return section("sentiment", { "sentiment", "conversations", "share" }, rows)
end

local function overview(report)
  local rows = {}
  for _, k in ipairs(shape.OVERVIEW) do
    local f = report.overview and report.overview[k]
    if f then rows[#rows + 1] = { k, f.total, f.change } end
  end
  return section("overview", { "metric", "total", "change_percent" }, rows)
end

local function errors(report)
  local rows = {}
  for i, e in ipairs(report.errors) do rows[i] = { e.call, e.operation, e.kind, e.message } end
  return section("errors", { "call", "operation", "kind", "message" }, rows)
end

-- The figures shown that the API should not have sent (or made from such), by their JSON path.
local function flagged(paths)
  local rows = {}
  for i, p in ipairs(paths) do rows[i] = { p } end
  return section("flagged", { "figure" }, rows)
end

--- Renders the report as CSV (one record a line).
-- @param report the table cohort_report.run returns
-- @return string
function M.render(report)
  local r = report.range
  local parts = {
    section("range", { "start", "end", "aggregation", "mentor", "days", "org" },
      { { r.start, r["end"], r.aggregation, r.mentor, r.days, report.org } }),
    summary(report), periods(report), retention(report), cross_check(report), daily(report), topics(report),
    sentiment(report), overview(report),
  }
  if #report.errors > 0 then parts[#parts + 1] = errors(report) end
  local paths = build.flagged_paths(report)
  if #paths > 0 then parts[#parts + 1] = flagged(paths) end
  return table.concat(parts, "\n\n") .. "\n"
end

return M
