--- What the commands print: JSON with sorted keys (pretty on a terminal, compact otherwise), and
-- writes to stdout that turn a full disk or a closed pipe into one line on stderr and exit 1.
-- An empty table prints as []: a decoded answer cannot tell an empty array from an empty object,
-- and the API's empty containers are nearly all lists (results, tags, ids). What the user typed
-- keeps its kind (iblai.cli.jsontext marks an empty object).
local json = require "iblai.json"
local object_mt = require("iblai.cli.jsontext").object_mt

local M = {}

local null, empty_array = json.null, json.empty_array
local MAX_DEPTH = 1000

local ESCAPES = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

-- RFC 8259: quote, backslash and the control characters are escaped; UTF-8 goes through as is.
local function escape(c)
  return ESCAPES[c] or ("\\u%04x"):format(c:byte())
end

local function quote(s)
  if not s:find('[%c"\\]') then return '"' .. s .. '"' end
  return '"' .. s:gsub('[%c"\\]', escape) .. '"'
end
M.quote = quote

-- Whole numbers as integers; other numbers in the fewest digits that read back the same.
local function number(n)
  if math.type(n) == "integer" then return tostring(n) end
  if n ~= n or n == math.huge or n == -math.huge then return "null" end
  if n == math.floor(n) and n >= -2 ^ 53 and n <= 2 ^ 53 then return ("%d"):format(math.tointeger(n)) end
  local s = ("%.15g"):format(n)
  if tonumber(s) == n then return s end
  s = ("%.16g"):format(n)
  if tonumber(s) == n then return s end
  return ("%.17g"):format(n)
end

-- A table is a list when its keys are exactly 1..#t; an empty table counts as one.
local function is_list(t)
  local n = rawlen(t)
  if n == 0 then return next(t) == nil end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

-- Keys as text, sorted; a key that is not a string (a sparse list's) maps back to itself.
local function sorted_keys(t)
  local keys, other = {}, nil
  for k in pairs(t) do
    if type(k) == "string" then
      keys[#keys + 1] = k
    else
      other = other or {}
      other[tostring(k)] = k
      keys[#keys + 1] = tostring(k)
    end
  end
  table.sort(keys)
  return keys, other
end

local PADS = setmetatable({}, { __index = function(pads, depth)
  local pad = "\n" .. ("  "):rep(depth)
  pads[depth] = pad
  return pad
end })

--- A value as JSON text with sorted keys.
-- @param v the value (tables, strings, numbers, booleans, iblai.json.null)
-- @param pretty boolean: two-space indentation, one member a line
-- @return string
function M.encode(v, pretty)
  local buf, n = {}, 0
  local colon = pretty and ": " or ":"
  local keyed = {} -- "key": for each key met, since the items of a list share their keys
  local function write(x, depth)
    local t = type(x)
    n = n + 1
    if t == "string" then
      buf[n] = quote(x)
    elseif t == "number" then
      buf[n] = number(x)
    elseif t == "boolean" then
      buf[n] = x and "true" or "false"
    elseif x == null or x == nil then
      buf[n] = "null"
    elseif t == "table" then
      if depth > MAX_DEPTH then error("iblai: the value is nested more than 1000 levels deep", 0) end
      local pad = pretty and PADS[depth + 1] or ""
      local list = x == empty_array or (is_list(x) and getmetatable(x) ~= object_mt)
      if list then
        local len = x == empty_array and 0 or rawlen(x)
        if len == 0 then
          buf[n] = "[]"
          return
        end
        buf[n] = "["
        local sep = "," .. pad
        for i = 1, len do
          n = n + 1
          buf[n] = i > 1 and sep or pad
          write(x[i], depth + 1)
        end
      else
        local keys, other = sorted_keys(x)
        buf[n] = "{"
        local sep = "," .. pad
        for i = 1, #keys do
          local key = keys[i]
          local q = keyed[key]
          if not q then
            q = quote(key) .. colon
            keyed[key] = q
          end
          buf[n + 1], buf[n + 2] = i > 1 and sep or pad, q
          n = n + 2
          write(x[other and other[key] or key], depth + 1)
        end
      end
      if pretty then
        n = n + 1
        buf[n] = PADS[depth]
      end
      n = n + 1
      buf[n] = list and "]" or "}"
    else
      error(("iblai: a %s cannot be written as JSON"):format(t), 0)
    end
  end
  write(v, 0)
  return table.concat(buf, "", 1, n)
end

local tty = {}

--- Whether a file descriptor (1 stdout, 2 stderr) is a terminal; asked once per descriptor.
function M.isatty(fd)
  if tty[fd] == nil then tty[fd] = os.execute(("[ -t %d ]"):format(fd)) == true end
  return tty[fd]
end

--- Writes to stdout; a failed write raises { write_failed = message }, which M.guard reports.
function M.write(...)
  local ok, err = io.stdout:write(...)
  if not ok then error({ write_failed = err }, 0) end
end

--- Writes a value as JSON and a newline: pretty when stdout is a terminal.
function M.json(v)
  M.write(M.encode(v, M.isatty(1)), "\n")
end

--- Runs fn(...) and flushes stdout; a failed write ends it with one line on stderr and 1.
-- Other errors (an interruption, a bug) go on to the program, which reports them.
-- @param prog string e.g. "iblai call"
-- @return fn's exit status, or 1 when the output could not be written
function M.guard(prog, fn, ...)
  local ok, code = pcall(fn, ...)
  if not ok then
    if type(code) == "table" and code.write_failed then
      io.stderr:write(prog, ": could not write the output: ", tostring(code.write_failed), "\n")
      return 1
    end
    error(code, 0)
  end
  local flushed, err = io.stdout:flush()
  if not flushed then
    io.stderr:write(prog, ": could not write the output: ", tostring(err), "\n")
    return 1
  end
  return code
end

return M
