--- Looks up operations by operationId; the generated facts are loaded one tag file at a time,
-- and only when first asked for, so require "iblai" stays cheap.
-- @module iblai.ops
local M = {}

local index

local function load_index()
  index = index or require "iblai.operations.index"
  return index
end

local found = {}

--- The facts of an operation (id, method, path, params, body, envelope, ...).
-- @param id string the operationId
-- @return the facts, or nil
function M.get(id)
  local op = found[id]
  if op then return op end
  local module = load_index().modules[id]
  if not module then return nil end
  op = require("iblai.operations." .. module)[id]
  op.id = id
  found[id] = op
  return op
end

--- Every operationId, sorted.
-- @return list of strings
function M.ids()
  local ids = {}
  for id in pairs(load_index().modules) do ids[#ids + 1] = id end
  table.sort(ids)
  return ids
end

--- How many operations there are.
-- @return integer
function M.count()
  return load_index().count
end

--- The version of the API description the facts were generated from.
-- @return string
function M.spec_version()
  return load_index().version
end

-- Levenshtein distance, bounded work: ids are short.
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

--- The name closest to `name` among `candidates`, if it is close enough to be a likely typo.
-- @param name string
-- @param candidates list of strings
-- @return the closest candidate, or nil
function M.closest(name, candidates)
  local best, best_d
  for _, c in ipairs(candidates) do
    local d = distance(name, c)
    if not best_d or d < best_d then best, best_d = c, d end
  end
  if best and best_d <= math.max(2, #name // 3) then return best end
  return nil
end

return M
