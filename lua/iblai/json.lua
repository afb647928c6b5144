--- JSON: decoding by the C core (yajl), encoding by lua-cjson.
-- Debian's lua-cjson 2.1.0 decodes every number as a float under Lua 5.4, so an id 1 would print
-- as 1.0 when put back into a path; the core's decoder keeps whole numbers as Lua integers.
-- Fields: null (a JSON null), empty_array (a value written as []).
-- @module iblai.json
local cjson = require("cjson.safe").new()
local core = require "iblai.core"

cjson.decode_max_depth(200)
cjson.encode_max_depth(200)

local M = { null = cjson.null }

-- lua-cjson 2.1.0 writes every empty table as {}; a field the API wants as a list is given this
-- value instead (validation does it from the facts) and written as [].
M.empty_array = setmetatable({}, { __name = "iblai.json.empty_array", __newindex = function()
  error("iblai.json.empty_array is read-only", 2)
end })
local SENTINEL = "\0iblai:[]"
local SENTINEL_JSON = '"\\u0000iblai:%[%]"'
-- lua-cjson writes numbers with 14 significant digits, so a larger integer (an id, a timestamp
-- in microseconds) would go out rounded; such integers travel as marked strings instead.
local BIG = 1e14
local INTEGER_JSON = '"\\u0000iblai:n:(%-?%d+)"'

local function marker(v)
  if v == M.empty_array then return SENTINEL end
  if math.type(v) == "integer" and (v >= BIG or v <= -BIG) then return "\0iblai:n:" .. v end
  return nil
end

-- A copy of v (only where needed) with every empty_array and large integer marked.
local function mark(v, depth)
  local m = marker(v)
  if m then return m, true end
  if type(v) ~= "table" or depth > 200 then return v, false end
  local copy, any = nil, false
  for k, x in pairs(v) do
    local y, found = mark(x, depth + 1)
    if found then
      if not copy then
        copy = {}
        for kk, xx in pairs(v) do copy[kk] = xx end
      end
      copy[k] = y
      any = true
    end
  end
  return copy or v, any
end

--- Decodes a JSON text; null is M.null (the value lua-cjson uses too), whole numbers are integers.
-- @function decode
-- @param text string
-- @return the value, or nil and a message naming the byte where it went wrong
M.decode = core.json_decode

--- Encodes a value as JSON; M.empty_array is written as [].
-- @param v the value
-- @return the JSON text, or nil and a message (a function, a cycle, ...)
function M.encode(v)
  local marked, any = mark(v, 0)
  local s, err = cjson.encode(marked)
  if s and any then s = s:gsub(SENTINEL_JSON, "[]"):gsub(INTEGER_JSON, "%1") end
  return s, err
end

return M
