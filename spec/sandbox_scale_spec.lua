-- The sandbox at an org's size: the seeded data stays what it always was, a user's stores are
-- made only when asked for (and made again the same), a request reads one user's records
-- whatever the org's size, and the answers' JSON writer and router stay exact.
local Model = require "iblai.sandbox.model"
local Sandbox = require "iblai.sandbox"
local json = require "iblai.sandbox.json"
local httpd = require "iblai.httpd"

local TODAY = 1795478400 -- 2026-11-24

local function fnv(text)
  local h = 0x811c9dc5
  for i = 1, #text do h = ((h ~ text:byte(i)) * 0x01000193) & 0xffffffff end
  return h
end

-- The whole org in the layout of the first sandbox (one list per kind, in the order made).
local function flat(m)
  local s = m.state
  local out = { org = s.org, today = s.today, ids = s.ids, users = s.users, mentors = s.mentors,
    conversations = s.conversations, tasks = s.tasks, artifacts = {}, edx = {}, memories = {}, tags = {},
    all_chats = {}, prompt_memory = {}, instructions = {} }
  for _, u in ipairs(s.users) do
    local st = m:stores(u)
    for _, kind in ipairs { "artifacts", "edx", "memories" } do
      for _, r in ipairs(st[kind]) do out[kind][#out[kind] + 1] = r end
    end
    out.tags[u.username] = st.tags
    for _, kind in ipairs(Model.SINGLES) do out[kind][u.username] = st[kind] end
  end
  return out
end

-- A store's value as JSON compares it: none (nil) and an empty list alike read as [].
local function w_or_empty(v)
  return v == nil and {} or v
end

local function get(sb, path, query)
  local answer = sb:handle { method = "GET", path = path, query = query or {}, body = "", version = "HTTP/1.1",
    headers = { authorization = "Api-Token x", host = "127.0.0.1:1" } }
  return answer.status, require("iblai.json").decode(answer.body)
end

describe("the sandbox's org", function()
  it("is, for a given seed and size, the data every earlier sandbox made (a fingerprint of all of it)", function()
    -- 324,751 bytes and this FNV-1a hash, written by the generator that made every record at start
    local text = json.encode(flat(Model.generate { seed = 5, users = 57, org = "main", today = TODAY }))
    assert.equal(324751, #text)
    assert.equal(1109597482, fnv(text))
  end)

  it("makes a user's stores again, the same, after they leave the cache, and keeps changed ones", function()
    local cache = Model.CACHE
    finally(function() Model.CACHE = cache end)
    Model.CACHE = 3
    local m = Model.generate { seed = 9, users = 40, org = "main", today = TODAY }
    local first = json.encode(flat(m))
    local changed = m.state.users[7]
    m:change(changed).tags = { { tag = "goal", detail = "kept" } }
    local again = flat(m)
    assert.same({ { tag = "goal", detail = "kept" } }, again.tags[changed.username])
    again.tags[changed.username] = json.decode_state(first).tags[changed.username]
    assert.equal(first, json.encode(again))
  end)

  it("holds for its first users the same records in an org of 50 and of 600 (fields added later, drawn after "
    .. "every user, may differ)", function()
    local small = Model.generate { seed = 1, users = 50, org = "main", today = TODAY }
    local large = Model.generate { seed = 1, users = 600, org = "main", today = TODAY }
    local function ids(list, field)
      local out = {}
      for i, r in ipairs(list) do out[i] = r[field] end
      return out
    end
    for i = 1, 50 do
      local a, b = small.state.users[i], large.state.users[i]
      assert.equal(json.encode(a), json.encode(b))
      local sa, sb = small:stores(a), large:stores(b)
      assert.same(ids(sa.artifacts, "id"), ids(sb.artifacts, "id"))
      assert.same(ids(sa.edx, "id"), ids(sb.edx, "id"))
      assert.same(ids(sa.memories, "unique_id"), ids(sb.memories, "unique_id"))
      assert.same(sa.tags, sb.tags)
    end
  end)

  it("keeps every change through the cache's turnover, and through --data's file", function()
    local cache = Model.CACHE
    finally(function() Model.CACHE = cache end)
    Model.CACHE = 2
    local m = Model.generate { seed = 11, users = 30, org = "main", today = TODAY }
    local function copy(v) -- a deep copy; artifacts' metadata and edX data stay objects
      local out = json.decode_state(json.encode(v))
      for _, a in ipairs(out.artifacts) do json.object(a.metadata) end
      for _, r in ipairs(out.edx) do json.object(r.data) end
      return out
    end
    local want = {}
    for _, u in ipairs(m.state.users) do want[u.username] = copy(m:stores(u)) end
    local rng = require("iblai.sandbox.rng").new(5)
    for step = 1, 600 do
      local u = m.state.users[rng:int(1, #m.state.users)]
      local w = want[u.username]
      local kind = rng:pick(Model.KINDS)
      local st = m:change(u, kind)
      if type(w[kind]) == "table" and w[kind][1] ~= nil then -- a list with records: drop one
        local i = rng:int(1, #w[kind])
        table.remove(st[kind], i)
        table.remove(w[kind], i)
      elseif rng:float() < 0.5 then -- a single record: replace it, or drop it
        st[kind], w[kind] = { id = step, note = "made at step " .. step }, { id = step, note = "made at step " .. step }
      else
        st[kind], w[kind] = nil, nil
      end
      if kind == "tags" or kind == "edx" then st[kind], w[kind] = st[kind] or {}, w[kind] or {} end
      for _ = 1, 3 do m:stores(m.state.users[rng:int(1, #m.state.users)]) end -- others come and go
    end
    local saved = Model.from_state(json.decode_state(json.encode_state(m:saved_state())))
    for _, u in ipairs(m.state.users) do
      for _, kind in ipairs(Model.KINDS) do
        local expect = json.encode(w_or_empty(want[u.username][kind]))
        assert.equal(expect, json.encode(w_or_empty(m:stores(u)[kind])), u.username .. " " .. kind)
        assert.equal(expect, json.encode(w_or_empty(saved:stores(saved:user(u.username))[kind])), "saved " .. kind)
      end
    end
  end)

  it("numbers every record it makes once: the id counters equal the records counted user by user", function()
    local m = Model.generate { seed = 3, users = 300, org = "main", today = TODAY }
    local counts, ids = { artifact = 0, edx = 0, memory = 0, all_chats = 0, prompt_memory = 0, instruction = 0 }, {}
    for _, u in ipairs(m.state.users) do
      local st = m:stores(u)
      counts.artifact, counts.edx, counts.memory = counts.artifact + #st.artifacts, counts.edx + #st.edx,
        counts.memory + #st.memories
      for kind, counter in pairs { all_chats = "all_chats", prompt_memory = "prompt_memory", instructions = "instruction" } do
        if st[kind] then counts[counter] = counts[counter] + 1 end
      end
      for _, a in ipairs(st.artifacts) do
        assert.is_nil(ids[a.id])
        ids[a.id] = true
      end
    end
    assert.same(m.state.ids, counts)
  end)
end)

describe("a sandbox request", function()
  it("makes only the stores of the user it names, in an org of 2,000", function()
    local sb = assert(Sandbox.new { port = 0, users = 2000, today = "2026-11-24" })
    finally(function() sb:close() end)
    local made = {}
    local real = sb.model.made
    sb.model.made = function(m, u)
      made[#made + 1] = u.username
      return real(m, u)
    end
    local name = sb.model.state.users[1500].username
    local base = "/api/ai-mentor/orgs/main/users/" .. name .. "/"
    for _, path in ipairs { "artifacts/", "edx-memory/", "memories/", "ai-user-profile-memory/", "custom-instruction/" } do
      local status = get(sb, base .. path)
      assert.is_true(status == 200 or status == 404, path)
    end
    local status = get(sb, "/api/ai-prompt/orgs/main/users/" .. name .. "/memory/")
    assert.is_true(status == 200 or status == 404)
    assert.same({ name }, made)
  end)

  it("lists users in every sort order as a sort of all of them would, page by page", function()
    local sb = assert(Sandbox.new { port = 0, users = 300, today = "2026-11-24" })
    finally(function() sb:close() end)
    for _, sort in ipairs { "username", "-username", "email", "-date_joined", "user_id", "-user_id" } do
      local field, desc = sort:gsub("^%-", ""), sort:sub(1, 1) == "-"
      local want = {}
      for _, u in ipairs(sb.model.state.users) do want[#want + 1] = u end
      table.sort(want, function(a, b)
        if a[field] == b[field] then return a.user_id < b.user_id end
        if desc then return a[field] > b[field] end
        return a[field] < b[field]
      end)
      local got = {}
      for page = 1, 3 do
        local status, body = get(sb, "/api/core/platform/users/", { sort = sort, page = tostring(page), page_size = "100" })
        assert.equal(200, status)
        for _, r in ipairs(body.results) do got[#got + 1] = r.username end
      end
      for i, u in ipairs(want) do assert.equal(u.username, got[i], sort .. " #" .. i) end
    end
    local _, body = get(sb, "/api/core/platform/users/", { query = "lovelace", page_size = "100" })
    local n = 0
    for _, u in ipairs(sb.model.state.users) do
      if u.username:find("lovelace", 1, true) or u.email:find("lovelace", 1, true) then n = n + 1 end
    end
    assert.equal(n, body.count)
  end)
end)

describe("the sandbox's JSON writer", function()
  local obj = json.object

  it("sorts keys byte by byte, writes empty tables as [] unless marked, and null as null", function()
    assert.equal('{"":5,"A":4,"a":2,"ab":3,"b":1}', json.encode { b = 1, a = 2, ab = 3, A = 4, [""] = 5 })
    assert.equal('{"a":[],"b":{},"c":[1,2,{"x":null}]}', json.encode { a = {}, b = obj(), c = { 1, 2, { x = json.null } } })
    assert.equal("[]", json.encode {})
    assert.equal("{}", json.encode(obj()))
  end)

  it("escapes quotes, backslashes and control characters, and keeps other bytes", function()
    assert.equal([["a\"b\\c\n\t\u0001\u007fé"]], json.encode('a"b\\c\n\t\1\127é'))
  end)

  it("writes integers as integers, whole floats without a fraction, others exactly", function()
    assert.equal("[3,3,0,0,-9007199254740992,0.1,1e+300,9.2233720368547758e+18,-9223372036854775808]",
      json.encode { 3, 3.0, 0.0, -0.0, -2 ^ 53, 0.1, 1e300, 2 ^ 63, math.mininteger })
    assert.equal(1 / 3, tonumber(json.encode(1 / 3)))
  end)

  it("refuses what JSON cannot hold, with a message", function()
    local deep = {}
    local t = deep
    for _ = 1, 70 do
      t[1] = {}
      t = t[1]
    end
    for _, case in ipairs { { { 1, a = 1 }, nil }, { obj { 1 }, "mixing list items and keys" },
      { function() end, "cannot write a function" }, { 0 / 0, "non%-finite" }, { math.huge, "non%-finite" },
      { deep, "deeper than 64" } } do
      if case[2] then
        local ok, err = pcall(json.encode, { case[1] })
        assert.is_false(ok)
        assert.matches(case[2], err)
      else
        assert.equal("[[1]]", json.encode { case[1] }) -- a list part wins, as before
      end
    end
    assert.has_error(function() httpd.encode_json({}, 1) end)
  end)
end)

describe("the sandbox's router", function()
  local Router = require "iblai.sandbox.router"

  it("finds a template among others of the same length, decodes its parameters, and tries later ones first", function()
    local r = Router.new()
    r:add("/api/{org}/users/{user_id}/a/", { GET = 1 })
    r:add("/api/{org}/users/{user_id}/b/", { GET = 2 })
    r:add("/api/{org}/users/ada/b/", { GET = 3 })
    local h, p = r:match("/api/main/users/x%2Fy/a/")
    assert.equal(1, h.GET)
    assert.same({ org = "main", user_id = "x/y" }, p)
    assert.equal(2, (r:match("/api/main/users/bob/b/")).GET)
    assert.equal(3, (r:match("/api/main/users/ada/b/")).GET)
    assert.is_nil(r:match("/api/main/users//a/")) -- an empty parameter is no match
    assert.is_nil(r:match("/api/main/users/ada/c/"))
    r:add("/api/{org}/users/{user_id}/a/", { DELETE = 4 })
    h = r:match("/api/main/users/x/a/")
    assert.same({ 1, 4 }, { h.GET, h.DELETE })
  end)
end)
