--- UTC day numbers: days since 1970-01-01 in the proleptic Gregorian calendar, and back.
-- Integer arithmetic only (H. Hinnant's days_from_civil and civil_from_days), so no time zone
-- or os.time() can shift a date.
-- @module iblai.civil
local M = {}

--- The day number of a calendar date.
-- @param y year
-- @param m month 1-12
-- @param d day 1-31
-- @return integer day number (0 is 1970-01-01)
function M.day(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

--- The calendar date of a day number.
-- @param z integer day number
-- @return year, month, day
function M.date(z)
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

return M
