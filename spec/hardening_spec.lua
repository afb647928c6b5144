-- What a hostile review found: re-entry from finalizers, servers that cap page sizes, walks that
-- fail halfway, keys echoed back, foreign redirects, numbers that do not fit, empty segments.
local helpers = require "support.helpers"
local iblai = require "iblai"
local json = require "iblai.json"

local KEY = "SECRET-KEY-0123456789"

local function no_key_in(value, seen)
  seen = seen or {}
  if type(value) == "string" then
    assert.is_nil(value:find(KEY, 1, true), "the key leaked: " .. value)
  elseif type(value) == "table" and not seen[value] then
    seen[value] = true
    for k, v in pairs(value) do
      no_key_in(k, seen)
      no_key_in(v, seen)
    end
  end
end

describe("hardening", function()
  local server, client

  setup(function()
    server = helpers.test_server()
  end)

  teardown(function()
    server.stop()
  end)

  before_each(function()
    client = assert(iblai.new { base_url = server.url, api_key = KEY, org = "main", username = "u",
      backoff_base = 0.01, backoff_max = 0.02 })
  end)

  after_each(function()
    client:close()
  end)

  it("refuses requests from finalizers while a request_many is under way, and answers right", function()
    local session, refused = client.session, 0
    local function bomb()
      setmetatable({}, { __gc = function()
        if not pcall(session.request, session, { path = "/echo" }) then refused = refused + 1 end
      end })
    end
    collectgarbage("incremental", 0, 100) -- a collection step at nearly every allocation
    for _ = 1, 4 do
      for _ = 1, 20 do bomb() end
      local reqs = {}
      for i = 1, 8 do reqs[i] = { path = "/big", query = { n = 30000 + i } } end
      local res, errs = session:request_many(reqs)
      for i = 1, 8 do
        assert.is_nil(errs[i])
        assert.equal(30000 + i + 2, #res[i].body + 2)
      end
    end
    collectgarbage("incremental", 200, 100)
    collectgarbage()
    assert.is_number(refused) -- how many were refused depends on when the GC ran; none may crash
  end)

  it("is not left busy by a coroutine that died inside a request, nor leaks what it held", function()
    local co = coroutine.create(function() return client.session:request { bogus = 1 } end)
    local ok, err = coroutine.resume(co)
    assert.is_false(ok)
    assert.matches("unknown field 'bogus' in request", err)
    co = nil -- luacheck: ignore 311 (unreachable now: only the guard still holds it)
    collectgarbage()
    assert.equal(200, assert(client:request { path = "/echo" }).status)
    local kept = coroutine.create(function() return client.session:request { bogus = 1 } end)
    coroutine.resume(kept)
    assert.equal(200, assert(client:request { path = "/echo" }).status)
    assert.equal("dead", coroutine.status(kept))
    local pid = assert(io.open("/proc/self/stat")):read("n") -- this process, not a child's
    local function fds()
      local n = 0
      for _ in io.popen("ls /proc/" .. math.tointeger(pid) .. "/fd"):lines() do n = n + 1 end
      return n
    end
    local before = fds()
    for _ = 1, 50 do -- sessions abandoned that way go with their connections when collected
      local s = require("iblai.core").session { base_url = server.url }
      assert(s:request { path = "/echo" })
      coroutine.resume(coroutine.create(function() return s:request { bogus = 1 } end))
    end
    collectgarbage()
    collectgarbage()
    assert.is_true(fds() <= before + 2, "file descriptors left open")
  end)

  it("resets a dead coroutine while the next operation counts as busy, so its __close cannot pull the rug", function()
    local core = require "iblai.core"
    -- a __close that closes the session: refused while the reset runs, the request goes on
    local s = core.session { base_url = server.url }
    local closed
    local co = coroutine.create(function()
      local _ <close> = setmetatable({}, { __close = function() closed = { pcall(s.close, s) } end })
      return s:request { bogus = 1 }
    end)
    assert.is_false((coroutine.resume(co)))
    assert.equal(200, assert(s:request { path = "/echo" }).status)
    assert.is_false(closed[1])
    assert.matches("cannot close an iblai.Session from inside one of its own requests", closed[2])
    s:close()
    -- a __close that closes a stream the caller then reads: told, not read after it is freed
    s = core.session { base_url = server.url }
    local st = s:stream {}
    st:add { path = "/echo" }
    co = coroutine.create(function()
      local _ <close> = setmetatable({}, { __close = function() st:close() end })
      return s:request { bogus = 1 }
    end)
    coroutine.resume(co)
    local ok, err = pcall(st.next, st)
    assert.is_false(ok)
    assert.matches("the iblai.Stream was closed by a __close method", err)
    s:close()
    -- a __close whose own coroutine dies inside a request (refused: busy) is reset in turn
    s = core.session { base_url = server.url }
    co = coroutine.create(function()
      local _ <close> = setmetatable({}, { __close = function()
        coroutine.resume(coroutine.create(function() return s:request { path = "/echo" } end))
      end })
      return s:request { bogus = 1 }
    end)
    coroutine.resume(co)
    assert.is_true((pcall(s.close, s)))
    -- a coroutine a log hook starts, dying inside a stream:add while a request runs
    local once
    s = core.session { base_url = server.url, log = function()
      if once then return end
      once = true
      coroutine.resume(coroutine.create(function() st:add { bogus = 1 } end))
    end }
    st = s:stream {}
    assert.equal(200, assert(s:request { path = "/echo" }).status)
    assert.equal(200, assert(s:request { path = "/echo" }).status)
    s:close()
  end)

  it("reads request tables raw: metamethods neither run nor add requests", function()
    local ran = false
    local reqs = setmetatable({ { path = "/echo" } }, {
      __len = function() ran = true return 3 end,
      __index = function() ran = true return { path = "/echo" } end,
    })
    local res = client:request_many(reqs)
    assert.is_false(ran)
    assert.equal(1, #res)
  end)

  it("never spins while a due retry waits for a free slot", function()
    local key = "spin-" .. os.time()
    local wall, cpu = require("iblai.core").now(), os.clock()
    local res = client:request_many({
      { path = "/seq", query = { key = key, codes = "503,200" } },
      { path = "/delay", query = { s = 1 } },
      { path = "/delay", query = { s = 1 } },
    }, { concurrency = 2 })
    assert.equal(3, #res)
    wall, cpu = require("iblai.core").now() - wall, os.clock() - cpu
    assert.is_true(cpu < wall / 2, ("%.2f s of CPU in %.2f s"):format(cpu, wall))
  end)

  it("keeps the key out of Errors when the server echoes it", function()
    local res, err = client:request { path = "/detail", query = { code = 401, detail = "Invalid token Api-Token " .. KEY } }
    assert.is_nil(res)
    no_key_in(err)
    no_key_in(tostring(err))
    assert.matches("%[redacted%]", err.message)
  end)

  it("sends no key when a foreign server redirects to the API", function()
    local own = server.url .. "/echo"
    local foreign = server.url:gsub("127%.0%.0%.1", "localhost") .. "/redirect"
    local res = assert(client:request { url = foreign, query = { to = own, code = 307 } })
    assert.equal(own, res.url)
    assert.is_nil(res.body.headers.authorization)
  end)

  it("sends one Authorization when the caller gives one", function()
    local res = assert(client:request { path = "/echo", headers = { Authorization = "Token session-token" } })
    assert.equal("Token session-token", res.body.headers.authorization)
  end)

  it("prints every Error on one line, whatever the server said", function()
    local res, err = client:request { path = "/detail", query = { code = 400, detail = "line1\nline2\r\n\27[31mred" } }
    assert.is_nil(res)
    assert.not_matches("[%c]", tostring(err))
    local _, verr = client:call("ai_mentor_orgs_users_artifacts_list", { search = 1, ordering = {} })
    assert.not_matches("[%c]", tostring(verr))
  end)

  it("reads Retry-After as decimal seconds only", function()
    local delays = {}
    local c = assert(iblai.new { base_url = server.url, backoff_max = 0.5, retry_after_max = 60,
      sleep = function(d) delays[#delays + 1] = d end })
    assert(c:request { path = "/seq", query = { key = "hex-" .. os.time(), codes = "503,200", retry_after = "0x10" } })
    assert.is_true(delays[1] <= 0.5, "waited " .. delays[1])
    c:close()
  end)

  it("sends large integers in bodies exactly", function()
    local res = assert(client:request { method = "POST", path = "/echo",
      json = { id = 123456789012345678, list = { 9007199254740993, -123456789012345 }, small = 5, half = 0.5 } })
    local sent = assert(json.decode(res.body.body))
    assert.equal(123456789012345678, sent.id)
    assert.equal(9007199254740993, sent.list[1])
    assert.equal(-123456789012345, sent.list[2])
    assert.equal(0.5, sent.half)
  end)

  it("refuses an empty path segment, and lists with holes or named fields", function()
    local _, err = client:call("ai_mentor_orgs_users_memory_destroy", { memory_unique_id_or_name = "" })
    assert.equal("validation", err.kind)
    assert.equal("memory_unique_id_or_name", err.param)
    _, err = client:call("ai_mentor_orgs_users_memory_destroy", { memory_unique_id_or_name = "x", org = "" })
    assert.equal("org", err.param)
    for _, list in ipairs { { "a", nil, "c" }, { "a", extra = "b" }, { [2] = "b" } } do
      _, err = client:call("ai_mentor_orgs_projects_create", { body = { name = "p", mentors_to_add = list } })
      assert.equal("validation", err.kind)
      assert.equal("mentors_to_add", err.param)
    end
    _, err = client:call("ai_mentor_orgs_users_artifacts_retrieve", { id = 2 ^ 63 })
    assert.matches("within 64 bits", err.message)
  end)
end)

describe("walks on servers that cap or fail", function()
  local server, client

  setup(function()
    server = helpers.start_server(helpers.root .. "/spec/support/pager_server.lua")
    client = assert(iblai.new { base_url = server.url, api_key = "k", org = "main", username = "u", retries = 0 })
  end)

  teardown(function()
    client:close()
    server.stop()
  end)

  it("follows the page size a server really uses", function()
    local items = assert(client:collect("ai_analytics_orgs_users_chat_history_list", { page_size = 150 }))
    assert.equal(257, #items)
    items = assert(client:collect("ai_analytics_orgs_users_observations_list", { limit = 80 }))
    assert.equal(123, #items)
    for i = 1, 123 do assert.equal(i, items[i].id) end
  end)

  it("delivers the page that carries a bad next link, then the error, and stays failed", function()
    local w = assert(require("iblai.paginate").walker(client, client:operation("ai_mentor_orgs_users_sessions_retrieve"),
      { session_id = "cycle" }))
    local pages, body, err = 0
    repeat
      body, err = w.next()
      if body then pages = pages + 1 end
    until not body
    assert.equal(3, pages) -- the last points back at one already read: it still arrives
    assert.equal("pagination", err.kind)
    assert.equal(err, select(2, w.next()))
    w.close()
  end)

  it("stays failed after an error raised by a hook, instead of looking finished", function()
    local raised = false
    local c = assert(iblai.new { base_url = server.url, org = "main", username = "u", retries = 0,
      log = function() if not raised then raised = true error("hook broke") end end })
    local iter = c:each("ai_analytics_orgs_users_chat_history_list", { page_size = 10 })
    local ok, err = pcall(iter)
    assert.is_false(ok)
    assert.matches("hook broke", tostring(err)) -- the hook's own error, not nil
    ok, err = pcall(iter)
    assert.is_false(ok)
    assert.matches("hook broke", tostring(err))
    c:close()
  end)
end)
