-- iblai sandbox over HTTP: pagination, deletes, analytics against raw data, tasks, faults, auth.
local helpers = require "support.helpers"
local raw_http = require "support.raw_http"
local iblai = require "iblai"

local function client_for(sb, opts)
  local o = { base_url = sb.url, api_key = "sandbox", org = "main", retries = 0, sleep = function() end }
  for k, v in pairs(opts or {}) do o[k] = v end
  return assert(iblai.new(o))
end

-- Follows DRF `next` links (absolute URLs) from a first path; returns every item.
local function walk(client, path, query)
  local items, url, pages = {}, path, 0
  local res = assert(client:request { path = url, query = query })
  while true do
    pages = pages + 1
    for _, it in ipairs(res.body.results) do items[#items + 1] = it end
    if res.body.next == require("iblai.json").null then break end
    res = assert(client:request { url = res.body.next })
  end
  return items, pages
end

local function users_of(client)
  local users, page = {}, 1
  repeat
    local body = assert(client:request { path = "/api/core/platform/users/", query = { page = page, page_size = 7 } }).body
    for _, u in ipairs(body.results) do users[#users + 1] = u end
    page = body.next_page
  until page == require("iblai.json").null
  return users
end

describe("iblai sandbox", function()
  local sb, client, users
  local A = "/api/ai-mentor/orgs/main/users/"

  setup(function()
    sb = helpers.sandbox("--users", "40", "--seed", "3")
    client = client_for(sb)
    users = users_of(client)
  end)

  teardown(function()
    client:close()
    sb.stop()
  end)

  it("lists every user exactly once through next_page", function()
    assert.equal(40, #users)
    local seen = {}
    for _, u in ipairs(users) do
      assert.is_nil(seen[u.username])
      seen[u.username] = true
      assert.equal("integer", math.type(u.user_id))
    end
  end)

  it("walks DRF pages through absolute next links, every item once", function()
    local total, distinct = 0, {}
    for _, u in ipairs(users) do
      local items = walk(client, A .. u.username .. "/artifacts/", { page_size = 2 })
      local first = assert(client:request { path = A .. u.username .. "/artifacts/" }).body
      assert.equal(first.count, #items)
      for _, a in ipairs(items) do
        assert.is_nil(distinct[a.id])
        distinct[a.id] = true
        assert.equal(u.username, a.username)
      end
      total = total + #items
    end
    assert.is_true(total > 0)
  end)

  it("is walked by client:each for both of its envelope kinds, and break stops the walk", function()
    local names, seen = {}, {}
    for u in client:each("core_platform_users_retrieve", { page_size = 6 }) do
      assert.is_nil(seen[u.username])
      seen[u.username] = true
      names[#names + 1] = u.username
    end
    assert.equal(40, #names)
    local counted = 0
    for _, u in ipairs(users) do
      local c = client_for(sb, { username = u.username })
      local first = assert(c:call("ai_mentor_orgs_users_artifacts_list", { page_size = 1 }))
      local n = 0
      for _ in c:each("ai_mentor_orgs_users_artifacts_list", { page_size = 2 }) do n = n + 1 end
      assert.equal(first.count, n)
      counted = counted + n
      c:close()
    end
    assert.is_true(counted > 0)
    for _ in client:each("core_platform_users_retrieve", { page_size = 1 }, { concurrency = 4 }) do break end -- luacheck: ignore 512
    if not require("iblai.core").safe_for_close then -- no closing value: released when collected
      collectgarbage()
      collectgarbage()
    end
    assert.equal(0, client.session:in_flight())
  end)

  it("caps page_size at 100, rejects bad page values and 404s past the end", function()
    local body = assert(client:request { path = "/api/core/platform/users/", query = { page_size = 500 } }).body
    assert.equal(40, #body.results)
    local _, err = client:request { path = "/api/core/platform/users/", query = { page = "x" } }
    assert.equal(400, err.status)
    _, err = client:request { path = A .. users[1].username .. "/edx-memory/", query = { page = 99 } }
    assert.equal(404, err.status)
  end)

  it("makes deletes visible in later listings, and a second delete 404s", function()
    local name = users[2].username
    local items = walk(client, A .. name .. "/edx-memory/", {})
    for _, u in ipairs(users) do
      if #items > 0 then break end
      name = u.username
      items = walk(client, A .. name .. "/edx-memory/", {})
    end
    assert.is_true(#items > 0)
    local id = items[1].id
    assert.equal(204, assert(client:request { method = "DELETE", path = A .. name .. "/edx-memory/" .. id .. "/" }).status)
    local after = walk(client, A .. name .. "/edx-memory/", {})
    assert.equal(#items - 1, #after)
    local _, err = client:request { method = "DELETE", path = A .. name .. "/edx-memory/" .. id .. "/" }
    assert.equal(404, err.status)
  end)

  it("keeps all-chats memory, profile tags and custom instructions consistent", function()
    local name = users[3].username
    local P = "/api/ai-prompt/orgs/main/users/" .. name .. "/all-chats-memory/"
    client:request { method = "DELETE", path = P }
    local _, err = client:request { path = P }
    assert.equal(404, err.status)
    local created = assert(client:request { method = "POST", path = P,
      json = { username = name, platform_key = "main", content = "likes maths" } })
    assert.equal(201, created.status)
    assert.equal("likes maths", assert(client:request { path = P }).body.content)
    _, err = client:request { method = "POST", path = P, json = { content = "no username" } }
    assert.equal(400, err.status)
    assert.same({ "This field is required." }, err.data.username)

    local T = A .. name .. "/ai-user-profile-memory/"
    assert(client:request { method = "POST", path = T, json = { tag = "goal", detail = "pass the exam" } })
    assert.equal(204, assert(client:request { method = "DELETE", path = T .. "goal/" }).status)
    for _, t in ipairs(assert(client:request { path = T }).body) do assert.not_equal("goal", t.tag) end
  end)

  it("finds and deletes ai-mentor memories by unique id or name", function()
    for _, u in ipairs(users) do
      local mems = walk(client, A .. u.username .. "/filtered-memories/", { username = u.username })
      if #mems > 0 then
        local m = mems[1]
        assert.equal(m.unique_id, assert(client:request { path = A .. u.username .. "/memory/" .. m.name .. "/" }).body.unique_id)
        assert(client:request { method = "DELETE", path = A .. u.username .. "/memory/" .. m.unique_id .. "/" })
        local _, err = client:request { path = A .. u.username .. "/memory/" .. m.unique_id .. "/" }
        assert.equal(404, err.status)
        assert.equal(#mems - 1, #walk(client, A .. u.username .. "/memories/", {}))
        return
      end
    end
    error("no user has ai-mentor memories")
  end)

  it("answers analytics that agree with the raw data", function()
    local U = "/api/ai-analytics/orgs/main/users/" .. users[1].username .. "/"
    local range = { start_date = "2026-06-01", end_date = "2026-08-31" }
    local cohorts = assert(client:request { path = U .. "user-cohorts-over-time/", query = range }).body
    local new = 0
    for _, n in ipairs(cohorts.new_users) do new = new + n end
    local joined = 0
    for _, u in ipairs(users) do
      if u.date_joined >= "2026-06-01" and u.date_joined < "2026-09-01" then joined = joined + 1 end
    end
    assert.equal(joined, new)

    local transcripts = assert(client:request { path = U .. "transcripts/", query = range }).body
    local sentiment = assert(client:request { path = U .. "user-sentiment/", query = range }).body
    assert.equal(#transcripts, sentiment.total_sentiments)
    local topics = assert(client:request { path = U .. "most-discussed-topics/", query = range }).body
    local sum = 0
    for _, t in ipairs(topics) do sum = sum + t.conversation_count end
    assert.equal(#transcripts, sum)
    local convs = assert(client:request { path = U .. "conversation/", query = range }).body
    sum = 0
    for _, c in ipairs(convs) do sum = sum + c.conversation_count end
    assert.equal(#transcripts, sum)

    local per_day = {}
    for _, t in ipairs(transcripts) do
      local day = t.inserted_at:sub(1, 10)
      per_day[day] = per_day[day] or {}
      per_day[day][t.user_id] = true
    end
    for _, row in ipairs(assert(client:request { path = U .. "usage-summary/", query = range }).body) do
      local n = 0
      for _ in pairs(per_day[row.date]) do n = n + 1 end
      assert.equal(n, row.user_count)
    end
    local trend = assert(client:request { path = U .. "registered-users-trend/", query = range }).body
    sum = 0
    for _, r in ipairs(trend) do sum = sum + r.count end
    assert.equal(joined, sum)
  end)

  it("rejects missing and malformed dates and unknown choices with field errors", function()
    local U = "/api/ai-analytics/orgs/main/users/x/"
    local _, err = client:request { path = U .. "usage-summary/" }
    assert.equal(400, err.status)
    assert.same({ "This field is required." }, err.data.start_date)
    _, err = client:request { path = U .. "conversation/", query = { start_date = "2026-13-01", end_date = "2026-01-01" } }
    assert.equal(400, err.status)
    _, err = client:request { path = U .. "conversation/",
      query = { start_date = "2026-01-01", end_date = "2026-02-01", aggregation = "yearly" } }
    assert.equal(400, err.status)
  end)

  it("moves export tasks from not ready to ready, as JSON or CSV", function()
    local name = users[1].username
    local task = assert(client:request { method = "POST", path = A .. name .. "/export-chathistory/" }).body.task_id
    local poll = A .. name .. "/downloads/tasks/" .. task .. "/"
    assert.same({ state = "task_not_ready" }, assert(client:request { path = poll }).body)
    assert.same({ state = "task_not_ready" }, assert(client:request { path = poll }).body)
    local ready = assert(client:request { path = poll }).body
    assert.is_nil(ready.state)
    assert.is_true(#ready > 0)
    assert.equal("human", ready[1].type)
    local csv = assert(client:request { path = poll, query = { to_csv = true } })
    assert.matches("^type,content,timestamp", csv.body)
    local _, err = client:request { path = A .. name .. "/downloads/tasks/nope/" }
    assert.equal(404, err.status)
  end)

  it("answers bad input with a 4xx and a JSON message", function()
    local name = users[1].username
    local cases = {
      { { method = "PATCH", path = A .. name .. "/edx-memory/" }, 405 },
      { { path = "/api/nothing/here/" }, 404 },
      { { path = A .. name .. "/artifacts/abc/" }, 404 },
      { { path = A .. "nobody/artifacts/" }, 404 },
      { { path = "/api/ai-mentor/orgs/other/users/" .. name .. "/artifacts/" }, 404 },
      { { method = "POST", path = A .. name .. "/ai-user-profile-memory/", body = "not json",
          headers = { ["Content-Type"] = "application/json" } }, 400 },
      { { method = "POST", path = A .. name .. "/ai-user-profile-memory/", body = string.rep("x", 2 * 1024 * 1024) }, 413 },
      { { path = A .. name .. "/artifacts/", query = { ordering = "size" } }, 400 },
    }
    for _, case in ipairs(cases) do
      local res, err = client:request(case[1])
      assert.is_nil(res)
      assert.equal(case[2], err.status, case[1].path)
      assert.is_string(err.data.detail or next(err.data))
    end
  end)

  it("enforces Api-Token auth", function()
    local anon = assert(iblai.new { base_url = sb.url, retries = 0 })
    local _, err = anon:request { path = "/api/core/platform/users/" }
    assert.equal(401, err.status)
    anon:close()
    local bearer = client_for(sb, { auth_scheme = "Bearer" })
    _, err = bearer:request { path = "/api/core/platform/users/" }
    assert.equal(401, err.status)
    bearer:close()
  end)

  it("serves 16 keep-alive connections at once", function()
    local reqs = {}
    for i = 1, 160 do reqs[i] = { path = "/api/core/platform/users/", query = { page = i % 4 + 1, page_size = 10 } } end
    local results, errs = client:request_many(reqs, { concurrency = 16 })
    for i = 1, 160 do
      assert.is_nil(errs[i])
      assert.equal(40, results[i].body.count)
    end
  end)

  it("generates the same data from the same seed", function()
    local again = helpers.sandbox("--users", "40", "--seed", "3")
    local c = client_for(again)
    local other = users_of(c)
    c:close()
    again.stop()
    for i = 1, 40 do assert.equal(users[i].username, other[i].username) end
  end)
end)

describe("iblai sandbox answers", function()
  local sb, client, users
  local A = "/api/ai-mentor/orgs/main/users/"
  local U = "/api/ai-analytics/orgs/main/users/x/"

  setup(function()
    sb = helpers.sandbox("--users", "30", "--seed", "2")
    client = client_for(sb)
    users = users_of(client)
  end)

  teardown(function()
    client:close()
    sb.stop()
  end)

  -- The answer's text as the sandbox wrote it (the client's decoding cannot tell [] from {}).
  local function text(path, query)
    local status, _, body = raw_http.request(sb.url, { path = path, query = query })
    assert.equal(200, status, path .. " " .. body)
    return body
  end

  -- Users with and without records at a per-user listing.
  local function with_and_without(listing)
    local with, without
    for _, u in ipairs(users) do
      local n = assert(client:request { path = A .. u.username .. listing }).body.count
      if n > 0 then with = with or u.username else without = without or u.username end
    end
    assert(with and without, listing)
    return with, without
  end

  it("writes every empty list as []", function()
    local _, none = with_and_without("/artifacts/")
    local empty = { start_date = "2020-01-01", end_date = "2020-01-31" }
    local cases = {
      { "/api/core/platform/users/", { platform_key = "elsewhere" }, '"results":[]' },
      { A .. none .. "/artifacts/", nil, '"results":[]' },
      { A .. users[1].username .. "/artifacts/", { search = "no such words" }, '"results":[]' },
      { A .. select(2, with_and_without("/edx-memory/")) .. "/edx-memory/", nil, '"results":[]' },
      { A .. select(2, with_and_without("/memories/")) .. "/memories/", nil, '"results":[]' },
      { A .. users[1].username .. "/filtered-memories/", { category = "none-such" }, '"results":[]' },
    }
    for _, report in ipairs { "usage-summary/", "transcripts/", "most-discussed-topics/", "registered-users-trend/",
      "conversation/", "average-messages-per-session/" } do
      cases[#cases + 1] = { U .. report, empty, "^%[%]$" }
    end
    for _, c in ipairs(cases) do
      assert.matches(c[3], text(c[1], c[2]), 1, c[3]:sub(1, 1) ~= "^")
    end
    local name = users[1].username
    for _, t in ipairs(assert(client:request { path = A .. name .. "/ai-user-profile-memory/" }).body) do
      assert(client:request { method = "DELETE", path = A .. name .. "/ai-user-profile-memory/" .. t.tag .. "/" })
    end
    assert.equal("[]", text(A .. name .. "/ai-user-profile-memory/"))
    local silent = with_and_without("/edx-memory/") -- any user; find one without conversations below
    for _, u in ipairs(users) do
      local mine = false
      for _, t in ipairs(assert(client:request { path = U .. "transcripts/" }).body) do
        if t.user_id == u.username then mine = true break end
      end
      if not mine then silent = u.username break end
    end
    local task = assert(client:request { method = "POST", path = A .. silent .. "/export-chathistory/" }).body.task_id
    for _ = 1, 2 do text(A .. silent .. "/downloads/tasks/" .. task .. "/") end
    assert.equal("[]", text(A .. silent .. "/downloads/tasks/" .. task .. "/"))
  end)

  it("writes object keys in sorted order, so two runs can be diffed", function()
    for _, body in ipairs { text("/api/core/platform/users/", { page_size = 3 }), text(U .. "user-metrics/"),
      text(A .. with_and_without("/memories/") .. "/memories/") } do
      -- every {...} without nested braces: its keys in order
      for obj in body:gmatch("{[^{}]*}") do
        local keys = {}
        for k in obj:gmatch('[{,]"([%w_]+)":') do keys[#keys + 1] = k end
        local sorted = { table.unpack(keys) }
        table.sort(sorted)
        assert.same(sorted, keys)
      end
    end
  end)

  it("returns only the records a filter asks for", function()
    local owner, other = with_and_without("/edx-memory/")
    local all = walk(client, A .. owner .. "/edx-memory/", {})
    local via_other = walk(client, A .. other .. "/edx-memory/", { username = owner })
    assert.equal(#all, #via_other)
    for _, r in ipairs(via_other) do assert.equal(owner, r.username) end
    local course = all[1].course_id
    local n = 0
    for _, r in ipairs(all) do if r.course_id == course then n = n + 1 end end
    local by_course = walk(client, A .. owner .. "/edx-memory/", { course_id = course, student = all[1].student })
    assert.equal(n, #by_course)
    for _, r in ipairs(by_course) do assert.equal(course, r.course_id) end

    local arts_owner = with_and_without("/artifacts/")
    local arts = walk(client, A .. arts_owner .. "/artifacts/", { page_size = 100 })
    for _, field in ipairs { "file_extension", "llm_name", "session_id" } do
      local want = arts[1][field]
      local expected = 0
      for _, a in ipairs(arts) do if a[field] == want then expected = expected + 1 end end
      local got = walk(client, A .. arts_owner .. "/artifacts/", { [field] = want })
      assert.equal(expected, #got, field)
      for _, a in ipairs(got) do assert.equal(want, a[field]) end
    end

    local mem_owner = with_and_without("/memories/")
    local mems = walk(client, A .. mem_owner .. "/memories/", {})
    for _, f in ipairs { { "category", "category" }, { "mentor", "mentor" }, { "session", "session_id" },
      { "mode", "mode" } } do
      local want = mems[1][f[2]]
      if want ~= require("iblai.json").null then
        local got = walk(client, A .. mem_owner .. "/memories/", { [f[1]] = want })
        assert.is_true(#got > 0, f[1])
        for _, m in ipairs(got) do assert.equal(want, m[f[2]]) end
      end
    end
    local day = mems[1].inserted_at:sub(1, 10)
    local same_day = walk(client, A .. other .. "/filtered-memories/", { username = mem_owner, start_date = day,
      end_date = day })
    assert.is_true(#same_day > 0)
    for _, m in ipairs(same_day) do assert.equal(day, m.inserted_at:sub(1, 10)) end

    local sorted = assert(client:request { path = "/api/core/platform/users/",
      query = { sort = "-date_joined", page_size = 100 } }).body.results
    for i = 2, #sorted do assert.is_true(sorted[i - 1].date_joined >= sorted[i].date_joined) end
  end)

  it("follows the schema where the spec's example disagrees", function()
    local range = { start_date = "2026-01-01", end_date = helpers.TODAY }
    for _, row in ipairs(assert(client:request { path = U .. "conversation/", query = range }).body) do
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", row.date)
    end
    for _, row in ipairs(assert(client:request { path = U .. "average-messages-per-session/", query = range }).body) do
      assert.equal("integer", math.type(row.avg_messages))
    end
    local overview = assert(client:request { path = U .. "overview-summary/" }).body
    assert.equal("integer", math.type(overview.user_rating.total))
    local m = walk(client, A .. with_and_without("/memories/") .. "/memories/", {})[1]
    assert.is_string(m.updated_at)
    for _, e in ipairs(m.entries) do
      assert.is_string(e.inserted_at)
      assert.is_string(e.updated_at)
      assert.is_not_nil(e.expires_at)
    end
  end)
end)

describe("iblai sandbox options", function()
  it("checks a given --api-key", function()
    local sb = helpers.sandbox("--api-key", "right")
    local good, bad = client_for(sb, { api_key = "right" }), client_for(sb, { api_key = "wrong" })
    assert(good:request { path = "/api/core/platform/users/" })
    local _, err = bad:request { path = "/api/core/platform/users/" }
    assert.equal(401, err.status)
    good:close()
    bad:close()
    sb.stop()
  end)

  it("injects failures at about the configured rate", function()
    local sb = helpers.sandbox("--fail-rate", "0.3")
    local c = client_for(sb)
    local failed = 0
    for _ = 1, 300 do
      if not c:request { path = "/api/core/platform/users/", query = { page_size = 1 } } then failed = failed + 1 end
    end
    assert.is_true(failed > 60 and failed < 120, tostring(failed))
    local patient = client_for(sb, { retries = 10 })
    for _ = 1, 20 do assert(patient:request { path = "/api/core/platform/users/", query = { page_size = 1 } }) end
    c:close()
    patient:close()
    sb.stop()
  end)

  it("answers 429 with Retry-After over the rate limit, which the client obeys", function()
    local sb = helpers.sandbox("--rate-limit", "5")
    local sleeps = {}
    local c = client_for(sb, { retries = 3, sleep = function(d) sleeps[#sleeps + 1] = d end })
    local limited = 0
    for _ = 1, 12 do
      local res, err = c:request { path = "/api/core/platform/users/", query = { page_size = 1 }, retries = 0 }
      if not res and err.status == 429 then
        limited = limited + 1
        assert.equal("1", err.headers["retry-after"])
      end
    end
    assert.is_true(limited > 0)
    c:request { path = "/api/core/platform/users/", query = { page_size = 1 } }
    if #sleeps > 0 then assert.equal(1, sleeps[1]) end
    c:close()
    sb.stop()
  end)

  it("adds latency", function()
    local sb = helpers.sandbox("--latency", "600")
    local c = client_for(sb, { timeout = 0.2 })
    local _, err = c:request { path = "/api/core/platform/users/" }
    assert.equal("timeout", err.kind)
    c:close()
    sb.stop()
  end)

  it("keeps its state in --data across restarts", function()
    local file = os.tmpname()
    os.remove(file)
    local sb = helpers.sandbox("--data", file, "--users", "5")
    local c = client_for(sb)
    local name = users_of(c)[1].username
    local path = "/api/ai-prompt/orgs/main/users/" .. name .. "/all-chats-memory/"
    c:request { method = "DELETE", path = path }
    c:close()
    sb.stop()
    sb = helpers.sandbox("--data", file, "--users", "5")
    c = client_for(sb)
    local _, err = c:request { path = path }
    assert.equal(404, err.status)
    c:close()
    sb.stop()
    os.remove(file)
  end)

  it("takes extra routes from --script", function()
    local script = os.tmpname() .. ".lua"
    local f = assert(io.open(script, "w"))
    f:write([[
      local sandbox = ...
      sandbox.route("/api/hello/{name}/", { GET = function(_, p) return sandbox.respond.json(200, { hi = p.name }) end })
    ]])
    f:close()
    local sb = helpers.sandbox("--script", script)
    local c = client_for(sb)
    assert.equal("a b", assert(c:request { path = "/api/hello/a%20b/" }).body.hi)
    c:close()
    sb.stop()
    os.remove(script)
  end)

  it("rejects bad options with exit status 2", function()
    local code, _, err = helpers.run { "sandbox", "--fail-rate", "x" }
    assert.equal(2, code)
    assert.matches("fail%-rate", err)
  end)
end)
