--- Routes: path templates such as /api/x/{org}/users/{user_id}/ with a handler per method.
local httpd_unescape

local M = {}
M.__index = M

function M.new()
  return setmetatable({ routes = {} }, M)
end

local function split(path)
  local parts = {}
  for seg in (path .. "/"):gmatch("([^/]*)/") do parts[#parts + 1] = seg end
  return parts
end

--- Adds (or replaces) the handlers of a template: { GET = fn, DELETE = fn, ... }.
function M:add(template, handlers)
  for _, r in ipairs(self.routes) do
    if r.template == template then
      for method, fn in pairs(handlers) do r.handlers[method] = fn end
      return
    end
  end
  table.insert(self.routes, 1, { template = template, parts = split(template), handlers = handlers })
end

--- Finds the route for a raw path; returns handlers, params (decoded) or nil.
function M:match(path)
  httpd_unescape = httpd_unescape or require("iblai.httpd").unescape
  local parts = split(path)
  for _, r in ipairs(self.routes) do
    if #r.parts == #parts then
      local params, ok = {}, true
      for i, p in ipairs(r.parts) do
        local name = p:match("^{(.+)}$")
        if name then
          if parts[i] == "" then ok = false break end
          params[name] = httpd_unescape(parts[i])
        elseif p ~= parts[i] then
          ok = false
          break
        end
      end
      if ok then return r.handlers, params end
    end
  end
  return nil
end

return M
