-- Ctrl-C under plain lua5.4 (its own SIGINT handler, no iblai program): a script waiting on a
-- request, call_many, an each walk or a task wait stops at once with lua5.4's "interrupted!",
-- and releases everything (under IBLAI_TEST_WRAPPER, valgrind checks the child too).
local helpers = require "support.helpers"

local wrapper = os.getenv("IBLAI_TEST_WRAPPER") or ""
local BOUND = wrapper == "" and 0.5 or 10 -- seconds from SIGINT to exit; the waits are 20 s or more

local function write_script(body)
  local path = os.tmpname() .. ".lua"
  local f = assert(io.open(path, "w"))
  f:write(([[
package.path = %q .. "/lua/?.lua;" .. %q .. "/lua/?/init.lua;" .. package.path
package.cpath = %q .. "/build/lib/lua/?.so;" .. package.cpath
local iblai = require "iblai"
local function ready() io.stderr:write("ready\n"); io.stderr:flush() end
]]):format(helpers.root, helpers.root, helpers.root))
  f:write(body)
  f:close()
  return path
end

-- Runs `lua5.4 script` until it says "ready" on stderr, waits a little longer (so it is deep in
-- its wait), sends SIGINT, and returns the exit code, the seconds the child took to end after
-- the signal, its stdout and its stderr.
local function interrupt(script)
  local out, err = os.tmpname(), os.tmpname()
  local sh = ([[
%s lua5.4 %s >%s 2>%s & pid=$!
n=0; while ! grep -q '^ready$' %s && kill -0 $pid 2>/dev/null && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done
sleep 0.3
start=$(date +%%s%%N); kill -INT $pid; wait $pid; rc=$?; stop=$(date +%%s%%N)
echo $rc $(( (stop - start) / 1000000 ))]]):format(wrapper, helpers.quote(script), out, err, err)
  local pipe = assert(io.popen(sh, "r"))
  local rc, ms = pipe:read("a"):match("(%d+) (%d+)")
  pipe:close()
  local function slurp(p)
    local f = assert(io.open(p))
    local s = f:read("a")
    f:close()
    os.remove(p)
    return s
  end
  os.remove(script)
  return tonumber(rc), tonumber(ms) / 1000, slurp(out), slurp(err)
end

local function assert_interrupted(rc, seconds, out, err)
  assert.matches("ready\nlua5.4: interrupted!\n", err, 1, true)
  assert.equal(1, rc, err) -- valgrind's 99 would mean an error or a leak
  assert.is_true(seconds < BOUND, ("it took %.3f s to stop"):format(seconds))
  assert.equal("", out)
end

describe("Ctrl-C under plain lua5.4", function()
  local server, slow, sandbox
  setup(function()
    server = helpers.test_server()
    slow = helpers.sandbox("--latency", "20000")
    sandbox = helpers.sandbox()
  end)
  teardown(function()
    server.stop()
    slow.stop()
    sandbox.stop()
  end)

  local function client_for(url)
    return ("local c = assert(iblai.new { base_url = %q, api_key = 'k', org = 'main', username = 'u1', timeout = 60 })\n")
      :format(url)
  end

  it("stops a request", function()
    assert_interrupted(interrupt(write_script(client_for(server.url) .. [[
      ready()
      c:request { path = "/delay", query = { s = 20 } }
      print("not reached")
    ]])))
  end)

  it("stops call_many", function()
    assert_interrupted(interrupt(write_script(client_for(slow.url) .. [[
      local calls = {}
      for i = 1, 6 do calls[i] = { "ai_mentor_orgs_users_artifacts_retrieve", { id = i } } end
      ready()
      c:call_many(calls, { concurrency = 3 })
      print("not reached")
    ]])))
  end)

  it("stops an each walk, and a walk in a coroutine", function()
    assert_interrupted(interrupt(write_script(client_for(slow.url) .. [[
      ready()
      for _ in c:each("ai_mentor_orgs_users_artifacts_list", { page_size = 2 }) do print("not reached") end
    ]])))
    assert_interrupted(interrupt(write_script(client_for(slow.url) .. [[
      local walk = coroutine.wrap(function()
        for item in c:each("ai_mentor_orgs_users_artifacts_list", { page_size = 2 }) do coroutine.yield(item) end
      end)
      ready()
      walk()
      print("not reached")
    ]])))
  end)

  it("stops a task wait between polls, and a sleep", function()
    assert_interrupted(interrupt(write_script(client_for(sandbox.url) .. [[
      c:wait_task("core_platform_users_retrieve", { page_size = 1 }, {
        interval = 30, max_interval = 30, ready = function() return false end, on_poll = ready })
      print("not reached")
    ]])))
    assert_interrupted(interrupt(write_script([[
      ready()
      require("iblai.core").sleep(30)
      print("not reached")
    ]])))
  end)

  it("leaves a client that caught it usable, with nothing in flight", function()
    local rc, seconds, out, err = interrupt(write_script(client_for(server.url) .. [[
      ready()
      local ok, e = pcall(c.request, c, { path = "/delay", query = { s = 20 } })
      print(ok, e, c.session:in_flight())
      local res = assert(c:request { path = "/echo" })
      print(res.status, c.session:in_flight())
    ]]))
    assert.equal(0, rc, err)
    assert.is_true(seconds < BOUND, ("it took %.3f s to stop"):format(seconds))
    assert.equal("false\tinterrupted!\t0\n200\t0\n", out)
  end)
end)
