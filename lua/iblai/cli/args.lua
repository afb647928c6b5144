--- Command-line parsing shared by the program's commands.
local M = {}

--- Parses args with an argparse parser; on a usage error prints it and returns nil (exit 2).
function M.parse(parser, args)
  local ok, opts = parser:pparse(args)
  if ok then return opts end
  io.stderr:write(parser:get_usage(), "\n\nerror: ", opts, "\n")
  return nil
end

return M
