--- iblai: a client for the ibl.ai Data Manager API.
-- local client = assert(iblai.new{ api_key = "...", org = "main", username = "johndoe" })
-- local res, err = client:request{ path = "/api/...", query = {...} }
local core = require "iblai.core"
local errors = require "iblai.errors"
local json = require "iblai.json"

local M = { version = core.version, Error = core.Error, null = json.null }

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

--- Creates a client. Options as in iblai.core sessions, plus org and username.
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

--- Turns a request description into what the core sends (only a json field needs work).
function Client:prepare(req)
  if req.json ~= nil then return with_json(req) end
  return req
end

--- One HTTP request: { method, path | url, query, json | body, headers, timeout, retries,
-- retry_unsafe, op }. Returns { status, headers, body, url, method, attempts } with the body
-- decoded when it is JSON, or nil and an Error (every status other than 2xx is one).
function Client:request(req)
  if type(req) ~= "table" then core.misuse("client:request expects a table, got " .. type(req)) end
  if rawget(req, "json") ~= nil then req = with_json(req) end
  return self.session:request(req)
end

--- Many requests at once on one connection pool; results[i] and errs[i] line up with reqs[i].
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
