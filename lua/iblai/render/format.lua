--- Numbers, changes, period names and figure labels as the cohort report's renderers show them.
-- Any number at all can arrive (1e300, -3, 2^63): each is shown, never raised over.
local shape = require "iblai.workflows.cohort_report.shape"
local utf8text = require "iblai.workflows.cohort_report.text"

local M = {}

--- What a missing figure (its call failed) shows as.
M.MISSING = "n/a"

--- The mark after a figure the API should not have sent, or one made from such figures.
M.MARK = "⚠"

--- What the mark means, for tooltips and legends.
M.MARK_MEANS = "not a figure the API should send, or made from one"

--- Cuts text to at most n characters on a UTF-8 boundary.
M.cut = utf8text.cut

--- Text fitted in n columns (a wide character takes two), with an ellipsis when it was cut.
M.fit = utf8text.fit

-- Beyond 10^15 a whole number is shown in scientific notation: its digits would be noise.
local BIG = 1e15

local function odd_number(n)
  if n ~= n then return "NaN" end
  if n == math.huge then return "∞" end
  if n == -math.huge then return "-∞" end
  if math.type(n) == "float" and math.abs(n) >= BIG then return ("%.4g"):format(n) end
  return nil
end

local function grouped(text)
  local sign, int, rest = text:match("^(-?)(%d+)(.*)$")
  int = int:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
  return sign .. int .. rest
end

--- Names of the org overview figures (the API's month-over-month view).
M.OVERVIEW_LABELS = {
  conversation_volume = "Conversations", users = "Active users", topics = "Topics discussed",
  user_rating = "User rating", registered_users = "Registered users", new_users = "New users",
  unique_users = "Unique users", veteran_users = "Returning users",
}

--- A whole number with thousands separators; a fraction with one decimal.
-- @param n number or nil
-- @return string ("1,234", "15.4", or MISSING for nil)
function M.number(n)
  if n == nil then return M.MISSING end
  local odd = odd_number(n)
  if odd then return odd end
  if math.type(n) == "integer" then return grouped(tostring(n)) end
  if n == math.floor(n) then return grouped(("%d"):format(n)) end
  return grouped(("%.1f"):format(n))
end

--- A figure of the report with its mark: M.number (or fmt) of obj[key], then M.MARK when the
-- figure is marked as odd.
-- @param obj the table holding it (a period, the totals, a topic, ...), or nil
-- @param key the figure's name
-- @param fmt formatter (M.number by default)
-- @return text
function M.figure(obj, key, fmt)
  local text = (fmt or M.number)(obj and obj[key])
  if shape.marked(obj, key) then return text .. " " .. M.MARK end
  return text
end

--- A share in percent: "94%", or "2.5%" below ten; a dash when there was no whole to share.
-- @param p number (0..100) or nil
-- @return string
function M.percent(p)
  if p == nil then return "–" end
  local odd = odd_number(p)
  if odd then return odd .. "%" end
  if p ~= 0 and math.abs(p) < 10 and p ~= math.floor(p) then return ("%.1f%%"):format(p) end
  return ("%d%%"):format(math.floor(p + 0.5))
end

--- A change in percent with its sign: "+12%", "-5%", "±0%"; "from 0" when it grew from zero.
-- @param c number or nil (nil: unknown or from zero)
-- @param now the current figure (tells "from 0" from unknown when c is nil)
-- @param minus the minus sign to use ("-" by default; HTML passes U+2212)
-- @return string
function M.change(c, now, minus)
  if c == nil then return (now ~= nil and now ~= 0) and "from 0" or M.MISSING end
  if c == 0 then return "±0%" end
  local mag = math.abs(c)
  local odd = odd_number(mag)
  if odd then return (c > 0 and "+" or (minus or "-")) .. odd .. "%" end
  local text = mag < 10 and mag ~= math.floor(mag) and ("%.1f%%"):format(mag) or ("%d%%"):format(math.floor(mag + 0.5))
  return (c > 0 and "+" or (minus or "-")) .. text
end

local MONTHS = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" }

local function parts(date)
  local y, m, d = date:match("^(%d+)%-(%d+)%-(%d+)$")
  return tonumber(y), tonumber(m), tonumber(d)
end

--- A period as a table row names it: the day, "from to", or the month.
-- @param row a report period {start, end, days}
-- @param aggregation "daily", "weekly" or "monthly"
-- @return string
function M.period(row, aggregation)
  if aggregation == "daily" then return row.start end
  if aggregation == "monthly" then
    local y, m, d = parts(row.start)
    local ey, em, ed = parts(row["end"])
    local full_end = ed == ({ 31, (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) and 29 or 28, 31, 30, 31, 30,
      31, 31, 30, 31, 30, 31 })[em]
    if d == 1 and full_end and ey == y then return ("%s %d"):format(MONTHS[m], y) end
    if ey == y and em == m then return ("%s %d–%d, %d"):format(MONTHS[m], d, ed, y) end
  end
  return row.start .. " to " .. row["end"]
end

--- A short axis label for a period start: "Oct 5", or "Oct 2026" for months.
-- @param date "YYYY-MM-DD"
-- @param aggregation "daily", "weekly" or "monthly"
-- @return string
function M.short(date, aggregation)
  local y, m, d = parts(date)
  if aggregation == "monthly" then return ("%s %d"):format(MONTHS[m], y) end
  return ("%s %d"):format(MONTHS[m], d)
end

--- What one period is called in running text.
-- @param aggregation "daily", "weekly" or "monthly"
-- @return singular noun
function M.unit(aggregation)
  return ({ daily = "day", weekly = "week", monthly = "month" })[aggregation] or "period"
end

--- The label of a time axis cut into periods: "day", or "week starting" / "month starting".
-- @param aggregation "daily", "weekly" or "monthly"
-- @return string
function M.axis(aggregation)
  if aggregation == "daily" then return "day" end
  return M.unit(aggregation) .. " starting"
end

--- The one line that sums up the people of the range.
-- @param totals the report's totals
-- @param aggregation of the periods
-- @return string
function M.people_line(totals, aggregation)
  if totals.active_users == 0 and totals.registered == 0 then
    return "Nobody was active or registered in this range."
  end
  local org = totals.org_users and (" (the org has %s users)"):format(M.number(totals.org_users)) or ""
  if totals.new_users == nil then
    return ("%s distinct users were active; %s registered in the range%s."):format(
      M.number(totals.active_users), M.number(totals.registered), org)
  end
  return ("%s distinct users were active: %s new (registered in the range) and %s returning (registered before it); "
    .. "%s registered in the range%s. Per %s, each is new, returning or resurrecting."):format(
    M.number(totals.active_users), M.number(totals.new_users), M.number(totals.returning_users),
    M.number(totals.registered), org, M.unit(aggregation))
end

return M
