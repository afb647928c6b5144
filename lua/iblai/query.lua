--- Formatting of values for URLs: paths and query strings (the work is done by the C core).
-- @module iblai.query
local core = require "iblai.core"

local M = {}

--- A scalar as it goes into a URL: integers never print as 1.0, booleans as true/false.
-- @param v a string, number or boolean
-- @return string, or nil for any other type
function M.scalar(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then
    if math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 2^63 then
      return ("%d"):format(v)
    end
    return tostring(v)
  end
  if t == "boolean" then return v and "true" or "false" end
  return nil
end

--- Encodes a query table; keys are sorted so equal tables give equal URLs.
-- Arrays repeat the key (k=a&k=b) unless `joined` names the key, then they are comma-joined.
-- @param query table of name = value (or list of values), or nil
-- @param joined table of the names whose lists are comma-joined, or nil
-- @return the encoded query, without "?" ("" for nil)
-- @usage query.encode({ b = 1, a = { "x", "y" } })   --> "a=x&a=y&b=1"
function M.encode(query, joined)
  if query == nil then return "" end
  if type(query) ~= "table" then core.misuse("query must be a table, got " .. type(query)) end
  return core.query(query, joined)
end

--- Appends an encoded query to a path or URL.
-- @param url string
-- @param query table, as for encode
-- @param joined table, as for encode
-- @return string
function M.append(url, query, joined)
  local q = M.encode(query, joined)
  if q == "" then return url end
  return url .. (url:find("?", 1, true) and "&" or "?") .. q
end

return M
