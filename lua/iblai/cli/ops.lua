--- iblai ops [WORDS...]: find operations, and one operation's parameters, from the API's facts.
local argparse = require "argparse"
local args = require "iblai.cli.args"
local json = require "iblai.json"
local ops = require "iblai.ops"
local output = require "iblai.cli.output"
local served = require "iblai.cli.served"

local M = {}

local PROG = "iblai ops"

--- The command's parser (also read by the man page and the completion).
function M.parser(prog)
  local p = argparse(prog or PROG, "List the operations whose operationId or path holds every one of WORDS "
    .. "(any case), with method and path, and marks for those that return pages (iblai call --paginate walks "
    .. "them) and those the local sandbox answers. An exact operationId shows its parameters: where each goes, "
    .. "its type and limits, which are required.")
  p:help_max_width(100)
  p:argument("words", "Words to look for, such as: edx memory."):args("*"):argname("<word>")
  p:flag("--json", "Print the facts as JSON: a list of operations, or one operation's object.")
  p:flag("--pages", "Only the operations that return pages.")
  p:flag("--sandbox", "Only the operations the sandbox answers.")
  p:option("--org", "Show {org} filled with this org; overrides IBLAI_ORG."):argname("<org>")
  p:option("--username --user", "Show {user_id} (a username) filled with this one; overrides IBLAI_USERNAME.")
    :argname("<username>")
  p:epilog([[
{user_id} in the API's paths is a username, not a number; iblai call fills it from
IBLAI_USERNAME (or --username), and {org} from IBLAI_ORG (or --org), unless given.
Exit status: 0 something matched, 1 nothing did, 2 usage.

Examples:
  iblai ops edx memory
  iblai ops --pages --sandbox
  iblai ops ai_mentor_orgs_users_artifacts_list
  iblai ops --json artifacts | jq '.[].id']])
  return p
end

local function env(name)
  local v = os.getenv(name)
  return v ~= "" and v or nil
end

-- The path with {org} and {user_id} filled where the client would fill them.
local function filled(path, who)
  return (path:gsub("{(%w[%w_]*)}", function(name)
    local v = (name == "org" and who.org) or (name == "user_id" and who.username)
    return v or nil
  end))
end

local PLACE = { path = 1, query = 2, header = 3, cookie = 4, body = 5 }
local NOTES = { org = "the org (platform key)", user_id = "a username" }

local function limits(p)
  local extra = {}
  if p.enum then extra[#extra + 1] = "one of " .. table.concat(p.enum, "|") end
  if p.minimum then extra[#extra + 1] = ">= " .. p.minimum end
  if p.maximum then extra[#extra + 1] = "<= " .. p.maximum end
  if p.minLength then extra[#extra + 1] = "min length " .. p.minLength end
  if p.maxLength then extra[#extra + 1] = "max length " .. p.maxLength end
  if p.format then extra[#extra + 1] = p.format end
  if p.items then extra[#extra + 1] = "a list of " .. p.items .. " (a,b,c)" end
  return extra
end

-- One operation in words: method and path, pages, sandbox, then a line per parameter.
local function describe(op, who, serves)
  local rows = {}
  for _, p in ipairs(op.params) do
    local extra = limits(p)
    if p.loc == "path" and NOTES[p.name] then
      local from = p.name == "org" and { "IBLAI_ORG or --org", who.org }
        or { "IBLAI_USERNAME or --username", who.username }
      table.insert(extra, 1, NOTES[p.name] .. (from[2] and (", filled with %s"):format(from[2])
        or (", filled from %s"):format(from[1])))
    end
    rows[#rows + 1] = { p.loc, p.name, p.type or "", p.required and "required" or "", table.concat(extra, ", ") }
  end
  if op.body then
    local names = {}
    for name, f in pairs(op.body.fields or {}) do
      if not f.read_only then names[#names + 1] = name end
    end
    table.sort(names)
    for _, name in ipairs(names) do
      local f = op.body.fields[name]
      rows[#rows + 1] = { "body", name, f.type or "", f.required and "required" or "", table.concat(limits(f), ", ") }
    end
    if not op.body.fields then
      rows[#rows + 1] = { "body", "(whole)", op.body.type or "JSON", op.body.required and "required" or "",
        "--body JSON, @FILE or @-" }
    end
  end
  -- path first, then query, headers and body; by name within each (a stable sort by position)
  for i, r in ipairs(rows) do r.at = i end
  table.sort(rows, function(a, b)
    local la, lb = PLACE[a[1]] or 9, PLACE[b[1]] or 9
    if la ~= lb then return la < lb end
    return a.at < b.at
  end)
  local width, twidth = 4, 4
  for _, r in ipairs(rows) do width, twidth = math.max(width, #r[2]), math.max(twidth, #r[3]) end
  local lines = { op.id, ("  %s %s"):format(op.method, filled(op.path, who)) }
  if op.envelope then lines[#lines + 1] = ("  pages: %s (iblai call %s --paginate walks them)"):format(op.envelope, op.id) end
  if serves then lines[#lines + 1] = "  sandbox: iblai sandbox answers it" end
  for _, r in ipairs(rows) do
    lines[#lines + 1] = (("  %-5s %-" .. width .. "s  %-" .. twidth .. "s  %-8s  %s"):format(table.unpack(r))
      :gsub("%s+$", ""))
  end
  local example = { "iblai call", op.id }
  for _, r in ipairs(rows) do
    local defaulted = r[1] == "path" and ((r[2] == "org" and who.org) or (r[2] == "user_id" and who.username))
    if r[4] == "required" and not defaulted and r[2] ~= "(whole)" then
      example[#example + 1] = ("%s=<%s>"):format(r[2], r[1] == "path" and r[2] == "user_id" and "username" or r[3])
    end
  end
  if op.body and not op.body.fields and op.body.required then example[#example + 1] = "--body @FILE" end
  lines[#lines + 1] = "  e.g.  " .. table.concat(example, " ")
  return table.concat(lines, "\n")
end

-- A copy of the facts for JSON, with the sandbox mark and what {org} and {user_id} mean.
local function facts(op, serves)
  local function copy(v)
    if type(v) ~= "table" then return v end
    local out = {}
    for k, x in pairs(v) do out[k] = copy(x) end
    return out
  end
  local out = copy(op)
  out.sandbox = serves
  out.pages = op.envelope ~= nil
  for _, p in ipairs(out.params) do
    if p.loc == "path" and NOTES[p.name] then p.description = NOTES[p.name] end
  end
  return out
end

local function matches(op, words)
  local id, path = op.id:lower(), op.path:lower()
  for _, w in ipairs(words) do
    if not id:find(w, 1, true) and not path:find(w, 1, true) then return false end
  end
  return true
end

local function list(found, who, serving)
  local width = 9
  for _, op in ipairs(found) do width = math.max(width, #op.id) end
  local row = "%-6s  %-" .. width .. "s  %-5s  %-7s  %s%s\n"
  if output.isatty(1) then output.write(row:format("METHOD", "OPERATION", "PAGES", "SANDBOX", "PATH", "  PARAMETERS")) end
  for _, op in ipairs(found) do
    -- the parameters a user gives: all but the {org} and {user_id} the client fills
    local names = {}
    for _, p in ipairs(op.params) do
      if p.loc ~= "path" or not NOTES[p.name] then names[#names + 1] = p.name end
    end
    output.write(row:format(op.method, op.id, op.envelope and "pages" or "", serving[op.id] and "sandbox" or "",
      filled(op.path, who), #names > 0 and ("  " .. table.concat(names, ",")) or ""))
  end
  if output.isatty(2) then
    io.stderr:write(("%d operation%s; pages: iblai call OP --paginate walks them; sandbox: iblai sandbox answers "
      .. "them; iblai ops OP shows one\n"):format(#found, #found == 1 and "" or "s"))
  end
end

local function run(opts)
  local who = { org = opts.org or env("IBLAI_ORG"), username = opts.username or env("IBLAI_USERNAME") }
  local serving = served.set()
  local words = {}
  for _, w in ipairs(opts.words) do words[#words + 1] = w:lower() end
  local exact = #words == 1 and ops.get(words[1])
  if exact and not opts.pages and not opts.sandbox then
    if opts.json then
      output.json(facts(exact, serving[exact.id] == true))
    else
      output.write(describe(exact, who, serving[exact.id]), "\n")
    end
    return 0
  end
  local found = {}
  for _, id in ipairs(ops.ids()) do
    local op = ops.get(id)
    if matches(op, words) and (not opts.pages or op.envelope) and (not opts.sandbox or serving[id]) then
      found[#found + 1] = op
    end
  end
  if #found == 0 then
    if opts.json then output.json(json.empty_array) end -- for jq: an empty list, not no output
    io.stderr:write(("%s: nothing matches '%s'%s%s\n"):format(PROG, table.concat(opts.words, " "),
      opts.pages and " among the listings" or "", opts.sandbox and " among what the sandbox answers" or ""))
    return 1
  end
  if opts.json then
    local all = {}
    for i, op in ipairs(found) do all[i] = facts(op, serving[op.id] == true) end
    output.json(all)
  else
    list(found, who, serving)
  end
  return 0
end

function M.main(argv, prog)
  local opts = args.parse(M.parser(prog), argv, prog or PROG)
  if not opts then return 2 end
  return output.guard(prog or PROG, run, opts)
end

return M
