-- The test host of the embedding API (spec/support/embed_host.c): built once against
-- build/lib/libiblai.a, run with scripts written to temporary files. Under `make test`'s valgrind
-- pass it runs under IBLAI_TEST_WRAPPER too, and valgrind's exit code fails the spec.
local helpers = require "support.helpers"

local M = {}

local q = helpers.quote
local wrapper = os.getenv("IBLAI_TEST_WRAPPER") or ""
local built

--- The path of the built host.
function M.host()
  built = built or helpers.build_c("embed_host",
    "spec/support/embed_host.c build/lib/libiblai.a $(pkg-config --libs libcurl lua5.4) -lm -lpthread")
  return built
end

--- Writes text to a new temporary file; returns its path.
function M.file(text, suffix)
  local path = os.tmpname() .. (suffix or ".lua")
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

local function slurp(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  os.remove(path)
  return s
end

--- Runs the host: options (a list), script sources (a list of strings), and the base URL the
-- scripts see as `base`. Returns the exit code, stdout, stderr.
function M.run(options, scripts, base)
  local parts = { "IBLAI_TEST_BASE=" .. q(base or "http://127.0.0.1:1"), "timeout 120", wrapper, q(M.host()) }
  for _, o in ipairs(options or {}) do parts[#parts + 1] = q(o) end
  local paths = {}
  for i, source in ipairs(scripts) do
    paths[i] = M.file(source)
    parts[#parts + 1] = q(paths[i])
  end
  local out, err = os.tmpname(), os.tmpname()
  local ok, _, code = os.execute(table.concat(parts, " ") .. " >" .. out .. " 2>" .. err)
  for _, p in ipairs(paths) do os.remove(p) end
  return ok and 0 or code, slurp(out), slurp(err)
end

--- The output line of script n ("ok ..." or "error: ..."), or nil.
function M.result(out, n)
  return out:match("\nscript " .. n .. " ([^\n]*)") or out:match("^script " .. n .. " ([^\n]*)")
end

return M
