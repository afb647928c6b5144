--- The iblai program's command line: scripts, -e, and subcommands.
-- main(argv) returns the exit status: 0 ok, 1 failure, 2 usage.
local M = {}

-- Each command: its module (main(args, prog) returns an exit status; parser(prog) builds its help),
-- what the usage line shows, and the names it also answers to.
M.commands = {
  { name = "run", module = "iblai.cli.run", shows = "run SCRIPT.lua [args]",
    summary = "run an automation script (also: iblai SCRIPT.lua)" },
  { name = "call", module = "iblai.cli.call", shows = "call OPERATION [name=value ...]",
    summary = "call any operation by its operationId; JSON on stdout" },
  { name = "get", module = "iblai.cli.raw", shows = "get|post|put|patch|delete PATH",
    summary = "send to a path under the base URL, like gh api PATH", also = { "post", "put", "patch", "delete" } },
  { name = "ops", module = "iblai.cli.ops", shows = "ops [WORDS]", summary = "find operations; one operation's parameters" },
  { name = "sandbox", module = "iblai.cli.sandbox", shows = "sandbox [--port N]",
    summary = "a local simulator of the Data Manager" },
  { name = "memory-reset", module = "iblai.cli.memory_reset", shows = "memory-reset --user U",
    summary = "delete what the API remembers about users" },
  { name = "export-chats", module = "iblai.cli.export_chats", shows = "export-chats --user U --out DIR",
    summary = "export users' chat history, one file each" },
  { name = "cohort-report", module = "iblai.cli.cohort_report", shows = "cohort-report [--start D --end D]",
    summary = "new and returning users, activity, topics, sentiment (md, csv, json, html)" },
  { name = "help", shows = "help [COMMAND]", summary = "this text, or a command's options" },
}

local USAGE = [[
usage: iblai SCRIPT.lua [args]       run an automation script (everything preloaded)
       iblai -e CODE [-e CODE...]    run Lua code (with -l MODULE to require one first)
       iblai COMMAND [options]       run a command; iblai help COMMAND tells more
       iblai --version | --help
       iblai --restricted [--max-memory MB] [--max-seconds S] [--allow-dir DIR]... SCRIPT.lua
                                     run a script you did not write (iblai --restricted --help)
]]

local ENVIRONMENT = [[
environment:
  IBLAI_BASE_URL   the API (default %s; iblai sandbox prints a local one)
  IBLAI_API_KEY    the key, sent as "Authorization: Api-Token KEY"; read from here only
  IBLAI_ORG        the org (platform key) that fills {org}
  IBLAI_USERNAME   the username that fills {user_id}: the API's user ids in paths are usernames

exit status: 0 ok, 1 failure, 2 usage (nothing was sent), 130 Ctrl-C. man iblai tells the rest.
]]

function M.usage()
  local width = 0
  for _, c in ipairs(M.commands) do width = math.max(width, #c.shows) end
  local lines = { USAGE, "commands:" }
  for _, c in ipairs(M.commands) do
    lines[#lines + 1] = ("  %-" .. width .. "s  %s"):format(c.shows, c.summary)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = ENVIRONMENT:format(require("iblai.cli.args").DEFAULT_BASE_URL)
  return table.concat(lines, "\n")
end

--- The command called `name` (a method name finds the raw-path command), or nil.
function M.find(name)
  for _, c in ipairs(M.commands) do
    if c.name == name then return c end
    for _, other in ipairs(c.also or {}) do
      if other == name then return c end
    end
  end
end

--- Every name a command answers to, in the order of the usage.
function M.names()
  local names = {}
  for _, c in ipairs(M.commands) do
    names[#names + 1] = c.name
    for _, other in ipairs(c.also or {}) do names[#names + 1] = other end
  end
  return names
end

local function unknown(name)
  local guess = require("iblai.ops").closest(name, M.names())
  local hint = guess and ("; did you mean 'iblai %s'?"):format(guess) or ""
  if require("iblai.ops").get(name) then hint = ("; to call that operation: iblai call %s"):format(name) end
  io.stderr:write(("iblai: unknown command '%s'%s\n\n"):format(name, hint), M.usage())
  return 2
end

--- iblai help [COMMAND]: the usage, or a command's own help on stdout.
local function help(argv)
  local name = argv[2]
  if not name or name == "help" or name == "-h" or name == "--help" then
    io.write(M.usage())
    return 0
  end
  local command = M.find(name)
  if not command then return unknown(name) end
  io.write(require(command.module).parser("iblai " .. name):get_help(), "\n")
  return 0
end

local function run_options(argv)
  local run = require "iblai.cli.run"
  local i = 1
  local ran = false
  while argv[i] do
    local a = argv[i]
    if a == "-e" or a == "-l" then
      local v = argv[i + 1]
      if not v then
        io.stderr:write("iblai: '", a, "' needs an argument\n", M.usage())
        return 2
      end
      if a == "-e" then
        run.script_env()
        local chunk, err = load(v, "=(command line)")
        if not chunk then
          io.stderr:write("iblai: ", err, "\n")
          return 1
        end
        _G.arg = { [0] = argv[0] } -- as lua does when there is no script
        chunk()
        ran = true
      else
        _G[v:match("[^.]+$")] = require(v)
      end
      i = i + 2
    elseif a == "--" then
      i = i + 1
      break
    else
      break
    end
  end
  if argv[i] then
    if argv[i]:sub(1, 1) == "-" and argv[i] ~= "-" then
      io.stderr:write(("iblai: unknown option '%s'\n\n"):format(argv[i]), M.usage())
      return 2
    end
    return run.run_script(argv, i)
  end
  return ran and 0 or (io.stderr:write(M.usage()) and 2)
end

function M.main(argv)
  local first = argv[1]
  if first == nil then
    io.stderr:write(M.usage())
    return 2
  elseif first == "-h" or first == "--help" or first == "help" then
    return help(argv)
  elseif first == "-v" or first == "--version" or first == "version" then
    local core = require "iblai.core"
    io.write(("iblai %s (ibl.ai Data Manager API %s, libcurl %s, %s)\n"):format(core.version,
      require("iblai.ops").spec_version(), core.curl_version, _VERSION))
    return 0
  elseif first == "__complete" then
    return require("iblai.cli.complete").main(table.move(argv, 2, #argv, 1, {}))
  elseif first:sub(1, 1) == "-" then
    return run_options(argv)
  end
  local command = M.find(first)
  if command and command.module then
    local args = table.move(argv, 2, #argv, 1, {})
    return require(command.module).main(args, "iblai " .. first, argv[0])
  end
  local file = io.open(first, "r")
  if file then file:close() end
  if first:find("%.lua$") or first:find("/", 1, true) or file then
    return require("iblai.cli.run").run_script(argv, 1)
  end
  return unknown(first)
end

return M
