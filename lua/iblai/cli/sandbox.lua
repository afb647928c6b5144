--- iblai sandbox: run the local simulator of the Data Manager.
local argparse = require "argparse"
local args_parse = require("iblai.cli.args").parse

local M = {}

local function parser(prog)
  local p = argparse(prog, "A local simulator of the ibl.ai Data Manager, with one synthetic org.")
  p:option("--port", "Port on 127.0.0.1 (0 picks a free one).", "0"):convert(tonumber)
  p:option("--seed", "Seed of the generated data.", "1"):convert(math.tointeger)
  p:option("--users", "Number of users in the org.", "50"):convert(math.tointeger)
  p:option("--org", "The org key (platform_key).", "main")
  p:option("--today", "The day the data ends at (YYYY-MM-DD); defaults to today.")
  p:option("--data", "A JSON file to load the state from and save it to on exit.")
  p:option("--latency", "Milliseconds added to every answer.", "0"):convert(tonumber)
  p:option("--fail-rate", "Fraction of requests answered 503 or dropped.", "0"):convert(tonumber)
  p:option("--rate-limit", "Requests per second before 429 with Retry-After.", "0"):convert(tonumber)
  p:option("--api-key", "Accept only this key (any key is accepted otherwise).")
  p:option("--script", "A Lua file that adds or overrides routes.")
  p:flag("--quiet", "Print only the port line.")
  return p
end

function M.main(args, prog)
  local p = parser(prog)
  local opts = args_parse(p, args)
  if not opts then return 2 end
  if not opts.port or opts.port < 0 or opts.port > 65535 or not opts.seed or not opts.users or opts.users < 1
    or not opts.latency or not opts.fail_rate or opts.fail_rate < 0 or opts.fail_rate > 1 or not opts.rate_limit then
    io.stderr:write(p:get_usage(), "\n\nerror: --port, --seed, --users, --latency, --fail-rate (0 to 1) and ",
      "--rate-limit take numbers\n")
    return 2
  end
  local sandbox, err = require("iblai.sandbox").new {
    port = opts.port, seed = opts.seed, users = opts.users, org = opts.org, today = opts.today, data = opts.data,
    latency = opts.latency, fail_rate = opts.fail_rate, rate_limit = opts.rate_limit, api_key = opts.api_key,
    script = opts.script,
  }
  if not sandbox then
    io.stderr:write("iblai sandbox: ", tostring(err), "\n")
    return 1
  end
  local port = sandbox:port()
  local admin = sandbox.model.state.users[1].username
  io.write(("port %d pid %d\n"):format(port, require("iblai.httpd").pid()))
  io.stdout:flush()
  if not opts.quiet then
    local st = sandbox.model.state
    io.stderr:write(("iblai sandbox: org %s with %d users on http://127.0.0.1:%d (Ctrl-C stops)\n"):format(
      st.org, #st.users, port))
    io.stderr:write(("  export IBLAI_BASE_URL=http://127.0.0.1:%d IBLAI_API_KEY=%s IBLAI_ORG=%s IBLAI_USERNAME=%s\n")
      :format(port, opts.api_key or "sandbox", st.org, admin))
  end
  sandbox:run()
  return 0
end

return M
