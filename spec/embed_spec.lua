-- The embedding API (iblai.h) through the test host spec/support/embed_host.c: one state running
-- script after script, the host's functions and values, the log callback, bad input.
local helpers = require "support.helpers"
local embed = require "support.embed"

-- Under valgrind (IBLAI_SLOW) filling memory takes long: a time limit long enough for that.
local SECONDS = os.getenv("IBLAI_SLOW") and "20" or "2"

local function line(out, n)
  return embed.result(out, n) or error("no result for script " .. n .. " in:\n" .. out)
end

describe("the embedding API", function()
  it("runs the next script in the same state after each way a script can end", function()
    local scripts = {
      "return 1 + 1",
      "error('plain failure')",
      "error(setmetatable({}, { __tostring = function() return 'an error object' end }))",
      "os.execute('true')",
      "local t = {} while true do t[#t + 1] = ('x'):rep(1 << 20) .. #t end",
      "while true do end",
      "return host.add(2, 3)",
    }
    local code, out = embed.run({ "--max-memory", tostring(24 * 1024 * 1024), "--max-seconds", SECONDS }, scripts)
    assert.equal(0, code)
    assert.equal("ok 2", line(out, 1))
    assert.matches("plain failure", line(out, 2), 1, true)
    assert.equal("error: an error object", line(out, 3))
    assert.matches("attempt to call a nil value (field 'execute')", line(out, 4), 1, true)
    assert.matches("iblai: memory limit of 24 MB exceeded", line(out, 5), 1, true)
    assert.matches("iblai: time limit of " .. SECONDS .. " s exceeded", line(out, 6), 1, true)
    assert.equal("ok 5", line(out, 7))
  end)

  it("gives each script a fresh environment and its own copy of the host's tables", function()
    local code, out = embed.run({}, {
      "leftover = 'from script 1'; host.add = nil; string.upper = nil; shared.note = 'kept'; return host.calls()",
      "return tostring(leftover) .. ' ' .. host.add(1, 1) .. ' ' .. ('a'):upper() .. string.upper('b') .. ' ' .. shared.note",
      "return host.calls()",
    })
    assert.equal(0, code)
    assert.equal("ok 0", line(out, 1))
    assert.equal("ok nil 2 AB kept", line(out, 2))
    assert.equal("ok 1", line(out, 3)) -- the functions' data (ud) is the host's, shared
  end)

  it("reports a host function's error, a syntax error and a traceback", function()
    local code, out = embed.run({ "--traceback" }, {
      "local function inner() host.fail('bad input') end\ninner()",
      "return (",
    })
    assert.equal(0, code)
    assert.matches("host says: bad input", out, 1, true)
    assert.matches("stack traceback:", out, 1, true)
    assert.matches("in local 'inner'", out, 1, true)
    assert.matches("script 2 error: .*unexpected symbol near <eof>", out)
  end)

  it("runs unrestricted states too: iblai_load and iblai_run are a protected call with a traceback", function()
    local code, out = embed.run({ "--plain" }, {
      "return type(os.execute) .. ' ' .. type(debug.getinfo) .. ' ' .. host.add(1, 2) .. ' ' .. base .. ' ' .. tostring(iblai)",
      "x = 1 return require('host') == host",
      "return x",
    })
    assert.equal(0, code)
    assert.equal("ok function function 3 http://127.0.0.1:1 nil", line(out, 1))
    assert.equal("ok true", line(out, 2))
    assert.equal("ok 1", line(out, 3))
  end)

  it("answers NULL arguments with an error status, never a crash", function()
    local code, out = embed.run({ "--null" }, { "return 'after'" })
    assert.equal(0, code)
    assert.matches("^null ok\n", out)
    assert.equal("ok after", line(out, 1))
  end)

  it("refuses a memory cap the state is already over", function()
    local code, out = embed.run({ "--max-memory", "50000" }, { "return 1" })
    assert.equal(1, code)
    assert.matches("restrict error: iblai_restrict: max_memory (50000 bytes) is less than the state already holds", out,
      1, true)
  end)

  it("refuses an allowed directory that does not exist", function()
    local code, out = embed.run({ "--dir", "/no/such/dir" }, { "return 1" })
    assert.equal(1, code)
    assert.matches("restrict error: allowed directory '/no/such/dir'", out, 1, true)
  end)

  describe("with a server", function()
    local server
    setup(function() server = helpers.test_server() end)
    teardown(function() server.stop() end)

    it("sends every request event to the host's log callback, never the key", function()
      for _, mode in ipairs { "--plain", "--max-seconds" } do
        local options = mode == "--plain" and { "--plain", "--log" } or { "--log", "--max-seconds", "30" }
        local code, out = embed.run(options, { [[
          local iblai = require "iblai"
          local heard = 0
          local c = assert(iblai.new { base_url = base, api_key = "sekret-key", backoff_base = 0.01,
            log = function(e) heard = heard + 1 end })
          assert(c:request { path = "/seq", query = { key = "]] .. mode .. [[", codes = "503,200" } })
          assert(c:request { path = "/redirect", query = { to = "/echo" } })
          return heard
        ]] }, server.url)
        assert.equal(0, code)
        assert.equal("ok 6", line(out, 1)) -- the script's own log hears them as well
        assert.matches("log response GET 503 attempt=1 url=" .. server.url .. "/seq", out, 1, true)
        assert.matches("log retry GET 503 attempt=1 url=" .. server.url .. "/seq.- reason=HTTP 503", out)
        assert.matches("log response GET 200 attempt=2", out, 1, true)
        assert.matches("log redirect GET 302", out, 1, true)
        assert.not_matches("sekret", out, 1, true)
      end
    end)

    it("hears the sessions a script makes without options, or hiding log behind an __index", function()
      local code, out = embed.run({ "--log" }, { [[
        local core = require "iblai.core"
        assert(core.session():request { url = base .. "/echo?from=bare" })
        local hidden = setmetatable({ base_url = base }, { __index = { log = true } })
        assert(core.session(hidden):request { path = "/echo?from=hidden" })
        return "sent"
      ]] }, server.url)
      assert.equal(0, code)
      assert.equal("ok sent", line(out, 1))
      assert.matches("log response GET 200 attempt=1 url=" .. server.url .. "/echo?from=bare", out, 1, true)
      assert.matches("log response GET 200 attempt=1 url=" .. server.url .. "/echo?from=hidden", out, 1, true)
    end)

    it("closes a state with clients, requests and pagers still open", function()
      local code, out = embed.run({}, { [[
        shared.clients = {}
        for i = 1, 3 do
          local c = assert(require("iblai").new { base_url = base, retries = 0 })
          shared.clients[i] = c
          local s = c.session:stream { concurrency = 2 }
          s:add { path = "/delay", query = { s = 5 } }
          s:add { path = "/echo" }
          shared[#shared + 1] = s
        end
        return #shared
      ]] }, server.url)
      assert.equal(0, code) -- and, in the valgrind pass, no leak
      assert.equal("ok 3", line(out, 1))
    end)
  end)
end)
