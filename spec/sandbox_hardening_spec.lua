-- iblai sandbox against requests built to confuse or starve it, sent byte for byte from outside:
-- request smuggling (Content-Length with Transfer-Encoding, Content-Lengths that differ), an
-- encoded NUL in the path, slow request heads (slowloris) and one address holding many connections.
local helpers = require "support.helpers"
local socket = require "socket"
local iblai = require "iblai"

local ATTACKER = "127.0.0.2" -- another loopback address, so the cap on one address can be told apart

-- Sends text on a new connection; returns everything the server sent until it closed (or 3 s).
local function exchange(port, text)
  local s = assert(socket.tcp())
  s:settimeout(3)
  assert(s:connect("127.0.0.1", port))
  assert(s:send(text))
  local out = {}
  while true do
    local data, err, part = s:receive(4096)
    data = data or part
    if data and #data > 0 then out[#out + 1] = data end
    if err then
      out[#out + 1] = err == "closed" and "\n<closed>" or "\n<" .. err .. ">"
      break
    end
  end
  s:close()
  return table.concat(out)
end

-- Whether a socket can be bound to the attacker's address here.
local function attacker_address()
  local s = socket.tcp()
  local ok = s:bind(ATTACKER, 0)
  s:close()
  return ok
end

-- Opens n connections from ATTACKER that each send the start of a request head and stop.
local function slow_heads(port, n)
  local conns = {}
  for _ = 1, n do
    local s = assert(socket.tcp())
    s:settimeout(2)
    assert(s:bind(ATTACKER, 0))
    if not s:connect("127.0.0.1", port) then break end
    s:send("GET /api/core/platform/users/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    conns[#conns + 1] = s
  end
  return conns
end

-- Whether the server has closed a connection that it has not answered.
local function closed(s)
  s:settimeout(0)
  local _, err = s:receive(1)
  s:settimeout(2)
  return err == "closed"
end

describe("iblai sandbox against hostile requests", function()
  local sb, c, name, chats

  setup(function()
    sb = helpers.sandbox("--users", "4")
    c = assert(iblai.new { base_url = sb.url, api_key = "sandbox", org = "main", retries = 0, timeout = 5 })
    name = assert(c:request { path = "/api/core/platform/users/", query = { page_size = 1 } }).body.results[1].username
    chats = "/api/ai-prompt/orgs/main/users/" .. name .. "/all-chats-memory/"
  end)

  teardown(function()
    c:close()
    sb.stop()
  end)

  local function head(method, path, lines)
    return ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Api-Token x\r\n%s\r\n"):format(method, path,
      table.concat(lines, "\r\n") .. (#lines > 0 and "\r\n" or ""))
  end

  it("answers Content-Length with Transfer-Encoding 400 and closes, so a request hidden in the body never runs",
    function()
    assert(c:request { path = chats })
    local hidden = head("DELETE", chats, {})
    local reply = exchange(sb.port, head("POST", chats, { "Content-Length: " .. (5 + #hidden),
      "Transfer-Encoding: chunked" }) .. "0\r\n\r\n" .. hidden)
    assert.matches("^HTTP/1%.1 400 ", reply)
    assert.matches("both Content%-Length and Transfer%-Encoding", reply)
    assert.matches("\n<closed>$", reply)
    assert.equal(1, select(2, reply:gsub("HTTP/1%.1 ", ""))) -- one answer, for one request
    assert(c:request { path = chats }) -- not deleted
  end)

  it("answers two different Content-Lengths 400 and closes; the same one twice is served", function()
    local hidden = head("DELETE", chats, {})
    local reply = exchange(sb.port, head("POST", chats, { "Content-Length: 2", "Content-Length: " .. (2 + #hidden) })
      .. "{}" .. hidden)
    assert.matches("^HTTP/1%.1 400 ", reply)
    assert.matches("Content%-Length values that differ", reply)
    assert.matches("\n<closed>$", reply)
    assert.equal(1, select(2, reply:gsub("HTTP/1%.1 ", "")))
    assert(c:request { path = chats })
    reply = exchange(sb.port, head("GET", chats, { "Content-Length: 0", "Content-Length: 0", "Connection: close" }))
    assert.matches("^HTTP/1%.1 200 ", reply)
  end)

  it("answers a path holding an encoded NUL (%00) 400, wherever it is", function()
    for _, path in ipairs { "/api/core/platform/users/%00", "/api/core/platform/users%00/",
      "/api/ai-prompt/orgs/main/users/" .. name .. "%00x/all-chats-memory/" } do
      local reply = exchange(sb.port, head("GET", path, { "Connection: close" }))
      assert.matches("^HTTP/1%.1 400 ", reply, path)
      assert.matches("NUL byte", reply, path)
    end
    local reply = exchange(sb.port, head("GET", "/api/core/platform/users/?query=%00", { "Connection: close" }))
    assert.matches("^HTTP/1%.1 200 ", reply) -- a query value is data, not a path
  end)

  it("serves ordinary requests within 1 s while 300 connections from one address send their heads slowly, "
    .. "and closes those after 10 s", function()
    if not attacker_address() then
      pending("cannot bind " .. ATTACKER .. " here")
      return
    end
    local conns = slow_heads(sb.port, 300)
    finally(function()
      for _, s in ipairs(conns) do s:close() end
    end)
    assert.equal(300, #conns) -- connected in the kernel; the server keeps only its cap of them
    local start, first_closed = socket.gettime(), nil
    while socket.gettime() - start < 15 do
      for _, s in ipairs(conns) do s:send("X-Slow: a\r\n") end -- a header line every second
      local t = socket.gettime()
      local res, err = c:request { path = "/api/core/platform/users/", query = { page_size = 1 }, timeout = 1 }
      assert(res, tostring(err))
      assert.is_true(socket.gettime() - t < 1)
      if not first_closed and closed(conns[1]) then first_closed = socket.gettime() - start end
      if first_closed then break end
      socket.sleep(1)
    end
    assert.is_number(first_closed, "a connection still sending its head after 15 s was not closed")
    assert.is_true(first_closed >= 9, first_closed)
  end)

  it("keeps serving other addresses while one address holds its cap of 256 connections and asks for more",
    function()
    if not attacker_address() then
      pending("cannot bind " .. ATTACKER .. " here")
      return
    end
    local conns = slow_heads(sb.port, 400)
    finally(function()
      for _, s in ipairs(conns) do s:close() end
    end)
    socket.sleep(0.5)
    local refused = 0
    for _, s in ipairs(conns) do
      if closed(s) then refused = refused + 1 end
    end
    assert.equal(400 - 256, refused)
    for _ = 1, 20 do
      assert(c:request { path = "/api/core/platform/users/", query = { page_size = 1 }, timeout = 1 })
    end
  end)
end)
