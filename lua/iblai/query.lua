--- Formatting of values for URLs: paths and query strings.
local core = require "iblai.core"

local M = {}
local escape = core.escape

--- A scalar as it goes into a URL: integers never print as 1.0, booleans as true/false.
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
function M.encode(query, joined)
  if query == nil then return "" end
  if type(query) ~= "table" then error("query must be a table", 3) end
  local keys = {}
  for k in pairs(query) do
    if type(k) ~= "string" then error("query keys must be strings", 3) end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = query[k]
    if type(v) == "table" then
      local items = {}
      for i, item in ipairs(v) do
        items[i] = M.scalar(item) or error(("query value %s[%d] must be a scalar"):format(k, i), 3)
      end
      if joined and joined[k] then
        parts[#parts + 1] = escape(k) .. "=" .. escape(table.concat(items, ","))
      else
        for _, item in ipairs(items) do parts[#parts + 1] = escape(k) .. "=" .. escape(item) end
      end
    else
      local s = M.scalar(v) or error(("query value '%s' must be a string, number or boolean"):format(k), 3)
      parts[#parts + 1] = escape(k) .. "=" .. escape(s)
    end
  end
  return table.concat(parts, "&")
end

--- Appends an encoded query to a path or URL.
function M.append(url, query, joined)
  local q = M.encode(query, joined)
  if q == "" then return url end
  return url .. (url:find("?", 1, true) and "&" or "?") .. q
end

return M
