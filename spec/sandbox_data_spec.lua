-- iblai sandbox --data: every change on disk before it is applied and answered, kill -9, torn
-- journal lines, bad bodies, changes refused when they cannot be written (a file-size limit, a
-- full tmpfs), files of earlier sandboxes, and a data directory that does not exist.
local helpers = require "support.helpers"
local proc = require "support.sandbox_proc"
local iblai = require "iblai"
local json = require "iblai.json"

local function client_for(sb)
  return assert(iblai.new { base_url = sb.url, api_key = "sandbox", org = "main", retries = 0, timeout = 20 })
end

local function first_user(c)
  return assert(c:request { path = "/api/core/platform/users/", query = { page_size = 1 } }).body.results[1].username
end

local function chats(name)
  return "/api/ai-prompt/orgs/main/users/" .. name .. "/all-chats-memory/"
end

local function tags(name)
  return "/api/ai-mentor/orgs/main/users/" .. name .. "/ai-user-profile-memory/"
end

local function instruction(name)
  return "/api/ai-mentor/orgs/main/users/" .. name .. "/custom-instruction/"
end

local function tag_names(c, name)
  local out = {}
  for _, t in ipairs(assert(c:request { path = tags(name) }).body) do out[t.tag] = t.detail end
  return out
end

-- Whether FILE holds readable sandbox data (the seed's settings, or every user).
local function valid_state(file)
  local state = json.decode(proc.slurp(file))
  return type(state) == "table" and (type(state.generated) == "table" or type(state.users) == "table")
end

describe("iblai sandbox --data", function()
  local dir, file

  before_each(function()
    dir = proc.tmpdir()
    file = dir .. "/state.json"
  end)

  after_each(function()
    proc.cleanup()
    os.execute("umount " .. helpers.quote(dir .. "/small") .. " 2>/dev/null")
    os.execute("rm -rf " .. helpers.quote(dir))
  end)

  it("keeps every answered change through kill -9", function()
    local sb = assert(proc.start { "--data", file, "--users", "5" })
    local c = client_for(sb)
    local name = first_user(c)
    c:request { method = "DELETE", path = chats(name) }
    assert(c:request { method = "POST", path = tags(name), json = { tag = "goal", detail = "pass the exam" } })
    c:close()
    sb.kill()
    assert.is_falsy(os.execute("kill -0 " .. sb.pid .. " 2>/dev/null"))
    sb = assert(proc.start { "--data", file, "--users", "5" })
    c = client_for(sb)
    local _, err = c:request { path = chats(name) }
    assert.equal(404, err.status)
    assert.equal("pass the exam", tag_names(c, name).goal)
    c:close()
    assert.equal("exit", (sb.stop()))
    assert.is_true(valid_state(file))
  end)

  it("refuses 1e400 and deep nesting with a 400 and a message, and loses no other change", function()
    local sb = assert(proc.start { "--data", file, "--users", "5" })
    local c = client_for(sb)
    local name = first_user(c)
    local bad = {
      '{"about_user": 1e400}',
      '{"about_user": "x", "profession": -1e999}',
      string.rep('{"a":', 200) .. "1" .. string.rep("}", 200),
      string.rep("[", 100000),
    }
    for _, text in ipairs(bad) do
      local _, err = c:request { method = "POST", path = instruction(name), body = text,
        headers = { ["Content-Type"] = "application/json" } }
      assert.equal(400, err.status, text:sub(1, 40))
      assert.matches("^JSON parse error %- ", err.data.detail)
    end
    c:request { method = "DELETE", path = chats(name) }
    c:close()
    local how, code, stderr = sb.stop()
    assert.same({ "exit", 0, "" }, { how, code, stderr })
    sb = assert(proc.start { "--data", file, "--users", "5" })
    c = client_for(sb)
    local _, err = c:request { path = chats(name) }
    assert.equal(404, err.status)
    c:close()
    sb.stop()
  end)

  it("refuses a change it cannot journal (a file-size limit) with a 507, applies nothing, loses nothing", function()
    local sb = assert(proc.start({ "--data", file, "--users", "5" }, { prefix = "ulimit -f 16" }))
    local c = client_for(sb)
    local name = first_user(c)
    c:request { method = "DELETE", path = chats(name) }
    assert(c:request { method = "POST", path = tags(name), json = { tag = "goal", detail = "kept by the journal" } })
    -- 16 blocks: a 40 kB journal line does not fit
    local _, err = c:request { method = "POST", path = tags(name), json = { tag = "essay", detail = string.rep("x", 40000) } }
    assert.equal(507, err.status)
    assert.matches("disk is full", err.data.detail)
    assert.is_nil(tag_names(c, name).essay) -- refused means not applied, not "kept in memory only"
    -- smaller changes go on being saved after the refusal
    assert(c:request { method = "POST", path = tags(name), json = { tag = "after", detail = "saved too" } })
    c:close()
    local stderr = sb.stderr()
    sb.kill()
    assert.matches("cannot append to .-state%.json%.journal: File too large; the change was refused %(507%)", stderr)
    sb = assert(proc.start { "--data", file })
    c = client_for(sb)
    local now = tag_names(c, name)
    assert.equal("kept by the journal", now.goal)
    assert.equal("saved too", now.after)
    assert.is_nil(now.essay)
    local _
    _, err = c:request { path = chats(name) }
    assert.equal(404, err.status)
    c:close()
    sb.stop()
    assert.is_true(valid_state(file))
  end)

  it("on a full disk (a 64 kB tmpfs) refuses changes with a 507 and applies none, then saves them once "
    .. "there is room; nothing answered is lost to kill -9", function()
    local mnt = dir .. "/small"
    os.execute("mkdir -p " .. mnt)
    if not os.execute(("mount -t tmpfs -o size=64k tmpfs %s 2>/dev/null"):format(mnt)) then
      pending("cannot mount a tmpfs here (not root, or no mount permission); the file-size limit case above "
        .. "covers the same write failures")
      return
    end
    local small = mnt .. "/state.json"
    local sb = assert(proc.start { "--data", small, "--users", "3" })
    local c = client_for(sb)
    local name = first_user(c)
    c:request { method = "DELETE", path = chats(name) }
    os.execute(("dd if=/dev/zero of=%s/filler bs=1k count=200 2>/dev/null"):format(mnt)) -- fills the disk
    -- and the journal's last page (a 405, journalled all the same, in a line shorter than the others)
    local refused = 0
    for _ = 1, 100 do
      local _, err = c:request { method = "DELETE", path = "/api/core/platform/users/" }
      if err.status == 507 then refused = refused + 1 break end
      assert.equal(405, err.status)
    end
    assert.equal(1, refused)
    local edx = "/api/ai-mentor/orgs/main/users/" .. name .. "/edx-memory/"
    local records = assert(c:request { path = edx }).body.results
    assert.is_true(#records > 0)
    for _, r in ipairs(records) do
      local _, err = c:request { method = "DELETE", path = edx .. math.tointeger(r.id) .. "/" }
      assert.equal(507, err.status)
    end
    local _, err = c:request { method = "POST", path = tags(name), json = { tag = "lost", detail = "y" } }
    assert.equal(507, err.status)
    assert.equal(#records, assert(c:request { path = edx }).body.count) -- nothing deleted in memory either
    assert.is_nil(tag_names(c, name).lost)
    os.remove(mnt .. "/filler")
    assert(c:request { method = "POST", path = tags(name), json = { tag = "later", detail = "saved" } })
    assert(c:request { method = "DELETE", path = edx .. math.tointeger(records[1].id) .. "/" })
    c:close()
    sb.kill()
    assert.is_true(valid_state(small)) -- never replaced by a partial file
    sb = assert(proc.start { "--data", small })
    c = client_for(sb)
    _, err = c:request { path = chats(name) }
    assert.equal(404, err.status) -- the change saved before the disk filled up is still there
    local now = tag_names(c, name)
    assert.is_nil(now.lost)
    assert.equal("saved", now.later)
    assert.equal(#records - 1, assert(c:request { path = edx }).body.count)
    c:close()
    local how, code = sb.stop()
    assert.same({ "exit", 0 }, { how, code })
  end)

  it("refuses a change it cannot write for another reason (its directory removed) with a 503 and Retry-After",
    function()
    local sub = dir .. "/gone"
    os.execute("mkdir -p " .. helpers.quote(sub))
    local sb = assert(proc.start { "--data", sub .. "/state.json", "--users", "3" })
    local c = client_for(sb)
    local name = first_user(c)
    os.execute("rm -rf " .. helpers.quote(sub))
    local res, err = c:request { method = "DELETE", path = chats(name) }
    assert.is_nil(res)
    assert.equal(503, err.status)
    assert.equal("5", err.headers["retry-after"])
    assert(c:request { path = chats(name) }) -- not applied
    c:close()
    sb.kill()
  end)

  it("keeps a change journalled after a torn line (a crash mid-write)", function()
    local sb = assert(proc.start { "--data", file, "--users", "4" })
    local c = client_for(sb)
    local name = first_user(c)
    assert(c:request { method = "POST", path = tags(name), json = { tag = "one", detail = "first" } })
    c:close()
    sb.kill()
    local f = assert(io.open(file .. ".journal", "ab"))
    f:write('{"seq":999,"method":"DELE') -- what a crash in the middle of a write leaves
    f:close()
    sb = assert(proc.start { "--data", file })
    c = client_for(sb)
    assert(c:request { method = "POST", path = tags(name), json = { tag = "two", detail = "second" } })
    c:close()
    sb.kill()
    sb = assert(proc.start { "--data", file })
    c = client_for(sb)
    local now = tag_names(c, name)
    assert.equal("first", now.one)
    assert.equal("second", now.two)
    c:close()
    sb.stop()
  end)

  it("saves only what changed: a 20,000-user org's file stays small", function()
    if os.getenv("IBLAI_SLOW") then
      pending("20,000 users run once, outside valgrind (IBLAI_SLOW is set)")
      return
    end
    local sb = assert(proc.start { "--data", file, "--users", "20000", "--seed", "3" })
    local c = client_for(sb)
    local name = first_user(c)
    local before = assert(c:request { path = tags(name) }).body
    assert(c:request { method = "POST", path = tags(name), json = { tag = "goal", detail = "finish" } })
    c:close()
    local how, code = sb.stop()
    assert.same({ "exit", 0 }, { how, code })
    assert.is_true(#proc.slurp(file) < 4096, #proc.slurp(file))
    sb = assert(proc.start { "--data", file })
    c = client_for(sb)
    local now = assert(c:request { path = tags(name) }).body
    assert.equal(#before + 1, #now)
    assert.equal(20000, assert(c:request { path = "/api/core/platform/users/" }).body.count)
    c:close()
    sb.stop()
  end)

  it("reads a file written whole by an earlier sandbox (every record in flat lists)", function()
    local old = {
      org = "main", today = 1795478400, journal_seq = 0, ids = { artifact = 7 }, tasks = {}, mentors = {},
      conversations = {},
      users = { { user_id = 101, username = "ada.one1", email = "ada@example.edu", is_admin = true, active = true,
        date_joined = "2026-01-01T00:00:00Z", joined = 1767225600 } },
      artifacts = { { id = 7, title = "Kept", content = "abc", file_extension = "md", llm_name = "m",
        llm_provider = "p", date_created = "2026-01-02T00:00:00Z", date_updated = "2026-01-02T00:00:00Z",
        username = "ada.one1", session_id = "s", chat_message = 1, content_length = 3, metadata = {} } },
      edx = {}, memories = {}, tags = { ["ada.one1"] = { { tag = "goal", detail = "old" } } },
      all_chats = {}, prompt_memory = {}, instructions = {},
    }
    local f = assert(io.open(file, "w"))
    f:write(require("cjson").encode(old))
    f:close()
    local sb = assert(proc.start { "--data", file })
    local c = client_for(sb)
    local base = "/api/ai-mentor/orgs/main/users/ada.one1/artifacts/"
    local page = assert(c:request { path = base }).body
    assert.equal(1, page.count)
    assert.equal("Kept", page.results[1].title)
    assert.equal("{}", assert(c:request { path = base .. "7/", decode = false }).body:match('"metadata":(%b{})'))
    assert.equal("old", tag_names(c, "ada.one1").goal)
    assert(c:request { method = "DELETE", path = base .. "7/" })
    c:close()
    local how, code = sb.stop()
    assert.same({ "exit", 0 }, { how, code })
    sb = assert(proc.start { "--data", file })
    c = client_for(sb)
    assert.equal(0, assert(c:request { path = base }).body.count)
    assert.equal("old", tag_names(c, "ada.one1").goal)
    c:close()
    sb.stop()
  end)

  it("refuses a second sandbox on the same data, which would lose the first one's changes", function()
    local sb = assert(proc.start { "--data", file, "--users", "3" })
    local code, out, err = proc.run { "sandbox", "--data", file }
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("^iblai sandbox: %-%-data .- is in use by another sandbox [^\n]*\n$", err)
    assert.equal("exit", (sb.stop()))
  end)

  it("fails at start, in one line, for a directory that does not exist or a file that is not its data", function()
    local code, out, err = proc.run { "sandbox", "--data", dir .. "/no/such/dir/state.json" }
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("^iblai sandbox: %-%-data .-: the directory .- does not exist\n$", err)
    local f = assert(io.open(file, "w"))
    f:write("not json")
    f:close()
    code, out, err = proc.run { "sandbox", "--data", file }
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("^iblai sandbox: %-%-data .- is not sandbox data .-\n$", err)
    assert.equal("not json", proc.slurp(file))
  end)
end)
