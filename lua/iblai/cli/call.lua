--- iblai call OPERATION [name=value | name:=JSON ...]: any operation of the API by its operationId.
local argparse = require "argparse"
local args = require "iblai.cli.args"
local connect = require "iblai.cli.connect"
local exchange = require "iblai.cli.exchange"
local ops = require "iblai.ops"
local output = require "iblai.cli.output"
local params_of = require "iblai.cli.params"

local M = {}

local PROG = "iblai call"

--- The command's parser (also read by the man page and the completion).
function M.parser(prog)
  local p = argparse(prog or PROG, "Call any operation of the API by its operationId (iblai ops lists them). "
    .. "Parameters are checked against the API's description before anything is sent, and every missing "
    .. "one is named at once. The answer goes to stdout as JSON with sorted keys: indented on a terminal, "
    .. "one line otherwise.")
  p:help_max_width(100)
  p:argument("operation", "The operationId, such as ai_mentor_orgs_users_artifacts_list."):argname("<operation>")
  p:argument("params", "name=value (converted to the parameter's type; a list as a,b,c), or name:=JSON for a typed "
    .. "value such as count:=3 or tags:='[\"a\"]'. Body fields go into the JSON body. {org} and {user_id} "
    .. "(a username) come from IBLAI_ORG and IBLAI_USERNAME unless given."):args("*"):argname("<name=value>")
  p:option("--body", "The whole request body: JSON, @FILE to read it from a file, @- from standard input. "
    .. "Body fields given as name=value are merged into it."):argname("<json|@file|@->")
  p:option("-H --header", "An extra request header, 'Name: value' (repeatable)."):count("*"):argname("<header>")
  p:flag("--paginate", "Walk every page of a listing and print every item (one JSON document a line when piped).")
  p:flag("--slurp", "With --paginate: print all the items as one JSON array.")
  p:flag("--raw", "Print the answer exactly as received (JSON too, not read and written again), and a JSON "
    .. "string as its text.")
  p:flag("-i --include", "Print the status line and the response headers on stderr.")
  p:flag("--dry-run", "Print the request (method, URL, headers with the key masked, body) and send nothing.")
  args.transport(p)
  args.connection(p)
  p:epilog([[
The key is read from IBLAI_API_KEY only, so it never shows in the process list; without it,
a base URL other than this machine is refused before anything is sent. Retries are announced
on stderr. Exit status: 0 ok, 1 the call failed (HTTP error, network), 2 usage (an unknown
operation or parameter, a missing or mistyped value: nothing was sent), 130 Ctrl-C.

Examples:
  iblai call ai_mentor_orgs_users_artifacts_list page_size=10 ordering=-date_created
  iblai call core_platform_users_retrieve --paginate --slurp > users.json
  iblai call ai_mentor_orgs_users_ai_user_profile_memory_create tag=goal detail='short answers'
  echo '{"tag": "goal", "detail": "..."}' |
    iblai call ai_mentor_orgs_users_ai_user_profile_memory_create --body @-
  iblai call ai_mentor_orgs_users_artifacts_retrieve id=42 --user jane --dry-run]])
  return p
end

--- The -H values as a header table, or nil and a message.
function M.headers(list)
  if #list == 0 then return nil end
  local headers = {}
  for _, h in ipairs(list) do
    local name, value = h:match("^%s*([^:%s]+)%s*:%s*(.-)%s*$")
    if not name then return nil, ("-H '%s' is not 'Name: value'"):format(h) end
    if h:find("[\r\n%z]") then return nil, ("-H '%s' holds a line break or a NUL byte"):format(name) end
    if name:lower() == "host" then
      return nil, "-H Host: the Host header comes from the URL (the key goes to the base URL's host only)"
    end
    headers[name] = value
  end
  return headers
end

--- What both call and the raw-path commands check of the output options.
function M.check_output(opts)
  if opts.slurp and not opts.paginate then return "--slurp collects the items of --paginate; add --paginate" end
  if opts.include and opts.paginate then
    return "--include shows one response's headers; with --paginate use --verbose to see every exchange"
  end
  if opts.raw and opts.paginate then return "--raw prints one text answer; --paginate prints JSON items" end
end

-- The operation, or nil after saying which ones come close.
local function find(id)
  local op = ops.get(id)
  if op then return op end
  if id:sub(1, 1) == "/" then
    io.stderr:write(("%s: '%s' is not an operationId; that is a path: iblai get %s (or post, put, patch, delete)\n")
      :format(PROG, id, id))
    return nil
  end
  local guess = ops.closest(id, ops.ids())
  if not guess then
    -- ids are lower case with underscores: a path or a different case still finds one
    local folded = id:lower():gsub("[^%w]+", "_"):gsub("^_+", ""):gsub("_+$", "")
    guess = ops.get(folded) and folded or ops.closest(folded, ops.ids())
  end
  io.stderr:write(("%s: unknown operation '%s'%s; iblai ops WORDS lists them\n"):format(PROG, id,
    guess and ("; did you mean '%s'?"):format(guess) or ""))
  return nil
end

--- Runs an operation with parsed options (shared with the raw-path commands' --paginate).
-- @return the exit status
function M.run(prog, op, opts, params)
  if opts.paginate and not op.envelope then
    io.stderr:write(("%s: %s does not return pages (iblai ops --pages lists those that do); run it without "
      .. "--paginate\n"):format(prog, op.id))
    return 2
  end
  local client, code = connect.client(prog, opts, not opts.dry_run)
  if not client then return code end
  local headers, herr = M.headers(opts.header or {})
  if herr then
    client:close()
    return args.usage(prog, herr)
  end
  local call_opts = (headers or opts.timeout) and { headers = headers, timeout = opts.timeout } or nil
  local status = output.guard(prog, function()
    if opts.paginate and not opts.dry_run then
      return exchange.walk(prog, client, op, params, call_opts, opts.slurp)
    end
    local req, err = client:prepare_call(op.id, params, call_opts)
    if not req then return connect.fail(prog, client, err) end
    return exchange.send(prog, client, req, opts)
  end)
  client:close()
  return status
end

function M.main(argv, prog)
  prog = prog or PROG
  local opts = args.parse(M.parser(prog), argv, prog)
  if not opts then return 2 end
  local bad = M.check_output(opts)
  if bad then return args.usage(prog, bad) end
  local op = find(opts.operation)
  if not op then return 2 end
  local body
  if opts.body then
    local text, err = params_of.read_body(opts.body)
    if text then body, err = params_of.decode(text, "--body") end
    if body == nil then return args.usage(prog, err) end
  end
  local client_defaults = {
    org = opts.org or os.getenv("IBLAI_ORG"), user_id = opts.username or os.getenv("IBLAI_USERNAME"),
  }
  for k, v in pairs(client_defaults) do
    if v == "" then client_defaults[k] = nil end
  end
  local params, problems = params_of.for_operation(op, opts.params, body, client_defaults)
  if not params then
    for _, problem in ipairs(problems) do io.stderr:write(("%s: %s: %s\n"):format(prog, op.id, problem)) end
    io.stderr:write(("%s: nothing was sent; iblai ops %s shows its parameters\n"):format(prog, op.id))
    return 2
  end
  return M.run(prog, op, opts, params)
end

return M
