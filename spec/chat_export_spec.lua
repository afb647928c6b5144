-- Chat-history export and task polling against the sandbox: iblai.tasks, the module, the command.
local helpers = require "support.helpers"
local wf = require "support.workflows"
local export = require "iblai.workflows.chat_export"
local files = require "iblai.workflows.files"
local tasks = require "iblai.tasks"

local START, POLL = export.START, export.POLL

-- A route script under which one user's export task is never ready.
local function never_ready_script(username)
  return wf.script(([[
    local sandbox = ...
    sandbox.route("/api/ai-mentor/orgs/{org}/users/%s/downloads/tasks/{task_id}/", {
      GET = function() return sandbox.respond.json(200, { state = "task_not_ready" }) end,
    })
  ]]):format(username))
end

-- A clock that only moves when the poller sleeps, and the waits it was asked for.
local function fake_time()
  local now, waits = 0, {}
  return {
    waits = waits,
    clock = function() return now end,
    sleep = function(s)
      waits[#waits + 1] = s
      now = now + s
    end,
  }
end

local function round(x)
  return math.floor(x * 1000 + 0.5) / 1000
end

describe("iblai.tasks", function()
  local sb, client, users, script

  setup(function()
    sb = helpers.sandbox("--users", "6", "--seed", "3")
    client = wf.client(sb)
    users = wf.usernames(client)
    script = never_ready_script(users[2])
  end)

  teardown(function()
    client:close()
    sb.stop()
    os.remove(script)
  end)

  it("polls with growing intervals until the answer is the history, not {state = ...}", function()
    local task = assert(client:call(START, { user_id = users[1] }))
    local t, seen = fake_time(), {}
    local history = assert(client:wait_task(POLL, { user_id = users[1], task_id = task.task_id }, {
      interval = 0.5, max_interval = 0.6, clock = t.clock, sleep = t.sleep,
      on_poll = function(body, err, polls) seen[#seen + 1] = { body = body, err = err, polls = polls } end,
    }))
    assert.equal(3, #seen) -- the sandbox answers not ready twice
    assert.same({ state = "task_not_ready" }, seen[1].body)
    assert.same({ state = "task_not_ready" }, seen[2].body)
    assert.equal(history, seen[3].body)
    assert.same({ 0.5, 0.6 }, { round(t.waits[1]), round(t.waits[2]) })
    assert.is_true(#history > 0)
    for _, item in ipairs(history) do
      assert.is_string(item.type)
      assert.is_string(item.content)
      assert.is_string(item.timestamp)
    end
  end)

  it("gives up at the deadline with a timeout Error, the last poll at the deadline itself", function()
    local sb2 = helpers.sandbox("--users", "6", "--seed", "3", "--script", script)
    local c2 = wf.client(sb2)
    finally(function()
      c2:close()
      sb2.stop()
    end)
    local task = assert(c2:call(START, { user_id = users[2] }))
    local t = fake_time()
    local body, err = tasks.wait(c2, POLL, { user_id = users[2], task_id = task.task_id },
      { deadline = 10, interval = 1, factor = 2, max_interval = 4, clock = t.clock, sleep = t.sleep })
    assert.is_nil(body)
    assert.equal("timeout", err.kind)
    assert.same({ 1, 2, 4, 3 }, t.waits) -- polls at 0, 1, 3, 7 and 10
    assert.matches("not ready after 10s %(5 polls%)", tostring(err))
  end)

  it("reads other task endpoints through a ready function", function()
    local task = assert(client:call(START, { user_id = users[3] }))
    local t = fake_time()
    local params = { user_id = users[3], task_id = task.task_id }
    local _, err = tasks.wait(client, POLL, params, { clock = t.clock, sleep = t.sleep,
      ready = function(b) return b.state == nil and "done" or nil, "the task says " .. b.state end })
    assert.equal("task", err.kind)
    assert.matches("the task failed: the task says task_not_ready", tostring(err))
    -- true and false stand for done and pending
    local calls = 0
    local body = assert(tasks.wait(client, POLL, params, { clock = t.clock, sleep = t.sleep, ready = function()
      calls = calls + 1
      return calls == 2
    end }))
    assert.is_table(body)
    assert.equal(2, calls)
    assert.is_nil(tasks.check { interval = 0 })
    assert.is_nil(tasks.check { interval = 2, max_interval = 1 })
    assert.has_error(function() tasks.pollset(client, { deadline = -1 }) end)
  end)

  it("polls many tasks in one set, each on its own schedule", function()
    local set = tasks.pollset(client, { interval = 0.01 })
    for i = 1, 4 do
      local task = assert(client:call(START, { user_id = users[i] }))
      set:add(users[i], POLL, { user_id = users[i], task_id = task.task_id })
    end
    local done = {}
    while set:count() > 0 do
      for _, d in ipairs(set:step()) do
        assert.is_nil(d.err)
        done[#done + 1] = d.key
        assert.equal(3, d.polls)
      end
    end
    table.sort(done)
    local expected = { users[1], users[2], users[3], users[4] }
    table.sort(expected)
    assert.same(expected, done)
  end)
end)

describe("files", function()
  it("maps any username to a file name of its own", function()
    assert.equal("jane.doe", files.safe_name("jane.doe"))
    assert.equal("a%2Fb", files.safe_name("a/b"))
    assert.equal("%2E.", files.safe_name(".."))
    assert.equal("%2Ehidden", files.safe_name(".hidden"))
    assert.equal("%2E.%2F..%2Fetc", files.safe_name("../../etc"))
    assert.equal("x%25y%20z", files.safe_name("x%y z"))
    assert.is_nil(files.safe_name(("x"):rep(300)))
  end)

  it("writes whole files or none, and leaves no temporary file", function()
    local dir = wf.tmpdir()
    assert.is_true(files.write_atomic(dir .. "/a.json", "[1]\n"))
    assert.is_true(files.write_atomic(dir .. "/a.json", "[2]\n"))
    assert.equal("[2]\n", wf.read(dir .. "/a.json"))
    local ok, err = files.write_atomic(dir .. "/missing/b.json", "x")
    assert.is_nil(ok)
    assert.matches("cannot write", err)
    -- a rename that fails (the target is a directory) leaves neither a file nor the temporary one
    assert(os.execute("mkdir " .. helpers.quote(dir .. "/c.json")))
    ok, err = files.write_atomic(dir .. "/c.json", "x")
    assert.is_nil(ok)
    assert.matches("cannot move", err)
    assert.same({ "a.json", "c.json" }, wf.ls(dir))
    wf.rmdir(dir)
  end)
end)

describe("chat_export.run", function()
  local sb, client, users

  setup(function()
    sb = helpers.sandbox("--users", "8", "--seed", "11")
    client = wf.client(sb)
    users = wf.usernames(client)
  end)

  teardown(function()
    client:close()
    sb.stop()
  end)

  it("writes each user's history as JSON, the same as the download gives", function()
    local dir = wf.tmpdir()
    local list = { users[1], users[2], users[3] }
    local result = assert(export.run(client, { users = list, out = dir, poll_initial = 0.01 }))
    assert.equal(3, result.exported)
    assert.same({}, result.failed)
    assert.same({}, result.timed_out)
    local expected = { list[1] .. ".json", list[2] .. ".json", list[3] .. ".json" }
    table.sort(expected)
    assert.same(expected, wf.ls(dir))
    for _, u in ipairs(list) do
      local task = assert(client:call(START, { user_id = u }))
      local direct = assert(client:wait_task(POLL, { user_id = u, task_id = task.task_id }, { interval = 0.01 }))
      assert.same(direct, wf.decode(wf.read(dir .. "/" .. u .. ".json")))
    end
    wf.rmdir(dir)
  end)

  it("writes CSV with --format csv, one line per message after the header", function()
    local dir = wf.tmpdir()
    local result = assert(export.run(client, { users = { users[4] }, out = dir, format = "csv", poll_initial = 0.01 }))
    assert.equal(1, result.exported)
    local text = wf.read(dir .. "/" .. users[4] .. ".csv")
    assert.equal("type,content,timestamp,session_id", text:match("^[^\n]+"))
    local task = assert(client:call(START, { user_id = users[4] }))
    local direct = assert(client:wait_task(POLL, { user_id = users[4], task_id = task.task_id }, { interval = 0.01 }))
    assert.equal(#direct + 1, wf.lines(dir .. "/" .. users[4] .. ".csv"))
    wf.rmdir(dir)
  end)

  it("reports an unknown user and exports the others", function()
    local dir = wf.tmpdir()
    local result = assert(export.run(client, { users = { "ghost", users[5] }, out = dir, poll_initial = 0.01 }))
    assert.equal(1, result.exported)
    assert.equal(1, #result.failed)
    assert.equal("ghost", result.failed[1].user)
    assert.matches("user 'ghost' not found", result.failed[1].error, 1, true)
    assert.same({ users[5] .. ".json" }, wf.ls(dir))
    local _, err = export.run(client, { users = { users[5] }, out = dir, format = "xml" })
    assert.equal("validation", err.kind)
    wf.rmdir(dir)
  end)
end)

describe("iblai export-chats", function()
  local sb, client, users, env, script, slow_user
  local CLOSED = { IBLAI_BASE_URL = "http://127.0.0.1:9", IBLAI_API_KEY = "k", IBLAI_ORG = "main" }

  setup(function()
    local probe = helpers.sandbox("--users", "8", "--seed", "12")
    local c = wf.client(probe)
    slow_user = wf.usernames(c)[3]
    c:close()
    probe.stop()
    script = never_ready_script(slow_user)
    sb = helpers.sandbox("--users", "8", "--seed", "12", "--script", script)
    client = wf.client(sb)
    users = wf.usernames(client)
    env = wf.env(sb)
  end)

  teardown(function()
    client:close()
    sb.stop()
    os.remove(script)
  end)

  it("refuses bad input with one line and exit 2, before any request", function()
    local file = wf.write(os.tmpname(), "jane\n")
    local function usage_error(args, pattern)
      local code, out, err = helpers.run(args, CLOSED)
      assert.equal(2, code, err)
      assert.equal("", out)
      assert.equal(1, select(2, err:gsub("\n", "")), err)
      assert.matches(pattern, err)
    end
    usage_error({ "export-chats", "--user", "jane" }, "%-%-out DIR is required")
    usage_error({ "export-chats", "--user", "jane", "--out", file .. "/sub" }, "%-%-out: cannot write in")
    usage_error({ "export-chats", "--user", "jane", "--out", "/tmp", "--format", "xml" }, "argument for option")
    usage_error({ "export-chats", "--users", "/no/such/file", "--out", "/tmp" }, "cannot read the users file")
    usage_error({ "export-chats", "--user", "jane", "--out", "/tmp", "--poll-initial", "5", "--poll-max", "1" },
      "%-%-poll%-max must be at least")
    usage_error({ "export-chats", "--user", "jane", "--out", "/tmp", "--deadline=-1" }, "%-%-deadline must be")
    usage_error({ "export-chats", "--user", "jane", "--out", "/tmp", "--poll-initial", "0" }, "above 0")
    assert.equal("jane\n", wf.read(file))
    os.remove(file)
  end)

  it("times out a task that never becomes ready while the others finish, leaving no partial file", function()
    local dir = wf.tmpdir()
    local list = { users[1], users[2], slow_user, users[4] }
    local file = wf.write(os.tmpname(), table.concat(list, "\n") .. "\n")
    local started = os.time()
    local code, out, err = helpers.run({ "export-chats", "--users", file, "--out", dir, "--deadline", "1",
      "--poll-initial", "0.05", "--poll-max", "0.2", "--json" }, env)
    assert.equal(1, code, err)
    assert.is_true(os.time() - started < 20)
    local result = wf.decode(out)
    assert.same({ slow_user }, result.timed_out)
    assert.equal(3, result.exported)
    assert.matches('"failed":%[%]', out)
    local expected = { users[1] .. ".json", users[2] .. ".json", users[4] .. ".json" }
    table.sort(expected)
    assert.same(expected, wf.ls(dir))
    -- the summary table says the same
    code, out = helpers.run({ "export-chats", "--users", file, "--out", dir, "--deadline", "0.3",
      "--poll-initial", "0.05", "--quiet" }, env)
    assert.equal(1, code)
    assert.matches("exported 0 of 4 users", out)
    assert.matches("3 skipped", out)
    assert.matches("timed out: 1", out)
    assert.matches(slow_user, out, 1, true)
    os.remove(file)
    wf.rmdir(dir)
  end)

  it("keeps every file inside --out, whatever the username", function()
    local parent = wf.tmpdir()
    local dir = parent .. "/out"
    local code, out = helpers.run({ "export-chats", "--user", "../x", "--user", "..", "--user", users[7], "--out", dir,
      "--poll-initial", "0.02", "--json", "--quiet" }, env)
    assert.equal(1, code)
    local result = wf.decode(out)
    assert.equal(1, result.exported)
    assert.equal(2, #result.failed)
    assert.same({ "out" }, wf.ls(parent))
    assert.same({ users[7] .. ".json" }, wf.ls(dir))
    wf.rmdir(parent)
  end)

  it("skips users whose file exists on a rerun, and exports them again with --force", function()
    local dir = wf.tmpdir()
    -- what a run killed with kill -9 while writing leaves behind
    wf.write(dir .. "/." .. users[6] .. ".json.partial", '[{"type": "hum')
    local args = { "export-chats", "--user", users[5], "--user", users[6], "--out", dir, "--poll-initial", "0.02",
      "--json", "--quiet" }
    local code, out, err = helpers.run(args, env)
    assert.equal(0, code, err)
    assert.equal(2, wf.decode(out).exported)
    local expected = { users[5] .. ".json", users[6] .. ".json" }
    table.sort(expected)
    assert.same(expected, wf.ls(dir)) -- the partial file is gone
    local path = dir .. "/" .. users[5] .. ".json"
    wf.write(path, "kept\n")
    code, out = helpers.run(args, env)
    assert.equal(0, code)
    local result = wf.decode(out)
    assert.equal(0, result.exported)
    assert.equal(2, result.skipped)
    assert.equal("kept\n", wf.read(path))
    args[#args + 1] = "--force"
    code, out = helpers.run(args, env)
    assert.equal(0, code)
    assert.equal(2, wf.decode(out).exported)
    assert.is_table(wf.decode(wf.read(path)))
    assert.equal(2, #wf.ls(dir))
    wf.rmdir(dir)
  end)

  it("exports every user of the org with --all as CSV, with progress lines on stderr", function()
    local dir = wf.tmpdir()
    local exclude = wf.write(os.tmpname(), "# leave this one out\n" .. users[8] .. "\n")
    local code, out, err = helpers.run({ "export-chats", "--all", "--exclude", exclude, "--out", dir, "--format", "csv",
      "--poll-initial", "0.02", "--deadline", "1" }, env)
    assert.equal(1, code) -- the never-ready user times out
    assert.matches("exported 6 of 7 users to " .. dir, out, 1, true)
    assert.matches("export%-chats 7/7 users, 6 exported", err)
    assert.equal(6, #wf.ls(dir))
    assert.is_nil(wf.read(dir .. "/" .. users[8] .. ".csv"))
    os.remove(exclude)
    wf.rmdir(dir)
  end)

  it("stops on Ctrl-C with exit 130 and leaves only whole files", function()
    local sb2 = helpers.sandbox("--users", "30", "--seed", "13", "--latency", "20")
    finally(function() sb2.stop() end)
    local dir = wf.tmpdir()
    local job = wf.start({ "export-chats", "--all", "--out", dir, "--poll-initial", "0.05", "--concurrency", "2" },
      wf.env(sb2))
    assert.is_true(wf.until_true(function() return #wf.ls(dir) >= 2 end, 60))
    os.execute("kill -INT " .. job.pid)
    local code, _, err = wf.wait(job)
    assert.equal(130, code, err)
    assert.matches("rerun to export the rest", err)
    local names = wf.ls(dir)
    assert.is_true(#names < 30)
    for _, name in ipairs(names) do
      assert.matches("%.json$", name)
      assert.is_table(wf.decode(wf.read(dir .. "/" .. name)))
    end
    wf.rmdir(dir)
  end)

  it("finishes under --fail-rate 0.2 and a rerun exports what failed", function()
    local sb2 = helpers.sandbox("--users", "10", "--seed", "14", "--fail-rate", "0.2")
    finally(function() sb2.stop() end)
    local dir = wf.tmpdir()
    local runs, result = 0, nil
    repeat
      runs = runs + 1
      local code, out, err = helpers.run({ "export-chats", "--all", "--out", dir, "--poll-initial", "0.02",
        "--json", "--quiet" }, wf.env(sb2))
      if out ~= "" then -- the users listing itself may fail: then the next run tries again
        result = wf.decode(out)
        assert.equal((#result.failed > 0 or #result.timed_out > 0) and 1 or 0, code, err)
      else
        assert.equal(1, code, err)
        assert.matches("cannot list the users", err)
      end
    until (result and #result.failed == 0 and #result.timed_out == 0) or runs == 6
    assert.equal(10, #wf.ls(dir))
    for _, name in ipairs(wf.ls(dir)) do assert.is_table(wf.decode(wf.read(dir .. "/" .. name))) end
    wf.rmdir(dir)
  end)
end)

-- A route script under which the poll of each user named in `answers` is not ready once, then
-- answers that user's `body` (Content-Type `ctype`, JSON by default) byte for byte. A user's
-- `plan` says what the hits after the first do before that: "cut" (the body stops halfway, the
-- connection closes), "503"; `always` what every hit does once the plan is done. With no
-- answers, the poll is the sandbox's own, and `size` its export_size.
local function answers_script(answers, size)
  local rows = {}
  for user, a in pairs(answers) do
    local plan = {}
    for i, step in ipairs(a.plan or {}) do plan[i] = ("%q"):format(step) end
    rows[#rows + 1] = ("[%q] = { body = %q, ctype = %q, plan = { %s }, always = %q },"):format(user, a.body,
      a.ctype or "application/json", table.concat(plan, ", "), a.always or "")
  end
  return wf.script(([[
    local sandbox = ...
    sandbox.model.export_size = %s
    local answers = { %s }
    local hits = {}
    if next(answers) == nil then return end
    sandbox.route("/api/ai-mentor/orgs/{org}/users/{user_id}/downloads/tasks/{task_id}/", {
      GET = function(_, p)
        local a = answers[p.user_id]
        hits[p.task_id] = (hits[p.task_id] or 0) + 1
        local n = hits[p.task_id]
        if not a then return sandbox.respond.not_found("Task not found") end
        if n == 1 then return sandbox.respond.json(200, { state = "task_not_ready" }) end
        local step = a.plan[n - 1] or a.always
        local answer = { status = 200, body = a.body, headers = { ["Content-Type"] = a.ctype } }
        if step == "cut" then answer.truncate = #a.body // 2 end
        if step == "503" then answer = sandbox.respond.detail(503, "Service temporarily unavailable.") end
        return answer
      end,
    })
  ]]):format(tostring(size or "nil"), table.concat(rows, "\n")))
end

-- The first n usernames of a sandbox started with these arguments.
local function names_of(n, ...)
  local probe = helpers.sandbox(...)
  local c = wf.client(probe)
  local names = wf.usernames(c, n)
  c:close()
  probe.stop()
  return names
end

describe("exported files hold the server's bytes", function()
  local ARGS = { "--users", "16", "--seed", "21" }
  local BODIES = {
    "[]",
    '{"a":{},"b":[],"c":[{}],"d":{"e":[[],{}]}}',
    '[{"id":12345678901234567890,"big":-98765432109876543210}]',
    '[{"x":1e400,"y":-1e-400,"z":1E+2}]',
    '{"z":1,"a":2,"m":3,"a":4}',
    ' [ {"a" : 1 } ,\n\t{ } ]\r\n\n',
    '["\\u00e9","é","\\ud83d\\ude00","\\/"]',
  }
  local CSV = 'type,content\r\nhuman,"a,b"\r\nai,=1+1'
  local big = {}
  for i = 1, 5000 do big[i] = ('{"n":%d,"id":98765432109876543210}'):format(i) end
  local BIG = "[" .. table.concat(big, ",") .. "]" -- 200 KB: arrives in many pieces
  local sb, client, users, script

  setup(function()
    users = names_of(16, table.unpack(ARGS))
    local answers = {}
    for i, body in ipairs(BODIES) do answers[users[i]] = { body = body } end
    answers[users[8]] = { body = CSV, ctype = "text/csv" }
    answers[users[9]] = { body = BIG, plan = { "cut", "503", "cut" } }
    answers[users[10]] = { body = BIG, always = "cut" }
    answers[users[11]] = { body = "[1,2,}" }
    answers[users[12]] = { body = '[{"a":1}]', ctype = "text/plain" }
    answers[users[13]] = { body = "" }
    answers[users[14]] = { body = '[{"content":"x"}]' } -- JSON, where CSV is asked for
    script = answers_script(answers)
    sb = helpers.sandbox("--script", script, table.unpack(ARGS))
    client = wf.client(sb)
  end)

  teardown(function()
    client:close()
    sb.stop()
    os.remove(script)
  end)

  it("writes JSON as sent: [] and {} kept, 20-digit integers and 1e400 exact, key order and white space kept", function()
    local dir = wf.tmpdir()
    local list = { table.unpack(users, 1, #BODIES) }
    local result = assert(export.run(client, { users = list, out = dir, poll_initial = 0.01 }))
    assert.same({}, result.failed)
    assert.equal(#BODIES, result.exported)
    for i, body in ipairs(BODIES) do
      assert.equal(body, wf.read(dir .. "/" .. users[i] .. ".json"), users[i])
    end
    assert.equal(#BODIES, #wf.ls(dir)) -- no temporary file left
    wf.rmdir(dir)
  end)

  it("writes CSV as sent, and the command writes the same bytes", function()
    local dir = wf.tmpdir()
    local result = assert(export.run(client, { users = { users[8] }, out = dir, format = "csv", poll_initial = 0.01 }))
    assert.equal(1, result.exported)
    assert.equal(CSV, wf.read(dir .. "/" .. users[8] .. ".csv"))
    local code, out, err = helpers.run({ "export-chats", "--user", users[1], "--user", users[3], "--out", dir,
      "--poll-initial", "0.01", "--json", "--quiet" }, wf.env(sb))
    assert.equal(0, code, err)
    assert.equal(2, wf.decode(out).exported)
    assert.equal(BODIES[1], wf.read(dir .. "/" .. users[1] .. ".json"))
    assert.equal(BODIES[3], wf.read(dir .. "/" .. users[3] .. ".json"))
    wf.rmdir(dir)
  end)

  it("starts the file over when a download is retried (cut short, then a 503, then cut again)", function()
    local dir = wf.tmpdir()
    local result = assert(export.run(client, { users = { users[9] }, out = dir, poll_initial = 0.01 }))
    assert.same({}, result.failed)
    assert.equal(BIG, wf.read(dir .. "/" .. users[9] .. ".json"))
    assert.same({ users[9] .. ".json" }, wf.ls(dir))
    wf.rmdir(dir)
  end)

  it("fails what cannot be the file, says why, and leaves neither a file nor a temporary one", function()
    local dir = wf.tmpdir()
    local list = { users[10], users[11], users[12], users[13] }
    local result = assert(export.run(client, { users = list, out = dir, poll_initial = 0.01, deadline = 1 }))
    assert.equal(0, result.exported)
    assert.same({}, result.timed_out)
    local why = {}
    for _, f in ipairs(result.failed) do why[f.user] = f.error end
    -- cut short on every attempt of every poll until the deadline: failed, not "not ready in time"
    assert.matches("the last poll failed: Transferred a partial file", why[users[10]])
    assert.matches("not valid JSON", why[users[11]])
    assert.matches("byte 6", why[users[11]])
    assert.matches("the answer is not JSON %(Content%-Type: text/plain%)", why[users[12]])
    assert.matches("the answer is empty", why[users[13]])
    local csv = assert(export.run(client, { users = { users[14] }, out = dir, format = "csv", poll_initial = 0.01 }))
    assert.matches("CSV was asked for but the answer is JSON", csv.failed[1].error)
    assert.same({}, wf.ls(dir))
    wf.rmdir(dir)
  end)
end)

describe("a large export", function()
  it("streams to the file, within a max_response_bytes far below its size, the same bytes a download gives", function()
    local user = names_of(1, "--users", "2", "--seed", "22")[1]
    local script = answers_script({}, 3000000)
    local sb = helpers.sandbox("--users", "2", "--seed", "22", "--script", script)
    local dir = wf.tmpdir()
    local small = wf.client(sb, { max_response_bytes = 1000000 })
    local roomy = wf.client(sb, { max_response_bytes = 8000000 })
    finally(function()
      small:close()
      roomy:close()
      sb.stop()
      os.remove(script)
      wf.rmdir(dir)
    end)
    local result = assert(export.run(small, { users = { user }, out = dir, poll_initial = 0.01 }))
    assert.same({}, result.failed)
    local text = wf.read(dir .. "/" .. user .. ".json")
    assert.is_true(#text > 2900000 and #text <= 3000000, tostring(#text))
    -- the same answer fetched whole, in memory
    local task = assert(roomy:call(START, { user_id = user }))
    local path = ("/api/ai-mentor/orgs/main/users/%s/downloads/tasks/%s/"):format(user, task.task_id)
    local res
    repeat
      res = assert(roomy:request { path = path, decode = false })
    until not res.body:find('^{"state"')
    assert.equal(res.body, text)
    assert.is_true(require("iblai.core").json_check(text))
  end)
end)

describe("the --out directory", function()
  it("is not left behind, empty, by a run that wrote nothing in it", function()
    local sb = helpers.sandbox("--users", "2", "--api-key", "right")
    local parent = wf.tmpdir()
    finally(function()
      sb.stop()
      wf.rmdir(parent)
    end)
    local env = wf.env(sb)
    env.IBLAI_API_KEY = "wrong" -- the users listing fails at once (401)
    local code, _, err = helpers.run({ "export-chats", "--all", "--out", parent .. "/new/sub" }, env)
    assert.equal(1, code, err)
    assert.matches("cannot list the users", err)
    assert.matches("nothing was written, so " .. parent .. "/new/sub %(made by this run%) was removed", err)
    assert.same({}, wf.ls(parent))
    -- a directory that was there before stays
    assert(os.execute("mkdir " .. helpers.quote(parent .. "/kept")))
    code = helpers.run({ "export-chats", "--all", "--out", parent .. "/kept" }, env)
    assert.equal(1, code)
    assert.same({ "kept" }, wf.ls(parent))
  end)

  it("is removed by the module too when no user could be exported, and kept with a file in it", function()
    local sb = helpers.sandbox("--users", "2", "--seed", "23")
    local client = wf.client(sb)
    local user = wf.usernames(client, 1)[1]
    local parent = wf.tmpdir()
    finally(function()
      client:close()
      sb.stop()
      wf.rmdir(parent)
    end)
    local result = assert(export.run(client, { users = { "ghost" }, out = parent .. "/a/b", poll_initial = 0.01 }))
    assert.equal(1, #result.failed)
    assert.same({}, wf.ls(parent))
    result = assert(export.run(client, { users = { "ghost", user }, out = parent .. "/a/b", poll_initial = 0.01 }))
    assert.equal(1, result.exported)
    assert.same({ user .. ".json" }, wf.ls(parent .. "/a/b"))
  end)

  it("is written by one run at a time: a second is refused while the first holds it", function()
    local sb = helpers.sandbox("--users", "2", "--seed", "24")
    local client = wf.client(sb)
    local user = wf.usernames(client, 1)[1]
    local dir = wf.tmpdir()
    finally(function()
      client:close()
      sb.stop()
      wf.rmdir(dir)
    end)
    local held = assert(io.open(dir, "r")) -- as a run holds it
    assert(require("iblai.core").lock_file(held))
    local result, err = export.run(client, { users = { user }, out = dir, poll_initial = 0.01 })
    assert.is_nil(result)
    assert.matches("another export is writing in " .. dir, tostring(err), 1, true)
    local code, _, cerr = helpers.run({ "export-chats", "--user", user, "--out", dir }, wf.env(sb))
    assert.equal(1, code)
    assert.matches("another export is writing in", cerr)
    assert.same({}, wf.ls(dir))
    held:close()
    assert.equal(1, assert(export.run(client, { users = { user }, out = dir, poll_initial = 0.01 })).exported)
  end)
end)

describe("the workflow examples", function()
  it("run against the sandbox with iblai examples/X.lua", function()
    local sb = helpers.sandbox("--users", "5", "--seed", "15")
    local dir = wf.tmpdir()
    finally(function()
      sb.stop()
      wf.rmdir(dir)
    end)
    local code, out, err = helpers.run({ helpers.root .. "/examples/memory_reset.lua" }, wf.env(sb))
    assert.equal(0, code, err)
    assert.matches("would delete:", out)
    assert.equal(3, select(2, out:gsub("edX records 0, profile tags 0, all%-chats memory gone", "")))
    code, out, err = helpers.run({ helpers.root .. "/examples/export_chats.lua", dir }, wf.env(sb))
    assert.equal(0, code, err)
    assert.matches("exported 4, skipped 0", out)
    assert.matches("poll 3: ready", out)
    assert.equal(4, #wf.ls(dir))
  end)
end)
