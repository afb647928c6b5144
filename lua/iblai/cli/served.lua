--- Which operations `iblai sandbox` answers: those whose method and path template one of its routes
-- has, found by building the routes (on a two-user org) in this process.
local ops = require "iblai.ops"

local M = {}

local function shape(template)
  return (template:gsub("{[^}]+}", "{}"))
end

local served

--- A set of the operationIds the sandbox serves.
-- @return table operationId -> true
function M.set()
  if served then return served end
  local sandbox = require "iblai.sandbox"
  local router = require("iblai.sandbox.router").new()
  local model = require("iblai.sandbox.model").generate { seed = 1, users = 2, org = "main", today = 0 }
  for _, name in ipairs(sandbox.ROUTES) do require("iblai.sandbox.routes." .. name)(router, model) end
  local routes = {}
  for _, r in ipairs(router.routes) do routes[shape(r.template)] = r.handlers end
  served = {}
  for _, id in ipairs(ops.ids()) do
    local op = ops.get(id)
    local handlers = routes[shape(op.path)]
    if handlers and handlers[op.method] then served[id] = true end
  end
  return served
end

return M
