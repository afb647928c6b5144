-- Restricted mode (iblai.h: iblai_restrict, iblai_load, iblai_run), through the test host and
-- through `iblai --restricted`: each removed function absent, files only in the allowed
-- directories, the memory cap, the time and instruction limits, a limit hit during requests.
local helpers = require "support.helpers"
local embed = require "support.embed"

local function ok_line(out, n)
  local line = embed.result(out, n)
  assert(line, "no result for script " .. n .. " in:\n" .. out)
  return line
end

local function assert_ok(out, n, want)
  local line = ok_line(out, n)
  assert.equal("ok" .. (want and (" " .. want) or ""), line)
end

local function assert_error(out, n, pattern)
  local line = ok_line(out, n)
  assert.matches("^error: ", line)
  assert.matches(pattern, line, 1, true)
end

local function tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. helpers.quote(dir)))
  return dir
end

describe("restricted mode", function()
  it("removes every name a script may not have, and keeps the rest", function()
    local code, out = embed.run({}, { [[
      local gone = { "os.execute", "os.exit", "os.tmpname", "os.setlocale", "io.popen", "io.tmpfile",
        "io.read", "io.input", "io.output", "io.stdin", "package", "rawset", "string.dump",
        "debug.getinfo", "debug.sethook", "debug.gethook", "debug.getregistry", "debug.getlocal",
        "debug.setlocal", "debug.getupvalue", "debug.setupvalue", "debug.upvaluejoin", "debug.setmetatable",
        "debug.getmetatable", "debug.setuservalue", "debug.debug", "debug.setcstacklimit" }
      local present = {}
      for _, name in ipairs(gone) do
        local v = _G
        for part in name:gmatch("[^.]+") do v = v and v[part] end
        if v ~= nil then present[#present + 1] = name end
      end
      assert(#present == 0, "still there: " .. table.concat(present, ", "))
      for _, name in ipairs { "print", "pairs", "pcall", "xpcall", "load", "require", "setmetatable", "getmetatable",
        "collectgarbage", "iblai" } do
        assert(_G[name], name .. " is missing")
      end
      assert(debug.traceback and os.time and os.clock and os.date and io.open and io.write and string.format)
      assert(_G._G == _G and iblai.version)
      return "clean"
    ]] })
    assert.equal(0, code)
    assert_ok(out, 1, "clean")
  end)

  it("takes them from the state itself, so the iblai modules cannot do them for a script", function()
    local dir = tmpdir()
    local code, out = embed.run({ "--dir", dir }, { ([[
      local ok, err = pcall(function() return (""):dump() end)   -- the strings' own table
      assert(not ok and err:find("string.dump is not available in restricted mode", 1, true), err)
      local files = require "iblai.workflows.files"
      local done, why = files.write_atomic("/tmp/iblai-restricted-escape.txt", "x")
      assert(not done and why:find("outside the directories", 1, true), why)
      assert(files.write_atomic(%q .. "/inside.txt", "fine"))
      local users, uerr = require("iblai.workflows.users").read("/etc/passwd")
      assert(not users and uerr:find("outside the directories", 1, true), uerr)
      users, uerr = require("iblai.workflows.users").read("-")   -- the host's standard input
      assert(not users and uerr:find("standard input is not available", 1, true), uerr)
      local slept = pcall(require("iblai.tasks").sleep, 0.01)  -- task polling sleeps without a program
      assert(slept)
      return "held"
    ]]):format(dir) })
    assert.equal(0, code)
    assert_ok(out, 1, "held")
    assert.is_nil(io.open("/tmp/iblai-restricted-escape.txt"))
    assert.equal("fine", io.open(dir .. "/inside.txt"):read("a"))
    os.execute("rm -rf " .. helpers.quote(dir))
  end)

  it("loads text chunks only, through load, loadfile and dofile", function()
    local dir = tmpdir()
    local binary = dir .. "/chunk.luac"
    local f = assert(io.open(binary, "wb"))
    f:write(string.dump(function() return "binary ran" end))
    f:close()
    local code, out = embed.run({ "--dir", dir }, { ([[
      local bytes = assert(io.open(%q, "rb")):read("a")
      local fn, err = load(bytes)
      assert(not fn and err:find("binary chunk", 1, true), err)
      fn, err = load(bytes, "x", "b")
      assert(not fn and err:find("binary chunk", 1, true), err)
      fn, err = loadfile(%q)
      assert(not fn and err:find("binary chunk", 1, true), err)
      local ok, derr = pcall(dofile, %q)
      assert(not ok and derr:find("binary chunk", 1, true), derr)
      assert(load("return 1 + 1")() == 2)
      assert(load("return x", "=c", "t", { x = 7 })() == 7)
      assert(load("return _G")() == _G)            -- loaded code gets the script's environment
      assert(load("return package")() == nil)
      return "text only"
    ]]):format(binary, binary, binary) })
    assert.equal(0, code)
    assert_ok(out, 1, "text only")
    os.execute("rm -rf " .. helpers.quote(dir))
  end)

  it("requires the iblai modules and the host's, nothing from disk and no native code", function()
    local dir = tmpdir()
    local f = assert(io.open(dir .. "/evil.lua", "w"))
    f:write("return 'loaded from disk'")
    f:close()
    local code, out = embed.run({ "--dir", dir }, { [[
      assert(require("iblai.workflows.memory_reset").run)
      assert(require("iblai") == iblai and require("_G") == _G)
      assert(require("os").execute == nil and require("debug").getinfo == nil)
      assert(require("host").add(1, 2) == 3)
      for _, name in ipairs { "iblai.cli", "iblai.cli.call", "iblai.sandbox", "iblai.sandbox.model", "iblai.httpd",
        "cjson", "lfs", "evil", "package", "io.popen" } do
        local ok, err = pcall(require, name)
        assert(not ok and err:find("is not available in restricted mode", 1, true), name .. ": " .. tostring(err))
      end
      return "curated"
    ]] })
    assert.equal(0, code)
    assert_ok(out, 1, "curated")
    os.execute("rm -rf " .. helpers.quote(dir))
  end)

  it("opens, creates, removes and renames files only in the allowed directories", function()
    local dir = tmpdir()
    local outside = tmpdir()
    assert(os.execute(("ln -s %s %s/link"):format(helpers.quote(outside), helpers.quote(dir))))
    assert(os.execute(("ln -s %s/made.txt %s/dangling"):format(helpers.quote(outside), helpers.quote(dir))))
    local code, out = embed.run({ "--dir", dir }, { ([[
      local dir, outside = %q, %q
      local f = assert(io.open(dir .. "/a.txt", "w"))
      f:write("one\ntwo\n")
      f:close()
      local lines = {}
      for l in io.lines(dir .. "/a.txt") do lines[#lines + 1] = l end
      assert(#lines == 2)
      assert(os.rename(dir .. "/a.txt", dir .. "/b.txt"))
      local function refused(fn, ...)
        local r, err = fn(...)
        assert(r == nil and err:find("outside the directories", 1, true), tostring(err))
      end
      refused(io.open, dir .. "/../" .. outside:match("[^/]+$") .. "/x.txt", "w")
      refused(io.open, dir .. "/link/x.txt", "w")           -- a symbolic link to outside
      local d, derr = io.open(dir .. "/dangling", "w")       -- a link to a file not made yet
      assert(d == nil and derr:find("a symbolic link to a file that does not exist", 1, true), derr)
      refused(io.open, "/etc/passwd")
      refused(os.rename, dir .. "/b.txt", outside .. "/b.txt")
      refused(os.remove, outside)
      refused(loadfile, "/etc/passwd")
      local r, err = io.open(dir .. "/b.txt\0/etc/passwd")
      assert(r == nil and err:find("NUL", 1, true), err)
      local ok, lerr = pcall(io.lines, "/etc/passwd")
      assert(not ok and lerr:find("outside the directories", 1, true))
      ok, lerr = pcall(io.lines)
      assert(not ok and lerr:find("standard input is not available", 1, true))
      assert(os.remove(dir .. "/b.txt"))
      local c, cerr = iblai.new { ca_file = "/etc/hostname" }        -- libcurl would read it
      assert(c == nil and cerr.kind == "config" and tostring(cerr):find("outside the directories", 1, true))
      return "confined"
    ]]):format(dir, outside) })
    assert.equal(0, code)
    assert_ok(out, 1, "confined")
    local leftover = io.open(outside .. "/x.txt")
    assert.is_nil(leftover)
    assert.is_nil(io.open(outside .. "/made.txt"))
    os.execute("rm -rf " .. helpers.quote(dir) .. " " .. helpers.quote(outside))
  end)

  it("reads only the environment variables the host allows", function()
    local code, out = embed.run({ "--env", "HOME" }, { [[
      assert(os.getenv("HOME") ~= nil)
      assert(os.getenv("PATH") == nil and os.getenv("IBLAI_API_KEY") == nil)
      return "filtered"
    ]] })
    assert.equal(0, code)
    assert_ok(out, 1, "filtered")
  end)

  it("allows no finalizer and hides the library's metatables", function()
    local code, out = embed.run({}, { [[
      local ok, err = pcall(setmetatable, {}, { __gc = function() while true do end end })
      assert(not ok and err:find("__gc metamethod is not available", 1, true), err)
      for _, v in ipairs { "", io.stdout, iblai.new {}, require("iblai.json").empty_array } do
        assert(getmetatable(v) == nil, tostring(v))
      end
      ok = pcall(function() iblai.Error.__gc = print end)
      assert(not ok, "the Error type took a finalizer")
      ok = pcall(function() require("iblai.core").Error.__gc = print end)
      assert(not ok)
      ok = pcall(function() iblai.Client.__gc = print end)
      assert(not ok, "the Client class took a finalizer")
      local mt = { __index = { x = 1 } }
      local t = setmetatable({}, mt)
      assert(getmetatable(t) == mt and t.x == 1)
      for _, opt in ipairs { "stop", "restart", "incremental", "generational", "setpause", "setstepmul" } do
        assert(not pcall(collectgarbage, opt), opt)
      end
      assert(collectgarbage("count") > 0 and collectgarbage() == 0 and collectgarbage("isrunning"))
      return "no finalizers"
    ]], "return #(iblai.new{}):operation('ai_mentor_orgs_users_artifacts_list').path > 0" })
    assert.equal(0, code)
    assert_ok(out, 1, "no finalizers")
    assert_ok(out, 2, "true")
  end)

  it("keeps xpcall and coroutine.wrap working as Lua's own", function()
    local code, out = embed.run({ "--max-seconds", "30" }, { [[
      local ok, a, b = xpcall(function(x, y) return x + y, "two" end, debug.traceback, 1, 2)
      assert(ok and a == 3 and b == "two")
      local caught
      ok, a = xpcall(error, function(m) caught = m return "handled: " .. m end, "bad", 0)
      assert(not ok and a == "handled: bad" and caught == "bad")
      local co = coroutine.wrap(function()   -- a yield across xpcall
        local r = select(2, xpcall(function() return coroutine.yield(1) + 1 end, print))
        coroutine.yield(r)
      end)
      assert(co() == 1 and co(41) == 42)
      co()
      ok, a = pcall(co)
      assert(not ok and a:find("cannot resume dead coroutine", 1, true), a)
      local f = coroutine.wrap(function()
        local x <close> = setmetatable({}, { __close = function() _G.closed = true end })
        error("boom")
      end)
      ok, a = pcall(f)
      assert(not ok and a:find("boom", 1, true) and closed, tostring(a))
      local t = coroutine.create(function() local y <close> = setmetatable({}, { __close = function() end }) coroutine.yield() end)
      coroutine.resume(t)
      assert(coroutine.close(t))
      return "as Lua's"
    ]] })
    assert.equal(0, code)
    assert_ok(out, 1, "as Lua's")
  end)

  it("stops an endless loop at the time limit however the script hides it, and runs the next", function()
    local loops = {
      "while true do end",
      "while true do pcall(function() while true do end end) end",
      "while true do xpcall(function() while true do end end, function() while true do end end) end",
      [[while true do coroutine.resume(coroutine.create(function()
          while true do pcall(function() while true do end end) end end)) end]],
      [[local f = coroutine.wrap(function()
          local x <close> = setmetatable({}, { __close = function() while true do end end })
          while true do end end)
        while true do pcall(f) end]],
      [[while true do pcall(function()
          local x <close> = setmetatable({}, { __close = function() while true do end end })
          while true do end end) end]],
      "local function f() return pcall(f) end while true do f() end",
      "while true do pcall(error, setmetatable({}, { __tostring = function() while true do end end })) end",
      "return 'alive'",
    }
    local code, out = embed.run({ "--max-seconds", "0.3" }, loops)
    assert.equal(0, code)
    for i = 1, #loops - 1 do assert_error(out, i, "iblai: time limit of 0.3 s exceeded") end
    assert_ok(out, #loops, "alive")
  end)

  it("stops a script at the instruction limit", function()
    local code, out = embed.run({ "--max-instructions", "200000" },
      { "local n = 0 while true do n = n + 1 end", "local n = 0 for i = 1, 1000 do n = n + i end return n" })
    assert.equal(0, code)
    assert_error(out, 1, "iblai: instruction limit of 200000 exceeded")
    assert_ok(out, 2, "500500")
  end)

  it("stops allocation bombs at the memory cap and gives the memory back for the next script", function()
    local bombs = {
      "local t = {} while true do t[#t + 1] = {} end",
      "local s = 'x' while true do s = s .. s end",
      "return #string.rep('x', 512 * 1024 * 1024)",
      "local t = {} while true do t[#t + 1] = coroutine.create(print) end",
      "local function f(n) return f(n + 1) + 1 end return f(1)",
      "big = {} while true do big[#big + 1] = ('y'):rep(1000) .. #big end", -- a global: freed with its script
      "local t = {} for i = 1, 1000 do t[i] = ('z'):rep(1000) .. i end return #t",
    }
    local code, out = embed.run({ "--max-memory", tostring(16 * 1024 * 1024) }, bombs)
    assert.equal(0, code)
    for i = 1, #bombs - 1 do assert_error(out, i, "iblai: memory limit of 16 MB exceeded") end
    assert_ok(out, #bombs, "1000")
  end)

  it("stops a script that catches every memory error at the time limit", function()
    local code, out = embed.run({ "--max-memory", tostring(16 * 1024 * 1024), "--max-seconds", "1" }, {
      "local t = {} while true do pcall(function() while true do t[#t + 1] = {} end end) end",
      "return 'alive'",
    })
    assert.equal(0, code)
    assert_error(out, 1, "iblai: time limit of 1 s exceeded")
    assert_ok(out, 2, "alive")
  end)

  describe("with requests in flight", function()
    local server
    setup(function() server = helpers.test_server() end)
    teardown(function() server.stop() end)

    -- The script after a stopped one: the host's client has nothing in flight and still answers.
    local STILL_USABLE = [[local c = shared.client
      assert(c.session:in_flight() == 0, "still in flight: " .. c.session:in_flight())
      return assert(c:request { path = "/echo" }).status]]

    it("cancels them when the time limit stops the script, even while it waits on one", function()
      local started = os.time()
      local code, out = embed.run({ "--max-seconds", "0.5" }, {
        [[shared.client = assert(iblai.new { base_url = base, retries = 0 })
          local reqs = {}
          for i = 1, 6 do reqs[i] = { path = "/delay", query = { s = 30 } } end
          local ok, err = pcall(shared.client.request_many, shared.client, reqs)
          return "caught " .. tostring(err) .. " and went on"]],
        STILL_USABLE,
      }, server.url)
      assert.equal(0, code)
      assert_error(out, 1, "iblai: time limit of 0.5 s exceeded")
      assert_ok(out, 2, "200")
      assert.is_true(os.time() - started < 25, "the waits were not cut short")
    end)

    it("leaves the host's client usable when the limit stops a request inside a coroutine", function()
      local code, out = embed.run({ "--max-seconds", "0.5" }, {
        [[shared.client = assert(iblai.new { base_url = base, retries = 0 })
          local co = coroutine.create(function() return shared.client:request { path = "/delay", query = { s = 30 } } end)
          coroutine.resume(co)
          return "not reached"]],
        STILL_USABLE,
      }, server.url)
      assert.equal(0, code)
      assert_error(out, 1, "iblai: time limit of 0.5 s exceeded")
      assert_ok(out, 2, "200")
    end)

    it("cancels a pager's prefetching when the script is stopped", function()
      local code, out = embed.run({ "--max-seconds", "0.5" }, {
        [[shared.client = assert(iblai.new { base_url = base, retries = 0, concurrency = 4 })
          local stream = shared.client.session:stream { concurrency = 4 }
          for i = 1, 4 do stream:add { path = "/delay", query = { s = 30 } } end
          shared.seen = shared.client.session:in_flight()
          while true do end]],
        [[return shared.seen .. " " .. shared.client.session:in_flight()]],
      }, server.url)
      assert.equal(0, code)
      assert_error(out, 1, "iblai: time limit of 0.5 s exceeded")
      assert_ok(out, 2, "4 0")
    end)

    it("leaves the session usable when the memory cap is hit inside the transfer loop", function()
      -- Each round leaves a little more room below the cap before sending requests with a log
      -- hook, so the cap is hit at every step of a request, the loop's log events included.
      local code, out = embed.run({ "--max-memory", tostring(8 * 1024 * 1024) }, { [[
        local c = assert(iblai.new { base_url = base, retries = 0, log = function() end })
        local reqs = {}
        for i = 1, 5 do reqs[i] = { path = "/echo" } end
        local failed, passed = 0, 0
        for room = 0, 200, 4 do
          local hog
          pcall(function() while true do hog = { hog } end end)
          for _ = 1, room do hog = hog[1] end
          collectgarbage()
          local ok, err = pcall(c.request_many, c, reqs, { concurrency = 5 })
          hog = nil
          collectgarbage()
          assert(ok or err == "not enough memory", tostring(err))
          assert(c.session:in_flight() == 0, "left in flight: " .. c.session:in_flight())
          assert(c:request { path = "/echo" }, "the session is not usable")
          if ok then passed = passed + 1 else failed = failed + 1 end
          if ok and failed > 0 and passed > 3 then break end
        end
        return failed > 0 and passed > 0
      ]] }, server.url)
      assert.equal(0, code)
      assert_ok(out, 1, "true")
    end)
  end)
end)

describe("iblai --restricted", function()
  local server
  setup(function() server = helpers.test_server() end)
  teardown(function() server.stop() end)

  local function script(source)
    return embed.file(source)
  end

  it("runs a script with arg, ... and a client made from the environment it cannot read", function()
    local path = script [[
      print(arg[0]:match("[^/]+$"), arg[1], select("#", ...), ...)
      assert(os.getenv("IBLAI_API_KEY") == nil and os.execute == nil)
      local echo = assert(client:request { path = "/echo" })
      print("client sends the key:", echo.body.headers.authorization == "Api-Token sekret")
      local own = assert(iblai.from_env { base_url = client.base_url })
      local bare = assert(own:request { path = "/echo" })
      print("from_env sees no key:", bare.body.headers.authorization == nil)
    ]]
    local code, out, err = helpers.run({ "--restricted", path, "one" },
      { IBLAI_BASE_URL = server.url, IBLAI_API_KEY = "sekret" })
    assert.equal(0, code, err)
    assert.matches(path:match("[^/]+$") .. "\tone\t1\tone", out, 1, true)
    assert.matches("client sends the key:\ttrue", out, 1, true)
    assert.matches("from_env sees no key:\ttrue", out, 1, true)
    os.remove(path)
  end)

  it("stops the script at its limits with exit 1 and the limit's name", function()
    local loop = script "while true do end"
    local code, _, err = helpers.run { "--restricted", "--max-seconds", "0.3", loop }
    assert.equal(1, code)
    assert.matches("^iblai: time limit of 0.3 s exceeded", err)
    local bomb = script "local t = {} while true do t[#t + 1] = ('x'):rep(100) .. #t end"
    code, _, err = helpers.run { "--restricted", "--max-memory", "20", bomb }
    assert.equal(1, code)
    assert.matches("^iblai: memory limit of 20 MB exceeded", err)
    os.remove(loop)
    os.remove(bomb)
  end)

  it("ends the process when the script is stuck in one C call past its time limit", function()
    local bomb = script [[print(("a"):rep(40):find(("a*"):rep(40) .. "b"))]] -- backtracks for ages
    local started = os.time()
    local code, out, err = helpers.run { "--restricted", "--max-seconds", "0.5", bomb }
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("^iblai: time limit of 0.5 s exceeded %(the script was stuck in a call no limit can stop%)", err)
    assert.is_true(os.time() - started < 20)
    os.remove(bomb)
  end)

  it("lets the script use only the directories given with --allow-dir", function()
    local dir = tmpdir()
    local path = script(([[
      assert(io.open(%q .. "/out.txt", "w")):write("written")
      assert(io.open("/tmp/iblai-restricted-cli.txt", "w") == nil)
    ]]):format(dir))
    local code, _, err = helpers.run { "--restricted", "--allow-dir", dir, path }
    assert.equal(0, code, err)
    assert.equal("written", io.open(dir .. "/out.txt"):read("a"))
    assert.is_nil(io.open("/tmp/iblai-restricted-cli.txt"))
    os.remove(path)
    os.execute("rm -rf " .. helpers.quote(dir))
  end)

  it("stops on Ctrl-C with exit 130, in a loop and in a wait on a request", function()
    for _, source in ipairs { "while true do pcall(function() while true do end end) end",
      ("pcall(client.request, client, { path = '/delay', query = { s = 30 } }) while true do end") } do
      local path = script(source)
      local started = os.time()
      local ok, _, code = os.execute(("IBLAI_BASE_URL=%s %s --restricted %s 2>/dev/null & pid=$!; sleep 0.7; "
        .. "kill -INT $pid; wait $pid"):format(server.url, helpers.quote(helpers.program), helpers.quote(path)))
      assert.is_nil(ok)
      assert.equal(130, code)
      assert.is_true(os.time() - started < 15, "the wait was not cut short")
      os.remove(path)
    end
  end)

  it("says how to use it, exit 2 for a usage error", function()
    local code, out = helpers.run { "--restricted", "--help" }
    assert.equal(0, code)
    assert.matches("--max-memory MB", out, 1, true)
    local _, usage = helpers.run { "--help" }
    assert.matches("iblai --restricted", usage, 1, true)
    for _, args in ipairs {
      { "--restricted" }, { "--restricted", "--max-memory", "lots", "x.lua" }, { "--restricted", "--max-seconds" },
      { "--restricted", "--max-seconds", "-1", "x.lua" }, { "--restricted", "--bogus", "x.lua" },
      { "--restricted", "--max-memory", "0.0000001", "x.lua" }, { "--restricted", "--max-memory", "1e300", "x.lua" },
    } do
      local c, _, err = helpers.run(args)
      assert.equal(2, c, table.concat(args, " "))
      assert.matches("usage: iblai --restricted", err, 1, true)
    end
    local c, _, err = helpers.run { "--restricted", "/no/such/script.lua" }
    assert.equal(1, c)
    assert.matches("cannot read /no/such/script.lua", err, 1, true)
  end)
end)
