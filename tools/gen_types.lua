-- Generates the lua-language-server definitions of every operation into OUTDIR: a parameter
-- class per operation (from the generated operation facts, so editors check what the client
-- checks), a result class where the spec gives the answer a schema, the iblai.OperationId alias,
-- and client:call / client:each overloaded on the operation name. Descriptions are built from
-- facts (where a parameter goes, its format, limits and default), never from the spec's prose.
-- usage: lua5.4 tools/gen_types.lua SPEC.yml OUTDIR     (make regen runs it after gen_operations)
local here = arg[0]:match("^(.*/)") or "./"
package.path = here .. "?.lua;" .. here .. "../lua/?.lua;" .. here .. "../lua/?/init.lua;" .. package.path
local openapi = require "openapi"
local ops = require "iblai.ops"

local spec_path, outdir = arg[1], arg[2]
if not spec_path or not outdir then
  io.stderr:write("usage: gen_types.lua SPEC.yml OUTDIR\n")
  os.exit(2)
end
local spec = openapi.load(spec_path)
local NULL = openapi.null
local ref, flat = openapi.reader(spec)
local sorted_keys = openapi.sorted_keys

local NESTING = 4 -- result objects are described this deep; below that a value is a table
local FILLED = { org = true, user_id = true } -- path parameters the client fills in
local BASE = { string = "string", integer = "integer", number = "number", boolean = "boolean" }

-- A literal of an enum value as a type, or nil when it cannot be written as one.
local function literal(v)
  if type(v) == "string" then
    if v:find("[%c]") then return nil end
    if not v:find('"', 1, true) then return '"' .. v .. '"' end
    if not v:find("'", 1, true) then return "'" .. v .. "'" end
    return nil
  end
  if math.type(v) == "integer" or (type(v) == "number" and v == math.floor(v) and math.abs(v) < 2 ^ 53) then
    return ("%d"):format(v)
  end
  if type(v) == "boolean" then return tostring(v) end
  return nil
end

local function enum_type(values, base)
  local parts, seen = {}, {}
  for _, v in ipairs(values) do
    local l = literal(v)
    if not l then return base end
    if not seen[l] then
      seen[l] = true
      parts[#parts + 1] = l
    end
  end
  return #parts > 0 and table.concat(parts, "|") or base
end

-- A field name as LuaLS reads it: a name, or ["quoted"] for any other key.
local function field_name(name)
  if type(name) == "string" and name:match("^[%a_][%w_]*$") then return name end
  return (('[%q]'):format(tostring(name)):gsub("\\\n", "\\n"))
end

-- ---- classes: each file is a list of blocks, one class or alias each ----

local blocks -- the blocks of the file being written

local function add_class(name, doc, fields)
  local out = {}
  if doc then out[#out + 1] = "---" .. doc end
  out[#out + 1] = "---@class " .. name
  for _, f in ipairs(fields) do
    local line = ("---@field %s%s %s"):format(field_name(f.name), f.optional and "?" or "", f.type)
    if f.doc and f.doc ~= "" then line = line .. " " .. f.doc end
    out[#out + 1] = line
  end
  blocks[#blocks + 1] = table.concat(out, "\n")
end

local function add_alias(name, type_text)
  blocks[#blocks + 1] = ("---@alias %s %s"):format(name, type_text)
end

-- One line of facts about a value: format, limits, default.
local function facts_doc(f, where)
  local parts = { where }
  if f.format then parts[#parts + 1] = f.format end
  if f.item_format then parts[#parts + 1] = "items " .. f.item_format end
  if f.minimum and f.maximum then
    parts[#parts + 1] = ("%s to %s"):format(literal(f.minimum) or f.minimum, literal(f.maximum) or f.maximum)
  elseif f.minimum then
    parts[#parts + 1] = ("at least %s"):format(literal(f.minimum) or f.minimum)
  elseif f.maximum then
    parts[#parts + 1] = ("at most %s"):format(literal(f.maximum) or f.maximum)
  end
  if f.maxLength then parts[#parts + 1] = ("at most %d characters"):format(f.maxLength) end
  if f.minLength and f.minLength > 0 then parts[#parts + 1] = ("at least %d characters"):format(f.minLength) end
  if f.joined then parts[#parts + 1] = "a list goes comma-joined" end
  if f.nullable then parts[#parts + 1] = "may be iblai.null" end
  if f.default ~= nil and f.default ~= NULL and type(f.default) ~= "table" then
    local d = type(f.default) == "string" and ("%q"):format(f.default):gsub("\\\n", "\\n") or tostring(f.default)
    if #d <= 40 then parts[#parts + 1] = "default " .. d end
  end
  return table.concat(parts, "; ")
end

-- The type of a value from the operation facts (params and request bodies); nested objects become
-- classes named prefix.field.
local fact_type

local function fact_fields(fields, prefix, body_only)
  local out = {}
  for _, name in ipairs(sorted_keys(fields)) do
    local f = fields[name]
    if not f.read_only then
      out[#out + 1] = { name = name, optional = not f.required, type = fact_type(f, prefix .. "." .. tostring(name)),
        doc = facts_doc(f, body_only and "body" or "field") }
    end
  end
  return out
end

function fact_type(f, name)
  local t
  if f.type == "array" then
    local item
    if f.item_fields then
      add_class(name, nil, fact_fields(f.item_fields, name))
      item = name
    elseif f.item_enum then
      item = "(" .. enum_type(f.item_enum, BASE[f.items] or "any") .. ")"
    else
      item = BASE[f.items] or (f.items == "object" and "table<string, any>") or "any"
    end
    t = item .. "[]"
  elseif f.type == "object" then
    if f.fields and next(f.fields) then
      add_class(name, nil, fact_fields(f.fields, name))
      t = name
    else
      t = "table<string, any>"
    end
  elseif f.enum then
    t = enum_type(f.enum, BASE[f.type] or "string")
  else
    t = BASE[f.type] or "any"
  end
  if f.nullable then t = t .. "|iblai.Null" end
  return t
end

-- The type of a value from a response schema of the spec (fields the spec lists as required, or
-- marks read-only, are always there; others may be missing).
local function schema_type(schema, name, depth)
  local s = flat(schema)
  local kind = s.type or (s.enum and "string") or (s.properties and "object") or "any"
  local t
  if kind == "array" then
    local items = flat(s.items)
    if depth < NESTING and (items.properties or items.type == "array") then
      t = schema_type(items, depth == 0 and name .. ".item" or name, depth + 1) -- the answer itself is the alias
      if t:find("|", 1, true) then t = "(" .. t .. ")" end
      t = t .. "[]"
    else
      local item = items.enum and ("(" .. enum_type(items.enum, BASE[items.type] or "string") .. ")")
        or BASE[items.type] or ((items.properties or items.type == "object") and "table<string, any>") or "any"
      t = item .. "[]"
    end
  elseif kind == "object" then
    if s.properties and next(s.properties) and depth < NESTING then
      local required = {}
      for _, r in ipairs(s.required or {}) do required[r] = true end
      local fields = {}
      for _, key in ipairs(sorted_keys(s.properties)) do
        local p = flat(s.properties[key])
        local doc = {}
        if p.format then doc[#doc + 1] = p.format end
        if p.maxLength then doc[#doc + 1] = ("at most %d characters"):format(p.maxLength) end
        fields[#fields + 1] = { name = key, optional = not (required[key] or p.readOnly),
          type = schema_type(s.properties[key], name .. "." .. tostring(key), depth + 1), doc = table.concat(doc, "; ") }
      end
      add_class(name, nil, fields)
      t = name
    else
      t = "table<string, any>"
    end
  elseif s.enum then
    t = enum_type(s.enum, BASE[kind] or "string")
  else
    t = BASE[kind] or "any"
  end
  if s.nullable then t = t .. "|iblai.Null" end
  return t
end

-- The schema of an operation's JSON answer, from the spec.
local function result_schema(op)
  local item = spec.paths[op.path][op.method:lower()]
  for _, code in ipairs(op.success) do
    local response = item.responses and item.responses[tostring(code)]
    response = response and ref(response)
    local content = response and response.content and response.content["application/json"]
    if content and content.schema then return content.schema end
  end
  return nil
end

-- Where each yields its items from, by envelope (as iblai.paginate reads them).
local ITEMS = {
  drf_page = { "results" }, drf_offset = { "results" }, drf_next = { "results" }, next_page = { "results" },
  data_pagination = { "data" }, scim = { "Resources" }, analytics = { "results", "learners", "rows", "data", "items" },
}

local function item_type(op, result)
  local s = flat(result)
  for _, key in ipairs(ITEMS[op.envelope] or {}) do
    local p = s.properties and s.properties[key] and flat(s.properties[key])
    if p and p.type == "array" then
      local items = flat(p.items)
      if items.properties and next(items.properties) then return "iblai.result." .. op.id .. "." .. key end
      return BASE[items.type] or "any"
    end
  end
  return "any"
end

-- ---- one operation ----

local function where(p)
  if p.loc == "path" and FILLED[p.name] then return "path; the client's " .. (p.name == "org" and "org" or "username") end
  return p.loc
end

local function operation(op)
  local pname, rname = "iblai.params." .. op.id, "iblai.result." .. op.id
  local fields, taken, required = {}, {}, false
  for _, p in ipairs(op.params) do
    local optional = not p.required or (p.loc == "path" and FILLED[p.name])
    required = required or not optional
    fields[#fields + 1] = { name = p.name, optional = optional, type = fact_type(p, pname .. "." .. p.name),
      doc = facts_doc(p, where(p)) }
    taken[p.name] = true
  end
  local body = op.body
  if body then
    local btype
    if body.fields then
      btype = "iblai.body." .. op.id
      local body_fields = fact_fields(body.fields, btype, true)
      add_class(btype, nil, body_fields)
      for _, f in ipairs(body_fields) do -- also as parameters, as the client takes them
        if not taken[f.name] then
          fields[#fields + 1] = f
          required = required or not f.optional
        end
      end
    else
      btype = fact_type(body, "iblai.body." .. op.id)
      required = required or body.required == true
    end
    fields[#fields + 1] = { name = "body", optional = not (body.required and not body.fields), type = btype,
      doc = "the whole body (" .. body.media .. ")" .. (body.fields and ", instead of its fields" or "") }
  end
  local doc = ("%s %s%s"):format(op.method, op.path, op.envelope and (" (a listing: " .. op.envelope .. ")") or "")
  add_class(pname, doc, fields)
  local schema = result_schema(op)
  local result
  if schema then
    local t = schema_type(schema, rname, 0)
    if t ~= rname and t ~= rname .. "|iblai.Null" then add_alias(rname, t) end
    result = rname
  end
  return { required = required, result = result, item = schema and op.envelope and item_type(op, schema) }
end

-- ---- the files ----

local version = spec.info and spec.info.version or "?"
local header = ("-- Generated by tools/gen_types.lua from the ibl.ai Data Manager API %s; do not edit.\n"
  .. "-- Regenerate with: make regen SPEC=path/to/spec.yml\n"):format(version)

local function write(path, text)
  local w = assert(io.open(path, "wb"))
  w:write(text)
  assert(w:close())
end

os.execute("mkdir -p " .. outdir .. "/iblai_operations")
local by_module, shapes = {}, {}
for _, id in ipairs(ops.ids()) do
  local module = require("iblai.operations.index").modules[id]
  by_module[module] = by_module[module] or {}
  table.insert(by_module[module], id)
end
for _, module in ipairs(sorted_keys(by_module)) do
  blocks = {}
  for _, id in ipairs(by_module[module]) do shapes[id] = operation(ops.get(id)) end
  write(("%s/iblai_operations/%s.lua"):format(outdir, module),
    header .. "---@meta _\n\n" .. table.concat(blocks, "\n\n") .. "\n")
end

local ids = ops.ids()
local out = { header .. "---@meta _\n", "---@alias iblai.OperationId" }
for _, id in ipairs(ids) do out[#out + 1] = ('---| "%s"'):format(id) end
out[#out + 1] = "\n---@class iblai.Client\nlocal Client = {}\n"
out[#out + 1] = "---Calls an operation by its operationId: the decoded body (true when there is none), or nil and an Error."
for _, id in ipairs(ids) do
  local sh = shapes[id]
  out[#out + 1] = ('---@overload fun(self: iblai.Client, op: "%s", params%s: iblai.params.%s, opts?: iblai.CallOptions): %s, iblai.Error?')
    :format(id, sh.required and "" or "?", id, sh.result and (sh.result .. "?") or "any")
end
out[#out + 1] = [[---@param op iblai.OperationId
---@param params? table
---@param opts? iblai.CallOptions
---@return any result
---@return iblai.Error? err
function Client:call(op, params, opts) end
]]
out[#out + 1] = "---Iterates over the items of every page of a listing; raises the Error of a page."
for _, id in ipairs(ids) do
  local sh = shapes[id]
  if ops.get(id).envelope then
    out[#out + 1] = ('---@overload fun(self: iblai.Client, op: "%s", params%s: iblai.params.%s, opts?: iblai.PageOptions): fun(): %s')
      :format(id, sh.required and "" or "?", id, sh.item or "any")
  end
end
out[#out + 1] = [[---@param op iblai.OperationId
---@param params? table
---@param opts? iblai.PageOptions
---@return fun(): any
function Client:each(op, params, opts) end]]
write(outdir .. "/iblai_calls.lua", table.concat(out, "\n") .. "\n")
io.stderr:write(("types for %d operations in %s\n"):format(#ids, outdir))
