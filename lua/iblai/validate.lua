--- Checks parameters against an operation's generated facts and builds the request, so a wrong
-- name, type or value is reported before anything is sent.
local core = require "iblai.core"
local errors = require "iblai.errors"
local ops = require "iblai.ops"
local query = require "iblai.query"

local M = {}

local function fail(op, name, message, expected, got)
  return nil, errors.new {
    kind = "validation", op = op.id, param = name, expected = expected, got = got,
    message = message, method = op.method, url = op.path,
  }
end

local function show(v)
  if type(v) == "string" then return ("%q"):format(#v > 60 and v:sub(1, 60) .. "..." or v) end
  return tostring(v)
end

local DATE = "^%d%d%d%d%-%d%d%-%d%d$"
local DATETIME = "^%d%d%d%d%-%d%d%-%d%d[T ]%d%d:%d%d"

-- Returns the value as it should be sent, or nil and a reason (expected, got).
local function check(fact, v)
  local t = fact.type
  if t == "integer" then
    if math.type(v) == "float" and v == math.floor(v) then v = math.tointeger(v) end
    if math.type(v) ~= "integer" then return nil, "an integer" end
  elseif t == "number" then
    if type(v) ~= "number" then return nil, "a number" end
  elseif t == "boolean" then
    if type(v) ~= "boolean" then return nil, "true or false" end
  elseif t == "string" then
    if math.type(v) == "integer" or (math.type(v) == "float" and v == math.floor(v)) then v = query.scalar(v) end
    if type(v) ~= "string" then return nil, "a string" end
    if fact.format == "date" and not v:match(DATE) then return nil, "a date (YYYY-MM-DD)" end
    if fact.format == "date-time" and not v:match(DATETIME) then return nil, "a date-time (YYYY-MM-DDTHH:MM:SS)" end
    if fact.maxLength and utf8.len(v) and utf8.len(v) > fact.maxLength then
      return nil, ("at most %d characters"):format(fact.maxLength)
    end
    if fact.minLength and #v < fact.minLength then return nil, ("at least %d characters"):format(fact.minLength) end
  elseif t == "array" then
    if type(v) ~= "table" then return nil, "a list" end
    for i, item in ipairs(v) do
      local ok, why = check({ type = fact.items, enum = fact.item_enum }, item)
      if ok == nil then return nil, ("a list whose items are %s (item %d)"):format(why, i) end
      v[i] = ok
    end
  elseif t == "object" then
    if type(v) ~= "table" then return nil, "an object (a table)" end
  end
  if fact.enum then
    local found = false
    for _, e in ipairs(fact.enum) do
      if e == v then found = true break end
    end
    if not found then
      local shown = {}
      for i, e in ipairs(fact.enum) do shown[i] = tostring(e) end
      return nil, "one of " .. table.concat(shown, ", ")
    end
  end
  if type(v) == "number" then
    if fact.minimum and v < fact.minimum then return nil, ("at least %s"):format(query.scalar(fact.minimum)) end
    if fact.maximum and v > fact.maximum then return nil, ("at most %s"):format(query.scalar(fact.maximum)) end
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
  if type(body) ~= "table" or not fields then return body end
  for name, value in pairs(body) do
    local fact = fields[name]
    if not fact then
      if not op.body.open then
        local guess = ops.closest(tostring(name), (function()
          local n = {}
          for k in pairs(fields) do n[#n + 1] = k end
          return n
        end)())
        return fail(op, name, ("unknown body field '%s'%s"):format(tostring(name),
          guess and ("; did you mean '%s'?"):format(guess) or ""))
      end
    elseif value ~= nil and not (fact.nullable and value == require("iblai.json").null) then
      local ok, expected = check(fact, value)
      if ok == nil then
        return fail(op, name, ("body field '%s' must be %s, got %s"):format(name, expected, show(value)),
          expected, value)
      end
      body[name] = ok
    end
  end
  for name, fact in pairs(fields) do
    if fact.required and body[name] == nil then
      return fail(op, name, ("body field '%s' is required"):format(name), fact.type, nil)
    end
  end
  return body
end

--- Builds { method, path, query, json, op } from params; `defaults` fills {org} and {user_id}.
function M.request(op, params, defaults)
  params = params or {}
  if type(params) ~= "table" then error("parameters must be a table", 3) end
  local by_name = {}
  for _, p in ipairs(op.params) do by_name[p.name] = p end
  local fields = op.body and op.body.fields
  local values, body = {}, nil
  for name, v in pairs(params) do
    if type(name) ~= "string" then return fail(op, tostring(name), "parameter names must be strings") end
    if by_name[name] then
      values[name] = v
    elseif name == "body" and op.body then
      body = v
    elseif fields and fields[name] then
      body = body or {}
      if type(body) ~= "table" then return fail(op, name, "give either body or body fields, not both") end
      body[name] = v
    else
      return unknown(op, name)
    end
  end
  for _, d in ipairs { { "org", "IBLAI_ORG or the org option" }, { "user_id", "IBLAI_USERNAME or the username option" } } do
    local name, source = d[1], d[2]
    if by_name[name] and values[name] == nil and defaults[name] ~= nil then values[name] = defaults[name] end
    if by_name[name] and by_name[name].loc == "path" and values[name] == nil then
      return fail(op, name, ("parameter '%s' is required; pass %s=... or set %s"):format(name, name, source))
    end
  end
  local q, joined = {}, nil
  for _, p in ipairs(op.params) do
    local v = values[p.name]
    if v == nil then
      if p.required then
        return fail(op, p.name, ("parameter '%s' is required (%s)"):format(p.name, p.type), p.type, nil)
      end
    else
      local ok, expected = check(p, v)
      if ok == nil then
        return fail(op, p.name, ("parameter '%s' must be %s, got %s"):format(p.name, expected, show(v)),
          expected, v)
      end
      values[p.name] = ok
      if p.loc == "query" then
        q[p.name] = ok
        if p.joined then
          joined = joined or {}
          joined[p.name] = true
        end
      end
    end
  end
  local path = op.path:gsub("{([^}]+)}", function(name) return core.escape(query.scalar(values[name])) end)
  local json
  if op.body then
    if body == nil and op.body.fields then body = {} end
    if body ~= nil then
      local err
      body, err = check_body(op, body)
      if err then return nil, err end
      json = body
    end
  end
  return { method = op.method, path = path, query = q, joined = joined, json = json, op = op.id }
end

return M
