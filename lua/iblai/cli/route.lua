--- Which operation a raw path is: /api/core/platform/users/ -> core_platform_users_retrieve, with
-- the values of its path parameters, so the raw-path commands can walk pages as `call` does.
local ops = require "iblai.ops"

local M = {}

local function segments(path)
  local parts = {}
  for seg in (path .. "/"):gmatch("([^/]*)/") do parts[#parts + 1] = seg end
  return parts
end

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

--- The operation for a method and a path (without its query), and its path parameters.
-- A literal segment beats a parameter where two templates both match.
-- @return the operation's facts and { name = value }, or nil
function M.find(method, path)
  local parts = segments(path)
  local best, best_params, best_literals
  for _, id in ipairs(ops.ids()) do
    local op = ops.get(id)
    if op.method == method then
      local tparts = segments(op.path)
      if #tparts == #parts then
        local params, literals = {}, 0
        for i, t in ipairs(tparts) do
          local name = t:match("^{(.+)}$")
          if name then
            if parts[i] == "" then params = nil break end
            params[name] = unescape(parts[i])
          elseif t == parts[i] then
            literals = literals + 1
          else
            params = nil
            break
          end
        end
        if params and (not best or literals > best_literals) then
          best, best_params, best_literals = op, params, literals
        end
      end
    end
  end
  return best, best_params
end

return M
