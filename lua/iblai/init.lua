--- iblai: a client for the ibl.ai Data Manager API.
-- Every operation of the API is a call by its operationId, checked before it is sent; listings
-- are walked page by page; runtime failures return nil and an Error (see iblai.errors), misuse
-- (a wrong argument type) raises. The module also holds `version`, `Error` (the metatable of
-- errors), `null` (a JSON null in answers) and `Client` (the class of clients).
-- @module iblai
-- @usage
-- local iblai = require "iblai"
-- local client <close> = assert(iblai.from_env())   -- IBLAI_BASE_URL, IBLAI_API_KEY, ...
-- local art, err = client:call("ai_mentor_orgs_users_artifacts_retrieve", { id = 1 })
-- if not art then print(err) end                     -- one line: what happened, what to do
-- for item in client:each("ai_mentor_orgs_users_artifacts_list", { page_size = 100 }) do
--   print(item.id, item.title)
-- end
local core = require "iblai.core"
local errors = require "iblai.errors"
local json = require "iblai.json"

local M = { version = core.version, Error = core.Error, null = json.null }
local rawget, type = rawget, type -- read on every request

-- Misuse errors name the caller's line: every chunk loaded from this directory is ours.
core.own_sources((debug.getinfo(1, "S").source:match("^(.*[/\\])init%.lua$")) or "@iblai/")

local Client = {}
Client.__index = Client
M.Client = Client

local ENV = {
  base_url = "IBLAI_BASE_URL", api_key = "IBLAI_API_KEY", org = "IBLAI_ORG", username = "IBLAI_USERNAME",
}

local function config_error(message)
  return nil, errors.new { kind = "config", message = message }
end

--- Creates a client. Unknown option names, wrong types, a base_url that is not http(s) or holds
-- credentials, CR or LF in the key: nil and an Error of kind "config".
-- @param opts table (all optional): base_url (default https://api.iblai.app/dm), api_key,
--   auth_scheme ("Api-Token"), org and username (they fill {org} and {user_id}), timeout (30) and
--   connect_timeout (10) in seconds, retries (4), concurrency (8), proxy, ca_file, user_agent,
--   max_response_bytes, max_redirects, verbose, log (function(event): response, retry and
--   redirect events, never the key), sleep (function(seconds), replaces waiting between
--   retries), backoff_base, backoff_max, retry_after_max
-- @return a Client, or nil and an Error
-- @usage local client = assert(iblai.new { base_url = "http://127.0.0.1:8000", api_key = key, org = "main" })
function M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then core.misuse("iblai.new expects a table of options, got " .. type(opts)) end
  local self = setmetatable({}, Client)
  local session_opts = {}
  for k, v in pairs(opts or {}) do
    if k == "org" or k == "username" then
      if type(v) ~= "string" or v == "" then
        return config_error(("option '%s' must be a non-empty string"):format(k))
      end
      self[k] = v
    else
      session_opts[k] = v
    end
  end
  local session, err = core.session(session_opts)
  if not session then return nil, err end
  self.session = session
  self.base_url = session:base_url()
  self.concurrency = session:concurrency()
  return self
end

--- Creates a client from the environment: IBLAI_BASE_URL, IBLAI_API_KEY, IBLAI_ORG and
-- IBLAI_USERNAME (empty variables count as unset); what overrides gives wins.
-- @param overrides table of options as for new, or nil
-- @param getenv function(name) reading a variable (default os.getenv; tests pass their own)
-- @return a Client, or nil and an Error
-- @usage local client <close> = assert(iblai.from_env { concurrency = 16 })
function M.from_env(overrides, getenv)
  getenv = getenv or os.getenv
  local opts = {}
  for opt, var in pairs(ENV) do
    local v = getenv(var)
    if v ~= nil and v ~= "" then opts[opt] = v end
  end
  for k, v in pairs(overrides or {}) do opts[k] = v end
  return M.new(opts)
end

--- A client of the API: made by new or from_env; closes with close(), as a to-be-closed variable, or by the GC.
-- Fields: base_url, org, username, concurrency, session (the iblai.core session). Its operation
-- methods (call, call_many, each, pages, collect, operation, prepare_call) are listed with it;
-- client:wait_task is in iblai.tasks.
-- @type Client

--- One line naming the client (base URL, org, username), never the key.
-- @return string
function Client:__tostring()
  return ("iblai.Client(%s, org=%s, username=%s)"):format(self.base_url, self.org or "-", self.username or "-")
end

--- Closes the client: the requests still in flight stop, the connections close. Safe to call
-- twice; also called when a to-be-closed variable holding it goes out of scope, and by the GC.
function Client:close()
  self.session:close()
end
Client.__close = Client.close

-- A request with a json field goes to the core as a copy with the encoded body and its
-- Content-Type; the caller's table is never changed.
local function with_json(req)
  if req.body ~= nil then core.misuse("give a request either json or body, not both") end
  local encoded, err = json.encode(req.json)
  if not encoded then core.misuse("request json cannot be encoded: " .. tostring(err)) end
  local out, headers = {}, { ["Content-Type"] = "application/json" }
  for k, v in next, req do
    if k ~= "json" then out[k] = v end
  end
  if req.headers ~= nil then
    if type(req.headers) ~= "table" then core.misuse("request field 'headers' must be a table of name = value") end
    for k, v in pairs(req.headers) do
      if type(k) == "string" and k:lower() == "content-type" then headers["Content-Type"] = nil end
      headers[k] = v
    end
  end
  out.headers, out.body = headers, encoded
  return out
end

--- Turns a request description into what the core sends (only a json field needs work: it is
-- encoded, with its Content-Type). The caller's table is not changed.
-- @param req table as for request
-- @return the table to send (req itself when there is nothing to do)
function Client:prepare(req)
  if req.json ~= nil then return with_json(req) end
  return req
end

--- One HTTP request, retried by the usual rules. Every status other than 2xx is an Error.
-- @param req table: method ("GET"), path (under base_url) or url, query (table), json (a value
--   to send as JSON) or body (a string), headers (table), timeout, retries, retry_unsafe
--   (retry a POST or PATCH too), op (a name for errors), decode (false: a JSON body stays text),
--   to_file (a path: a 2xx body is written there as it arrives instead of being held, each
--   attempt starting the file over, checked on the way when it says it is JSON, and synced to
--   the disk once complete; max_response_bytes does not limit it, and timeout becomes the
--   longest silence, in whole seconds, rather than the whole download's time; the path must be
--   a regular file or none, never a symbolic link)
-- @return { status, headers, body, url, method, attempts }, the body decoded when it is JSON
--   (with to_file: file, bytes, and body only as text, when under 64 KiB); or nil and an Error
--   (kind "file" when the file cannot be written; "decode" when the body is not the JSON it says)
-- @usage local res = assert(client:request { method = "POST", path = "/api/x/", json = { a = 1 } })
function Client:request(req)
  if type(req) ~= "table" then core.misuse("client:request expects a table, got " .. type(req)) end
  if rawget(req, "json") ~= nil then req = with_json(req) end
  return self.session:request(req)
end

--- Many requests at once on one connection pool; one failure never cancels the others.
-- @param reqs list of request tables as for request
-- @param opts table: concurrency (default: the client's)
-- @return results and errs, two tables lined up with reqs (results[i] or errs[i] is set)
function Client:request_many(reqs, opts)
  if type(reqs) ~= "table" then core.misuse("client:request_many expects a list of requests, got " .. type(reqs)) end
  local prepared, n = reqs, rawlen(reqs) -- read raw, as the core reads them
  for i = 1, n do
    local req = rawget(reqs, i)
    if type(req) == "table" and rawget(req, "json") ~= nil then
      if prepared == reqs then
        prepared = {}
        for j = 1, n do prepared[j] = rawget(reqs, j) end
      end
      prepared[i] = with_json(req)
    end
  end
  return self.session:request_many(prepared, opts)
end

require("iblai.calls")(Client)
require("iblai.tasks").install(Client) -- client:wait_task(op, params, opts)

return M
