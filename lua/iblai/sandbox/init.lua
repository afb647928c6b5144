--- iblai sandbox: a local stand-in for the Data Manager, built on iblai.httpd.
-- local sb = assert(require("iblai.sandbox").new{ port = 0, seed = 1, users = 50 }); sb:run()
local httpd = require "iblai.httpd"
local Model = require "iblai.sandbox.model"
local Router = require "iblai.sandbox.router"
local Rng = require "iblai.sandbox.rng"
local Store = require "iblai.sandbox.store"
local dates = require "iblai.sandbox.dates"
local respond = require "iblai.sandbox.respond"

local M = {}
M.__index = M

M.ROUTES = { "users", "artifacts", "memory", "export", "analytics" }
M.CONNECTIONS = 4096  -- open connections served at once; idle ones are closed after IDLE_TIMEOUT
M.IDLE_TIMEOUT = 10   -- seconds a connection may sit without sending anything
M.HEAD_TIMEOUT = 10   -- seconds a connection may take to send a whole request head
M.PER_ADDRESS = 256   -- connections one client address may hold at once
local SCHEMES = { ["Api-Token"] = true, ["Token"] = true }
local READS = { GET = true, HEAD = true, OPTIONS = true }

local function today_start(opts)
  if opts.today then return assert(dates.parse(opts.today), "today must be YYYY-MM-DD") end
  local t = os.time()
  return t - t % 86400
end

local function warn(...)
  io.stderr:write("iblai sandbox: ", ...)
  io.stderr:write("\n")
end

--- Options: port, seed, users, org, today (YYYY-MM-DD), data (file), latency (ms), fail_rate (0..1),
-- rate_limit (requests/s), api_key (the only key accepted), script (a Lua file adding routes).
-- Returns the sandbox, or nil, message, exit status (2 for a usage error, 1 otherwise).
function M.new(opts)
  opts = opts or {}
  local self = setmetatable({ opts = opts }, M)
  local err, code
  if opts.data then
    self.store, err = Store.open(opts.data)
    if not self.store then return nil, err, 2 end
  end
  self.server, err = httpd.new { port = opts.port or 0, connections = M.CONNECTIONS, idle_timeout = M.IDLE_TIMEOUT,
    head_timeout = M.HEAD_TIMEOUT, per_address = M.PER_ADDRESS, handler = function(req) return self:handle(req) end }
  if not self.server then return nil, err, 1 end
  err, code = self:open_model()
  if err then
    self.server:close()
    return nil, err, code
  end
  self.faults = Rng.new((opts.seed or 1) + 7)
  self.window, self.window_count = 0, 0
  return self
end

-- The org: read back from --data (with the journal's changes replayed) or generated.
function M:open_model()
  local opts, state = self.opts, nil
  if self.store then
    local ok, err = self.store:lock()
    if ok then state, err = self.store:load() end
    if err then return err, 1 end
  end
  if state then
    local err
    self.model, err = Model.from_state(state)
    if not self.model then
      return ("--data %s is not sandbox data (%s); move it away or name another file"):format(opts.data, err), 1
    end
  else
    self.model = Model.generate { seed = opts.seed or 1, users = opts.users or 50, org = opts.org or "main",
      today = today_start(opts) }
  end
  self.router = Router.new()
  for _, name in ipairs(M.ROUTES) do require("iblai.sandbox.routes." .. name)(self.router, self.model) end
  if opts.script then
    local chunk, lerr = loadfile(opts.script)
    if not chunk then return lerr, 2 end
    chunk { route = function(template, handlers) self.router:add(template, handlers) end,
      model = self.model, respond = respond }
  end
  if not self.store then return nil end
  local pending = self.store:pending()
  for _, entry in ipairs(pending) do self:replay(entry) end
  if #pending > 0 or not state then
    local ok, serr = self.store:snapshot(self.model:saved_state())
    if not ok and not state then return ("cannot write --data %s: %s"):format(opts.data, serr), 1 end
    if not ok then warn(serr, "; the journal keeps every change, so nothing is lost") end
  end
end

-- Applies a journaled change again, as it was first applied (a request refused then, with a 4xx,
-- is refused again).
function M:replay(entry)
  local req = { method = entry.method, path = entry.path, query = entry.query or {}, body = entry.body or "",
    headers = {}, prefix = "", version = "HTTP/1.1" }
  local ok, answer = pcall(self.route, self, req)
  if not ok or answer.status >= 500 then
    warn(("replaying %s %s from the journal gave %s"):format(req.method, req.path,
      ok and answer.status or tostring(answer)))
  end
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

-- The route's answer to a request that passed the gate.
function M:route(req, handlers, params)
  if not handlers then handlers, params = self.router:match(req.path) end
  if not handlers then return respond.not_found() end
  local fn = handlers[req.method] or (req.method == "HEAD" and handlers.GET)
  if fn then return fn(req, params) end
  local allowed = {}
  for m in pairs(handlers) do allowed[#allowed + 1] = m end
  table.sort(allowed)
  local answer = respond.method_not_allowed(req.method)
  answer.headers.Allow = table.concat(allowed, ", ")
  return answer
end

function M:handle(req)
  req.prefix = ""
  if req.path:sub(1, 4) == "/dm/" then -- the public gateway's prefix, so base_url may end in /dm
    req.prefix, req.path = "/dm", req.path:sub(4)
  end
  local answer = self:gate(req)
  if not answer then
    local handlers, params = self.router:match(req.path)
    if handlers and self.store and not READS[req.method] then answer = self:save(req) end
    answer = answer or self:route(req, handlers, params)
  end
  if self.opts.latency and self.opts.latency > 0 then answer.delay = self.opts.latency / 1000 end
  return answer
end

-- Journals a changing request before it is applied; the refusal to send when that fails.
function M:save(req)
  local ok, err, kind = self.store:record(req, function() return self.model:saved_state() end)
  if ok then return nil end
  warn(err, "; the change was refused (", kind == "full" and "507" or "503", "), nothing was applied")
  if kind == "full" then
    return respond.detail(507, "The sandbox's --data disk is full, so this change was not saved nor applied. "
      .. "Free some space, then send it again.")
  end
  return respond.json(503, { detail = "The sandbox could not save this change to its --data file, so it was not "
    .. "applied. Send it again shortly." }, { ["Retry-After"] = "5" })
end

--- Serves until SIGINT/SIGTERM, then writes the --data snapshot.
function M:run()
  self.server:run()
  return self:close()
end

--- Stops serving and writes the --data snapshot (a failure is told on stderr; the journal keeps
-- every change then). Returns true.
function M:close()
  local store = self.store
  if store and (store.seq ~= store.saved or store.broken) then
    local ok, err = store:snapshot(self.model:saved_state())
    if not ok then -- a change is applied only once journalled, so none is lost
      warn(err, ("; %s and %s still hold every change"):format(store.path, store.journal))
    end
  end
  self.server:close()
  return true
end

return M
