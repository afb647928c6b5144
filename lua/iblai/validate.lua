--- Checks parameters against an operation's generated facts and builds the request, so a wrong
-- name, type or value is reported before anything is sent.
local core = require "iblai.core"
local errors = require "iblai.errors"
local json = require "iblai.json"
local ops = require "iblai.ops"
local query = require "iblai.query"

local M = {}

local math_type, floor, utf8_len = math.type, math.floor, utf8.len

local function fail(op, name, message, expected, got)
  return nil, errors.new {
    kind = "validation", op = op.id, param = name, expected = expected, got = got,
    message = message, method = op.method, url = op.path,
  }
end

local SHOWN = { ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t", ['"'] = '\\"', ["\\"] = "\\\\" }

-- A value as an error message quotes it: on one line, at most 60 characters of a string.
local function show(v)
  if type(v) ~= "string" then return tostring(v) end
  local cut = #v > 60 and v:sub(1, 60) or v
  cut = cut:gsub('[%c"\\]', function(c) return SHOWN[c] or ("\\%03d"):format(c:byte()) end)
  return '"' .. cut .. (#v > 60 and '..."' or '"')
end

local DATE = "^%d%d%d%d%-%d%d%-%d%d$"
local DATETIME = "^%d%d%d%d%-%d%d%-%d%d[T ]%d%d:%d%d"
local ESCAPES = { w = "[%w_]", d = "%d", s = "%s", W = "[^%w_]", D = "%D", S = "%S" }
local IN_CLASS = { w = "%w_", d = "%d", s = "%s" }

-- An ECMAScript regular expression as a Lua pattern, when it can be said exactly (anchors,
-- literals, classes, * + ?); nil for groups, alternation and counted repeats, which are not checked.
local function lua_pattern(re)
  local out, i = {}, 1
  while i <= #re do
    local c = re:sub(i, i)
    if c:find("[(){}|]") then return nil end
    if c == "\\" then
      local n = re:sub(i + 1, i + 1)
      if ESCAPES[n] then out[#out + 1] = ESCAPES[n]
      elseif n:find("%p") then out[#out + 1] = "%" .. n
      else return nil end
      i = i + 2
    elseif c == "[" then
      local j, parts = i + 1, { "[" }
      if re:sub(j, j) == "^" then parts[2], j = "^", j + 1 end
      while j <= #re and re:sub(j, j) ~= "]" do
        local d = re:sub(j, j)
        if d == "\\" then
          local n = re:sub(j + 1, j + 1)
          if IN_CLASS[n] then parts[#parts + 1] = IN_CLASS[n]
          elseif n:find("%p") then parts[#parts + 1] = "%" .. n
          else return nil end
          j = j + 2
        else
          local last = re:sub(j + 1, j + 1) == "]"
          parts[#parts + 1] = (d == "%" or (d == "-" and (j == i + 1 or last))) and "%" .. d or d
          j = j + 1
        end
      end
      if j > #re then return nil end
      parts[#parts + 1] = "]"
      out[#out + 1] = table.concat(parts)
      i = j + 1
    elseif c == "*" or c == "+" or c == "?" then
      if re:sub(i + 1, i + 1) == "?" then return nil end
      out[#out + 1] = c
      i = i + 1
    elseif (c == "^" and i == 1) or (c == "$" and i == #re) or c == "." then
      out[#out + 1] = c
      i = i + 1
    else
      out[#out + 1] = c:find("[%^%$%%%-%[%]]") and "%" .. c or c
      i = i + 1
    end
  end
  return table.concat(out)
end

local patterns = {}
local function matches(re, v)
  if patterns[re] == nil then patterns[re] = lua_pattern(re) or false end
  return not patterns[re] or v:find(patterns[re]) ~= nil
end

local check

-- Checks a table against field facts; returns a normalised copy (the caller's table is never
-- changed), or nil, where, expected, got on the first problem.
local function check_fields(fields, open, value, where)
  local out = {}
  for name, v in pairs(value) do
    local fact = fields[name]
    local at = where and (where .. "." .. tostring(name)) or tostring(name)
    if not fact then
      if not open then
        local names = {}
        for k in pairs(fields) do names[#names + 1] = k end
        local guess = ops.closest(tostring(name), names)
        return nil, at, nil, nil, guess
      end
      out[name] = v
    elseif fact.nullable and v == json.null then
      out[name] = v
    else
      local ok, expected, got, inner = check(fact, v, at)
      if ok == nil then return nil, inner or at, expected, got end
      out[name] = ok
    end
  end
  for name, fact in pairs(fields) do
    if fact.required and value[name] == nil then
      return nil, where and (where .. "." .. name) or name, "present (it is required)", nil
    end
  end
  return out
end

-- Returns the value as it should be sent, or nil, expected, got, where (for nested values).
function check(fact, v, where)
  local t = fact.type
  if t == "integer" then
    local mt = math_type(v)
    if mt == "float" then
      local whole = math.tointeger(v) -- nil for fractions, NaN, infinities and floats beyond 64 bits
      if whole == nil then return nil, "an integer (whole and within 64 bits)", v end
      v, mt = whole, "integer"
    end
    if mt ~= "integer" then return nil, "an integer", v end
  elseif t == "number" then
    if type(v) ~= "number" then return nil, "a number", v end
    if v ~= v or v == math.huge or v == -math.huge then return nil, "a finite number", v end
  elseif t == "boolean" then
    if type(v) ~= "boolean" then return nil, "true or false", v end
  elseif t == "string" then
    if type(v) == "number" and (math_type(v) == "integer" or v == floor(v)) then v = query.scalar(v) end
    if type(v) ~= "string" then return nil, "a string", v end
    if fact.format == "date" and not v:match(DATE) then return nil, "a date (YYYY-MM-DD)", v end
    if fact.format == "date-time" and not v:match(DATETIME) then return nil, "a date-time (YYYY-MM-DDTHH:MM:SS)", v end
    if fact.maxLength or fact.minLength then
      local len = utf8_len(v) or #v
      if fact.maxLength and len > fact.maxLength then return nil, ("at most %d characters"):format(fact.maxLength), v end
      if fact.minLength and len < fact.minLength then return nil, ("at least %d characters"):format(fact.minLength), v end
    end
    if fact.pattern and not matches(fact.pattern, v) then return nil, "text matching " .. fact.pattern, v end
  elseif t == "array" then
    if type(v) ~= "table" then return nil, "a list", v end
    if v == json.empty_array or next(v) == nil then return json.empty_array end
    local n, entries = #v, 0
    for _ in next, v do entries = entries + 1 end
    if entries ~= n then return nil, "a list (items 1 to n, no holes, no named fields)", v end
    local list = {}
    for i, item in ipairs(v) do
      local at = ("%s[%d]"):format(where or "", i)
      local ok, expected, got, inner
      if fact.item_fields and type(item) == "table" then
        ok, inner, expected, got = check_fields(fact.item_fields, false, item, at)
      else
        ok, expected, got, inner = check({ type = fact.items, enum = fact.item_enum }, item, at)
      end
      if ok == nil then return nil, expected or "a known field", got, inner or at end
      list[i] = ok
    end
    v = list
  elseif t == "object" then
    if type(v) ~= "table" then return nil, "an object (a table)", v end
    if fact.fields then
      local ok, inner, expected, got = check_fields(fact.fields, true, v, where)
      if ok == nil then return nil, expected, got, inner end
      v = ok
    end
  end
  if fact.enum then
    local found = false
    for _, e in ipairs(fact.enum) do
      if e == v then found = true break end
    end
    if not found then
      local shown = {}
      for i, e in ipairs(fact.enum) do shown[i] = tostring(e) end
      return nil, "one of " .. table.concat(shown, ", "), v
    end
  end
  if type(v) == "number" then
    if fact.minimum and v < fact.minimum then return nil, ("at least %s"):format(query.scalar(fact.minimum)), v end
    if fact.maximum and v > fact.maximum then return nil, ("at most %s"):format(query.scalar(fact.maximum)), v end
  end
  return v
end

local function param_names(op)
  local names = {}
  for _, p in ipairs(op.params) do names[#names + 1] = p.name end
  if op.body and op.body.fields then
    for name in pairs(op.body.fields) do names[#names + 1] = name end
  end
  if op.body then names[#names + 1] = "body" end
  table.sort(names)
  return names
end

local function unknown(op, name)
  local names = param_names(op)
  local guess = ops.closest(name, names)
  local message = ("unknown parameter '%s'"):format(name)
  if guess then message = message .. ("; did you mean '%s'?"):format(guess) end
  if #names > 0 then message = message .. " (it takes: " .. table.concat(names, ", ") .. ")" end
  return fail(op, name, message, nil, nil)
end

local function check_body(op, body)
  local fields = op.body.fields
  if not fields then
    if op.body.type and op.body.type ~= "any" then
      local ok, expected, got, where = check(op.body, body, "body")
      if ok == nil then
        return fail(op, where or "body", ("%s must be %s, got %s"):format(where or "body", expected, show(got)),
          expected, got)
      end
      return ok
    end
    return body
  end
  if type(body) ~= "table" then return fail(op, "body", "body must be an object (a table)", "an object", body) end
  local ok, where, expected, got, guess = check_fields(fields, op.body.open, body, nil)
  if ok then return ok end
  if expected == nil then
    return fail(op, where, ("unknown body field '%s'%s"):format(where, guess and ("; did you mean '%s'?"):format(guess) or ""))
  end
  if expected == "present (it is required)" then
    return fail(op, where, ("body field '%s' is required"):format(where), nil, nil)
  end
  return fail(op, where, ("body field '%s' must be %s, got %s"):format(where, expected, show(got)), expected, got)
end

-- What is worked out once per operation: its parameters by name, its path template as
-- alternating literal text and parameter names (for core.path), and, for the fast path, the Lua
-- type each parameter takes when nothing but its type needs checking.
local prepared = setmetatable({}, { __mode = "k" })

local PLAIN_TYPES = { integer = "integer", string = "string", boolean = "boolean" }
local CONSTRAINTS = { "enum", "format", "pattern", "minimum", "maximum", "minLength", "maxLength", "nullable" }

-- The type a parameter takes when its type is all there is to check, else nil.
local function plain_type(p)
  if p.loc ~= "path" and p.loc ~= "query" then return nil end
  for _, c in ipairs(CONSTRAINTS) do
    if p[c] ~= nil then return nil end
  end
  return PLAIN_TYPES[p.type]
end

local function shape(op)
  local sh = prepared[op]
  if sh then return sh end
  sh = { by_name = {}, pieces = {}, plain = {}, required_query = {}, fast = op.body == nil }
  for _, p in ipairs(op.params) do
    sh.by_name[p.name] = p
    sh.plain[p.name] = plain_type(p)
    if p.loc == "query" and p.required then sh.required_query[#sh.required_query + 1] = p.name end
    -- a path value taken from the defaults is not looked at here, so it must need no checks
    if p.joined or (p.loc == "path" and not sh.plain[p.name]) then sh.fast = false end
  end
  local at = 1
  for before, name, after in op.path:gmatch("()({[^}]+})()") do
    sh.pieces[#sh.pieces + 1] = op.path:sub(at, before - 1)
    sh.pieces[#sh.pieces + 1] = name:sub(2, -2)
    at = after
  end
  sh.pieces[#sh.pieces + 1] = op.path:sub(at)
  prepared[op] = sh
  return sh
end

-- The common case at the cost of a few lookups: no body, and parameters whose type is all there
-- is to check, given with the right Lua type. Anything else returns nil and goes the full way,
-- which gives the same request, or the error that says what is wrong.
local function fast_request(op, sh, params, defaults)
  local plain, q = sh.plain, nil
  for name, v in next, params do
    local want = plain[name]
    if want == nil or (want == "integer" and math_type(v) or type(v)) ~= want then return nil end
    if sh.by_name[name].loc == "query" then
      q = q or {}
      q[name] = v
    end
  end
  local required = sh.required_query
  for i = 1, #required do
    if rawget(params, required[i]) == nil then return nil end
  end
  local path = core.path(sh.pieces, params, defaults)
  if not path then return nil end
  return { method = op.method, path = path, query = q, op = op.id }
end

local DEFAULTS = { org = "IBLAI_ORG or the org option", user_id = "IBLAI_USERNAME or the username option" }

--- Builds { method, path, query (nil when empty), joined, json, op } from params; `defaults` fills {org} and
-- {user_id}. The caller's tables are only read.
function M.request(op, params, defaults)
  params = params or {}
  if type(params) ~= "table" then core.misuse("parameters must be a table, got " .. type(params)) end
  local sh = shape(op)
  if sh.fast then
    local req = fast_request(op, sh, params, defaults)
    if req then return req end
  end
  local by_name = sh.by_name
  local fields = op.body and op.body.fields
  local values, body, loose = {}, nil, nil
  for name, v in next, params do
    if by_name[name] then
      values[name] = v
    elseif type(name) ~= "string" then
      return fail(op, tostring(name), "parameter names must be strings")
    elseif name == "body" and op.body then
      body = v
    elseif fields and fields[name] then
      loose = loose or {} -- body fields given as parameters, gathered in a table of our own
      loose[name] = v
    else
      return unknown(op, name)
    end
  end
  if loose then
    if body ~= nil then return fail(op, next(loose), "give either body or body fields, not both") end
    body = loose
  end
  local q, joined = nil, nil
  local list = op.params
  for i = 1, #list do
    local p = list[i]
    local name = p.name
    local v = values[name]
    if v == nil and p.loc == "path" and DEFAULTS[name] then
      v = defaults[name]
      if v == nil then
        return fail(op, name, ("parameter '%s' is required; pass %s=... or set %s"):format(name, name, DEFAULTS[name]))
      end
      values[name] = v
    end
    if v == nil then
      if p.required then
        return fail(op, name, ("parameter '%s' is required (%s)"):format(name, p.type), p.type, nil)
      end
    else
      local ok, expected = check(p, v)
      if ok ~= nil and p.loc == "path" and query.scalar(ok) == "" then
        ok, expected = nil, "non-empty (it is a segment of the path)"
      end
      if ok == nil then
        return fail(op, name, ("parameter '%s' must be %s, got %s"):format(name, expected, show(v)), expected, v)
      end
      if ok ~= v then values[name] = ok end
      if p.loc == "query" then
        q = q or {}
        q[name] = ok
        if p.joined then
          joined = joined or {}
          joined[name] = true
        end
      end
    end
  end
  local path = core.path(sh.pieces, values)
  if op.body then
    if body == nil and op.body.fields then body = {} end
    if body == nil and op.body.required then
      return fail(op, "body", ("%s needs a body (%s); pass body = ..."):format(op.id, op.body.type or "JSON"))
    end
    if body ~= nil then
      local err
      body, err = check_body(op, body)
      if err then return nil, err end
    end
  end
  return { method = op.method, path = path, query = q, joined = joined, json = body, op = op.id }
end

return M
