--- UTC calendar days for the cohort report: parsing, formatting and the report's periods.
-- A day is an integer count of days since 1970-01-01 (proleptic Gregorian), so no time zone
-- or os.time() can shift a date.
-- @module iblai.workflows.cohort_report.calendar
local civil = require "iblai.civil"

local M = {}

--- Parses a strict YYYY-MM-DD that names a real calendar date (so 2026-02-30 is refused).
-- @param s string
-- @return integer day number, or nil
function M.parse(s)
  if type(s) ~= "string" then return nil end
  local y, m, d = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if not y or y < 1 or m < 1 or m > 12 or d < 1 or d > 31 then return nil end
  local z = civil.day(y, m, d)
  local yy, mm, dd = civil.date(z)
  if yy ~= y or mm ~= m or dd ~= d then return nil end
  return z
end

--- The day an API value falls on: a date or a date-time, of which the first ten characters count.
-- @param s "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS..." as the analytics endpoints answer
-- @return integer day number, or nil when s is not such a value
function M.day_of(s)
  if type(s) ~= "string" then return nil end
  local y, m, d = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)")
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if not y or m < 1 or m > 12 or d < 1 or d > 31 then return nil end
  return civil.day(y, m, d)
end

--- Formats a day number as YYYY-MM-DD.
-- @param z integer day number
-- @return string
function M.format(z)
  local y, m, d = civil.date(z)
  return ("%04d-%02d-%02d"):format(y, m, d)
end

--- Today's day number in UTC.
-- @return integer day number
function M.today()
  return os.time() // 86400
end

-- Start of the period holding day z: weeks start on Monday (1970-01-01 was a Thursday).
local function period_start(z, aggregation)
  if aggregation == "weekly" then return z - (z + 3) % 7 end
  if aggregation == "monthly" then
    local y, m = civil.date(z)
    return civil.day(y, m, 1)
  end
  return z
end

-- First day of the period after the one starting at z.
local function next_start(z, aggregation)
  if aggregation == "weekly" then return z + 7 end
  if aggregation == "monthly" then
    local y, m = civil.date(z)
    return m == 12 and civil.day(y + 1, 1, 1) or civil.day(y, m + 1, 1)
  end
  return z + 1
end

--- The periods covering first..last, each clipped to the range.
-- @param first first day number
-- @param last last day number (inclusive)
-- @param aggregation "daily", "weekly" (Monday to Sunday) or "monthly"
-- @return list of { first = day, last = day }
function M.periods(first, last, aggregation)
  local out = {}
  local z = period_start(first, aggregation)
  while z <= last do
    local stop = next_start(z, aggregation)
    out[#out + 1] = { first = math.max(z, first), last = math.min(stop - 1, last) }
    z = stop
  end
  return out
end

--- The whole calendar period before the one holding day z (the day, the Monday-to-Sunday week or
-- the month before), unclipped: what the first period of a report is compared with.
-- @param z day number
-- @param aggregation "daily", "weekly" or "monthly"
-- @return { first = day, last = day }
function M.before(z, aggregation)
  local start = period_start(z, aggregation)
  return { first = period_start(start - 1, aggregation), last = start - 1 }
end

--- The index of the period holding day z exactly, or nil when z is outside every period.
-- @param periods as from M.periods
-- @param z day number
-- @return integer index or nil
function M.locate(periods, z)
  local n = #periods
  if n == 0 or z < periods[1].first or z > periods[n].last then return nil end
  return M.find(periods, z)
end

--- first..last cut into spans of at most `days` days, in order.
-- @param first first day number
-- @param last last day number (inclusive)
-- @param days the longest span
-- @return list of { first = day, last = day }
function M.spans(first, last, days)
  local out = {}
  for z = first, last, days do out[#out + 1] = { first = z, last = math.min(z + days - 1, last) } end
  return out
end

--- The index of the period holding day z; days outside the range go to the first or last period,
-- so a row the API labels with the start of a week that began before the range still counts.
-- @param periods as from M.periods
-- @param z day number
-- @return integer index
function M.find(periods, z)
  local lo, hi = 1, #periods
  if z <= periods[1].last then return 1 end
  if z >= periods[hi].first then return hi end
  while lo < hi do
    local mid = (lo + hi + 1) // 2
    if periods[mid].first <= z then lo = mid else hi = mid - 1 end
  end
  return lo
end

return M
