-- The scriptable test server: run as `iblai spec/support/server.lua`; prints "port N pid P".
-- Each route exercises one behaviour of the client: faults, redirects, status sequences.
local httpd = require "iblai.httpd"
local json = require "iblai.json"

local hits = {}

local function reply(status, body, headers)
  headers = headers or {}
  headers["Content-Type"] = headers["Content-Type"] or "application/json"
  return { status = status, body = type(body) == "table" and json.encode(body) or body, headers = headers }
end

local HTML = "<html><body><h1>%d</h1><p>Something went wrong.</p></body></html>"

local routes = {}

routes["/echo"] = function(req)
  return reply(200, { method = req.method, path = req.path, headers = req.headers, query = req.query, body = req.body })
end

-- /echo-header?name=N&value=V: answers with the header N: V
routes["/echo-header"] = function(req)
  return reply(200, "{}", { [req.query.name] = req.query.value })
end

routes["/ids"] = function()
  return reply(200, '{"id": 1, "count": 3, "ratio": 0.5, "items": [{"id": 2}, {"id": 30000000000}]}')
end

-- /status?code=404: an HTML error page, as a gateway would send
routes["/status"] = function(req)
  local code = tonumber(req.query.code) or 500
  return reply(code, HTML:format(code), { ["Content-Type"] = "text/html" })
end

routes["/detail"] = function(req)
  return reply(tonumber(req.query.code) or 400, { detail = req.query.detail or "Invalid token." })
end

-- /fields?n=N: a 400 with N field errors, as DRF answers a form
routes["/fields"] = function(req)
  local errors = {}
  for i = 1, tonumber(req.query.n) or 2 do errors[("f%02d"):format(i)] = { ("bad %d"):format(i), "also" } end
  errors.zz = "not a list"
  return reply(400, errors)
end

-- /nul: a 400 whose field names hold a NUL byte, or sound like the client's own advice
routes["/nul"] = function()
  return reply(400, { ["a\0b"] = { "cut short" }, c = { "raise timeout err.body holds its start" } })
end

-- /seq?key=K&codes=503,503,200[&retry_after=V]: the Nth hit on K answers the Nth code
routes["/seq"] = function(req)
  local key = req.query.key or "default"
  hits[key] = (hits[key] or 0) + 1
  local codes = {}
  for c in (req.query.codes or "200"):gmatch("%d+") do codes[#codes + 1] = tonumber(c) end
  local code = codes[math.min(hits[key], #codes)]
  local headers = {}
  if code ~= 200 and req.query.retry_after then headers["Retry-After"] = req.query.retry_after end
  return reply(code, { hit = hits[key], code = code }, headers)
end

routes["/hits"] = function(req)
  return reply(200, { hits = hits[req.query.key or "default"] or 0 })
end

routes["/delay"] = function(req)
  local r = reply(200, { delayed = tonumber(req.query.s) })
  r.delay = tonumber(req.query.s) or 1
  return r
end

routes["/truncate"] = function()
  local r = reply(200, '{"items": [' .. string.rep('{"id": 1},', 200) .. '{"id": 1}]}')
  r.truncate = 100
  return r
end

routes["/drop"] = function() return { drop = true } end

-- /redirect?to=URL[&code=302]
routes["/redirect"] = function(req)
  return { status = tonumber(req.query.code) or 302, headers = { Location = req.query.to }, body = "" }
end

routes["/text"] = function() return reply(200, "plain words", { ["Content-Type"] = "text/plain" }) end
routes["/badjson"] = function() return reply(200, '{"id": 1,') end
routes["/exact"] = function() return reply(200, '{"z":12345678901234567890,"a":1e400,"empty":{}}') end
routes["/empty"] = function() return { status = 204 } end
routes["/big"] = function(req) return reply(200, '"' .. string.rep("x", tonumber(req.query.n) or 1000) .. '"') end

local server = assert(httpd.new {
  port = tonumber(arg[1]) or 0,
  handler = function(req)
    local route = routes[req.path]
    if route then return route(req) end
    -- A DRF listing of 57 items whose every page fails once with a 503 before it answers.
    if req.path == "/api/ai-analytics/orgs/flaky/users/u/chat-history/" then
      local page, size = tonumber(req.query.page) or 1, tonumber(req.query.page_size) or 10
      local key = "flaky" .. page .. "/" .. size .. (req.headers["x-round"] or "")
      hits[key] = (hits[key] or 0) + 1
      if hits[key] == 1 then return reply(503, { detail = "try again" }) end
      local results = {}
      for i = (page - 1) * size + 1, math.min(57, page * size) do results[#results + 1] = { id = i } end
      return reply(200, { count = 57, results = results, next = json.null, previous = json.null })
    end
    -- An org named json<literal> answers that JSON literal (true, false, null, ...).
    local literal = req.path:match("^/api/.-/orgs/json(%a+)/")
    if literal then return reply(200, literal) end
    -- Any API path echoes the request, so specs can see what an operation call built.
    if req.path:sub(1, 5) == "/api/" then return routes["/echo"](req) end
    return reply(404, { detail = "Not found." })
  end,
})
io.write(("port %d pid %d\n"):format(server:port(), httpd.pid()))
io.stdout:flush()
server:run()
server:close()
