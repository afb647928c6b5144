--- JSON typed on the command line, decoded so that empty containers keep their kind: the C decoder
-- gives [] and {} both as an empty table; here [] becomes iblai.json.empty_array (sent as []) and {}
-- an empty table marked with M.object_mt (printed as {}). Texts without an empty container take
-- the C decoder, which is far faster on a large --body.
local json = require "iblai.json"

local M = {}

--- The metatable of an empty object from M.decode.
M.object_mt = { __name = "iblai.cli.empty_object" }

local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function utf8_of(code)
  return utf8.char(code)
end

--- Decodes a JSON text: the value, or nil and a message naming the byte where it went wrong.
function M.decode(text)
  if not text:find("%[%s*%]") and not text:find("{%s*}") then return json.decode(text) end
  local at = 1
  local function fail(what)
    error({ json_error = ("%s at byte %d"):format(what, at) }, 0)
  end
  local function space()
    at = text:find("[^ \t\r\n]", at) or #text + 1
  end
  local value
  local function str()
    local parts = {}
    at = at + 1
    while true do
      local stop = text:find('["\\%c]', at)
      if not stop then fail("a string is not closed") end
      parts[#parts + 1] = text:sub(at, stop - 1)
      local c = text:sub(stop, stop)
      if c == '"' then
        at = stop + 1
        return table.concat(parts)
      elseif c == "\\" then
        local e = text:sub(stop + 1, stop + 1)
        if ESCAPES[e] then
          parts[#parts + 1] = ESCAPES[e]
          at = stop + 2
        elseif e == "u" then
          local hex = text:match("^%x%x%x%x", stop + 2)
          if not hex then fail("a \\u escape needs four hex digits") end
          local code = tonumber(hex, 16)
          at = stop + 6
          local low = code >= 0xD800 and code <= 0xDBFF and text:match("^\\u([dD][c-fC-F]%x%x)", at)
          if low then
            code = 0x10000 + (code - 0xD800) * 0x400 + (tonumber(low, 16) - 0xDC00)
            at = at + 6
          end
          parts[#parts + 1] = utf8_of(code)
        else
          at = stop + 1
          fail("an unknown escape")
        end
      else
        at = stop
        fail("a control character in a string")
      end
    end
  end
  local function container(close)
    local t, n = {}, 0
    at = at + 1
    space()
    if text:sub(at, at) == close then
      at = at + 1
      return close == "]" and json.empty_array or setmetatable(t, M.object_mt)
    end
    while true do
      space()
      if close == "}" then
        if text:sub(at, at) ~= '"' then fail("an object key must be a string") end
        local key = str()
        space()
        if text:sub(at, at) ~= ":" then fail("a ':' must follow an object key") end
        at = at + 1
        t[key] = value()
      else
        n = n + 1
        t[n] = value()
      end
      space()
      local c = text:sub(at, at)
      at = at + 1
      if c == close then return t end
      if c ~= "," then
        at = at - 1
        fail(("expected ',' or '%s'"):format(close))
      end
    end
  end
  function value()
    space()
    local c = text:sub(at, at)
    if c == "{" then return container("}") end
    if c == "[" then return container("]") end
    if c == '"' then return str() end
    for word, v in pairs { ["true"] = true, ["false"] = false, null = json.null } do
      if text:sub(at, at + #word - 1) == word then
        at = at + #word
        return v
      end
    end
    local num = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", at)
    if num and num ~= "" and num ~= "-" then
      at = at + #num
      local v = tonumber(num)
      if v == nil then fail("a malformed number") end
      return math.tointeger(v) or v
    end
    if c == "" then fail("the text ends where a value was expected") end
    fail("an unexpected character")
  end
  local ok, v = pcall(function()
    local result = value()
    space()
    if at <= #text then fail("more follows the value") end
    return result
  end)
  if ok then return v end
  if type(v) == "table" and v.json_error then return nil, v.json_error end
  error(v, 0)
end

return M
