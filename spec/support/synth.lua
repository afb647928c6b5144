-- Valid example values for an operation's parameters and body, made from its generated facts.
local M = {}

local BY_FORMAT = {
  uuid = "3fa85f64-5717-4562-b3fc-2c963f66afa6", date = "2026-01-15", ["date-time"] = "2026-01-15T10:00:00Z",
  email = "learner@example.edu", uri = "https://example.org/x", url = "https://example.org/x",
}

-- Values matching the regular expressions the spec uses.
local BY_PATTERN = {
  ["^((\\w*)-(\\w*):[^+]+(|\\+)[^+]+(|\\+)\\+\\w+)$"] = "course-v1:ibl+X+2025",
  ["(?:jpg|jpeg|png|gif|webp)$"] = "photo.png",
}

local function fields(facts)
  local out = {}
  for name, f in pairs(facts) do
    if f.required and not f.read_only then out[name] = M.value(f) end
  end
  return out
end

function M.value(fact)
  if fact.enum then return fact.enum[1] end
  local t = fact.type
  if t == "integer" then return math.tointeger(fact.minimum or 1) or 1 end
  if t == "number" then return fact.minimum or 1.5 end
  if t == "boolean" then return true end
  if t == "array" then
    if fact.item_fields then return { fields(fact.item_fields) } end
    return { M.value { type = fact.items, enum = fact.item_enum, format = fact.item_format } }
  end
  if t == "object" then return fact.fields and fields(fact.fields) or {} end
  if t == "any" then return {} end
  local s = BY_PATTERN[fact.pattern] or BY_FORMAT[fact.format] or (fact.pattern and fact.pattern:find("\\d") and "1.5")
    or "sample"
  if fact.minLength and #s < fact.minLength then s = s .. string.rep("x", fact.minLength - #s) end
  if fact.maxLength and #s > fact.maxLength then s = s:sub(1, fact.maxLength) end
  return s
end

--- Params for op with every required parameter and body field filled in.
function M.params(op)
  local params = {}
  for _, p in ipairs(op.params) do
    local from_client = p.loc == "path" and (p.name == "org" or p.name == "user_id")
    if p.required and not from_client then params[p.name] = M.value(p) end
  end
  if op.body and op.body.fields then
    params.body = fields(op.body.fields)
  elseif op.body and op.body.required then
    params.body = M.value(op.body)
  end
  return params
end

return M
