-- iblai sandbox --data: every change on disk before it is answered, kill -9, bad bodies, write
-- failures (a file-size limit, a full tmpfs), and a data directory that does not exist.
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

-- Whether FILE holds readable sandbox data.
local function valid_state(file)
  local state = json.decode(proc.slurp(file))
  return type(state) == "table" and type(state.users) == "table"
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

  it("keeps the old file, and every change it can, when writing fails (a file-size limit)", function()
    local sb = assert(proc.start { "--data", file, "--users", "5" })
    local c = client_for(sb)
    local name = first_user(c)
    c:request { method = "DELETE", path = chats(name) }
    c:close()
    sb.stop()
    local before = proc.slurp(file)
    assert.is_true(#before > 20000, "the state must be larger than the limit below")

    -- 16 blocks: the journal's small lines fit, a whole new state and a 40 kB change do not.
    sb = assert(proc.start({ "--data", file }, { prefix = "ulimit -f 16" }))
    c = client_for(sb)
    assert(c:request { method = "POST", path = tags(name), json = { tag = "goal", detail = "kept by the journal" } })
    local res = assert(c:request { method = "POST", path = tags(name),
      json = { tag = "essay", detail = string.rep("x", 40000) } })
    assert.equal(200, res.status)
    c:close()
    local how, code, stderr = sb.stop()
    assert.equal("exit", how)
    assert.equal(1, code, stderr) -- the 40 kB change could not be saved anywhere
    assert.matches("cannot append to .-state%.json%.journal: File too large; this change is kept in memory only", stderr)
    assert.matches("cannot write .-: File too large; changes since the last good write are lost", stderr)
    assert.equal(before, proc.slurp(file)) -- never replaced by a partial or empty file

    sb = assert(proc.start { "--data", file })
    c = client_for(sb)
    local now = tag_names(c, name)
    assert.equal("kept by the journal", now.goal)
    assert.is_nil(now.essay)
    local _, err = c:request { path = chats(name) }
    assert.equal(404, err.status)
    c:close()
    sb.stop()
    assert.is_true(valid_state(file))
  end)

  it("keeps the old state on a full disk (a 64 kB tmpfs)", function()
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
    -- Fill what is left of the disk.
    os.execute(("dd if=/dev/zero of=%s/filler bs=1k count=200 2>/dev/null"):format(mnt))
    assert(c:request { method = "POST", path = tags(name), json = { tag = "lost", detail = string.rep("y", 10000) } })
    c:close()
    local how, code, stderr = sb.stop()
    assert.same({ "exit", 1 }, { how, code })
    assert.matches("No space left on device", stderr)
    assert.is_true(valid_state(small))
    os.remove(mnt .. "/filler")
    sb = assert(proc.start { "--data", small })
    c = client_for(sb)
    local _, err = c:request { path = chats(name) }
    assert.equal(404, err.status) -- the change saved before the disk filled up is still there
    assert.is_nil(tag_names(c, name).lost)
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
