-- The operations the sandbox serves: every operation of the spec whose path template and method
-- one of the sandbox's routes has, found by building the routes in this process.
local ops = require "iblai.ops"
local Router = require "iblai.sandbox.router"
local Model = require "iblai.sandbox.model"
local sandbox = require "iblai.sandbox"

local function shape(template)
  return (template:gsub("{[^}]+}", "{}"))
end

return function()
  local router = Router.new()
  local model = Model.generate { seed = 1, users = 2, org = "main", today = 0 }
  for _, name in ipairs(sandbox.ROUTES) do require("iblai.sandbox.routes." .. name)(router, model) end
  local routes = {}
  for _, r in ipairs(router.routes) do routes[shape(r.template)] = r.handlers end
  local served = {}
  for _, id in ipairs(ops.ids()) do
    local op = ops.get(id)
    local handlers = routes[shape(op.path)]
    if handlers and handlers[op.method] then served[#served + 1] = op end
  end
  table.sort(served, function(a, b) return a.id < b.id end)
  return served
end
