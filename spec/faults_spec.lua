-- What used to crash, hang or lie: retries inside streams, collection from hooks, dot segments,
-- POSTs sent twice, endless walks, tiny timeouts, answers that are not HTTP.
local helpers = require "support.helpers"
local iblai = require "iblai"
local json = require "iblai.json"

local function hits(client, key)
  return assert(client:request { path = "/hits", query = { key = key } }).body.hits
end

describe("faults", function()
  local server, client

  setup(function()
    server = helpers.test_server()
  end)

  teardown(function()
    server.stop()
  end)

  before_each(function()
    client = assert(iblai.new { base_url = server.url, api_key = "k", org = "main", username = "u",
      backoff_base = 0.05, backoff_max = 0.1 })
  end)

  after_each(function()
    client:close()
  end)

  it("retries a stream's request once, after its backoff, when another loop hears its failure", function()
    local key = "stream-retry-" .. os.time()
    local stream = client.session:stream { concurrency = 2 }
    stream:add { path = "/seq", query = { key = key, codes = "503,200" } }
    -- this request's loop hears the stream's 503 and schedules the retry
    assert(client:request { path = "/delay", query = { s = 0.2 } })
    local _, res, err = stream:next()
    assert.is_nil(err)
    assert.equal(200, res.status)
    assert.equal(2, res.attempts)
    assert.equal(2, hits(client, key))
    assert.is_nil(stream:next())
    stream:close()
    assert.equal(0, client.session:in_flight())
    assert(client:request { path = "/echo" }) -- and the client still works
  end)

  it("keeps walking under retries while the loop body sends its own requests", function()
    local key = "walk-" .. os.time()
    local ids = {}
    for item in client:each("ai_analytics_orgs_users_chat_history_list", { org = "flaky", page_size = 10 },
      { concurrency = 3, headers = { ["X-Round"] = key } }) do
      ids[#ids + 1] = item.id
      if #ids % 7 == 0 then
        assert(client:request { path = "/seq", query = { key = key .. #ids, codes = "503,502,200" } })
      end
    end
    assert.equal(57, #ids)
    for i = 1, 57 do assert.equal(i, ids[i]) end
    assert.equal(0, client.session:in_flight())
  end)

  it("survives streams collected by the GC from inside a log hook", function()
    local c = assert(iblai.new { base_url = server.url, log = function() collectgarbage() end })
    for _ = 1, 10 do
      local stream = c.session:stream { concurrency = 4 }
      for i = 1, 4 do stream:add { path = "/delay", query = { s = 0.02 * i } } end
      stream = nil -- luacheck: ignore 311
      assert(c:request { path = "/delay", query = { s = 0.05 } })
    end
    assert.equal(0, c.session:in_flight())
    c:close()
  end)

  it("sends dot segments percent-encoded, never collapsed onto the parent", function()
    for _, tag in ipairs { ".", ".." } do
      local res = assert(client:request(assert(client:prepare_call("ai_mentor_orgs_users_ai_user_profile_memory_destroy",
        { tag = tag }))))
      local encoded = tag == "." and "%2E" or "%2E%2E"
      assert.equal(server.url .. "/api/ai-mentor/orgs/main/users/u/ai-user-profile-memory/" .. encoded .. "/", res.url)
      assert.equal("DELETE", res.body.method)
      assert.matches("/ai%-user%-profile%-memory/", res.body.path)
    end
    local res = assert(client:request { path = "/api/ai-mentor/orgs/main/users/u/../x/" })
    assert.equal(server.url .. "/api/ai-mentor/orgs/main/users/u/../x/", res.url) -- sent as written
  end)

  it("gives every JSON body of a call back as a value, never as a failure", function()
    local function call(org) return client:call("ai_mentor_orgs_users_artifacts_retrieve", { org = org, id = 1 }) end
    local v, extra = call("jsonfalse")
    assert.is_true(v)
    assert.is_false(extra)
    assert.equal(json.null, (call("jsonnull")))
    assert.equal(iblai.null, json.null)
    assert.is_true((call("jsontrue")))
  end)

  it("rounds a timeout under a millisecond up, instead of waiting forever", function()
    local res, err = client:request { path = "/delay", query = { s = 0.5 }, timeout = 0.0001, retries = 0 }
    assert.is_nil(res)
    assert.equal("timeout", err.kind)
  end)

  it("rejects out-of-range numbers and NUL bytes instead of bending them", function()
    local c, err = iblai.new { retries = 2 ^ 40 }
    assert.is_nil(c)
    assert.equal("config", err.kind)
    assert.matches("retries", err.message)
    assert.has_error(function() client:request { path = "/echo", retries = 2 ^ 40 } end)
    assert.has_error(function() client:request { path = "/echo", timeout = -1 } end)
    local res
    res, err = client:request { path = "/echo\0/x" }
    assert.is_nil(res)
    assert.equal("config", err.kind)
    assert.matches("NUL", err.message)
  end)

  it("bounds the URL that tostring shows, and keeps err.url whole", function()
    local long = "/" .. ("x"):rep(10 * 1024 * 1024)
    local c = assert(iblai.new { base_url = "http://127.0.0.1:1", retries = 0 })
    local res, err = c:request { path = long }
    assert.is_nil(res)
    assert.is_true(#tostring(err) < 1000)
    assert.equal("http://127.0.0.1:1" .. long, err.url)
    c:close()
  end)

  it("closes the connections of sessions dropped without close", function()
    local function sockets()
      local n = 0
      for line in io.popen("ls -l /proc/$PPID/fd 2>/dev/null"):lines() do -- $PPID: this process
        if line:find("socket:", 1, true) then n = n + 1 end
      end
      return n
    end
    local before = sockets()
    for _ = 1, 100 do
      local c = assert(iblai.new { base_url = server.url })
      assert(c:request { path = "/echo" })
    end
    assert.is_true(sockets() - before < 40, "sockets left open: " .. (sockets() - before))
  end)
end)

describe("answers that break HTTP", function()
  local server, client

  setup(function()
    server = helpers.start_server(helpers.root .. "/spec/support/hostile_server.lua")
  end)

  teardown(function()
    local c = assert(iblai.new { base_url = server.url, retries = 0, timeout = 2 })
    c:request { path = "/stop" }
    c:close()
    server.wait()
  end)

  before_each(function()
    client = assert(iblai.new { base_url = server.url, retries = 0, timeout = 5 })
  end)

  after_each(function()
    client:close()
  end)

  it("never sends a POST twice when a kept-alive connection dies under it", function()
    assert(client:request { path = "/warm" })
    assert(client:request { method = "POST", path = "/once", body = "first" })
    assert(client:request { method = "POST", path = "/once", body = "second" })
    local res, err = client:request { method = "POST", path = "/drop", body = "third" }
    assert.is_nil(res)
    assert.equal(1, err.attempts)
    local seen = assert(client:request { path = "/seen" }).body
    assert.same({ first = 1, second = 1, third = 1 }, seen)
  end)

  it("says an answer that is not HTTP was received, not that nothing was sent", function()
    for _, path in ipairs { "/http09", "/garbage" } do
      local res, err = client:request { path = path }
      assert.is_nil(res)
      assert.equal("network", err.kind, path)
      assert.matches("not valid HTTP", err.message)
      assert.not_matches("nothing was sent", tostring(err))
    end
  end)

  it("refuses a redirect to another scheme, saying so", function()
    local res, err = client:request { path = "/ftp" }
    assert.is_nil(res)
    assert.equal("http", err.kind)
    assert.matches("ftp://", err.message)
    assert.not_matches("nothing was sent", tostring(err))
  end)

  it("calls oversized response headers too large, not out of memory", function()
    local res, err = client:request { path = "/bigheaders" }
    assert.is_nil(res)
    assert.equal("too_large", err.kind)
    assert.not_matches("out of memory", tostring(err))
  end)
end)

describe("walks that cannot end", function()
  local server, client

  setup(function()
    server = helpers.start_server(helpers.root .. "/spec/support/pager_server.lua")
    local answers = 0
    client = assert(iblai.new { base_url = server.url, api_key = "k", org = "main", username = "u", retries = 0,
      log = function() -- a walk that has not ended after this many pages never will
        answers = answers + 1
        if answers > 2000 then error("walked on and on") end
      end })
  end)

  teardown(function()
    client:close()
    server.stop()
  end)

  local function walk(trap)
    local n = 0
    local ok, err = pcall(function()
      for _ in client:each("catalog_access_requests_course_manage_retrieve", {}, { headers = { ["X-Trap"] = trap } }) do
        n = n + 1
        if n > 1000 then error("walked on and on") end
      end
    end)
    return ok, err, n
  end

  it("stops with a pagination error when the pages do not add up", function()
    for trap, says in pairs { ["repeat"] = "repeats", huge = "empty", half = "whole number", vast = "whole number" } do
      local ok, err = walk(trap)
      assert.is_false(ok, trap)
      assert.equal("pagination", err.kind, trap .. ": " .. tostring(err))
      assert.matches(says, err.message)
    end
    assert.equal(0, client.session:in_flight())
  end)

  -- Every item of a walk under X-Trap `trap`, or nil and the error; each item once, or an error.
  local function items_of(op, params, trap)
    local ids, seen = {}, {}
    local ok, err = pcall(function()
      for item in client:each(op, params, { headers = { ["X-Trap"] = trap } }) do
        assert(not seen[item.id], "item " .. item.id .. " twice")
        seen[item.id] = true
        ids[#ids + 1] = item.id
      end
    end)
    if not ok then return nil, err, ids end
    return ids
  end

  it("stops when pages asked for by number are not the pages asked for", function()
    local cases = {
      { "ai_analytics_orgs_users_chat_history_list", { page_size = 10 }, "deaf", "repeats the items" },
      { "ai_analytics_orgs_users_chat_history_list", { page_size = 10 }, "shifted", "names page 4 as the next one" },
      { "ai_analytics_orgs_users_observations_list", { limit = 10 }, "deaf", "repeats the items" },
      { "ai_analytics_audience_orgs_active_users_users_retrieve", { length = 10 }, "shifted", "says it is page 3" },
      { "ai_mentor_orgs_users_sessions_retrieve", { session_id = "stuck" }, nil, "repeats the items" },
      { "ai_analytics_orgs_users_chat_history_list", { page_size = 10 }, "hollow", "page 1 is empty but names a next" },
      { "ai_analytics_orgs_users_chat_history_list", { page_size = 10 }, "ghost", "page 1 is empty although the "
        .. "listing says it holds 257 items" },
      { "ai_analytics_orgs_users_chat_history_list", { page_size = 10 }, "shrinking", "the listing changed while it "
        .. "was read (page 1 said 257 items, page 2 says 256)" },
      { "ai_analytics_orgs_users_observations_list", { limit = 10 }, "circle", "repeats an earlier page", 30 },
    }
    for _, c in ipairs(cases) do
      local ids, err, got = items_of(c[1], c[2], c[3])
      assert.is_nil(ids, c[3])
      assert.equal("pagination", err.kind, tostring(err))
      assert.matches(c[4], err.message, 1, true)
      assert.is_true(#got <= (c[5] or 10), #got .. " items") -- the pages before the lie, no more
    end
    assert.equal(0, client.session:in_flight())
  end)

  it("follows every next link when the count is short or missing, whatever writes a link or a number", function()
    for _, c in ipairs {
      { "ai_analytics_orgs_users_chat_history_list", { page_size = 10 }, "short", 257 },
      { "ai_analytics_orgs_users_chat_history_list", { page_size = 10 }, "none", 257 },
      { "ai_analytics_orgs_users_observations_list", { limit = 10 }, "none", 123 },
      -- and takes what servers write differently for what they mean the same way
      { "ai_analytics_orgs_users_chat_history_list", { page_size = 10 }, "emptylinks", 257 },
      { "ai_analytics_audience_orgs_active_users_users_retrieve", { length = 10 }, "strings", 95 },
      { "catalog_access_requests_course_manage_retrieve", { page_size = 9 }, "strings", 58 },
    } do
      local ids = assert(items_of(c[1], c[2], c[3]))
      assert.equal(c[4], #ids, c[3])
      for i = 1, c[4] do assert.equal(i, ids[i]) end
    end
  end)

  it("follows a relative next link from the page it was on", function()
    local ids = {}
    for item in client:each("ai_mentor_orgs_users_sessions_retrieve", { session_id = "relative" }) do
      ids[#ids + 1] = item.id
    end
    assert.equal(12, #ids)
  end)
end)
