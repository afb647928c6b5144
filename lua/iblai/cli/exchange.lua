--- One exchange with the API as the commands show it: the request a dry run prints (the key
-- masked), the status and headers --include prints on stderr, and the body on stdout.
local core = require "iblai.core"
local connect = require "iblai.cli.connect"
local errors = require "iblai.errors"
local json = require "iblai.json"
local jsontext = require "iblai.cli.jsontext"
local output = require "iblai.cli.output"

local M = {}

local MASK = "[redacted]" -- what curl's masked trace shows in place of the key, too

local function is_json_type(ctype)
  return ctype == nil or ctype:lower():find("json", 1, true) ~= nil
end

--- The full URL a request goes to.
function M.url(client, req)
  local url = req.url or (client.base_url .. req.path)
  if req.query and next(req.query) then
    local q = core.query(req.query, req.joined)
    if q ~= "" then url = url .. (url:find("?", 1, true) and "&" or "?") .. q end
  end
  return url
end

--- Prints on stdout what would be sent: method and URL, headers (the key masked), body.
-- @param client the client
-- @param req a request table ({method, path|url, query, joined, json|body, headers})
function M.dry_run(client, req)
  local headers, names = {}, {}
  local function add(name, value)
    local key = name:lower()
    if not headers[key] then names[#names + 1] = key end
    headers[key] = { name = name, value = value }
  end
  add("Accept", "application/json")
  if connect.has_key() then add("Authorization", "Api-Token " .. MASK) end
  if req.json ~= nil then add("Content-Type", "application/json") end
  for name, value in pairs(req.headers or {}) do
    local low = name:lower()
    local credential = low == "authorization" or low == "cookie" or low == "proxy-authorization"
    add(name, credential and MASK or tostring(value))
  end
  table.sort(names)
  output.write(req.method or "GET", " ", M.url(client, req), "\n")
  for _, key in ipairs(names) do output.write(headers[key].name, ": ", headers[key].value, "\n") end
  if req.json ~= nil then
    -- the body as it will be sent, read back so that it prints sorted (and indented on a terminal)
    local sent = client:prepare(req).body
    output.write("\n")
    output.json((jsontext.decode(sent)))
  elseif req.body ~= nil then
    output.write("\n", req.body, req.body:sub(-1) == "\n" and "" or "\n")
  end
  if not connect.has_key() then
    io.stderr:write("note: IBLAI_API_KEY is not set, so the request would go without a key\n")
  end
  io.stderr:write("dry run: nothing was sent\n")
end

--- Prints the status line and headers on stderr (for --include).
-- @param status integer
-- @param headers a table of name = value (lower-case names), or nil
function M.include(status, headers)
  local lines = { ("HTTP %s"):format(status or "-") }
  local names = {}
  for name in pairs(headers or {}) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do lines[#lines + 1] = ("%s: %s"):format(name, headers[name]) end
  io.stderr:write(table.concat(lines, "\n"), "\n\n")
end

--- Prints a response body on stdout: JSON as JSON (pretty on a terminal), text as it came.
-- @param res the response ({status, headers, body})
-- @param raw boolean: the answer exactly as received (fetched with decode = false), a JSON string
--   as its text
function M.print_body(res, raw)
  local body = res.body
  if body == nil then return end
  local ctype = res.headers and res.headers["content-type"]
  if raw and type(body) == "string" and is_json_type(ctype) and body:find('^%s*"') then
    body = json.decode(body) or body -- a JSON string: its text (a CSV the API wraps in one)
  end
  if type(body) == "string" and (not is_json_type(ctype) or raw) then
    output.write(body, (raw or body:sub(-1) == "\n") and "" or "\n")
  else
    output.json(body)
  end
end

--- Sends one request and prints the answer (with dry_run, prints the request instead); returns the
-- exit status.
-- @param prog string
-- @param client the client
-- @param req the request
-- @param opts { raw = boolean, include = boolean, dry_run = boolean }
function M.send(prog, client, req, opts)
  if opts.dry_run then
    M.dry_run(client, req)
    return 0
  end
  if opts.raw then req.decode = false end -- the answer's bytes, not JSON read and written again
  local res, err = client:request(req)
  if not res then
    if opts.include and err.status then
      M.include(err.status, err.headers)
      if err.body and err.body ~= "" then io.stderr:write(err.body, "\n") end
    end
    return connect.fail(prog, client, err)
  end
  if opts.include then M.include(res.status, res.headers) end
  M.print_body(res, opts.raw)
  return 0
end

--- Walks every page of a listing and prints its items: one JSON document each (a line each when
-- stdout is not a terminal), or with slurp one JSON array of them all.
-- @return the exit status
function M.walk(prog, client, op, params, call_opts, slurp)
  local pretty = output.isatty(1)
  local items = slurp and {} or nil
  local ok, err = pcall(function()
    for item in client:each(op.id, params, call_opts) do
      if items then
        items[#items + 1] = item
      else
        output.write(output.encode(item, pretty), "\n")
      end
    end
  end)
  if not ok then
    if errors.is(err) then return connect.fail(prog, client, err) end
    error(err, 0) -- a failed write, an interruption or a bug: the caller's guard and the program report them
  end
  if items then output.json(#items > 0 and items or json.empty_array) end
  return 0
end

return M
