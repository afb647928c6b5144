-- The iblai program's Lua allocator (src/pool.c), through spec/support/pool_check.c: blocks keep
-- their bytes through every growth, shrink and move; a Lua state runs on it; and memcheck still
-- sees an overrun or a use after free inside the pool's slabs.
local helpers = require "support.helpers"

local q = helpers.quote
local wrapper = os.getenv("IBLAI_TEST_WRAPPER") or ""

local built
local function checker()
  built = built or helpers.build_c("pool_check", "src/pool.c spec/support/pool_check.c $(pkg-config --libs lua5.4) -lm")
  return built
end

-- Runs the checker in a mode (under the test wrapper, or the given one); returns the exit code
-- and what it wrote to stderr.
local function run(mode, with)
  local err = os.tmpname()
  local ok, how, code = os.execute(("%s %s %s 2>%s"):format(with or wrapper, q(checker()), mode, q(err)))
  local f = assert(io.open(err))
  local text = f:read("a")
  f:close()
  os.remove(err)
  return ok and 0 or how == "exit" and code or -1, text
end

describe("the pool allocator", function()
  teardown(function()
    if built then os.execute("rm -rf " .. q(built:match("^(.*)/"))) end
  end)

  it("keeps every block's bytes through growth, shrinking and moves, across the size classes", function()
    local code, err = run("churn")
    assert.equal(0, code, err)
  end)

  it("runs a Lua state that churns tables, strings and closures", function()
    local code, err = run("lua")
    assert.equal(0, code, err)
  end)

  it("leaves memcheck able to see an overrun and a use after free inside its slabs", function()
    assert(os.execute("command -v valgrind >/dev/null 2>&1"), "valgrind is needed (tools/deps.sh test installs it)")
    local vg = "valgrind --quiet --error-exitcode=99"
    local code, err = run("overrun", vg)
    assert.equal(99, code, err)
    assert.matches("Invalid write of size", err)
    code, err = run("small-overrun", vg)
    assert.equal(99, code, err)
    assert.matches("Invalid write of size 1", err)
    code, err = run("use-after-free", vg)
    assert.equal(99, code, err)
    assert.matches("Invalid read of size 1", err)
  end)
end)
