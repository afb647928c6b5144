-- Reading an OpenAPI description for the generators (gen_operations.lua, gen_types.lua): the
-- spec loaded with lyaml, references followed, single-wrapper schemas flattened.
local lyaml = require "lyaml"

local M = { null = lyaml.null }

--- Loads the spec at path.
function M.load(path)
  local f = assert(io.open(path, "rb"))
  local spec = lyaml.load(f:read("a"))
  f:close()
  return spec
end

function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

--- ref(schema) and flat(schema) for one spec.
function M.reader(spec)
  local NULL = M.null
  local function ref(schema)
    local seen = 0
    while type(schema) == "table" and schema["$ref"] do
      local name = schema["$ref"]:match("^#/components/schemas/(.+)$")
      schema = assert(spec.components.schemas[name], "unresolved " .. schema["$ref"])
      seen = seen + 1
      assert(seen < 20, "reference cycle")
    end
    return schema
  end

  -- A property schema, with single allOf wrappers and enum-or-blank oneOfs flattened.
  local function flat(schema)
    schema = ref(schema)
    if type(schema) ~= "table" then return {} end
    local out = {}
    for k, v in pairs(schema) do out[k] = v end
    local parts = schema.allOf or schema.oneOf or schema.anyOf
    if parts then
      for _, part in ipairs(parts) do
        local p = flat(part)
        for k, v in pairs(p) do
          if k == "enum" and out.enum then
            for _, e in ipairs(v) do out.enum[#out.enum + 1] = e end
          elseif out[k] == nil then
            out[k] = v
          end
        end
      end
    end
    if out.enum then -- blank and null choices from BlankEnum/NullEnum are "may be empty", not values
      local kept = {}
      for _, e in ipairs(out.enum) do
        if e ~= NULL and e ~= "" then kept[#kept + 1] = e end
      end
      out.enum = #kept > 0 and kept or nil
    end
    return out
  end

  return ref, flat
end

return M
