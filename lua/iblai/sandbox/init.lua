--- iblai sandbox: a local stand-in for the Data Manager, built on iblai.httpd.
-- local sb = require("iblai.sandbox").new{ port = 0, seed = 1, users = 50 }; sb:run()
local httpd = require "iblai.httpd"
local Model = require "iblai.sandbox.model"
local Router = require "iblai.sandbox.router"
local Rng = require "iblai.sandbox.rng"
local dates = require "iblai.sandbox.dates"
local respond = require "iblai.sandbox.respond"

local M = {}
M.__index = M

M.ROUTES = { "users", "artifacts", "memory", "export", "analytics" }
local SCHEMES = { ["Api-Token"] = true, ["Token"] = true }

local function today_start(opts)
  if opts.today then return assert(dates.parse(opts.today), "today must be YYYY-MM-DD") end
  local t = os.time()
  return t - t % 86400
end

--- Options: port, seed, users, org, today (YYYY-MM-DD), data (file), latency (ms), fail_rate (0..1),
-- rate_limit (requests/s), api_key (the only key accepted), script (a Lua file adding routes).
function M.new(opts)
  opts = opts or {}
  local self = setmetatable({ opts = opts }, M)
  local model, err
  if opts.data then
    model, err = Model.load(opts.data)
    if err then return nil, err end
  end
  self.model = model or Model.generate { seed = opts.seed or 1, users = opts.users or 50, org = opts.org or "main",
    today = today_start(opts) }
  self.router = Router.new()
  for _, name in ipairs(M.ROUTES) do require("iblai.sandbox.routes." .. name)(self.router, self.model) end
  if opts.script then
    local chunk, lerr = loadfile(opts.script)
    if not chunk then return nil, lerr end
    chunk { route = function(template, handlers) self.router:add(template, handlers) end,
      model = self.model, respond = respond }
  end
  self.faults = Rng.new((opts.seed or 1) + 7)
  self.window, self.window_count = 0, 0
  local server, serr = httpd.new { port = opts.port or 0, connections = 1024,
    handler = function(req) return self:handle(req) end }
  if not server then return nil, serr end
  self.server = server
  return self
end

function M:port()
  return self.server:port()
end

-- Rate limit, auth, injected failures: what happens before a route sees the request.
function M:gate(req)
  local o = self.opts
  if o.rate_limit and o.rate_limit > 0 then
    local second = math.floor(httpd.now())
    if second ~= self.window then self.window, self.window_count = second, 0 end
    self.window_count = self.window_count + 1
    if self.window_count > o.rate_limit then
      return respond.json(429, { detail = "Request was throttled. Expected available in 1 second." },
        { ["Retry-After"] = "1" })
    end
  end
  local scheme, key = (req.headers.authorization or ""):match("^(%S+)%s+(%S+)$")
  if not scheme then return respond.detail(401, "Authentication credentials were not provided.") end
  if not SCHEMES[scheme] or (o.api_key and key ~= o.api_key) then return respond.detail(401, "Invalid token.") end
  if o.fail_rate and o.fail_rate > 0 and self.faults:float() < o.fail_rate then
    if self.faults:float() < 0.5 then return respond.detail(503, "Service temporarily unavailable.") end
    return { drop = true }
  end
end

function M:handle(req)
  req.prefix = ""
  if req.path:sub(1, 4) == "/dm/" then -- the public gateway's prefix, so base_url may end in /dm
    req.prefix, req.path = "/dm", req.path:sub(4)
  end
  local answer = self:gate(req)
  if not answer then
    local handlers, params = self.router:match(req.path)
    if not handlers then
      answer = respond.not_found()
    else
      local fn = handlers[req.method] or (req.method == "HEAD" and handlers.GET)
      if fn then
        answer = fn(req, params)
      else
        local allowed = {}
        for m in pairs(handlers) do allowed[#allowed + 1] = m end
        table.sort(allowed)
        answer = respond.method_not_allowed(req.method)
        answer.headers.Allow = table.concat(allowed, ", ")
      end
    end
  end
  if self.opts.latency and self.opts.latency > 0 then answer.delay = self.opts.latency / 1000 end
  return answer
end

--- Serves until SIGINT/SIGTERM, then saves the data file if one was given.
function M:run()
  self.server:run()
  self:close()
end

function M:close()
  if self.opts.data then self.model:save(self.opts.data) end
  self.server:close()
end

return M
