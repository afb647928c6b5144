--- iblai ops [PATTERN]: the operations, with method, path and parameters.
local argparse = require "argparse"
local args_parse = require("iblai.cli.args").parse
local ops = require "iblai.ops"

local M = {}

local function describe(op)
  local lines = { ("%s %s"):format(op.method, op.path) }
  for _, p in ipairs(op.params) do
    local extra = {}
    if p.enum then extra[#extra + 1] = "one of " .. table.concat(p.enum, "|") end
    if p.minimum then extra[#extra + 1] = ">= " .. p.minimum end
    if p.maximum then extra[#extra + 1] = "<= " .. p.maximum end
    if p.maxLength then extra[#extra + 1] = "max length " .. p.maxLength end
    if p.format then extra[#extra + 1] = p.format end
    lines[#lines + 1] = ("  %-5s %-24s %-8s %s%s"):format(p.loc, p.name, p.type, p.required and "required " or "",
      table.concat(extra, ", "))
  end
  if op.body then
    local names = {}
    for name in pairs(op.body.fields or {}) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
      local f = op.body.fields[name]
      if not f.read_only then
        lines[#lines + 1] = ("  body  %-24s %-8s %s"):format(name, f.type, f.required and "required" or "")
      end
    end
  end
  if op.envelope then lines[#lines + 1] = "  pages: " .. op.envelope .. " (iblai call --paginate walks them)" end
  return table.concat(lines, "\n")
end

function M.main(args, prog)
  local p = argparse(prog, "List the operations whose operationId or path matches PATTERN (plain text).")
  p:argument("pattern", "Text to look for; an exact operationId shows its parameters."):args("?")
  local opts = args_parse(p, args)
  if not opts then return 2 end
  local pattern = opts.pattern
  local exact = pattern and ops.get(pattern)
  if exact then
    io.write(pattern, "\n", describe(exact), "\n")
    return 0
  end
  local n = 0
  for _, id in ipairs(ops.ids()) do
    local op = ops.get(id)
    if not pattern or id:find(pattern, 1, true) or op.path:find(pattern, 1, true) then
      local names = {}
      for _, prm in ipairs(op.params) do
        if prm.loc == "query" or (prm.name ~= "org" and prm.name ~= "user_id") then names[#names + 1] = prm.name end
      end
      io.write(("%-6s %-60s %s  %s\n"):format(op.method, id, op.path, table.concat(names, ",")))
      n = n + 1
    end
  end
  if n == 0 then
    io.stderr:write(("iblai ops: nothing matches '%s'\n"):format(pattern))
    return 1
  end
  return 0
end

return M
