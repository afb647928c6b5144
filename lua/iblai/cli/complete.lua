--- iblai __complete WORD...: the completions of the last word, one a line, for the bash and zsh
-- scripts in tools/completion. Commands and options come from the commands' own parsers,
-- operationIds, parameter names, enum values and paths from the API's facts.
local ops = require "iblai.ops"

local M = {}

local function starting(list, prefix)
  local out = {}
  for _, v in ipairs(list) do
    if v:sub(1, #prefix) == prefix then out[#out + 1] = v end
  end
  return out
end

-- The options of a parser: every spelling, and by spelling the option's facts.
local function options_of(parser)
  local names, by = {}, {}
  for _, o in ipairs(parser._options) do
    if not o._hidden then
      for _, alias in ipairs(o._aliases) do
        names[#names + 1] = alias
        by[alias] = o
      end
    end
  end
  return names, by
end

-- name=value completions of an operation's parameters; value completions for enums and booleans.
local function parameters(op, given, cur)
  local by = require("iblai.cli.params").facts(op)
  local name, value = cur:match("^([^=:]+)=(.*)$")
  if name then
    local f = by[name] and by[name].fact
    local values = f and (f.enum or (f.type == "boolean" and { "true", "false" }))
    local out = {}
    for _, v in ipairs(values or {}) do out[#out + 1] = name .. "=" .. tostring(v) end
    return starting(out, name .. "=" .. value)
  end
  local out = {}
  for n in pairs(by) do
    if not given[n] then out[#out + 1] = n .. "=" end
  end
  table.sort(out)
  return starting(out, cur)
end

-- Whether a typed path segment fits a template's: the same text, or any value for a {parameter}.
local function fits(typed, template)
  return typed == template or (template:find("^{[%w_]+}$") ~= nil and typed ~= "")
end

-- Paths of the operations of a method, a segment at a time (like directories). A {parameter}
-- comes filled from IBLAI_ORG/IBLAI_USERNAME when set; a value typed in its place is kept.
local function paths(method, cur)
  local seen, out = {}, {}
  local org, user = os.getenv("IBLAI_ORG"), os.getenv("IBLAI_USERNAME")
  local typed = {}
  for segment in cur:gmatch("([^/]*)/") do typed[#typed + 1] = segment end
  local done = cur:match("^(.*/)") or ""
  local partial = cur:sub(#done + 1)
  for _, id in ipairs(ops.ids()) do
    local op = ops.get(id)
    if op.method == method then
      local p = op.path
      local template = {}
      for segment in p:gmatch("([^/]*)/") do template[#template + 1] = segment end
      local last = p:match("([^/]*)$")
      if last ~= "" then template[#template + 1] = last end
      local ok = #typed < #template
      for i = 1, #typed do ok = ok and fits(typed[i], template[i]) end
      local next_segment = ok and template[#typed + 1]
      local typing_template = partial:sub(1, 1) == "{" -- the README's {org} form, kept as typed
      if next_segment == "{org}" and org and org ~= "" and not typing_template then next_segment = org end
      if next_segment == "{user_id}" and user and user ~= "" and not typing_template then next_segment = user end
      if next_segment and next_segment:sub(1, #partial) == partial then
        local closed = #typed + 1 < #template or p:sub(-1) == "/"
        local cand = done .. next_segment .. (closed and "/" or "")
        if not seen[cand] then
          seen[cand] = true
          out[#out + 1] = cand
        end
      end
    end
  end
  table.sort(out)
  return out
end

--- The completions of words[#words], given the words before it (after the program's name).
-- @param words list of strings; the last is the word being completed ("" for a new one)
-- @return list of strings
function M.candidates(words)
  local cli = require "iblai.cli"
  local cur = words[#words] or ""
  if #words <= 1 then
    if cur:sub(1, 1) == "-" then return starting({ "--help", "--version", "--restricted", "-e", "-l" }, cur) end
    return starting(cli.names(), cur)
  end
  local name = words[1]
  if name == "--restricted" then
    if cur:sub(1, 1) ~= "-" then return {} end
    return starting({ "--allow-dir", "--help", "--max-memory", "--max-seconds" }, cur)
  end
  if name == "help" then return #words == 2 and starting(cli.names(), cur) or {} end
  local command = cli.find(name)
  if not command or not command.module or name == "run" then return {} end
  local parser = require(command.module).parser("iblai " .. name)
  local names, by = options_of(parser)
  local prev = by[words[#words - 1]]
  if prev and prev._maxargs > 0 then
    if prev._choices then return starting(prev._choices, cur) end
    local done = cur:match("^(.*,)") or "" -- a comma-separated list: the item after the last comma
    local out = {}
    for _, v in ipairs(prev._complete or {}) do out[#out + 1] = done .. v end
    return starting(out, cur)
  end
  if cur:sub(1, 1) == "-" then return starting(names, cur) end
  local positional, skip = {}, false
  for i = 2, #words - 1 do
    local w = words[i]
    if skip then
      skip = false
    elseif by[w] then
      skip = by[w]._maxargs > 0
    elseif w:sub(1, 1) ~= "-" then
      positional[#positional + 1] = w
    end
  end
  local method = name:upper()
  if name == "ops" then return starting(ops.ids(), cur) end
  if name == "call" or command.module == "iblai.cli.raw" then
    if #positional == 0 then
      if name == "call" then return starting(ops.ids(), cur) end
      return paths(method, cur)
    end
    local op
    if name == "call" then
      op = ops.get(positional[1])
    else
      op = require("iblai.cli.route").find(method, (positional[1]:gsub("%?.*$", "")))
    end
    if not op then return {} end
    local given = {}
    for i = 2, #positional do
      local n = positional[i]:match("^([^=:]+)")
      if n then given[n] = true end
    end
    return parameters(op, given, cur)
  end
  return {}
end

function M.main(argv)
  for _, c in ipairs(M.candidates(argv)) do io.write(c, "\n") end
  return 0
end

return M
