--- The iblai program's command line: scripts, -e, and subcommands.
-- main(argv) returns the exit status: 0 ok, 1 failure, 2 usage.
local M = {}

-- Subcommand name -> module; each module has main(args, prog) returning an exit status.
M.commands = {
  { name = "run", summary = "run an automation script: iblai run SCRIPT.lua [args]" },
  { name = "call", module = "iblai.cli.call", summary = "call any operation: iblai call OPERATION name=value ..." },
  { name = "ops", module = "iblai.cli.ops", summary = "list operations: iblai ops [PATTERN]" },
  { name = "sandbox", module = "iblai.cli.sandbox", summary = "a local simulator of the Data Manager" },
  { name = "memory-reset", module = "iblai.cli.memory_reset", summary = "delete users' memory: iblai memory-reset --user U" },
  { name = "export-chats", module = "iblai.cli.export_chats", summary = "export chat history: iblai export-chats --user U --out DIR" },
  { name = "cohort-report", module = "iblai.cli.cohort_report",
    summary = "new and returning users, activity, topics, sentiment (md, csv, json, html)" },
}

local USAGE = [[
usage: iblai SCRIPT.lua [args]       run an automation script (everything preloaded)
       iblai -e CODE [-e CODE...]    run Lua code (with -l MODULE to require one first)
       iblai COMMAND [options]       run a command; iblai COMMAND --help tells more
       iblai --version | --help
       iblai --restricted [--max-memory MB] [--max-seconds S] [--allow-dir DIR]... SCRIPT.lua
                                     run a script you did not write (iblai --restricted --help)
]]

function M.usage()
  local lines = { USAGE, "commands:" }
  for _, c in ipairs(M.commands) do
    lines[#lines + 1] = ("  %-15s %s"):format(c.name, c.summary)
  end
  return table.concat(lines, "\n") .. "\n"
end

function M.find(name)
  for _, c in ipairs(M.commands) do
    if c.name == name then return c end
  end
end

local function script_env()
  -- Scripts see the iblai module as a global so a one-file script needs no require.
  _G.iblai = require "iblai"
end

--- Runs a script file (or "-" for standard input) with arg set as lua.c sets it.
function M.run_script(argv, at)
  local script = argv[at]
  local arg = {}
  for i = 0, #argv do arg[i - at] = argv[i] end
  _G.arg = arg
  local chunk, err = loadfile(script ~= "-" and script or nil)
  if not chunk then
    io.stderr:write("iblai: ", err, "\n")
    return 1
  end
  script_env()
  chunk(table.unpack(arg, 1, #arg))
  return 0
end

local function run_options(argv)
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
        script_env()
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
  if argv[i] then return M.run_script(argv, i) end
  return ran and 0 or (io.stderr:write(M.usage()) and 2)
end

function M.main(argv)
  local first = argv[1]
  if first == nil then
    io.stderr:write(M.usage())
    return 2
  elseif first == "-h" or first == "--help" or first == "help" then
    io.write(M.usage())
    return 0
  elseif first == "-v" or first == "--version" or first == "version" then
    local core = require "iblai.core"
    io.write(("iblai %s (ibl.ai Data Manager API %s, libcurl %s, %s)\n"):format(core.version,
      require("iblai.ops").spec_version(), core.curl_version, _VERSION))
    return 0
  elseif first == "run" then
    if not argv[2] then
      io.stderr:write("usage: iblai run SCRIPT.lua [args]\n")
      return 2
    end
    local shifted = { [0] = argv[0] }
    for i = 2, #argv do shifted[i - 1] = argv[i] end
    return M.run_script(shifted, 1)
  elseif first:sub(1, 1) == "-" then
    return run_options(argv)
  end
  local command = M.find(first)
  if command and command.module then
    local args = {}
    for i = 2, #argv do args[#args + 1] = argv[i] end
    return require(command.module).main(args, "iblai " .. first)
  end
  if first:find("%.lua$") or first:find("/", 1, true) or io.open(first, "r") then
    return M.run_script(argv, 1)
  end
  io.stderr:write(("iblai: unknown command '%s'\n\n"):format(first), M.usage())
  return 2
end

return M
