--- UTC calendar arithmetic without the local time zone (os.time would apply it).
local M = {}

-- Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
function M.days(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

function M.civil(z)
  z = z + 719468
  local era = (z >= 0 and z or z - 146096) // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp + (mp < 10 and 3 or -9)
  return m <= 2 and y + 1 or y, m, d
end

--- Seconds since the epoch -> "YYYY-MM-DDTHH:MM:SSZ"
function M.iso(t)
  local day, rem = t // 86400, t % 86400
  local y, m, d = M.civil(day)
  return ("%04d-%02d-%02dT%02d:%02d:%02dZ"):format(y, m, d, rem // 3600, rem % 3600 // 60, rem % 60)
end

function M.date(t)
  return M.iso(t):sub(1, 10)
end

--- "YYYY-MM-DD" (or a longer ISO stamp) -> seconds at the start of that day, or nil.
function M.parse(s)
  if type(s) ~= "string" then return nil end
  local y, m, d = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)")
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if not y or m < 1 or m > 12 or d < 1 or d > 31 then return nil end
  local t = M.days(y, m, d) * 86400
  local yy, mm, dd = M.civil(t // 86400)
  if yy ~= y or mm ~= m or dd ~= d then return nil end
  local hh, mi, ss = s:match("^....%-..%-..[T ](%d%d):(%d%d):?(%d*)")
  if hh then t = t + tonumber(hh) * 3600 + tonumber(mi) * 60 + (tonumber(ss) or 0) end
  return t
end

--- Start of the bucket holding t for an aggregation: hourly, daily (day), weekly, monthly.
function M.bucket(t, aggregation)
  if aggregation == "hourly" or aggregation == "hour" then return t - t % 3600 end
  local day = t // 86400
  if aggregation == "weekly" or aggregation == "week" then
    return (day - (day + 3) % 7) * 86400 -- weeks start on Monday
  elseif aggregation == "monthly" or aggregation == "month" then
    local y, m = M.civil(day)
    return M.days(y, m, 1) * 86400
  end
  return day * 86400
end

return M
