-- A raw TCP server for downloads to a file (request field to_file): bodies framed by a length,
-- bodies that end when the connection does (no length), bodies cut short on chosen hits, and
-- bodies sent a byte at a time. Run as `iblai spec/support/download_server.lua`; prints
-- "port N pid P". Needs lua-socket.
--   /json?key=K&cut=2,3  a 200 KB JSON array (Content-Length); hits 2 and 3 on K stop halfway
--   /unframed?cut=1      the same without a length, ending with the connection (cut: halfway)
--   /drip?n=N&every=S    N bytes of a JSON string, one every S seconds
--   /error?n=N           a 500 with an N-byte body
--   /hits?key=K          how many requests K had
local socket = require "socket"
local httpd = require "iblai.httpd"

local server = assert(socket.bind("127.0.0.1", 0))
server:settimeout(0)
local _, port = server:getsockname()

local items = {}
for i = 1, 4000 do items[i] = ('{"id":%d,"n":12345678901234567890,"x":1e400}'):format(i) end
local BIG = "[" .. table.concat(items, ",") .. "]"

local hits = {}
local clients = {} -- socket -> { buf, out = { {data, at} ... }, close }

local function query_of(target)
  local q = {}
  for k, v in (target:match("%?(.*)$") or ""):gmatch("([^&=]+)=([^&]*)") do q[k] = v end
  return q
end

local function listed(list, n)
  for v in (list or ""):gmatch("%d+") do
    if tonumber(v) == n then return true end
  end
  return false
end

local function head(status, length, extra)
  return ("HTTP/1.1 %s\r\nContent-Type: application/json\r\n%s%s\r\n"):format(status,
    length and ("Content-Length: %d\r\n"):format(length) or "Connection: close\r\n", extra or "")
end

-- Queues the answer to one request on st; returns whether the connection closes after it.
local function answer(st, target)
  local path, q = target:match("^[^?]*"), query_of(target)
  local now = socket.gettime()
  local function send(data, at) st.out[#st.out + 1] = { data, at or now } end
  if path == "/json" then
    local key = q.key or "default"
    hits[key] = (hits[key] or 0) + 1
    if listed(q.cut, hits[key]) then
      send(head("200 OK", #BIG) .. BIG:sub(1, #BIG // 2))
      return true
    end
    send(head("200 OK", #BIG) .. BIG)
    return false
  elseif path == "/unframed" then
    send(head("200 OK", nil) .. (q.cut == "1" and BIG:sub(1, #BIG // 2) or BIG))
    return true
  elseif path == "/drip" then
    local n, every = tonumber(q.n) or 10, tonumber(q.every) or 0.2
    send(head("200 OK", n) .. '"')
    for i = 2, n - 1 do send("x", now + (i - 1) * every) end
    send('"', now + (n - 1) * every)
    return false
  elseif path == "/error" then
    local body = '"' .. ("e"):rep((tonumber(q.n) or 100) - 2) .. '"'
    send(head("500 Internal Server Error", #body) .. body)
    return false
  elseif path == "/hits" then
    local body = ('{"hits":%d}'):format(hits[q.key or "default"] or 0)
    send(head("200 OK", #body) .. body)
    return false
  end
  local body = '{"detail":"Not found."}'
  send(head("404 Not Found", #body) .. body)
  return false
end

io.write(("port %d pid %d\n"):format(port, httpd.pid()))
io.stdout:flush()

local running = true
while running do
  local list = { server }
  for c in pairs(clients) do list[#list + 1] = c end
  local ready = socket.select(list, nil, 0.02)
  for _, s in ipairs(ready) do
    if s == server then
      local c = server:accept()
      if c then
        c:settimeout(0)
        clients[c] = { buf = "", out = {} }
      end
    elseif clients[s] then
      local st = clients[s]
      local data, err, partial = s:receive(65536)
      data = data or partial
      if data and #data > 0 then st.buf = st.buf .. data end
      if err == "closed" then
        s:close()
        clients[s] = nil
      else
        local head_end = st.buf:find("\r\n\r\n", 1, true)
        if head_end then
          local target = st.buf:match("^%u+ (%S+)")
          st.buf = st.buf:sub(head_end + 4)
          if target == "/stop" then running = false end
          st.close = answer(st, target or "/")
        end
      end
    end
  end
  local now = socket.gettime()
  for c, st in pairs(clients) do
    while st.out[1] and st.out[1][2] <= now do
      local piece = table.remove(st.out, 1)[1]
      c:settimeout(5)
      c:send(piece)
      c:settimeout(0)
    end
    if st.close and not st.out[1] then
      c:close()
      clients[c] = nil
    end
  end
end
server:close()
