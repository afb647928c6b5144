-- Sandbox processes for the specs that stop, kill and restart them: started through sh (so a
-- spec can set a limit such as `ulimit -f` first), stderr kept, stopped or killed by PID.
local helpers = require "support.helpers"

local M = {}
local wrapper = os.getenv("IBLAI_TEST_WRAPPER") or ""
local running = {} -- started and not yet stopped, so a failed spec leaves nothing behind

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

--- Starts `iblai sandbox --quiet --today ... ARGS`; opts.prefix is shell run first. Returns the
-- process {port, pid, url, stderr(), stop(), kill()}, or nil and its stderr when it did not start.
function M.start(args, opts)
  opts = opts or {}
  local errfile = os.tmpname()
  local parts = { "exec", wrapper, helpers.quote(helpers.program), "sandbox", "--quiet", "--today", helpers.TODAY }
  for _, a in ipairs(args) do parts[#parts + 1] = helpers.quote(a) end
  local cmd = table.concat(parts, " ") .. " 2>" .. errfile
  if opts.prefix then cmd = opts.prefix .. "; " .. cmd end
  local pipe = assert(io.popen(cmd, "r"))
  local port, pid = (pipe:read("l") or ""):match("^port (%d+) pid (%d+)$")
  local p = { pipe = pipe }
  function p.stderr() return slurp(errfile) end
  -- Closes the pipe: "exit", code (or "signal", number), and the stderr it wrote.
  local function finish()
    running[p] = nil
    local _, how, code = p.pipe:close()
    local err = p.stderr()
    os.remove(errfile)
    return how, code, err
  end
  if not port then
    local _, code, err = finish()
    return nil, err, code
  end
  p.port, p.pid, p.url = tonumber(port), tonumber(pid), "http://127.0.0.1:" .. port
  running[p] = true
  function p.stop()
    os.execute("kill -TERM " .. p.pid .. " 2>/dev/null")
    return finish()
  end
  function p.kill()
    os.execute("kill -KILL " .. p.pid .. " 2>/dev/null")
    return finish()
  end
  return p
end

--- helpers.run with a deadline, for commands that must fail at start (a sandbox that starts
-- anyway would otherwise keep the spec waiting): code (124 when it ran out of time), out, err.
function M.run(args, seconds)
  local out, err = os.tmpname(), os.tmpname()
  local cmd = { "timeout", tostring(seconds or 20), helpers.quote(helpers.program) }
  for _, a in ipairs(args) do cmd[#cmd + 1] = helpers.quote(a) end
  local ok, _, code = os.execute(table.concat(cmd, " ") .. " >" .. out .. " 2>" .. err)
  local o, e = slurp(out), slurp(err)
  os.remove(out)
  os.remove(err)
  return ok and 0 or code, o, e
end

--- Kills whatever a failed spec left running (an after_each).
function M.cleanup()
  for p in pairs(running) do p.kill() end
end

--- A fresh empty directory under /tmp.
function M.tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. helpers.quote(dir)))
  return dir
end

function M.slurp(path)
  return slurp(path)
end

return M
