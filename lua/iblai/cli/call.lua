--- iblai call OPERATION [name=value ...] [--paginate] [--body JSON|@file]
local argparse = require "argparse"
local args_parse = require("iblai.cli.args").parse
local errors = require "iblai.errors"
local json = require "iblai.json"
local ops = require "iblai.ops"

local M = {}

local function parser(prog)
  local p = argparse(prog, "Call any operation of the API by its operationId; the answer is printed as JSON.")
  p:argument("operation", "The operationId (iblai ops lists them).")
  p:argument("params", "Parameters as name=value; {org} and {user_id} come from IBLAI_ORG and IBLAI_USERNAME.")
    :args("*")
  p:option("--body", "The request body as JSON, or @FILE to read it from a file.")
  p:flag("--paginate", "Walk every page and print one item per line.")
  p:option("--base-url", "Overrides IBLAI_BASE_URL.")
  p:option("--org", "Overrides IBLAI_ORG.")
  p:option("--username", "Overrides IBLAI_USERNAME.")
  p:epilog("The key is read from IBLAI_API_KEY only, so it never shows in the process list.")
  return p
end

-- Command-line text -> the Lua value the parameter's type wants (validation reports the rest).
local function coerce(fact, text)
  local t = fact and fact.type
  if t == "integer" or t == "number" then return tonumber(text) or text end
  if t == "boolean" then
    if text == "true" then return true elseif text == "false" then return false end
    return text
  end
  if t == "array" then
    local items = {}
    for item in text:gmatch("[^,]+") do items[#items + 1] = coerce({ type = fact.items }, item) end
    return items
  end
  if t == "object" or t == "any" then return json.decode(text) or text end
  return text
end

local function facts_by_name(op)
  local by = {}
  for _, p in ipairs(op.params) do by[p.name] = p end
  for name, f in pairs(op.body and op.body.fields or {}) do by[name] = by[name] or f end
  return by
end

local function read_body(spec)
  local text = spec
  if spec:sub(1, 1) == "@" then
    local f, err = io.open(spec:sub(2), "rb")
    if not f then return nil, err end
    text = f:read("a")
    f:close()
  end
  local value, err = json.decode(text)
  if value == nil then return nil, "--body is not valid JSON: " .. tostring(err) end
  return value
end

local function fail(err)
  io.stderr:write(tostring(err), "\n")
  return 1
end

-- Writes a line to stdout; a full disk or a closed pipe ends the command instead of going on.
local function emit(text)
  local ok, err = io.stdout:write(text, "\n")
  if not ok then error({ write_failed = err }, 0) end
end

local function finish_output()
  local ok, err = io.stdout:flush()
  if ok then return 0 end
  io.stderr:write("iblai call: could not write the output: ", tostring(err), "\n")
  return 1
end

function M.main(args, prog)
  local p = parser(prog)
  local opts = args_parse(p, args)
  if not opts then return 2 end
  local op = ops.get(opts.operation)
  if not op then
    local guess = ops.closest(opts.operation, ops.ids())
    io.stderr:write(("iblai call: unknown operation '%s'%s; iblai ops PATTERN lists them\n"):format(
      opts.operation, guess and ("; did you mean '%s'?"):format(guess) or ""))
    return 2
  end
  local facts, params = facts_by_name(op), {}
  for _, pair in ipairs(opts.params) do
    local name, value = pair:match("^([^=]+)=(.*)$")
    if not name then
      io.stderr:write(("iblai call: '%s' is not name=value\n"):format(pair))
      return 2
    end
    params[name] = coerce(facts[name], value)
  end
  if opts.body then
    local body, err = read_body(opts.body)
    if body == nil then
      io.stderr:write("iblai call: ", err, "\n")
      return 2
    end
    params.body = body
  end
  if opts.paginate and not op.envelope then
    io.stderr:write(("iblai call: %s does not return pages; run it without --paginate\n"):format(op.id))
    return 2
  end
  local client, err = require("iblai").from_env { base_url = opts.base_url, org = opts.org, username = opts.username }
  if not client then return fail(err) end
  if opts.paginate then
    local walked, werr = pcall(function()
      for item in client:each(op.id, params) do emit(json.encode(item)) end
    end)
    client:close()
    if not walked then
      if type(werr) == "table" and werr.write_failed then
        io.stderr:write("iblai call: could not write the output: ", tostring(werr.write_failed), "\n")
        return 1
      end
      if errors.is(werr) then return fail(werr) end
      error(werr, 0) -- an interruption or a bug: the program reports it
    end
    return finish_output()
  end
  local req, res
  req, err = client:prepare_call(op.id, params)
  if req then res, err = client:request(req) end
  client:close()
  if not res then return fail(err) end
  if res.body ~= nil then
    local text = res.body
    if type(text) ~= "string" or (res.headers["content-type"] or ""):find("json", 1, true) then
      text = json.encode(text)
    end
    -- text such as the export's CSV goes out as the server sent it, not as a JSON string
    local ok, werr = io.stdout:write(text, text:sub(-1) == "\n" and "" or "\n")
    if not ok then
      io.stderr:write("iblai call: could not write the output: ", tostring(werr), "\n")
      return 1
    end
  end
  return finish_output()
end

return M
