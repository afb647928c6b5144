--- Routes: path templates such as /api/x/{org}/users/{user_id}/ with a handler per method.
-- Templates are grouped by their number of segments, and a path is checked against the literal
-- segments of each before any parameter is decoded, so matching costs the same for any org.
local httpd_unescape

local M = {}
M.__index = M

function M.new()
  return setmetatable({ routes = {}, by_length = {} }, M)
end

local function split(path)
  local parts = {}
  for seg in (path .. "/"):gmatch("([^/]*)/") do parts[#parts + 1] = seg end
  return parts
end

--- Adds (or replaces) the handlers of a template: { GET = fn, DELETE = fn, ... }. A template
-- added later is tried first.
function M:add(template, handlers)
  for _, r in ipairs(self.routes) do
    if r.template == template then
      for method, fn in pairs(handlers) do r.handlers[method] = fn end
      return
    end
  end
  local parts, names = split(template), {}
  for i, p in ipairs(parts) do names[i] = p:match("^{(.+)}$") or false end
  local r = { template = template, parts = parts, names = names, handlers = handlers }
  table.insert(self.routes, 1, r)
  local group = self.by_length[#parts] or {}
  self.by_length[#parts] = group
  table.insert(group, 1, r)
end

--- Finds the route for a raw path; returns handlers, params (decoded) or nil.
function M:match(path)
  httpd_unescape = httpd_unescape or require("iblai.httpd").unescape
  local parts = split(path)
  local n = #parts
  for _, r in ipairs(self.by_length[n] or {}) do
    local names, literal, ok = r.names, r.parts, true
    for i = n, 1, -1 do -- from the end, where templates differ most
      if names[i] then
        if parts[i] == "" then ok = false break end
      elseif literal[i] ~= parts[i] then
        ok = false
        break
      end
    end
    if ok then
      local params = {}
      for i, name in ipairs(names) do
        if name then params[name] = httpd_unescape(parts[i]) end
      end
      return r.handlers, params
    end
  end
  return nil
end

return M
