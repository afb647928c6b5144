-- Helpers for specs: start and stop server processes on 127.0.0.1, run the iblai program.
local M = {}

M.root = os.getenv("IBLAI_ROOT") or "."
M.program = M.root .. "/build/bin/iblai"
-- IBLAI_TEST_WRAPPER runs the servers under a tool as well (valgrind in `make test`).
local wrapper = os.getenv("IBLAI_TEST_WRAPPER") or ""

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.quote = shell_quote

--- Starts `iblai ARGS...` (a server script or `sandbox`), which prints "port N pid P" once listening.
function M.start_server(script, ...)
  local parts = { "exec", wrapper, shell_quote(M.program), shell_quote(script) }
  for _, a in ipairs { ... } do parts[#parts + 1] = shell_quote(a) end
  local pipe = assert(io.popen(table.concat(parts, " "), "r"))
  local line = pipe:read("l")
  local port, pid = (line or ""):match("port (%d+) pid (%d+)")
  assert(port, "server did not start: " .. tostring(line))
  local server = { port = tonumber(port), pid = tonumber(pid), pipe = pipe }
  server.url = "http://127.0.0.1:" .. port
  -- Waits for the server to end; a non-zero exit (valgrind's 99) fails the spec.
  function server.wait()
    local _, how, code = server.pipe:close()
    assert(how == "exit" and code == 0, ("server %s ended by %s %s"):format(script, how, code))
  end
  -- SIGTERM lets the server close cleanly.
  function server.stop()
    os.execute("kill -TERM " .. server.pid .. " 2>/dev/null")
    server.wait()
  end
  return server
end

function M.test_server()
  return M.start_server(M.root .. "/spec/support/server.lua")
end

M.TODAY = "2026-11-24"

--- Starts `iblai sandbox` with a fixed day so its data is the same on every run.
function M.sandbox(...)
  return M.start_server("sandbox", "--quiet", "--today", M.TODAY, ...)
end

--- Runs the iblai program; returns exit code, stdout, stderr.
function M.run(args, env)
  local out, err = os.tmpname(), os.tmpname()
  local cmd = {}
  for k, v in pairs(env or {}) do cmd[#cmd + 1] = k .. "=" .. shell_quote(v) end
  cmd[#cmd + 1] = shell_quote(M.program)
  for _, a in ipairs(args) do cmd[#cmd + 1] = shell_quote(a) end
  local ok, _, code = os.execute(table.concat(cmd, " ") .. " >" .. out .. " 2>" .. err)
  local function slurp(p)
    local f = assert(io.open(p))
    local s = f:read("a")
    f:close()
    os.remove(p)
    return s
  end
  return ok and 0 or code, slurp(out), slurp(err)
end

--- Builds a C test program (warnings are errors) from the root; returns its path, in a new
-- temporary directory under the name given.
-- @param name the program's file name
-- @param sources what cc takes after the flags: files and libraries, shell syntax
function M.build_c(name, sources)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. shell_quote(dir)))
  local exe = dir .. "/" .. name
  local cmd = ("cd %s && cc -Wall -Wextra -Werror -Isrc $(pkg-config --cflags lua5.4) %s -o %s"):format(
    shell_quote(M.root), sources, shell_quote(exe))
  assert(os.execute(cmd), "cannot build " .. name)
  return exe
end

return M
