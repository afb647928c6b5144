--- JSON for the sandbox. Answers are written with sorted keys (two runs can be diffed) and
-- every empty table as [] unless it is marked as an object, because lua-cjson 2.1.0 writes {}
-- and keeps no order. Request bodies are read by the core's decoder, then strictly checked:
-- bounded nesting, finite numbers only.
local cjson = require "cjson.safe"
local core = require "iblai.core"

local type, next, tostring, getmetatable, find, gsub = type, next, tostring, getmetatable, string.find, string.gsub
local mtype, sort = math.type, table.sort

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

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r",
  ["\t"] = "\\t" }
for byte = 0, 31 do
  local c = string.char(byte)
  ESCAPES[c] = ESCAPES[c] or ("\\u%04x"):format(byte)
end
ESCAPES["\127"] = "\\u007f"

local function quote(s)
  if find(s, '[%c"\\]') then s = gsub(s, '[%c"\\]', ESCAPES) end
  return '"' .. s .. '"'
end

local function number(v)
  if mtype(v) == "integer" then return tostring(v) end
  if v ~= v or v == math.huge or v == -math.huge then error("cannot write a non-finite number as JSON", 0) end
  if v == math.floor(v) and v > -2^53 and v < 2^53 then return ("%d"):format(v) end
  local s = ("%.14g"):format(v)
  if tonumber(s) ~= v then s = ("%.17g"):format(v) end
  return s
end

-- Quoted keys with their colon: answers use a small vocabulary, so this stays small (bounded
-- all the same, since stored bodies may bring keys of their own).
local KEYS, cached = {}, 0
local function key(k)
  local q = KEYS[k]
  if q then return q end
  q = quote(k) .. ":"
  if cached < 2048 then
    KEYS[k], cached = q, cached + 1
  end
  return q
end

local write

local function write_table(t, out, n, depth)
  if depth > 64 then error("cannot write JSON nested deeper than 64 levels", 0) end
  if next(t) == nil then
    n = n + 1
    out[n] = getmetatable(t) == OBJECT and "{}" or "[]"
    return n
  end
  if t[1] ~= nil and getmetatable(t) ~= OBJECT then
    n = n + 1
    out[n] = "["
    for i = 1, #t do
      if i > 1 then
        n = n + 1
        out[n] = ","
      end
      n = write(t[i], out, n, depth + 1)
    end
    n = n + 1
    out[n] = "]"
    return n
  end
  local keys, count = {}, 0
  for k in pairs(t) do
    if type(k) ~= "string" then error("cannot write a table mixing list items and keys as JSON", 0) end
    count = count + 1
    keys[count] = k
  end
  if count > 1 then sort(keys) end
  local sep = "{"
  for i = 1, count do
    local k = keys[i]
    out[n + 1], out[n + 2] = sep, key(k)
    n = write(t[k], out, n + 2, depth + 1)
    sep = ","
  end
  n = n + 1
  out[n] = "}"
  return n
end

write = function(v, out, n, depth)
  local t = type(v)
  n = n + 1
  if t == "string" then
    out[n] = quote(v)
  elseif t == "number" then
    out[n] = number(v)
  elseif t == "boolean" then
    out[n] = v and "true" or "false"
  elseif v == M.null or v == nil then
    out[n] = "null"
  elseif t == "table" then
    return write_table(v, out, n - 1, depth)
  else
    error("cannot write a " .. t .. " as JSON", 0)
  end
  return n
end

--- The JSON text of v: keys sorted, empty tables as [] unless marked with M.object.
function M.encode(v)
  local out = {}
  local n = write(v, out, 0, 0)
  return table.concat(out, "", 1, n)
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
