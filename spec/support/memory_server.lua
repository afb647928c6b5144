-- A server holding users' memory stores that lies the ways a real one might, each user its own
-- way (by username), for the memory-reset specs. Run as `iblai spec/support/memory_server.lua`;
-- prints "port N pid P". GET /_state tells what each user really holds, bypassing every lie.
--   nocount    edX pages carry next links but no count
--   lowcount   edX pages say count 3 while they hold more
--   sticky     edX deletes answer 204 and delete nothing
--   growing    one new edX record arrives after the first listing is read
--   keyless    one ai-mentor memory has neither unique_id nor name
--   ghostchat  the all-chats memory answers 204 to its delete and stays
--   stale      the first edX listing after a delete still shows what was there before (a lagging replica)
--   delafter   edX deletes are done but answered 500; deleting again answers 404
--   dupids     each edX page after the first repeats the last record of the page before
--   hollow     the first edX page is empty but links to a second one, and there is no count
--   forever    the edX listing never ends: a next link and new records on every page, a count of 5
-- Any other username holds a few items in every store, and behaves.
local httpd = require "iblai.httpd"
local json = require "iblai.json"

local EDX = 23 -- edX records of each user: several pages at any page size under 23

local stores = {} -- username -> { edx = {ids}, mentor = {items}, profile = {items}, chats = bool, prompt = bool, next_id }
local listed = {} -- username -> how many edX listings were answered
local before = {} -- username -> the edX ids before the first delete, for "stale"

local function holdings(user)
  local h = stores[user]
  if h then return h end
  h = { edx = {}, mentor = {}, profile = {}, chats = true, prompt = true, next_id = 1 }
  for _ = 1, EDX do
    h.edx[#h.edx + 1] = h.next_id
    h.next_id = h.next_id + 1
  end
  for i = 1, 4 do h.mentor[i] = { unique_id = user .. "-m" .. i, name = "memory " .. i } end
  if user == "keyless" then h.mentor[5] = { content = "no key at all" } end
  for i = 1, 3 do h.profile[i] = { tag = "tag" .. i, detail = "detail" } end
  stores[user] = h
  return h
end

local function reply(status, body)
  local text = body == nil and "" or json.encode(body)
  return { status = status, body = text, headers = { ["Content-Type"] = "application/json" } }
end

local function not_found() return reply(404, { detail = "Not found." }) end

local function num(v, default) return math.tointeger(tonumber(v)) or default end

-- A DRF page of items, with links built on the request's own path.
local function page_of(req, items, count)
  local page, size = num(req.query.page, 1), math.min(num(req.query.page_size, 10), 100)
  local first = (page - 1) * size + 1
  if page > 1 and first > #items then return reply(404, { detail = "Invalid page." }) end
  local results = {}
  for i = first, math.min(#items, first + size - 1) do results[#results + 1] = items[i] end
  local base = "http://" .. req.headers.host .. req.path
  local extra = req.query.username and ("&username=" .. req.query.username) or ""
  return reply(200, { count = count, results = #results > 0 and results or json.empty_array,
    next = first + size - 1 < #items and (base .. "?page=" .. (page + 1) .. "&page_size=" .. size .. extra) or json.null,
    previous = page > 1 and (base .. "?page=" .. (page - 1) .. "&page_size=" .. size .. extra) or json.null })
end

local function remove(list, match)
  for i, v in ipairs(list) do
    if match(v) then
      table.remove(list, i)
      return true
    end
  end
  return false
end

local MENTOR = "^/api/ai%-mentor/orgs/[^/]+/users/([^/]+)/"
local PROMPT = "^/api/ai%-prompt/orgs/[^/]+/users/([^/]+)/"

local function edx_list(req, user, h)
  listed[user] = (listed[user] or 0) + 1
  if user == "growing" and listed[user] == 2 and (num(req.query.page, 1) == 1) then
    h.edx[#h.edx + 1] = h.next_id -- arrived while the first deletes were going on
    h.next_id = h.next_id + 1
  end
  local ids = h.edx
  if user == "stale" and before.stale and not before.shown then
    ids = before.stale
    before.shown = num(req.query.page, 1) == 1 and "page 1" or true
  end
  local items = {}
  for i, id in ipairs(ids) do items[i] = { id = id, user = user } end
  local count = #items
  if user == "nocount" then count = nil elseif user == "lowcount" then count = math.min(3, count) end
  if user == "hollow" then
    if num(req.query.page, 1) == 1 then
      return reply(200, { results = json.empty_array, previous = json.null,
        next = "http://" .. req.headers.host .. req.path .. "?page=2&page_size=" .. num(req.query.page_size, 10) })
    end
    req.query.page = tostring(num(req.query.page, 1) - 1)
    count = nil
  end
  if user == "forever" then
    local page, fresh = num(req.query.page, 1), {}
    for i = 1, num(req.query.page_size, 10) do
      fresh[i] = { id = h.next_id }
      h.next_id = h.next_id + 1
    end
    return reply(200, { count = 5, results = fresh, previous = json.null,
      next = "http://" .. req.headers.host .. req.path .. "?page=" .. (page + 1) .. "&page_size=" .. #fresh })
  end
  local answer = page_of(req, items, count)
  if user == "dupids" and num(req.query.page, 1) > 1 then
    local page = json.decode(answer.body)
    local size = num(req.query.page_size, 10)
    table.insert(page.results, 1, items[(num(req.query.page, 1) - 1) * size])
    answer = reply(200, page)
  end
  return answer
end

-- The org's users listing (next_page pages): usernames a reset cannot use among usable ones.
local LISTED = { { username = "first" }, { username = "bad\nname" }, { username = "" }, { username = ("x"):rep(600) },
  { id = 5, email = "no-username@example.com" }, { username = json.null }, { username = "last" } }

local function handle(req)
  local path, method = req.path, req.method
  if path == "/api/core/platform/users/" then
    local page, size = num(req.query.page, 1), num(req.query.page_size, 100)
    local results = {}
    for i = (page - 1) * size + 1, math.min(#LISTED, page * size) do results[#results + 1] = LISTED[i] end
    return reply(200, { count = #LISTED, results = results, next_page = page * size < #LISTED and page + 1 or json.null,
      previous_page = page > 1 and page - 1 or json.null })
  end
  if path == "/_state" then
    local out = {}
    for user, h in pairs(stores) do
      out[user] = { edx = #h.edx, mentor = #h.mentor, profile = #h.profile, chats = h.chats and 1 or 0,
        prompt = h.prompt and 1 or 0 }
    end
    return reply(200, out)
  end
  local user, rest = path:match(MENTOR .. "(.*)$")
  if user then
    user = httpd.unescape(user)
    local h = holdings(user)
    if rest == "edx-memory/" and method == "GET" then return edx_list(req, user, h) end
    local id = rest:match("^edx%-memory/(%d+)/$")
    if id and method == "DELETE" then
      if user == "sticky" then return reply(204) end
      if user == "stale" and not before.stale then before.stale = table.move(h.edx, 1, #h.edx, 1, {}) end
      local gone = remove(h.edx, function(v) return v == tonumber(id) end)
      if gone and user == "delafter" then return reply(500, { detail = "Internal server error." }) end
      return gone and reply(204) or not_found()
    end
    if rest == "ai-user-profile-memory/" and method == "GET" then
      return reply(200, #h.profile > 0 and h.profile or json.empty_array)
    end
    local tag = rest:match("^ai%-user%-profile%-memory/([^/]+)/$")
    if tag and method == "DELETE" then
      tag = httpd.unescape(tag)
      return remove(h.profile, function(v) return v.tag == tag end) and reply(204) or not_found()
    end
    if rest == "filtered-memories/" and method == "GET" then return page_of(req, h.mentor, #h.mentor) end
    local key = rest:match("^memory/([^/]+)/$")
    if key and method == "DELETE" then
      key = httpd.unescape(key)
      return remove(h.mentor, function(v) return v.unique_id == key or v.name == key end) and reply(204) or not_found()
    end
    return not_found()
  end
  user, rest = path:match(PROMPT .. "(.*)$")
  if user then
    user = httpd.unescape(user)
    local h = holdings(user)
    local store = (rest == "all-chats-memory/" and "chats") or (rest == "memory/" and "prompt") or nil
    if not store then return not_found() end
    if method == "GET" then return h[store] and reply(200, { id = 1, content = "remembered" }) or not_found() end
    if method == "DELETE" then
      if not h[store] then return not_found() end
      if not (user == "ghostchat" and store == "chats") then h[store] = false end
      return reply(204)
    end
  end
  return not_found()
end

local server = assert(httpd.new { handler = handle })
io.write(("port %d pid %d\n"):format(server:port(), httpd.pid()))
io.stdout:flush()
server:run()
server:close()
