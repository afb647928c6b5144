-- A raw TCP server that breaks HTTP on purpose, for what libmicrohttpd will not do: answers that
-- are not HTTP, huge header blocks, and keep-alive connections closed under a request.
-- Run as `iblai spec/support/hostile_server.lua`; prints "port N pid P". Needs lua-socket.
local socket = require "socket"
local httpd = require "iblai.httpd"

local server = assert(socket.bind("127.0.0.1", 0))
server:settimeout(0)
local _, port = server:getsockname()

local seen = {}          -- request bodies received at /once, with how many times each came
local clients = {}       -- socket -> { buf = "", served = n }

local function respond(c, status, body, extra)
  c:send(("HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s")
    :format(status, #body, extra or "", body))
end

local function counts()
  local parts = {}
  for body, n in pairs(seen) do parts[#parts + 1] = ("%q: %d"):format(body, n) end
  table.sort(parts)
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- Answers one request; returns false when the connection must close.
local routes = {
  ["/warm"] = function(c) respond(c, "200 OK", "{}") return true end,
  ["/seen"] = function(c) respond(c, "200 OK", counts()) return true end,
  -- the first request on a connection is answered; a later one is read, then the connection closes
  ["/once"] = function(c, st, body)
    seen[body] = (seen[body] or 0) + 1
    if st.served > 1 then return false end
    respond(c, "200 OK", '{"ok": true}')
    return true
  end,
  ["/drop"] = function(_, _, body)
    seen[body] = (seen[body] or 0) + 1
    return false
  end,
  ["/http09"] = function(c) c:send("just some words, no status line\n") return false end,
  ["/garbage"] = function(c) c:send("HTPP/1.1 2000 OKAY\r\nwhat: ever\r\n\r\n") return false end,
  ["/bigheaders"] = function(c)
    respond(c, "200 OK", "{}", "X-Big: " .. ("x"):rep(300 * 1024) .. "\r\n")
    return true
  end,
  ["/ftp"] = function(c)
    c:send("HTTP/1.1 302 Found\r\nLocation: ftp://127.0.0.1/file\r\nContent-Length: 0\r\n\r\n")
    return true
  end,
}

-- A full request in st.buf? Returns method, path, body and the rest of the buffer.
local function take_request(st)
  local head_end = st.buf:find("\r\n\r\n", 1, true)
  if not head_end then return nil end
  local head = st.buf:sub(1, head_end - 1)
  local method, target = head:match("^(%u+) (%S+)")
  local length = tonumber(head:lower():match("\ncontent%-length:%s*(%d+)")) or 0
  if #st.buf < head_end + 3 + length then return nil end
  local body = st.buf:sub(head_end + 4, head_end + 3 + length)
  st.buf = st.buf:sub(head_end + 4 + length)
  return method, target:match("^[^?]*"), body
end

io.write(("port %d pid %d\n"):format(port, httpd.pid()))
io.stdout:flush()

local running = true
while running do
  local list = { server }
  for c in pairs(clients) do list[#list + 1] = c end
  local ready = socket.select(list, nil, 1)
  for _, s in ipairs(ready) do
    if s == server then
      local c = server:accept()
      if c then
        c:settimeout(0)
        clients[c] = { buf = "", served = 0 }
      end
    else
      local st = clients[s]
      local data, err, partial = s:receive(65536)
      data = data or partial
      if data and #data > 0 then st.buf = st.buf .. data end
      local keep = err ~= "closed"
      while keep do
        local method, path, body = take_request(st)
        if not method then break end
        st.served = st.served + 1
        if path == "/stop" then running, keep = false, false break end
        local route = routes[path]
        if route then
          keep = route(s, st, body)
        else
          respond(s, "404 Not Found", '{"detail": "Not found."}')
        end
      end
      if not keep then
        s:close()
        clients[s] = nil
      end
    end
  end
end
server:close()
