--- iblai run SCRIPT.lua [args] (and iblai SCRIPT.lua, iblai -e CODE): automation scripts with
-- every iblai module built in and the iblai module as a global.
local argparse = require "argparse"

local M = {}

local PROG = "iblai run"

--- The command's parser: for its help, the man page and the completion (a script's own arguments
-- are never parsed, so `iblai run x.lua --help` hands --help to the script).
function M.parser(prog)
  local p = argparse(prog or PROG, "Run an automation script with every iblai module built in: the iblai "
    .. "module is a global, and arg and ... are set as lua sets them. iblai SCRIPT.lua does the same; "
    .. "iblai -e CODE runs a line, iblai -l MODULE requires a module first; - reads the script from stdin.")
  p:help_max_width(100)
  p:argument("script", "The Lua file to run, or - for standard input."):argname("<script.lua>")
  p:argument("args", "Handed to the script as arg[1], arg[2], ... and as ...."):args("*"):argname("<arg>")
  p:epilog([[
An error stops the script with its message and a traceback on stderr (exit 1); an Error of the
API prints as its one line. Ctrl-C stops a script, even one waiting on a request (exit 130).

Example (artifacts.lua):
  local client <close> = assert(iblai.from_env())
  for a in client:each("ai_mentor_orgs_users_artifacts_list", { file_extension = arg[1] }) do
    print(a.id, a.title)
  end]])
  return p
end

--- Makes the iblai module a global, so a one-file script needs no require.
function M.script_env()
  _G.iblai = require "iblai"
end

--- Runs a script file (or "-" for standard input) with arg set as lua.c sets it.
-- @param argv the program's arguments (argv[0] the program)
-- @param at the index of the script in argv
-- @return the exit status
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
  M.script_env()
  chunk(table.unpack(arg, 1, #arg))
  return 0
end

--- iblai run SCRIPT [args]: argv holds what follows "run".
function M.main(argv, prog, program)
  local first = argv[1]
  if first == "-h" or first == "--help" then
    io.write(M.parser(prog):get_help(), "\n")
    return 0
  end
  if not first then
    io.stderr:write(("%s: missing the script to run (%s --help tells more)\n"):format(prog or PROG, prog or PROG))
    return 2
  end
  local shifted = { [0] = program or "iblai" }
  for i = 1, #argv do shifted[i] = argv[i] end
  return M.run_script(shifted, 1)
end

return M
