--- iblai sandbox: run the local simulator of the Data Manager.
local argparse = require "argparse"
local args_parse = require("iblai.cli.args").parse
local httpd = require "iblai.httpd"

local M = {}

--- The command's parser (also read by `iblai help`, the man page and the completion).
local function parser(prog)
  local p = argparse(prog, "A local simulator of the ibl.ai Data Manager, with one synthetic org.")
  p:help_max_width(100)
  p:option("--port", "Port on 127.0.0.1 (0 picks a free one); a port in use is an error.", "0")
  p:option("--seed", "Seed of the generated data.", "1")
  p:option("--users", "Number of users in the org (up to 20,000; each request costs the same at any size).", "50")
  p:option("--org", "The org key (platform_key).", "main")
  p:option("--today", "The day the data ends at; defaults to today."):argname("<YYYY-MM-DD>")
  p:option("--data", "A JSON file holding the state: loaded at start, every change synced to disk before "
    .. "it is applied (FILE.journal; one that cannot be written is refused with a 507 or 503), rewritten "
    .. "on exit."):argname("<file>")
  p:option("--latency", "Milliseconds added to every answer.", "0"):argname("<ms>")
  p:option("--fail-rate", "Fraction of requests answered 503 or dropped.", "0"):argname("<0..1>")
  p:option("--rate-limit", "Requests per second before 429 with Retry-After.", "0"):argname("<rps>")
  p:option("--api-key", "Accept only this key (any key is accepted otherwise)."):argname("<key>")
  p:option("--script", "A Lua file that adds or overrides routes."):argname("<file>")
  p:option("--env-file", "Also write the export line to this file (for `. FILE`)."):argname("<file>")
  p:flag("--background", "Return once listening, leaving the sandbox running; the export line holds its PID.")
  p:flag("--quiet", "Print only `port N pid P` on stdout, and no status on stderr.")
  p:epilog([[
Prints on stdout the line to export (eval "$(iblai sandbox --background)" sets it up),
with IBLAI_SANDBOX_PID for stopping it; status goes to stderr. Exit status: 0 after
SIGINT/SIGTERM, 1 when it cannot start (such as a port in use), 2 for a usage error.
Answers follow the OpenAPI description: JSON with sorted keys and [] for empty lists;
every declared query parameter is honoured or refused with a 400. Connections that send
nothing for 10 seconds, or take longer than 10 seconds to send a request head, are closed;
one client address may hold 256 connections; bodies over 1 MiB get a 413.]])
  return p
end

-- Numbers from the command line: value, or nil and the one-line complaint.
local function number(opts, name, min, max, whole)
  local raw = opts[name:gsub("%-", "_")]
  local v = tonumber(raw)
  if whole then v = v and math.tointeger(v) end
  if not v or v ~= v or v < min or (max and v > max) then
    local range = min == math.mininteger and "" or (" from %s%s"):format(min, max and (" to " .. max) or " up")
    return nil, ("--%s must be %s%s, got '%s'"):format(name, whole and "a whole number" or "a number", range,
      tostring(raw))
  end
  return v
end

local function read_options(opts)
  local out = { org = opts.org, today = opts.today, data = opts.data, api_key = opts.api_key, script = opts.script }
  for _, n in ipairs { { "port", 0, 65535, true }, { "seed", math.mininteger, nil, true }, { "users", 1, 20000, true },
    { "latency", 0, 3600000 }, { "fail-rate", 0, 1 }, { "rate-limit", 0 } } do
    local v, err = number(opts, n[1], n[2], n[3], n[4])
    if not v then return nil, err end
    out[n[1]:gsub("%-", "_")] = v
  end
  if out.today and not require("iblai.sandbox.dates").parse(out.today) then
    return nil, ("--today must be a date such as 2026-11-24, got '%s'"):format(out.today)
  end
  local dir = opts.env_file and (opts.env_file:match("^(.*)/[^/]*$") or ".")
  if dir and httpd.file_kind(dir == "" and "/" or dir) ~= "directory" then
    return nil, ("--env-file %s: the directory %s does not exist"):format(opts.env_file, dir)
  end
  return out
end

local function export_line(sandbox, opts)
  local st = sandbox.model.state
  return ("export IBLAI_BASE_URL=http://127.0.0.1:%d IBLAI_API_KEY=%s IBLAI_ORG=%s IBLAI_USERNAME=%s "
    .. "IBLAI_SANDBOX_PID=%d\n"):format(sandbox:port(), opts.api_key or "sandbox", st.org, st.users[1].username,
    httpd.pid())
end

M.parser = parser

function M.main(args, prog)
  local p = parser(prog)
  local parsed = args_parse(p, args)
  if not parsed then return 2 end
  local opts, err = read_options(parsed)
  if not opts then
    io.stderr:write("iblai sandbox: ", err, " (iblai sandbox --help)\n")
    return 2
  end
  local report_fd
  if parsed.background then
    local role, text, pid_or_code = httpd.detach()
    if role == "parent" then
      if not text then return pid_or_code end -- the child said why on stderr
      local ok, werr = io.write(text)
      if ok then ok, werr = io.stdout:flush() end
      if not ok then -- nobody got the line that tells how to reach and stop it
        httpd.terminate(pid_or_code)
        io.stderr:write("iblai sandbox: cannot write the export line (", tostring(werr), "); the sandbox was stopped\n")
        return 1
      end
      return 0
    end
    report_fd = text
  end
  local sandbox, code
  sandbox, err, code = require("iblai.sandbox").new(opts)
  if not sandbox then
    io.stderr:write("iblai sandbox: ", tostring(err), "\n")
    return code or 1
  end
  -- Making the org, where nearly all is kept, leaves generational collection in its "bad
  -- collection" mode, which lets the heap double before collecting: start it afresh, settled.
  -- A minor collection every 1% of the heap keeps what a request allocates in the CPU's caches
  -- (every 20% meant 17 MB at 20,000 users, and each route 20% slower than at 50 users).
  collectgarbage("incremental")
  collectgarbage("generational", 1, 40)
  collectgarbage("step")
  local line = export_line(sandbox, opts)
  if parsed.env_file then
    local ok, werr = httpd.write_file(parsed.env_file, line)
    if not ok then
      io.stderr:write("iblai sandbox: --env-file: ", werr, "\n")
      sandbox:close()
      return 1
    end
  end
  local out = parsed.quiet and ("port %d pid %d\n"):format(sandbox:port(), httpd.pid()) or line
  if not parsed.quiet then
    local st = sandbox.model.state
    io.stderr:write(("iblai sandbox: org %s with %d users on http://127.0.0.1:%d%s\n"):format(st.org, #st.users,
      sandbox:port(), parsed.background and (", in the background as pid %d (kill %d stops it)"):format(
        httpd.pid(), httpd.pid()) or " (Ctrl-C stops)"))
  end
  if report_fd then
    httpd.ready(report_fd, out)
  else
    io.write(out)
    io.stdout:flush()
  end
  return sandbox:run() and 0 or 1
end

return M
