-- core.sleep, core.isatty and core.mkdir: what the library asks of the system without a shell.
local core = require "iblai.core"
local files = require "iblai.workflows.files"
local progress = require "iblai.workflows.progress"
local tasks = require "iblai.tasks"
local helpers = require "support.helpers"

local function tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  return dir
end

local function is_dir(path)
  return os.execute("test -d " .. helpers.quote(path)) == true
end

describe("core.sleep", function()
  it("waits as long as it is asked on the monotonic clock, in slices", function()
    for _, seconds in ipairs { 0.05, 0.25 } do
      local t = core.now()
      core.sleep(seconds)
      local took = core.now() - t
      assert.is_true(took >= seconds, ("%.3f s for %.2f"):format(took, seconds))
    end
    local t = core.now()
    core.sleep(0)
    core.sleep(-5)
    assert.is_true(core.now() - t < 0.05)
  end)

  it("is what task polling sleeps with", function()
    local t = core.now()
    tasks.sleep(0.1)
    assert.is_true(core.now() - t >= 0.1)
  end)

  it("refuses what is not a finite number of seconds", function()
    for _, bad in ipairs { "x", 0 / 0, math.huge, {} } do
      assert.has_error(function() core.sleep(bad) end)
    end
    assert.has_error(function() core.sleep(0 / 0) end, "sleep expects a finite number of seconds")
  end)

  it("runs a hook that asks to run at the next instruction, between slices", function()
    local co = coroutine.create(function() core.sleep(5) end)
    local t = core.now()
    debug.sethook(co, function() debug.sethook(); error("stopped by the hook", 0) end, "", 1)
    local ok, err = coroutine.resume(co)
    assert.is_false(ok)
    assert.equal("stopped by the hook", err)
    assert.is_true(core.now() - t < 1)
  end)
end)

describe("core.isatty", function()
  it("tells a terminal from a file or a pipe, by descriptor or by file", function()
    local f = assert(io.tmpfile())
    assert.is_false(core.isatty(f))
    f:close()
    assert.has_error(function() core.isatty(f) end)
    assert.has_error(function() core.isatty("1") end)
    assert.has_error(function() core.isatty(-1) end)
    local code = [[
      package.cpath = "]] .. helpers.root .. [[/build/lib/lua/?.so;" .. package.cpath
      local core = require "iblai.core"
      io.stderr:write(tostring(core.isatty(1)), " ", tostring(core.isatty(io.stdout)), "\n")]]
    local script = os.tmpname()
    local w = assert(io.open(script, "w"))
    w:write(code)
    w:close()
    local function run(cmd)
      local p = assert(io.popen(cmd .. " 2>&1"))
      local s = p:read("a")
      p:close()
      return s
    end
    assert.matches("^true true", run("script -qec " .. helpers.quote("lua5.4 " .. script .. " 2>&1") .. " /dev/null"))
    assert.equal("false false\n", run("lua5.4 " .. script .. " 2>&1 | cat"))
    os.remove(script)
  end)

  it("is what the progress display asks", function()
    assert.equal(core.isatty(2), progress.isatty(2))
  end)
end)

describe("core.mkdir", function()
  it("makes a directory, or says why not as io.open does", function()
    local dir = tmpdir()
    assert.is_true(core.mkdir(dir))
    assert.is_true(is_dir(dir))
    local ok, msg, code = core.mkdir(dir)
    assert.is_nil(ok)
    assert.equal(dir .. ": File exists", msg)
    assert.is_number(code)
    ok, msg = core.mkdir(dir .. "/a/b")
    assert.is_nil(ok)
    assert.equal(dir .. "/a/b: No such file or directory", msg)
    os.remove(dir)
  end)

  it("makes the missing parents too, as mkdir -p, and accepts what exists", function()
    local dir = tmpdir()
    assert.is_true(core.mkdir(dir .. "/a//b/c/", true))
    assert.is_true(is_dir(dir .. "/a/b/c"))
    assert.is_true(core.mkdir(dir .. "/a/b", true))
    local f = assert(io.open(dir .. "/file", "w"))
    f:close()
    local ok, msg = core.mkdir(dir .. "/file", true)
    assert.is_nil(ok)
    assert.equal(dir .. "/file: Not a directory", msg)
    ok, msg = core.mkdir(dir .. "/file/x/y", true)
    assert.is_nil(ok)
    assert.equal(dir .. "/file/x/y: Not a directory", msg)
    assert.has_error(function() core.mkdir("") end)
    assert.has_error(function() core.mkdir("a\0b") end)
    os.execute("rm -rf " .. helpers.quote(dir))
  end)

  it("is how the workflows make their output directories", function()
    local dir = tmpdir()
    assert.is_true(files.writable_dir(dir .. "/out/chats"))
    assert.is_true(is_dir(dir .. "/out/chats"))
    local f = assert(io.open(dir .. "/plain", "w"))
    f:close()
    local ok, msg = files.writable_dir(dir .. "/plain/sub")
    assert.is_nil(ok)
    assert.equal("cannot write in " .. dir .. "/plain/sub: Not a directory", msg)
    os.execute("rm -rf " .. helpers.quote(dir))
  end)

  it("makes no directory outside the allowed ones in restricted mode (one level at a time inside)", function()
    local allowed, outside = tmpdir(), tmpdir()
    assert.is_true(core.mkdir(allowed))
    local script = allowed .. "/mk.lua"
    local f = assert(io.open(script, "w"))
    f:write(([[
      local core = require "iblai.core"
      print(core.mkdir(%q, true))
      print(core.mkdir(%q, true))]]):format(outside, allowed .. "/inside"))
    f:close()
    local code, out = helpers.run { "--restricted", "--allow-dir", allowed, script }
    assert.equal(0, code)
    assert.matches("^nil\t" .. outside:gsub("%p", "%%%0") .. ": outside the directories", out)
    assert.matches("\ntrue\n$", out)
    assert.is_false(is_dir(outside))
    assert.is_true(is_dir(allowed .. "/inside"))
    os.execute("rm -rf " .. helpers.quote(allowed))
  end)
end)

describe("the library", function()
  it("starts no process: no io.popen or os.execute outside the program's commands", function()
    local p = assert(io.popen("cd " .. helpers.quote(helpers.root) ..
      " && grep -rnE 'io\\.popen|os\\.execute' lua/iblai --include='*.lua' | grep -v '^lua/iblai/cli/'"))
    local found = p:read("a")
    p:close()
    assert.equal("", found)
  end)
end)
