--- iblai get|post|put|patch|delete PATH [name=value ...]: a raw path under the base URL, for what
-- the operationIds do not say well (a path copied from the API's documentation, a next link).
local argparse = require "argparse"
local args = require "iblai.cli.args"
local call = require "iblai.cli.call"
local connect = require "iblai.cli.connect"
local core = require "iblai.core"
local exchange = require "iblai.cli.exchange"
local json = require "iblai.json"
local output = require "iblai.cli.output"
local params_of = require "iblai.cli.params"
local route = require "iblai.cli.route"

local M = {}

M.METHODS = { "get", "post", "put", "patch", "delete" }
local WITH_BODY = { POST = true, PUT = true, PATCH = true }

--- The command's parser (also read by the man page and the completion).
-- @param prog string "iblai get", "iblai post", ...
function M.parser(prog)
  prog = prog or "iblai get"
  local method = prog:match("(%a+)$"):upper()
  local fields = WITH_BODY[method] and "a JSON body field (name=value a string, name:=JSON a typed value)"
    or "a query parameter (name:=JSON for a list or a number)"
  local p = argparse(prog, ("Send a %s to a path under the base URL, like gh api PATH. {org} and {user_id} in "
    .. "PATH are filled from IBLAI_ORG and IBLAI_USERNAME. The answer is printed as iblai call prints it."):format(
    method))
  p:help_max_width(100)
  p:argument("path", "The path under the base URL, such as /api/core/platform/users/ (a query may follow ?), or a "
    .. "full URL that starts with the base URL."):argname("<path>")
  p:argument("params", "name=value: " .. fields .. "; name==value: always a query parameter."):args("*")
    :argname("<name=value>")
  p:option("--body", "The request body: JSON, @FILE or @- (standard input); sent as given."):argname("<json|@file|@->")
  p:option("-H --header", "An extra request header, 'Name: value' (repeatable)."):count("*"):argname("<header>")
  p:flag("--paginate", "Walk every page, when PATH is a listing the API describes (iblai ops --pages).")
  p:flag("--slurp", "With --paginate: print all the items as one JSON array.")
  p:flag("--raw", "Print the answer exactly as received (JSON too, not read and written again), and a JSON "
    .. "string as its text.")
  p:flag("-i --include", "Print the status line and the response headers on stderr.")
  p:flag("--dry-run", "Print the request (the key masked) and send nothing.")
  args.transport(p)
  args.connection(p)
  p:epilog(([[
Exit status: 0 ok, 1 the request failed, 2 usage (nothing was sent), 130 Ctrl-C.

Examples:
  iblai get /api/core/platform/users/ page_size=5
  iblai get '/api/ai-mentor/orgs/{org}/users/{user_id}/artifacts/' --paginate --slurp
  iblai post '/api/ai-mentor/orgs/{org}/users/{user_id}/ai-user-profile-memory/' \
    tag=goal detail=brief
  iblai delete '/api/ai-mentor/orgs/{org}/users/{user_id}/edx-memory/7/' --dry-run]]))
  return p
end

-- PATH made relative to the base URL, with {org} and {user_id} filled; or nil and a message.
local function resolve(client, path)
  if not path:find("%S") then return nil, "the path is empty; give one such as /api/core/platform/users/" end
  if path:find("^%a[%w+.-]*://") then
    local base = client.base_url
    if path:sub(1, #base) ~= base or not path:sub(#base + 1):find("^[/?]") then
      return nil, ("%s is not under the base URL %s; give a path such as /api/..."):format(path, base)
    end
    path = path:sub(#base + 1)
  end
  if path:sub(1, 1) ~= "/" then path = "/" .. path end
  local missing
  path = path:gsub("{([%w_]+)}", function(name)
    local v = (name == "org" and client.org) or ((name == "user_id" or name == "username") and client.username)
    if v then return core.escape(v) end
    missing = missing or name
  end)
  if missing then
    local how = missing == "org" and "set IBLAI_ORG or --org" or (missing == "user_id" or missing == "username")
      and "set IBLAI_USERNAME or --username" or "write its value in the path"
    return nil, ("the path holds {%s}: %s"):format(missing, how)
  end
  return path
end

-- The words as query values and body fields; or nil and a message.
local function split_words(method, words)
  local query, fields = {}, nil
  local function add(t, name, v)
    local had = t[name]
    if had == nil then
      t[name] = v
    elseif type(had) == "table" and had.many then
      had[#had + 1] = v
    else
      t[name] = { had, v, many = true }
    end
  end
  for _, word in ipairs(words) do
    local name, how, text = params_of.split(word)
    if not name then return nil, ("'%s' is not name=value, name:=JSON or name==value"):format(word) end
    local value = text
    if how == ":=" then
      local err
      value, err = params_of.decode(text, name .. ":=")
      if value == nil then return nil, err end
    end
    if how == "==" or not WITH_BODY[method] then
      add(query, name, value)
    else
      fields = fields or {}
      fields[name] = value
    end
  end
  for _, v in pairs(query) do
    if type(v) == "table" then v.many = nil end -- drop the marker; the lists stay
  end
  return query, fields
end

-- The request body: --body as given, or merged with fields into JSON; or nil and a message.
local function body_of(opts, fields)
  local text, err
  if opts.body then
    text, err = params_of.read_body(opts.body)
    if not text then return nil, err end
  end
  if not fields then
    if text == nil then return {} end
    return { body = text }
  end
  local base = {}
  if text then
    base, err = params_of.decode(text, "--body")
    if base == nil then return nil, err end
    if type(base) ~= "table" or #base > 0 then return nil, "body fields given next to a --body that is not a JSON object" end
  end
  for k, v in pairs(fields) do base[k] = v end
  return { json = base }
end

-- --paginate on a raw path: the operation it is, walked as `iblai call` walks it.
local function paginate(prog, client, method, path, query, opts)
  local bare, qs = path:match("^([^?]*)%??(.*)$")
  local op, path_params = route.find(method, bare)
  client:close()
  if not op or not op.envelope then
    return args.usage(prog, ("%s is not a listing the API describes, so its pages cannot be walked; "
      .. "iblai ops --pages lists those that are"):format(bare))
  end
  local words = {}
  for pair in qs:gmatch("[^&]+") do words[#words + 1] = pair:gsub("%%(%x%x)", function(h)
    return string.char(tonumber(h, 16))
  end) end
  for name, v in pairs(query) do
    for _, item in ipairs(type(v) == "table" and v or { v }) do
      words[#words + 1] = name .. (type(item) == "string" and "=" .. item or ":=" .. json.encode(item))
    end
  end
  local params, problems = params_of.for_operation(op, words, nil, path_params)
  if not params then return args.usage(prog, op.id .. ": " .. table.concat(problems, "; ")) end
  for k, v in pairs(path_params) do params[k] = v end
  return call.run(prog, op, opts, params)
end

function M.main(argv, prog)
  prog = prog or "iblai get"
  local method = prog:match("(%a+)$"):upper()
  local opts = args.parse(M.parser(prog), argv, prog)
  if not opts then return 2 end
  local bad = call.check_output(opts)
  if bad then return args.usage(prog, bad) end
  local client, code = connect.client(prog, opts, not opts.dry_run)
  if not client then return code end
  local path, err = resolve(client, opts.path)
  local query, fields
  if path then query, fields = split_words(method, opts.params) end
  if not query then
    client:close()
    return args.usage(prog, err or fields)
  end
  if opts.paginate then return paginate(prog, client, method, path, query, opts) end
  local req
  req, err = body_of(opts, fields)
  local headers, herr = call.headers(opts.header or {})
  if not req or herr then
    client:close()
    return args.usage(prog, err or herr)
  end
  req.method, req.path, req.headers, req.timeout = method, path, headers, opts.timeout
  req.query = next(query) and query or nil
  if req.body and not (headers and (headers["Content-Type"] or headers["content-type"])) then
    local ok, jerr = params_of.decode(req.body, "--body")
    if ok == nil then
      client:close()
      return args.usage(prog, jerr .. " (give -H 'Content-Type: ...' to send other text)")
    end
    req.headers = req.headers or {}
    req.headers["Content-Type"] = "application/json"
  end
  local status = output.guard(prog, function()
    return exchange.send(prog, client, req, opts)
  end)
  client:close()
  return status
end

return M
