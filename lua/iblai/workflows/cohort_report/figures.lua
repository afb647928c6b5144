--- What a figure from the analytics API may be, and sums that cannot wrap. The API can send
-- anything where a number belongs (1e300, "NaN", -3, null, 2^62); each value is read into what
-- can be shown plus, when it is not a figure the API should send, one line saying why.
-- @module iblai.workflows.cohort_report.figures
local json = require "iblai.json"
local utf8text = require "iblai.workflows.cohort_report.text"

local M = {}

--- The largest count taken as sent: 2^53, the last whole number a JSON double (and so most
-- clients of the API) carries exactly.
M.MAX_COUNT = 1 << 53

local function finite(v)
  return v == v and v ~= math.huge and v ~= -math.huge
end

--- A JSON value as a message quotes it: strings cut to 40 characters with control bytes
-- written as \xNN, so a message stays one printable line.
-- @param v any decoded JSON value
-- @return string
function M.describe(v)
  if v == nil then return "missing" end
  if v == json.null then return "null" end
  if type(v) == "string" then
    local s, cut = utf8text.cut(v, 40)
    s = s:gsub("[%c\127\\\"]", function(c)
      if c == "\\" or c == '"' then return "\\" .. c end
      return ("\\x%02x"):format(c:byte())
    end)
    return '"' .. s .. (cut and "…" or "") .. '"'
  end
  if type(v) == "number" then
    if v ~= v then return "NaN" end
    if v == math.huge then return "Infinity" end
    if v == -math.huge then return "-Infinity" end
    if math.type(v) == "integer" then return tostring(v) end
    local text = ("%.15g"):format(v) -- the shortest of the two that reads back as v
    return tonumber(text) == v and text or ("%.17g"):format(v)
  end
  if type(v) == "table" then return #v > 0 and "a list" or "an object" end
  return type(v) == "boolean" and tostring(v) or "a " .. type(v)
end

--- True when a decoded JSON value is a list: a table whose keys are all integers (an object has
-- a string key; an empty one cannot be told from an empty list, and reads as one).
-- @param v any decoded JSON value
-- @return boolean
function M.is_list(v)
  if type(v) ~= "table" or v == json.null then return false end
  for k in pairs(v) do
    if math.type(k) ~= "integer" then return false end
  end
  return true
end

--- Reads a figure the API sent.
-- @param v the decoded JSON value
-- @param kind "count" (whole, 0 to MAX_COUNT), "amount" (an average or a share: finite, not
--   negative) or "change" (finite, either sign)
-- @return the number to show (an integer when whole and small enough; nil when v is not a finite
--   number), and nil or what is wrong with it ("is negative: -3")
function M.read(v, kind)
  if type(v) ~= "number" then
    if type(v) == "string" then return nil, "is the string " .. M.describe(v) .. ", not a number" end
    if v == nil or v == json.null then return nil, "is " .. M.describe(v) end
    return nil, "is " .. M.describe(v) .. ", not a number"
  end
  if not finite(v) then return nil, "is " .. M.describe(v) .. ", not a finite number" end
  v = math.tointeger(v) or v
  if kind == "change" then return v, nil end
  if v < 0 then return v, "is negative: " .. M.describe(v) end
  if kind == "count" then
    if math.type(v) ~= "integer" then
      if v ~= math.floor(v) then return v, "is not a whole number: " .. M.describe(v) end
      return v, "is " .. M.describe(v) .. ", beyond any count (over 2^53)"
    end
    if v > M.MAX_COUNT then return v, "is " .. M.describe(v) .. ", beyond any count (over 2^53)" end
  end
  return v, nil
end

--- a + b that never wraps: integers while the sum fits, a float beyond; nil when either is nil.
-- @param a number or nil
-- @param b number or nil
-- @return number or nil
function M.add(a, b)
  if a == nil or b == nil then return nil end
  if math.type(a) == "integer" and math.type(b) == "integer" then
    if (b > 0 and a > math.maxinteger - b) or (b < 0 and a < math.mininteger - b) then
      return (a + 0.0) + b
    end
  end
  return a + b
end

--- True when a computed figure (a sum, an average, a change) is a finite number a count could be
-- near; false for what a sum of odd figures can reach (not finite, or a count beyond 2^53).
-- @param v number
-- @param kind "count", "amount" or "change"
-- @return boolean
function M.sane(v, kind)
  if type(v) ~= "number" or not finite(v) then return false end
  if kind == "change" then return true end
  if v < 0 then return false end
  return kind ~= "count" or v <= M.MAX_COUNT
end

return M
