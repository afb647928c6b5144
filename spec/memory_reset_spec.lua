-- The memory-reset workflow against the sandbox: the module, then the iblai memory-reset command.
local helpers = require "support.helpers"
local wf = require "support.workflows"
local reset = require "iblai.workflows.memory_reset"
local Journal = require "iblai.workflows.journal"

local SLOW = os.getenv("IBLAI_SLOW") ~= nil -- under valgrind: fewer users

describe("memory_reset.run", function()
  local sb, client, everyone

  -- one sandbox; each test works on users of its own
  setup(function()
    sb = helpers.sandbox("--users", "60", "--seed", "5")
    client = wf.client(sb)
    everyone = wf.usernames(client)
  end)

  teardown(function()
    client:close()
    sb.stop()
  end)

  local function slice(from, to)
    return table.move(everyone, from, to, 1, {})
  end

  it("lists in a dry run what each store holds, and deletes nothing", function()
    local users = slice(1, 12)
    local before = {}
    for _, u in ipairs(users) do before[u] = wf.holdings(client, u) end
    local events = {}
    local result = assert(reset.run(client, { users = users, dry_run = true, page_size = 2,
      on_progress = function(e) events[#events + 1] = e.type end }))
    local planned = {}
    for _, p in ipairs(result.plan) do
      planned[p.user] = planned[p.user] or {}
      planned[p.user][p.store] = #p.ids
    end
    local empty = 0
    for _, u in ipairs(users) do
      assert.same(before[u], planned[u])
      assert.same(before[u], wf.holdings(client, u))
      for _, n in pairs(before[u]) do empty = empty + (n == 0 and 1 or 0) end
    end
    assert.same(wf.totals(client, users), result.would_delete)
    assert.is_true(wf.sum(result.would_delete) > 20)
    assert.equal(0, wf.sum(result.deleted))
    assert.equal(empty, result.already_empty)
    assert.same({}, result.failed)
    assert.equal("start", events[1])
    assert.equal("finish", events[#events])
  end)

  it("empties every store, collecting ids across pages first, and counts each item once", function()
    local users = slice(13, 24)
    local before = wf.totals(client, users)
    assert.is_true(before.edx > 10 and before.mentor > 10 and before.profile > 5)
    -- two items a page: the users with more than two records have several pages to collect
    local result = assert(reset.run(client, { users = users, page_size = 2, concurrency = 3 }))
    assert.same(before, result.deleted)
    assert.same({}, result.failed)
    assert.equal(#users, result.users)
    for _, u in ipairs(users) do
      assert.same({ chats = 0, prompt = 0, edx = 0, profile = 0, mentor = 0 }, wf.holdings(client, u))
    end
    local again = assert(reset.run(client, { users = users }))
    assert.equal(0, wf.sum(again.deleted))
    assert.equal(#users * 5, again.already_empty)
  end)

  it("resets only the stores asked for", function()
    local users = slice(25, 36)
    local before = wf.totals(client, users)
    local result = assert(reset.run(client, { users = users, stores = { "edx", "profile", "edx" } }))
    assert.same({ chats = 0, prompt = 0, edx = before.edx, profile = before.profile, mentor = 0 }, result.deleted)
    local after = wf.totals(client, users)
    assert.same({ chats = before.chats, prompt = before.prompt, edx = 0, profile = 0, mentor = before.mentor }, after)
    local _, err = reset.run(client, { users = users, stores = { "edx", "chat" } })
    assert.equal("validation", err.kind)
    assert.matches("unknown store 'chat'", tostring(err), 1, true)
  end)

  it("reports an unknown user for that user and goes on with the others", function()
    local users = slice(37, 39)
    local before = wf.totals(client, users)
    local list = { users[1], "no.such.user", users[2] }
    local expected = wf.holdings(client, users[1])
    for s, n in pairs(wf.holdings(client, users[2])) do expected[s] = expected[s] + n end
    local result = assert(reset.run(client, { users = list }))
    assert.same(expected, result.deleted)
    assert.equal(5, #result.failed)
    for _, f in ipairs(result.failed) do
      assert.equal("no.such.user", f.user)
      assert.matches("user 'no.such.user' not found", f.error, 1, true)
    end
    -- with only the single-record stores asked for, the 404s are told apart by asking about the user
    local single = assert(reset.run(client, { users = { users[3], "nobody.else" }, stores = { "chats", "prompt" } }))
    assert.equal(2, #single.failed)
    assert.equal("nobody.else", single.failed[1].user)
    assert.equal(before.chats - expected.chats, wf.totals(client, users).chats + single.deleted.chats)
  end)

  it("stops after the first round when the key is refused (401), as the chat export does", function()
    local locked = helpers.sandbox("--users", "40", "--api-key", "right")
    local responses = 0
    local wrong = wf.client(locked, { api_key = "wrong", log = function(e)
      if e.event == "response" then responses = responses + 1 end
    end })
    local dir = wf.tmpdir()
    finally(function()
      wrong:close()
      locked.stop()
      wf.rmdir(dir)
    end)
    local names = {}
    for i = 1, 40 do names[i] = "user" .. i end
    local result, err = reset.run(wrong, { users = names, concurrency = 2 })
    assert.is_nil(result)
    assert.equal(401, err.status)
    assert.is_true(responses <= 8 * #reset.STORES, responses) -- one round: 8 users, their first calls
    responses = 0
    result, err = require("iblai.workflows.chat_export").run(wrong, { users = names, out = dir, concurrency = 2 })
    assert.is_nil(result)
    assert.equal(401, err.status)
    assert.is_true(responses <= 2, responses)
  end)

  it("counts a record deleted meanwhile (404 on delete) as gone, not as a failure", function()
    -- for one user, every edX record vanishes just before its delete arrives
    local script = wf.script [[
      local sandbox = ...
      local name = sandbox.model.state.users[2].username
      sandbox.route("/api/ai-mentor/orgs/{org}/users/" .. name .. "/edx-memory/{id}/", {
        DELETE = function(_, p)
          local edx = sandbox.model:change(sandbox.model:user(name), "edx").edx
          for i, r in ipairs(edx) do
            if r.id == tonumber(p.id) then table.remove(edx, i) end
          end
          return sandbox.respond.not_found()
        end,
      })
    ]]
    local sb2 = helpers.sandbox("--users", "12", "--seed", "5", "--script", script)
    local c2 = wf.client(sb2)
    finally(function()
      c2:close()
      sb2.stop()
      os.remove(script)
    end)
    local victim = wf.usernames(c2)[2]
    local held = wf.holdings(c2, victim)
    assert.is_true(held.edx > 0)
    local result = assert(reset.run(c2, { users = { victim }, stores = { "edx" } }))
    assert.same({}, result.failed)
    assert.equal(0, result.deleted.edx)
    assert.equal(0, wf.holdings(c2, victim).edx)
  end)

  it("stops when the journal cannot be written, since a rerun could not skip what is done", function()
    local users = slice(52, 60)
    local appended = 0
    local full = { entries = {}, append = function()
      appended = appended + 1
      return nil, "cannot write the journal j: No space left on device"
    end }
    local result, err = reset.run(client, { users = users, journal = full, concurrency = 1 })
    assert.is_nil(result)
    assert.equal("journal", err.kind)
    assert.matches("No space left on device; free some space", tostring(err))
    -- the round that hit it ends, and no further users are started
    assert.is_true(appended > 0)
    local untouched = 0
    for _, u in ipairs(users) do untouched = untouched + (wf.sum(wf.holdings(client, u)) > 0 and 1 or 0) end
    assert.is_true(untouched > 0)
  end)

  it("refuses a second run on a journal a run has open, and leaves that journal as it was", function()
    local path = os.tmpname()
    os.remove(path)
    local header = reset.journal_header(client, "main")
    local first = assert(Journal.open(path, header))
    assert(first:append { user = "someone", store = "edx", deleted = 2 })
    local before = wf.read(path)
    local result, err = reset.run(client, { users = slice(1, 2), journal = path })
    assert.is_nil(result)
    assert.equal("config", err.kind)
    assert.matches("is in use by another run", tostring(err), 1, true)
    assert.equal(before, wf.read(path))
    -- the command says so in one line, before any request, with exit 2
    local code, out, cerr = helpers.run({ "memory-reset", "--user", "jane", "--journal", path }, wf.env(sb))
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("in use by another run", cerr, 1, true)
    assert.equal(before, wf.read(path))
    first:close()
    -- once closed, the next run takes it and appends
    local j2 = assert(Journal.open(path, header))
    assert.same({ { user = "someone", store = "edx", deleted = 2 } }, j2.entries)
    j2:close()
    os.remove(path)
  end)

  it("reads a journal torn anywhere by a kill: the torn line is ignored and that pair redone", function()
    local header = reset.journal_header(client, "main")
    local whole = wf.read((function()
      local path = os.tmpname()
      os.remove(path)
      local j = assert(Journal.open(path, header))
      assert(j:append { user = "a", store = "edx", deleted = 1 })
      j:close()
      return path
    end)())
    local head = whole:match("^[^\n]*\n")
    for _, text in ipairs {
      head:sub(1, 5),                                        -- killed writing the header
      head .. "{",                                           -- killed one byte into an entry
      head .. '{"user":"a","sto',                             -- killed inside a key
      head .. '{"user":"a"\n{"user":"b","store":"edx","deleted":1}\n', -- a torn line a later run ended
    } do
      local path = wf.write(os.tmpname(), text)
      local j = assert(Journal.open(path, header))
      local users = {}
      for _, e in ipairs(j.entries) do users[#users + 1] = e.user end
      assert(j:append { user = "c", store = "edx", deleted = 0 })
      j:close()
      local again = assert(Journal.read(path, header))
      assert.equal(#users + 1, #again)
      assert.equal("c", again[#again].user)
      assert.is_nil(users[1] == "a" and users[1] or nil) -- the torn entry of a is never read as done
      os.remove(path)
    end
    -- a crash of the machine can leave NUL bytes where the last lines were being written
    local path = wf.write(os.tmpname(), whole .. ("\0"):rep(100))
    local j = assert(Journal.open(path, header))
    assert.equal(1, #j.entries)
    assert(j:append { user = "c", store = "edx", deleted = 0 })
    j:close()
    assert.equal(2, #assert(Journal.read(path, header)))
    os.remove(path)
  end)

  it("journals each finished (user, store), skips them on a rerun, and ignores a torn last line", function()
    local users = slice(40, 51)
    local path = os.tmpname()
    os.remove(path)
    local before = wf.totals(client, users)
    local first = assert(reset.run(client, { users = { users[1], users[2] }, journal = path }))
    local text = wf.read(path)
    assert.equal(11, wf.lines(path)) -- the header and 2 users x 5 stores
    assert.is_nil(text:find("sandbox", 1, true)) -- the key is never written
    -- a run killed while writing its next line leaves it torn
    wf.write(path, text .. '{"user":"' .. users[3] .. '","sto')
    local second = assert(reset.run(client, { users = users, journal = path }))
    assert.equal(10, second.resumed)
    assert.same({}, second.failed)
    local total = {}
    for _, s in ipairs(wf.STORES) do total[s] = first.deleted[s] + second.deleted[s] end
    assert.same(before, total)
    assert.equal(1 + #users * 5, #assert(Journal.read(path, reset.journal_header(client, "main"))) + 1)
    -- a journal of another org is refused, and so is a file that is not a journal
    local _, err = reset.run(client, { users = users, journal = path, org = "other" })
    assert.matches("org main, not other", tostring(err), 1, true)
    local other = wf.write(os.tmpname(), "hello\n")
    _, err = reset.run(client, { users = users, journal = other })
    assert.matches("is not an iblai memory-reset journal", tostring(err), 1, true)
    assert.equal("hello\n", wf.read(other))
    os.remove(other)
    os.remove(path)
  end)
end)

describe("usernames shown on a line", function()
  local users = require "iblai.workflows.users"

  it("escape what would change how the line reads, and cut long ones on a character", function()
    assert.equal("a\\x0Ab\\x1B[2Jc", users.display("a\nb\27[2Jc"))
    assert.equal("evil\\u{202E}txt.exe \\u{2028}x\\u{2066}", users.display("evil\u{202E}txt.exe \u{2028}x\u{2066}"))
    assert.equal("jos\u{E9}", users.display("jos\u{E9}"))
    local long = users.display(("\u{E9}"):rep(40))
    assert.equal(("\u{E9}"):rep(30) .. "... (80 bytes)", long)
  end)
end)

describe("memory_reset.run against a server that lies", function()
  local server, client

  setup(function()
    server = helpers.start_server(helpers.root .. "/spec/support/memory_server.lua")
    client = assert(require("iblai").new { base_url = server.url, api_key = "k", org = "main", retries = 0 })
  end)

  teardown(function()
    client:close()
    server.stop()
  end)

  -- What each user really holds, read past every lie.
  local function state()
    return assert(client:request { path = "/_state" }).body
  end

  it("deletes every page when pages carry next links but no count, or a count too low", function()
    local path = os.tmpname()
    os.remove(path)
    local result = assert(reset.run(client, { users = { "nocount", "lowcount", "plain" }, page_size = 5,
      journal = path }))
    assert.same({}, result.failed)
    assert.equal(3 * 23, result.deleted.edx)
    assert.equal(3 * 5, result.verified_empty)
    local held = state()
    for _, u in ipairs { "nocount", "lowcount", "plain" } do
      assert.same({ edx = 0, mentor = 0, profile = 0, chats = 0, prompt = 0 }, held[u], u)
    end
    assert.equal(1 + 15, wf.lines(path))
    os.remove(path)
  end)

  it("reports a pair whose items stay after its deletes as failed, with how many remain, and never journals it",
    function()
      local path = os.tmpname()
      os.remove(path)
      local events = {}
      local result = assert(reset.run(client, { users = { "sticky", "ghostchat", "keyless" }, page_size = 10,
        journal = path, on_progress = function(e)
          if e.type == "pair" and e.status == "failed" then events[#events + 1] = e end
        end }))
      local failed = {}
      for _, f in ipairs(result.failed) do failed[f.user .. "/" .. f.store] = f end
      assert.equal(3, #result.failed)
      local sticky = failed["sticky/edx"]
      assert.equal(23, sticky.remaining)
      assert.matches("23 items remain after " .. reset.PASSES .. " rounds of deletes", sticky.error, 1, true)
      assert.equal(2 * 23, result.deleted.edx) -- sticky's deletes answered 204 and deleted nothing
      assert.equal(2, result.deleted.chats) -- ghostchat's answered 204 and stayed
      assert.equal(1, failed["ghostchat/chats"].remaining)
      assert.matches("1 item remains after", failed["ghostchat/chats"].error, 1, true)
      assert.equal(1, failed["keyless/mentor"].remaining)
      assert.matches("(1 without a key to delete by)", failed["keyless/mentor"].error, 1, true)
      assert.equal(3, #events)
      assert.equal(15 - 3, result.verified_empty)
      local journal = wf.read(path)
      for key in pairs(failed) do
        local user, store = key:match("^(.-)/(.*)$")
        assert.is_nil(journal:find(('"store":"%s","user":"%s"'):format(store, user), 1, true), key)
        assert.is_nil(journal:find(('"user":"%s","store":"%s"'):format(user, store), 1, true), key)
      end
      assert.equal(1 + 12, wf.lines(path))
      local held = state()
      assert.equal(23, held.sticky.edx)
      assert.equal(1, held.ghostchat.chats)
      assert.equal(1, held.keyless.mentor)
      os.remove(path)
    end)

  it("accounts for every user --all lists: one it cannot use fails with the reason, and is never sent", function()
    local sent = {}
    local watched = assert(require("iblai").new { base_url = server.url, api_key = "k", org = "main", retries = 0,
      log = function(e) if e.event == "request" then sent[#sent + 1] = e.url end end })
    local result = assert(reset.run(watched, { all = true }))
    watched:close()
    assert.equal(7, result.users)
    local reasons = {}
    for _, f in ipairs(result.failed) do
      local key = (f.user:sub(1, 1) == "(" and f.user or "") .. ": " .. f.error
      reasons[key] = (reasons[key] or 0) + 1
      assert.is_nil(f.remaining)
    end
    local nothing = "; nothing was sent for it"
    assert.same({
      [": the username 'bad\\x0Aname' holds a control character" .. nothing] = 5,
      ["(user 3 of the listing): the users listing gave this user an empty username" .. nothing] = 5,
      [": a username of 600 bytes is too long (at most 500)" .. nothing] = 5,
      ["(user 5 of the listing, id 5, email no-username@example.com): the users listing gave this user no username"
        .. nothing] = 5,
      ["(user 6 of the listing): the users listing gave this user a username that is not a string (null)" .. nothing]
        = 5,
    }, reasons)
    assert.equal(2 * 5, result.verified_empty)
    for _, url in ipairs(sent) do
      assert.is_nil(url:find("bad", 1, true), url)
      assert.is_nil(url:find("xxxxxxxxxx", 1, true), url)
      assert.is_nil(url:find("/users//", 1, true), url)
    end
    local held = state()
    assert.same({ edx = 0, mentor = 0, profile = 0, chats = 0, prompt = 0 }, held.first)
    assert.same({ edx = 0, mentor = 0, profile = 0, chats = 0, prompt = 0 }, held.last)
  end)

  it("prints what remains and each unusable username on one line of its own", function()
    local env = { IBLAI_BASE_URL = server.url, IBLAI_API_KEY = "k", IBLAI_ORG = "main" }
    local code, out, err = helpers.run({ "memory-reset", "--all", "--yes", "--quiet" }, env)
    assert.equal(1, code, err)
    assert.matches("\n  bad\\x0Aname +chats +the username 'bad\\x0Aname' holds a control character", out)
    assert.matches("\n  xxxxxxxxxx+%.%.%. %(600 bytes%) +edx +a username of 600 bytes is too long", out)
    assert.matches("pairs proven empty by a fresh listing: 10\n", out, 1, true)
    code, out = helpers.run({ "memory-reset", "--user", "sticky", "--stores", "edx", "--json", "--quiet" }, env)
    assert.equal(1, code)
    local result = wf.decode(out)
    assert.equal(0, result.verified_empty)
    assert.equal(0, result.deleted.edx)
    assert.equal(23, result.failed[1].remaining)
  end)

  it("counts what it deleted once each, also when a read lags or a delete was done but answered 500", function()
    local result = assert(reset.run(client, { users = { "stale", "delafter", "dupids" }, stores = { "edx" },
      page_size = 10 }))
    assert.same({}, result.failed)
    assert.equal(3 * 23, result.deleted.edx)
    assert.equal(3, result.verified_empty)
    assert.equal(0, result.already_empty)
    local held = state()
    for _, u in ipairs { "stale", "delafter", "dupids" } do assert.equal(0, held[u].edx, u) end
  end)

  it("fails a listing it cannot read to its end: an empty page that links on, or one that never ends", function()
    local path = os.tmpname()
    os.remove(path)
    local max = reset.MAX_ITEMS
    reset.MAX_ITEMS = 200
    local result = assert(reset.run(client, { users = { "hollow", "forever" }, stores = { "edx" }, page_size = 10,
      journal = path }))
    reset.MAX_ITEMS = max
    assert.equal(2, #result.failed)
    local why = {}
    for _, f in ipairs(result.failed) do why[f.user] = f.error end
    assert.matches("could not list it: .*page 1 is empty but names a next page", why.hollow)
    assert.matches("could not list it: the listing did not end after 200 items", why.forever)
    assert.equal(0, result.verified_empty)
    assert.equal(1, wf.lines(path)) -- the header alone
    assert.equal(23, state().hollow.edx)
    os.remove(path)
  end)

  it("deletes again what arrived meanwhile, until a fresh listing is empty", function()
    local result = assert(reset.run(client, { users = { "growing" }, stores = { "edx" }, page_size = 10 }))
    assert.same({}, result.failed)
    assert.equal(24, result.deleted.edx)
    assert.equal(1, result.verified_empty)
    assert.equal(0, state().growing.edx)
  end)
end)

describe("memory_reset.run against a failing service", function()
  it("reports what failed when nothing is retried, and reruns with the journal until all is gone", function()
    local sb = helpers.sandbox("--users", "10", "--seed", "8", "--fail-rate", "0.2")
    local client = wf.client(sb, { retries = 0 })
    local reader = wf.client(sb, { retries = 10 })
    finally(function()
      client:close()
      reader:close()
      sb.stop()
    end)
    local users = wf.usernames(reader)
    local before = wf.totals(reader, users)
    local path = os.tmpname()
    os.remove(path)
    local deleted, failures, runs = {}, 0, 0
    for _, s in ipairs(wf.STORES) do deleted[s] = 0 end
    repeat
      runs = runs + 1
      local result = assert(reset.run(client, { users = users, journal = path, page_size = 2 }))
      for _, s in ipairs(wf.STORES) do deleted[s] = deleted[s] + result.deleted[s] end
      failures = failures + #result.failed
      for _, f in ipairs(result.failed) do
        assert.is_string(f.error)
        assert.is_nil(f.error:find("sandbox", 1, true)) -- never the key
      end
    until #result.failed == 0 or runs == 20
    assert.is_true(failures > 0, "the service never failed")
    assert.same(before, deleted)
    assert.equal(0, wf.sum(wf.totals(reader, users)))
    os.remove(path)
  end)
end)

describe("iblai memory-reset", function()
  local sb, client, users, env
  local CLOSED = { IBLAI_BASE_URL = "http://127.0.0.1:9", IBLAI_API_KEY = "k", IBLAI_ORG = "main" }

  setup(function()
    sb = helpers.sandbox("--users", SLOW and "16" or "30", "--seed", "9", "--latency", "5")
    client = wf.client(sb)
    users = wf.usernames(client)
    env = wf.env(sb)
  end)

  teardown(function()
    client:close()
    sb.stop()
  end)

  -- Runs the command where any request would fail (nothing listens): a usage error must come first.
  local function usage_error(args, pattern)
    local started = os.time()
    local code, out, err = helpers.run(args, CLOSED)
    assert.equal(2, code, err)
    assert.equal("", out)
    assert.equal(1, select(2, err:gsub("\n", "")), err) -- one line
    assert.matches(pattern, err)
    assert.is_nil(err:find("127.0.0.1:9", 1, true))
    assert.is_true(os.time() - started < 5)
    return err
  end

  it("lists in a dry run what it would delete, deleting nothing", function()
    local before = wf.totals(client, users)
    local code, out, err = helpers.run({ "memory-reset", "--all", "--dry-run" }, env)
    assert.equal(0, code, err)
    assert.matches("dry run: nothing was deleted", out)
    for _, u in ipairs(users) do
      local held = wf.holdings(client, u)
      assert.equal(wf.sum(held) > 0, out:find("\n" .. u .. " ", 1, true) ~= nil, u)
    end
    assert.same(before, wf.totals(client, users))
    code, out = helpers.run({ "memory-reset", "--all", "--dry-run", "--json" }, env)
    assert.equal(0, code)
    local result = wf.decode(out)
    assert.is_true(result.dry_run)
    assert.same(before, result.would_delete)
    assert.equal(0, wf.sum(result.deleted))
    local listed = 0
    for _, p in ipairs(result.plan) do
      assert.is_true(#p.ids > 0)
      listed = listed + #p.ids
    end
    assert.equal(wf.sum(before), listed)
  end)

  it("refuses bad input with one line and exit 2, before any request", function()
    local empty = wf.write(os.tmpname(), "# nobody yet\n\n")
    local long = wf.write(os.tmpname(), "jane\n" .. ("x"):rep(10 * 1024 * 1024) .. "\n")
    local dir = wf.tmpdir()
    usage_error({ "memory-reset", "--user", "jane", "--stores", "edx,chat" }, "unknown store 'chat'")
    usage_error({ "memory-reset", "--users", "/nonexistent/users.txt" }, "cannot read the users file")
    usage_error({ "memory-reset", "--users", empty }, "holds no usernames")
    usage_error({ "memory-reset", "--users", long }, ":2: a username of 10485760 bytes is too long")
    usage_error({ "memory-reset", "--users", "/dev/zero" }, "holds NUL bytes")
    usage_error({ "memory-reset", "--user", "jane", "--journal", "/dev/zero" }, "is not an iblai memory%-reset journal")
    usage_error({ "memory-reset", "--user", "jane", "--journal", dir .. "/no/such/dir/j" }, "cannot write the journal")
    usage_error({ "memory-reset", "--user", "jane", "--journal", long }, "is not an iblai memory%-reset journal")
    usage_error({ "memory-reset", "--user", "jane", "--journal", "/dev/null" }, "cannot sync the journal /dev/null")
    usage_error({ "memory-reset", "--all" }, "pass %-%-yes")
    usage_error({ "memory-reset", "--all", "--user", "jane" }, "not both")
    usage_error({ "memory-reset" }, "say whose")
    usage_error({ "memory-reset", "--user", "jane", "--concurrency", "0" }, "concurrency")
    usage_error({ "memory-reset", "--user", "jane", "--bogus" }, "unknown option '%-%-bogus'")
    local code, _, err = helpers.run({ "memory-reset", "--user", "jane" }, { IBLAI_BASE_URL = sb.url, IBLAI_ORG = "main" })
    assert.equal(2, code)
    assert.matches("IBLAI_API_KEY is not set", err)
    assert.equal(5 + 10 * 1024 * 1024 + 1, #wf.read(long)) -- nothing was written to a file that is not a journal
    os.remove(empty)
    os.remove(long)
    wf.rmdir(dir)
  end)

  it("stops with one line and exit 1 when no request reaches the service, and when stdout is full", function()
    local journal = os.tmpname()
    os.remove(journal)
    local code, out, err = helpers.run({ "memory-reset", "--user", "a", "--user", "b", "--quiet", "--journal", journal },
      CLOSED)
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal(1, select(2, err:gsub("\n", "")), err)
    assert.matches("^iblai memory%-reset: ai_", err)
    assert.matches("127.0.0.1:9", err, 1, true)
    assert.equal(1, wf.lines(journal)) -- only the header: nothing was done
    os.remove(journal)
    local _, _, status = os.execute(("IBLAI_BASE_URL=%s IBLAI_API_KEY=k IBLAI_ORG=main %s memory-reset --user %s "
      .. "--json --quiet > /dev/full 2>/dev/null"):format(sb.url, helpers.quote(helpers.program), users[#users]))
    assert.equal(1, status)
  end)

  it("prints one JSON object, with failed as [], and exits 0; 1 when a user fails", function()
    local code, out, err = helpers.run({ "memory-reset", "--user", users[1], "--json", "--quiet" }, env)
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.matches('"failed":%[%]', out)
    local result = wf.decode(out)
    assert.equal(1, result.users)
    for _, s in ipairs(wf.STORES) do assert.equal("number", type(result.deleted[s])) end
    assert.equal("number", type(result.already_empty))
    code, out = helpers.run({ "memory-reset", "--user", users[1], "--user", "ghost.user", "--json" }, env)
    assert.equal(1, code)
    result = wf.decode(out)
    assert.equal(5, #result.failed)
    assert.equal("ghost.user", result.failed[1].user)
    assert.equal(5, result.already_empty)
  end)

  it("reports usernames such as .. and a/b as unknown users, touching no one else", function()
    local before = wf.totals(client, users)
    local code, out = helpers.run({ "memory-reset", "--user", "..", "--user", ".", "--user", "a/b", "--user", "../x",
      "--json", "--quiet" }, env)
    assert.equal(1, code)
    local result = wf.decode(out)
    assert.equal(20, #result.failed)
    for _, f in ipairs(result.failed) do assert.matches("not found %(HTTP 404%)", f.error) end
    assert.equal(0, wf.sum(result.deleted))
    assert.same(before, wf.totals(client, users))
    -- the text says how to retry without naming a journal the run did not have
    local text
    code, text = helpers.run({ "memory-reset", "--user", "..", "--quiet" }, env)
    assert.equal(1, code)
    assert.matches("deleted, for 1 user\n", text, 1, true)
    assert.matches("rerun to retry them (--journal FILE skips what is done)", text, 1, true)
  end)

  it("finishes a run killed with kill -9 when rerun with its journal, counting each remaining item once", function()
    local list = {}
    for i = 3, #users do list[#list + 1] = users[i] end
    local file = wf.write(os.tmpname(), table.concat(list, "\n") .. "\n")
    local journal = os.tmpname()
    os.remove(journal)
    local job = wf.start({ "memory-reset", "--users", file, "--journal", journal, "--concurrency", "1", "--quiet" }, env)
    assert.is_true(wf.until_true(function() return wf.lines(journal) >= 20 end, 60), "the journal did not grow")
    os.execute("kill -9 " .. job.pid)
    assert.equal(137, (wf.wait(job)))
    local done = wf.lines(journal) - 1
    assert.is_true(done < #list * 5, "the run ended before it was killed")
    local remaining = wf.totals(client, list)
    assert.is_true(wf.sum(remaining) > 0)
    local code, out, err = helpers.run({ "memory-reset", "--users", file, "--journal", journal, "--json" }, env)
    assert.equal(0, code, err)
    local result = wf.decode(out)
    assert.same(remaining, result.deleted)
    assert.is_true(result.resumed >= done)
    assert.same({}, result.failed)
    assert.same({ chats = 0, prompt = 0, edx = 0, profile = 0, mentor = 0 }, wf.totals(client, list))
    -- and once more: everything is in the journal, nothing is done again
    code, out = helpers.run({ "memory-reset", "--users", file, "--journal", journal, "--json" }, env)
    assert.equal(0, code)
    assert.equal(#list * 5, wf.decode(out).resumed)
    os.remove(file)
    os.remove(journal)
  end)

  it("stops on Ctrl-C with exit 130, and the journal lets a rerun finish", function()
    local sb2 = helpers.sandbox("--users", "20", "--seed", "4", "--latency", "30")
    local env2, c2 = wf.env(sb2), wf.client(sb2)
    finally(function()
      c2:close()
      sb2.stop()
    end)
    local all = wf.usernames(c2)
    local before = wf.totals(c2, all)
    local journal = os.tmpname()
    os.remove(journal)
    local job = wf.start({ "memory-reset", "--all", "--yes", "--journal", journal, "--concurrency", "1" }, env2)
    assert.is_true(wf.until_true(function() return wf.lines(journal) >= 6 end, 60))
    os.execute("kill -INT " .. job.pid)
    local code, _, err = wf.wait(job)
    assert.equal(130, code, err)
    assert.matches("rerun with the same %-%-journal", err)
    local _, interrupted = err:gsub("interrupted", "")
    assert.equal(1, interrupted, err) -- said once, by the command, not again by the program
    local out
    code, out = helpers.run({ "memory-reset", "--all", "--yes", "--journal", journal, "--json" }, env2)
    assert.equal(0, code)
    local result = wf.decode(out)
    assert.is_true(result.resumed >= 5)
    assert.is_true(wf.sum(result.deleted) < wf.sum(before))
    assert.equal(0, wf.sum(wf.totals(c2, all)))
    os.remove(journal)
  end)

  it("asks before resetting --all users on a terminal, and draws the progress bar there", function()
    local sb2 = helpers.sandbox("--users", "6", "--seed", "2")
    local c2 = wf.client(sb2)
    finally(function()
      c2:close()
      sb2.stop()
    end)
    local all = wf.usernames(c2)
    local before = wf.totals(c2, all)
    local function on_pty(answer)
      local out = os.tmpname()
      local cmd = ("printf '%s\\n' | IBLAI_BASE_URL=%s IBLAI_API_KEY=k IBLAI_ORG=main script -qec %s /dev/null > %s")
        :format(answer, sb2.url, helpers.quote(helpers.quote(helpers.program) .. " memory-reset --all"), out)
      local _, _, code = os.execute(cmd)
      local text = wf.read(out)
      os.remove(out)
      return code, text
    end
    local code, text = on_pty("no")
    assert.equal(1, code, text)
    assert.matches("of all 6 users of org main", text)
    assert.matches("nothing was deleted", text)
    assert.same(before, wf.totals(c2, all))
    code, text = on_pty("yes")
    assert.equal(0, code, text)
    assert.matches("\r\27%[K", text) -- redrawn in place
    assert.matches("6/6 users", text)
    assert.equal(0, wf.sum(wf.totals(c2, all)))
    -- without a terminal the progress comes as plain lines
    local _, _, err = helpers.run({ "memory-reset", "--all", "--yes" }, wf.env(sb2))
    assert.is_nil(err:find("\r", 1, true))
    assert.matches("memory%-reset 6/6 users", err)
  end)

  it("finishes under --fail-rate 0.2, reports what failed, and a rerun with the journal completes it", function()
    local sb2 = helpers.sandbox("--users", SLOW and "8" or "16", "--seed", "6", "--fail-rate", "0.2")
    local env2 = wf.env(sb2)
    local c2 = wf.client(sb2, { retries = 10 })
    finally(function()
      c2:close()
      sb2.stop()
    end)
    local all = wf.usernames(c2)
    local before = wf.totals(c2, all)
    local file = wf.write(os.tmpname(), table.concat(all, "\n") .. "\n")
    local journal = os.tmpname()
    os.remove(journal)
    local deleted, runs = {}, 0
    for _, s in ipairs(wf.STORES) do deleted[s] = 0 end
    repeat
      runs = runs + 1
      local code, out, err = helpers.run({ "memory-reset", "--users", file, "--journal", journal, "--json" }, env2)
      assert(out ~= "", ("exit %d: %s"):format(code, err))
      local result = wf.decode(out)
      assert.equal(#result.failed > 0 and 1 or 0, code, err)
      for _, s in ipairs(wf.STORES) do deleted[s] = deleted[s] + result.deleted[s] end
      for _, f in ipairs(result.failed) do assert.is_nil(f.error:find("sandbox", 1, true)) end -- never the key
    until #result.failed == 0 or runs == 5
    assert.same(before, deleted)
    assert.equal(0, wf.sum(wf.totals(c2, all)))
    os.remove(file)
    os.remove(journal)
  end)
end)
