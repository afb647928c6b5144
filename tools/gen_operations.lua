-- Generates lua/iblai/operations/*.lua from the OpenAPI description: facts only (methods,
-- paths, parameters and their limits, body fields, security, success codes, envelope kinds).
-- usage: lua5.4 tools/gen_operations.lua SPEC.yml OUTDIR     (make regen SPEC=... runs it)
package.path = (arg[0]:match("^(.*/)") or "./") .. "?.lua;" .. package.path
local openapi = require "openapi"

local spec_path, outdir = arg[1], arg[2]
if not spec_path or not outdir then
  io.stderr:write("usage: gen_operations.lua SPEC.yml OUTDIR\n")
  os.exit(2)
end
local spec = openapi.load(spec_path)
local NULL = openapi.null
local METHODS = { "get", "post", "put", "patch", "delete" }
local ref, flat = openapi.reader(spec)

local FACT_KEYS = { "format", "minimum", "maximum", "maxLength", "minLength", "default", "pattern" }
local NESTING = 3 -- object fields are described this deep; below that a value is taken as it is

local sorted_keys = openapi.sorted_keys
local object_fields

-- The facts of one value schema: type and limits, no prose.
local function facts(schema, into, depth)
  depth = depth or 0
  local s = flat(schema)
  into.type = s.type or (s.enum and "string") or (s.properties and "object") or "any"
  if into.type == "array" then
    local items = flat(s.items)
    into.items = items.type or (items.properties and "object") or "any"
    if items.enum then into.item_enum = items.enum end
    if items.format then into.item_format = items.format end
    if items.properties and depth < NESTING then into.item_fields = object_fields(items, depth + 1) end
  end
  for _, k in ipairs(FACT_KEYS) do
    local v = s[k]
    if v ~= nil and v ~= NULL and type(v) ~= "table" then into[k] = v end
  end
  if s.enum then into.enum = s.enum end
  if s.nullable then into.nullable = true end
  if s.readOnly then into.read_only = true end
  if into.type == "object" and s.properties and depth < NESTING then into.fields = object_fields(s, depth + 1) end
  return into
end

-- name -> facts for the properties of an object schema; read-only fields are never required.
function object_fields(schema, depth)
  local fields, required = {}, {}
  for _, name in ipairs(schema.required or {}) do required[name] = true end
  for _, name in ipairs(sorted_keys(schema.properties)) do
    local field = facts(schema.properties[name], {}, depth)
    if required[name] and not field.read_only then field.required = true end
    fields[name] = field
  end
  return fields
end


-- Which pager an operation needs, from its 200/201 response schema and its query parameters.
local function envelope(path, op, query)
  local responses = op.responses or {}
  local response = responses["200"] or responses["201"]
  local content = response and response.content and response.content["application/json"]
  local schema = content and ref(content.schema)
  local props = type(schema) == "table" and schema.properties
  if not props then return nil end
  if props.results and props.count and props.next and props.previous then
    if query.limit and query.offset and not query.page then return "drf_offset" end
    if query.page then return "drf_page" end
    return "drf_next"
  end
  if props.results and props.next_page then return "next_page" end
  if props.data and props.pagination then return "data_pagination" end
  if path:match("^/api/analytics/") and (props.pagination or (props.total_pages and props.rows)) then
    return "analytics"
  end
  if props.Resources and props.totalResults then return "scim" end
  return nil
end

local function body_facts(op)
  local rb = op.requestBody
  if not rb or not rb.content then return nil end
  local media = rb.content["application/json"] and "application/json" or sorted_keys(rb.content)[1]
  local schema = ref((rb.content[media] or {}).schema)
  local body = { media = media, required = rb.required == true or nil }
  if type(schema) == "table" and schema.type == "object" and schema.properties then
    body.fields = object_fields(schema, 0)
    if schema.additionalProperties and schema.additionalProperties ~= false then body.open = true end
  elseif type(schema) == "table" then
    facts(schema, body, 0)
  else
    body.type = "any"
  end
  return body
end

local function operation(path, method, op, path_params)
  local params, query = {}, {}
  local all = {}
  for _, p in ipairs(path_params or {}) do all[#all + 1] = p end
  for _, p in ipairs(op.parameters or {}) do all[#all + 1] = p end
  local seen = {}
  for _, p in ipairs(all) do
    p = ref(p)
    if (p["in"] == "path" or p["in"] == "query") and not seen[p.name] then
      seen[p.name] = true
      local fact = facts(p.schema or {}, { name = p.name, loc = p["in"] })
      if p.required or p["in"] == "path" then fact.required = true end
      if p.style == "form" and p.explode == false then fact.joined = true end
      params[#params + 1] = fact
      if p["in"] == "query" then query[p.name] = true end
    end
  end
  local success = {}
  for _, code in ipairs(sorted_keys(op.responses or {})) do
    local n = tonumber(code)
    if n and n >= 200 and n < 300 then success[#success + 1] = n end
  end
  local secured = false
  for _, req in ipairs(op.security or {}) do
    if next(req) then secured = true end
  end
  return {
    id = op.operationId, method = method:upper(), path = path, params = params, body = body_facts(op),
    security = secured, success = success, envelope = envelope(path, op, query),
    tag = (op.tags and op.tags[1]) or "untagged",
  }
end

-- Lua literal writer: deterministic key order, compact.
local function literal(v, indent)
  local t = type(v)
  if t == "string" then return ("%q"):format(v) end
  if t == "number" then
    if math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 2 ^ 53 then return ("%d"):format(v) end
    return tostring(v)
  end
  if t == "boolean" then return tostring(v) end
  if v == NULL then return "nil" end
  assert(t == "table", "cannot write " .. t)
  local parts, n = {}, #v
  for i = 1, n do parts[#parts + 1] = literal(v[i], indent) end
  for _, k in ipairs(sorted_keys(v)) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then
      local key = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or ("[" .. literal(k) .. "]")
      parts[#parts + 1] = key .. " = " .. literal(v[k], indent)
    end
  end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

local ops, by_tag = {}, {}
for _, path in ipairs(sorted_keys(spec.paths)) do
  local item = spec.paths[path]
  for _, method in ipairs(METHODS) do
    local op = item[method]
    if op and op.operationId then
      local o = operation(path, method, op, item.parameters)
      ops[#ops + 1] = o
      local module = o.tag:gsub("[^%w]", "_")
      by_tag[module] = by_tag[module] or {}
      table.insert(by_tag[module], o)
      o.module = module
    end
  end
end

local version = spec.info and spec.info.version or "?"
local header = ("-- Generated by tools/gen_operations.lua from the ibl.ai Data Manager API %s; do not edit.\n"
  .. "-- Regenerate with: make regen SPEC=path/to/spec.yml\n"):format(version)

os.execute("mkdir -p " .. outdir)
for _, module in ipairs(sorted_keys(by_tag)) do
  local out = { header, "return {" }
  table.sort(by_tag[module], function(a, b) return a.id < b.id end)
  for _, o in ipairs(by_tag[module]) do
    local id, tag = o.id, o.tag
    o.id, o.module, o.tag = nil, nil, nil
    out[#out + 1] = ("  [%q] = %s,"):format(id, literal(o))
    o.id, o.tag = id, tag
  end
  out[#out + 1] = "}"
  local w = assert(io.open(outdir .. "/" .. module .. ".lua", "wb"))
  w:write(table.concat(out, "\n"), "\n")
  w:close()
end

-- The index maps every operationId to its module, so one lookup loads one tag's file.
table.sort(ops, function(a, b) return a.id < b.id end)
local index = { header, ("return { version = %q, count = %d, modules = {"):format(version, #ops) }
for _, o in ipairs(ops) do
  index[#index + 1] = ("  [%q] = %q,"):format(o.id, o.tag:gsub("[^%w]", "_"))
end
index[#index + 1] = "} }"
local w = assert(io.open(outdir .. "/index.lua", "wb"))
w:write(table.concat(index, "\n"), "\n")
w:close()

local kinds = {}
for _, o in ipairs(ops) do
  if o.envelope then kinds[o.envelope] = (kinds[o.envelope] or 0) + 1 end
end
local summary = {}
for _, k in ipairs(sorted_keys(kinds)) do summary[#summary + 1] = k .. " " .. kinds[k] end
io.stderr:write(("%d operations in %d modules; envelopes: %s\n"):format(#ops, #sorted_keys(by_tag),
  table.concat(summary, ", ")))
