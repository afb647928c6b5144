--- iblai: a client for the ibl.ai Data Manager API.
-- local client = assert(iblai.new{ api_key = "...", org = "main", username = "johndoe" })
-- local res, err = client:request{ path = "/api/...", query = {...} }
local core = require "iblai.core"
local errors = require "iblai.errors"
local query = require "iblai.query"
local json = require "iblai.json"

local M = { version = core.version, Error = core.Error }

local Client = {}
Client.__index = Client
M.Client = Client

local ENV = {
  base_url = "IBLAI_BASE_URL", api_key = "IBLAI_API_KEY", org = "IBLAI_ORG", username = "IBLAI_USERNAME",
}

local function config_error(message)
  return nil, errors.new { kind = "config", message = message }
end

--- Creates a client. Options as in iblai.core sessions, plus org and username.
function M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then error("iblai.new expects a table of options", 2) end
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

--- Creates a client from IBLAI_BASE_URL, IBLAI_API_KEY, IBLAI_ORG and IBLAI_USERNAME;
-- `overrides` wins over the environment.
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

function Client:__tostring()
  return ("iblai.Client(%s, org=%s, username=%s)"):format(self.base_url, self.org or "-", self.username or "-")
end

function Client:close()
  self.session:close()
end
Client.__close = Client.close

local REQUEST_FIELDS = {
  method = true, path = true, url = true, query = true, json = true, body = true, headers = true,
  timeout = true, retries = true, retry_unsafe = true, op = true, joined = true,
}

-- Default headers, shared by every request that adds none (the core only reads them).
local PLAIN = { Accept = "application/json" }
local JSON_BODY = { Accept = "application/json", ["Content-Type"] = "application/json" }

--- Turns a request description into the table the core sends.
function Client:prepare(req)
  for k in pairs(req) do
    if not REQUEST_FIELDS[k] then error(("unknown field '%s' in request"):format(tostring(k)), 3) end
  end
  local target = req.path or req.url
  if type(target) ~= "string" then error("request needs a path (a string starting with /)", 3) end
  local body, headers = req.body, req.headers and {} or PLAIN
  if req.headers then
    headers.Accept = "application/json"
    for k, v in pairs(req.headers) do headers[k] = v end
  end
  if req.json ~= nil then
    if body ~= nil then error("give a request either json or body, not both", 3) end
    local encoded, err = json.encode(req.json)
    if not encoded then error("request json cannot be encoded: " .. tostring(err), 3) end
    body = encoded
    if headers == PLAIN then
      headers = JSON_BODY
    else
      headers["Content-Type"] = headers["Content-Type"] or "application/json"
    end
  end
  return {
    method = req.method and req.method:upper() or "GET",
    url = query.append(target, req.query, req.joined),
    headers = headers, body = body, timeout = req.timeout, retries = req.retries,
    retry_unsafe = req.retry_unsafe,
  }
end

--- Decodes a raw core response into the result table, or an Error.
function Client:finish(res, op)
  local body, data = res.body, nil
  local ctype = (res.headers["content-type"] or ""):lower()
  if body == "" or res.method == "HEAD" then
    body = nil
  elseif ctype:find("json", 1, true) then
    local err
    data, err = json.decode(body)
    if data == nil and err then
      if res.status >= 200 and res.status < 300 then
        return nil, errors.new {
          kind = "decode", message = "the response is not valid JSON (" .. err .. ")", op = op,
          method = res.method, url = res.url, status = res.status, body = errors.excerpt(body),
          attempts = res.attempts,
        }
      end
    else
      body = data
    end
  end
  if res.status < 200 or res.status >= 300 then return nil, errors.from_response(res, data, op) end
  res.body = body -- the core's table is the result: status, headers, body, url, method, attempts
  return res
end

--- One HTTP request: { method, path, query, json | body, headers, timeout, retries, retry_unsafe }.
-- Returns { status, headers, body } with body decoded from JSON when it is JSON, or nil and an Error.
function Client:request(req)
  if type(req) ~= "table" then error("client:request expects a table", 2) end
  local res, err = self.session:request(self:prepare(req))
  if not res then
    err.op = req.op
    return nil, err
  end
  return self:finish(res, req.op)
end

--- Many requests at once on one connection pool; results[i] and errs[i] line up with reqs[i].
function Client:request_many(reqs, opts)
  local prepared = {}
  for i, req in ipairs(reqs) do prepared[i] = self:prepare(req) end
  local raw, failed = self.session:request_many(prepared, opts)
  local results, errs = {}, {}
  for i = 1, #reqs do
    local op = reqs[i].op
    if raw[i] then
      results[i], errs[i] = self:finish(raw[i], op)
    else
      failed[i].op = op
      errs[i] = failed[i]
    end
  end
  return results, errs
end

require("iblai.calls")(Client)
require("iblai.tasks").install(Client) -- client:wait_task(op, params, opts)

return M
