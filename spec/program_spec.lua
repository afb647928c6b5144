-- The iblai program: scripts, -e, arg, tracebacks, exit codes, Ctrl-C, no files needed on disk.
local helpers = require "support.helpers"

local function write_script(source)
  local path = os.tmpname() .. ".lua"
  local f = assert(io.open(path, "w"))
  f:write(source)
  f:close()
  return path
end

describe("the iblai program", function()
  it("runs a script with arg and ... set", function()
    local script = write_script [[
      print(arg[0]:match("[^/]+$"), arg[1], arg[2], select("#", ...), ...)
      print(iblai.version, require("iblai.core").version)
    ]]
    local code, out = helpers.run { script, "a", "b c" }
    assert.equal(0, code)
    local name = script:match("[^/]+$")
    assert.matches(name .. "\ta\tb c\t2\ta\tb c", out, 1, true)
    os.remove(script)
  end)

  it("runs code given with -e", function()
    local code, out = helpers.run { "-e", "print(1 + 1)" }
    assert.equal(0, code)
    assert.equal("2\n", out)
  end)

  it("prints errors with a traceback and exits 1", function()
    local script = write_script "local function f() error('boom') end\nf()\n"
    local code, out, err = helpers.run { script }
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("boom", err)
    assert.matches("stack traceback", err)
    os.remove(script)
  end)

  it("prints Error objects through their __tostring", function()
    local code, _, err = helpers.run { "-e", "local c = iblai.new{base_url='http://127.0.0.1:1', retries=0}; " ..
      "error(select(2, c:request{path='/x'}))" }
    assert.equal(1, code)
    assert.matches("^iblai: Couldn't connect", err)
  end)

  it("exits 2 on a usage error and 0 on --help", function()
    local code, _, err = helpers.run { "no-such-command" }
    assert.equal(2, code)
    assert.matches("unknown command", err)
    code = helpers.run { "--help" }
    assert.equal(0, code)
    local out
    code, out = helpers.run { "--version" }
    assert.equal(0, code)
    assert.matches("^iblai %S+ %(ibl%.ai Data Manager API 4%.90%.4", out)
  end)

  it("finds every iblai module from inside the binary, from any directory", function()
    local code, out = helpers.run { "-e",
      "package.path = ''; package.cpath = ''; require 'iblai'; require 'iblai.errors'; " ..
      "require 'iblai.httpd'; print(package.searchpath('iblai', package.path))" }
    assert.equal(0, code)
    assert.matches("^nil", out)
  end)

  it("stops a script waiting on a request when interrupted", function()
    local server = helpers.test_server()
    local script = write_script(([[
      local c = assert(iblai.new{ base_url = %q, timeout = 30 })
      io.stderr:write("waiting\n")
      c:request{ path = "/delay", query = { s = 20 } }
      print("not reached")
    ]]):format(server.url))
    local err = os.tmpname()
    local pidfile = os.tmpname()
    local started = os.time()
    os.execute(("%s %s 2>%s & echo $! > %s; sleep 0.7; kill -INT $(cat %s); wait $(cat %s)"):format(
      helpers.quote(helpers.program), helpers.quote(script), err, pidfile, pidfile, pidfile))
    local f = assert(io.open(err))
    local text = f:read("a")
    f:close()
    assert.matches("interrupted", text)
    assert.is_true(os.time() - started < 15)
    server.stop()
    os.remove(script)
    os.remove(err)
    os.remove(pidfile)
  end)

  it("masks the key in verbose output", function()
    local server = helpers.test_server()
    local code, _, err = helpers.run { "-e", ("local c = iblai.new{base_url=%q, api_key='VERY-SECRET', verbose=true}; " ..
      "assert(c:request{path='/echo'})"):format(server.url) }
    server.stop()
    assert.equal(0, code)
    assert.matches("Authorization: [redacted]", err, 1, true)
    assert.is_nil(err:find("VERY-SECRET", 1, true))
  end)
end)

describe("iblai call and iblai ops", function()
  local sb, env

  setup(function()
    sb = helpers.sandbox("--users", "12")
    local _, out = helpers.run({ "call", "core_platform_users_retrieve", "page_size=1" },
      { IBLAI_BASE_URL = sb.url, IBLAI_API_KEY = "k" })
    local admin = out:match('"username":"([^"]+)"')
    env = { IBLAI_BASE_URL = sb.url, IBLAI_API_KEY = "k", IBLAI_ORG = "main", IBLAI_USERNAME = admin }
  end)

  teardown(function()
    sb.stop()
  end)

  it("calls an operation with name=value parameters and prints JSON", function()
    local code, out = helpers.run({ "call", "core_platform_users_retrieve", "page_size=3" }, env)
    assert.equal(0, code)
    local body = require("iblai.json").decode(out)
    assert.equal(12, body.count)
    assert.equal(3, #body.results)
  end)

  it("walks every page with --paginate, one item per line", function()
    local code, out = helpers.run({ "call", "core_platform_users_retrieve", "page_size=5", "--paginate" }, env)
    assert.equal(0, code)
    local n = 0
    for line in out:gmatch("[^\n]+") do
      assert.matches('^{.*"username"', line)
      n = n + 1
    end
    assert.equal(12, n)
  end)

  it("takes a body as JSON or @file", function()
    local file = os.tmpname()
    local f = assert(io.open(file, "w"))
    f:write('{"tag": "goal", "detail": "from a file"}')
    f:close()
    local code, out = helpers.run({ "call", "ai_mentor_orgs_users_ai_user_profile_memory_create", "--body", "@" .. file }, env)
    os.remove(file)
    assert.equal(0, code)
    assert.matches('"detail":"from a file"', out, 1, true)
  end)

  it("exits 1 with the error on stderr when the call fails, 2 on usage errors", function()
    local code, out, err = helpers.run({ "call", "ai_mentor_orgs_users_artifacts_retrieve", "id=999999" }, env)
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("HTTP 404", err)
    -- a mistyped value is refused before sending, like any other usage error
    code, out, err = helpers.run({ "call", "ai_mentor_orgs_users_artifacts_list", "page_size=x" }, env)
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("must be an integer", err)
    local _
    code, _, err = helpers.run({ "call", "ai_mentor_orgs_users_artifact_list" }, env)
    assert.equal(2, code)
    assert.matches("did you mean", err)
    code = helpers.run({ "call" }, env)
    assert.equal(2, code)
  end)

  it("lists operations matching a pattern, and describes one", function()
    local code, out = helpers.run { "ops", "edx-memory" }
    assert.equal(0, code)
    assert.matches("ai_mentor_orgs_users_edx_memory_list", out)
    code, out = helpers.run { "ops", "ai_mentor_orgs_users_artifacts_list" }
    assert.equal(0, code)
    assert.matches("query page_size%s+integer", out)
    assert.matches("pages: drf_page", out)
    code = helpers.run { "ops", "no-such-thing-anywhere" }
    assert.equal(1, code)
  end)
end)

describe("iblai call when things go wrong", function()
  local sb, env

  setup(function()
    sb = helpers.sandbox("--users", "300", "--latency", "40")
    env = { IBLAI_BASE_URL = sb.url, IBLAI_API_KEY = "k", IBLAI_ORG = "main", IBLAI_USERNAME = "u" }
  end)

  teardown(function()
    sb.stop()
  end)

  local function shell(cmd)
    local vars = {}
    for k, v in pairs(env) do vars[#vars + 1] = "export " .. k .. "=" .. helpers.quote(v) .. "; " end
    local err = os.tmpname()
    local ok, _, code = os.execute(table.concat(vars) .. "{ " .. cmd .. "; } 2>" .. err)
    local f = assert(io.open(err))
    local text = f:read("a")
    f:close()
    os.remove(err)
    return ok and 0 or code, text
  end

  it("exits 1 with one line when the output cannot be written", function()
    local prog = helpers.quote(helpers.program)
    for _, extra in ipairs { "", " --paginate" } do
      local code, err = shell(prog .. " call core_platform_users_retrieve page_size=2" .. extra .. " >/dev/full")
      assert.equal(1, code, extra)
      assert.matches("^iblai call: could not write the output: [^\n]+\n$", err)
    end
    -- a closed stdout: nothing else (curl's sockets) may take its place and swallow the output
    for _, extra in ipairs { "", " --paginate" } do
      local code, err = shell(prog .. " call core_platform_users_retrieve page_size=2" .. extra .. " >&-")
      assert.equal(1, code, extra)
      assert.matches("^iblai call: could not write the output: [^\n]+\n$", err)
    end
    -- a closed stdin is told as such
    local scode, serr = shell(prog .. " post /api/anything/ --body @- <&-")
    assert.equal(2, scode)
    assert.matches("--body @- cannot read standard input: Bad file descriptor", serr, 1, true)
    -- what print, io.write and the help let pass is caught at exit
    for _, cmd in ipairs { " -e 'print(1)' >&-", " -e 'io.write(1)' >/dev/full", " --help >/dev/full",
      " help call >&-" } do
      local code, err = shell(prog .. cmd)
      assert.equal(1, code, cmd)
      assert.matches("^iblai: could not write the output: [^\n]+\n$", err)
    end
    -- the reason is the write's, not an older one left in errno
    local wcode, werr = shell(prog .. [[ -e 'io.stdout:setvbuf("no") io.write("x") io.open("/nonexistent")' >/dev/full]])
    assert.equal(1, wcode)
    assert.not_matches("No such file", werr, 1, true)
    -- a closed pipe with SIGPIPE ignored: the walk stops at the first failed write
    local status = os.tmpname()
    local _, err = shell("trap '' PIPE; { " .. prog .. " call core_platform_users_retrieve page_size=2 --paginate; " ..
      "echo $? > " .. status .. "; } | true")
    local f = assert(io.open(status))
    local code = tonumber(f:read("l"))
    f:close()
    os.remove(status)
    assert.equal(1, code)
    assert.matches("could not write the output", err)
  end)

  it("exits 130 when Ctrl-C stops a walk", function()
    local code, err = shell("sh -c " .. helpers.quote(helpers.quote(helpers.program) ..
      " call core_platform_users_retrieve page_size=1 --paginate >/dev/null & pid=$!; sleep 0.6; kill -INT $pid; wait $pid"))
    assert.equal(130, code)
    assert.matches("interrupted", err)
    assert.not_matches("traceback", err)
  end)

  it("exits 2 with one line for --paginate on an operation without pages", function()
    local code, _, err = helpers.run({ "call", "ai_mentor_orgs_users_artifacts_retrieve", "id=1", "--paginate" }, env)
    assert.equal(2, code)
    assert.matches("^iblai call: [^\n]+without %-%-paginate\n$", err)
  end)
end)
