-- The benchmark server: an artifacts listing whose pages are cheap to serve, so the clients
-- are what is measured. users/u: 10,000 items (pages cached); users/million: 1,000,000 items;
-- DELETE on any edx-memory/{id}/ answers 204. Prints "port N pid P".
local httpd = require "iblai.httpd"
local json = require "iblai.json"

local SIZES = { u = 10000, million = 1000000 }
local cache = {}

local function item(i)
  return { id = i, title = "Notes " .. i, file_extension = "md", llm_name = "gpt-4o", llm_provider = "openai",
    date_created = "2026-01-15T10:00:00Z", date_updated = "2026-01-15T10:00:00Z", username = "u",
    session_id = "3fa85f64-5717-4562-b3fc-2c963f66afa6", content_length = 42 }
end

local function page_body(req, user, page, size)
  local key = user .. ":" .. page .. ":" .. size
  if cache[key] then return cache[key] end
  local n = SIZES[user]
  local first, results = (page - 1) * size + 1, {}
  for i = first, math.min(n, first + size - 1) do results[#results + 1] = item(i) end
  local base = "http://" .. req.headers.host .. req.path
  local body = json.encode {
    count = n, results = results, previous = json.null,
    next = first + size - 1 < n and ("%s?page=%d&page_size=%d"):format(base, page + 1, size) or json.null,
  }
  if n <= 10000 then cache[key] = body end
  return body
end

local JSON = { ["Content-Type"] = "application/json" }

local server = assert(httpd.new {
  connections = 256,
  handler = function(req)
    local user = req.path:match("^/api/ai%-mentor/orgs/main/users/(%w+)/artifacts/$")
    if user and SIZES[user] and req.method == "GET" then
      local page = math.tointeger(tonumber(req.query.page or "1")) or 1
      local size = math.min(math.tointeger(tonumber(req.query.page_size or "10")) or 10, 100)
      return { status = 200, body = page_body(req, user, page, size), headers = JSON }
    end
    if req.method == "DELETE" and req.path:match("^/api/ai%-mentor/orgs/main/users/u/edx%-memory/%d+/$") then
      return { status = 204 }
    end
    return { status = 404, body = '{"detail":"Not found."}', headers = JSON }
  end,
})
io.write(("port %d pid %d\n"):format(server:port(), httpd.pid()))
io.stdout:flush()
server:run()
server:close()
