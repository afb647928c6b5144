--- JSON for the sandbox. Answers are written with sorted keys (two runs can be diffed) and
-- every empty table as [] unless it is marked as an object, because lua-cjson 2.1.0 writes {}
-- and keeps no order. Request bodies are read by the core's decoder, then strictly checked:
-- bounded nesting, finite numbers only.
local cjson = require "cjson.safe"
local core = require "iblai.core"
local encode_json = require("iblai.httpd").encode_json

local type, mtype = type, math.type

local M = {}

M.MAX_DEPTH = 32 -- request bodies nesting deeper are refused; answers never come close

local state_io = cjson.new()
state_io.encode_max_depth(M.MAX_DEPTH + 16)

M.null = cjson.null

local OBJECT = { __name = "iblai.sandbox.object" }

--- Marks t (or a new table) as a JSON object, so that it is written as {} when empty.
function M.object(t)
  return setmetatable(t or {}, OBJECT)
end

--- The JSON text of v: keys sorted, empty tables as [] unless marked with M.object (written in C:
-- every answer goes through it).
function M.encode(v)
  return encode_json(v, OBJECT)
end

local function at(path, k)
  if type(k) == "number" then return ("%s[%d]"):format(path, k - 1) end
  return path == "" and k or path .. "." .. k
end

-- What is wrong with a decoded body table (nesting, a non-finite number), or nil. Whole floats
-- become integers on the way, as DRF takes 3.0 for an integer field.
local function inspect(t, path, depth)
  if depth > M.MAX_DEPTH then return ("the body nests deeper than %d levels"):format(M.MAX_DEPTH) end
  for k, v in pairs(t) do
    local tv = type(v)
    if tv == "number" then
      if v ~= v or v == math.huge or v == -math.huge then
        return ("the number at %s is out of range (only finite numbers are accepted)"):format(at(path, k))
      end
      if mtype(v) == "float" then t[k] = math.tointeger(v) or v end
    elseif tv == "table" then
      local err = inspect(v, at(path, k), depth + 1)
      if err then return err end
    end
  end
end

--- Reads a request body: the value, or nil and a message that says what is wrong with it.
function M.decode_body(text)
  local v, err = core.json_decode(text)
  if v == nil then return nil, err or "the body is not JSON" end
  if type(v) == "number" and (v ~= v or v == math.huge or v == -math.huge) then
    return nil, "the body is a number out of range"
  end
  err = type(v) == "table" and inspect(v, "", 1)
  if err then return nil, err end
  return v
end

--- The state file's text (lua-cjson: fast; the sandbox never stores NaN, Infinity or deep nesting).
function M.encode_state(state)
  return state_io.encode(state)
end

--- Reads a state file's text (the core's decoder keeps whole numbers as integers).
function M.decode_state(text)
  return core.json_decode(text)
end

return M
