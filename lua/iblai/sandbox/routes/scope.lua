--- Checks the {org} and {user_id} of a path against the sandbox's org.
local respond = require "iblai.sandbox.respond"

local M = {}

--- Returns the user record, or nil and a 404 answer.
function M.user(model, params)
  if params.org ~= model.state.org then return nil, respond.not_found("Organization not found") end
  local user = model:user(params.user_id)
  if not user then return nil, respond.not_found("User not found") end
  return user
end

function M.org(model, params)
  if params.org ~= model.state.org then return nil, respond.not_found("Organization not found") end
  return true
end

--- Finds an integer path id; nil and a 404 when it is not one.
function M.int_id(value)
  return #value <= 10 and value:match("^%d+$") and math.tointeger(tonumber(value)) or nil
end

return M
