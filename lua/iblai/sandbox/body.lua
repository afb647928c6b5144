--- Request bodies read strictly and checked against the operation's generated facts, answered as
-- DRF does: 400 with {field: [messages]}, or {"detail": "JSON parse error - ..."}. Read-only
-- fields are dropped, as DRF drops them.
local ops = require "iblai.ops"
local json = require "iblai.sandbox.json"
local dates = require "iblai.sandbox.dates"
local respond = require "iblai.sandbox.respond"

local M = {}

local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

local function length(s)
  return utf8.len(s) or #s
end

-- Why value v does not fit field facts f, or nil when it does.
local function problem(f, v, required)
  if v == json.null then return not f.nullable and "This field may not be null." or nil end
  local t = f.type
  if t == "string" then
    if type(v) ~= "string" then return "Not a valid string." end
    if required and v == "" then return "This field may not be blank." end
    if f.maxLength and length(v) > f.maxLength then
      return ("Ensure this field has no more than %d characters."):format(f.maxLength)
    end
    if f.minLength and length(v) < f.minLength then
      return ("Ensure this field has at least %d characters."):format(f.minLength)
    end
    if f.format == "uuid" and not v:match(UUID) then return "Must be a valid UUID." end
    if f.format == "date-time" and not dates.parse(v) then return "Datetime has wrong format." end
    if f.enum then
      for _, e in ipairs(f.enum) do if e == v then return nil end end
      return ('"%s" is not a valid choice.'):format(v)
    end
  elseif t == "integer" then
    if math.type(v) ~= "integer" then return "A valid integer is required." end
  elseif t == "number" then
    if type(v) ~= "number" then return "A valid number is required." end
  elseif t == "boolean" then
    if type(v) ~= "boolean" then return "Must be a valid boolean." end
  elseif t == "array" then
    if type(v) ~= "table" or (next(v) ~= nil and v[1] == nil) then return "Expected a list of items." end
  elseif t == "object" then
    if type(v) ~= "table" or v[1] ~= nil then return "Expected a dictionary of items." end
  end
  if type(v) == "number" and ((f.minimum and v < f.minimum) or (f.maximum and v > f.maximum)) then
    return ("Ensure this value is between %s and %s."):format(f.minimum or "-inf", f.maximum or "inf")
  end
end

--- Reads req's JSON object body, whatever the operation: the table, or nil and a 400 answer.
function M.object(req)
  if req.body == "" then return {} end
  local v, err = json.decode_body(req.body)
  if v == nil then return nil, respond.detail(400, "JSON parse error - " .. err .. ".") end
  if type(v) ~= "table" or v[1] ~= nil then
    return nil, respond.invalid { non_field_errors = { "Invalid data. Expected a dictionary." } }
  end
  return v
end

--- Reads req's body for operation `op_id`: a table of the writable fields it gives, checked
-- against the facts (required ones too), or nil and a 400 answer.
function M.read(req, op_id)
  local body, err = M.object(req)
  if not body then return nil, err end
  local fields = assert(ops.get(op_id), op_id).body.fields
  local errors, out = {}, {}
  for name, f in pairs(fields) do
    if not f.read_only then
      local v = body[name]
      if v == nil then
        if f.required then errors[name] = { "This field is required." } end
      else
        local why = problem(f, v, f.required)
        if why then errors[name] = { why } else out[name] = v end
      end
    end
  end
  if next(errors) then return nil, respond.invalid(errors) end
  return out
end

return M
