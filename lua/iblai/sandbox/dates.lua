--- UTC calendar arithmetic without the local time zone (os.time would apply it).
local civil = require "iblai.civil"

local M = {}

--- Seconds since the epoch -> "YYYY-MM-DDTHH:MM:SSZ"
function M.iso(t)
  local day, rem = t // 86400, t % 86400
  local y, m, d = civil.date(day)
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
  local t = civil.day(y, m, d) * 86400
  local yy, mm, dd = civil.date(t // 86400)
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
    local y, m = civil.date(day)
    return civil.day(y, m, 1) * 86400
  end
  return day * 86400
end

return M
