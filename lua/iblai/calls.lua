--- Operations by operationId: client:call, call_many, each, pages and collect.
-- Parameters are checked against the generated facts before anything is sent. The file adds
-- these methods to the Client class; they are documented with it.
-- @module iblai

--- The Client's operation methods.
-- @type Client
local core = require "iblai.core"
local errors = require "iblai.errors"
local ops = require "iblai.ops"
local paginate = require "iblai.paginate"
local validate = require "iblai.validate"

local misuse = core.misuse

return function(Client)
  local CALL_OPTIONS = { timeout = true, retries = true, retry_unsafe = true, headers = true, to_file = true }

  local function unknown_op(id)
    local guess = type(id) == "string" and ops.closest(id, ops.ids())
    return nil, errors.new {
      kind = "validation", op = tostring(id),
      message = ("unknown operation '%s'%s"):format(tostring(id), guess and ("; did you mean '%s'?"):format(guess) or ""),
      hint = "`iblai ops PATTERN` lists the operations; nothing was sent",
    }
  end

  --- The facts of an operation: method, path, params, body, envelope, ...
  -- @param id string the operationId
  -- @return the facts (a table), or nil when there is no such operation
  -- @usage print(client:operation("ai_mentor_orgs_users_artifacts_list").path)
  function Client:operation(id)
    return ops.get(id)
  end

  --- Checks params and builds the request for an operation, sending nothing.
  -- @param op the operation's facts, or its operationId
  -- @param params table of parameters (path, query and body fields, or the whole body as body)
  -- @param opts table of call options: timeout, retries, retry_unsafe, headers, to_file
  -- @return the request ({ method, path, query, joined, json, op } plus the call options), or
  --   nil and an Error of kind "validation" (with param, expected and got)
  function Client:prepare_call(op, params, opts)
    if type(op) == "string" then
      local found = ops.get(op)
      if not found then return unknown_op(op) end
      op = found
    end
    if opts ~= nil and type(opts) ~= "table" then misuse("call options must be a table, got " .. type(opts)) end
    local defaults = self.defaults -- {org} and {user_id}, kept while the client's own stay the same
    if not defaults or defaults.org ~= self.org or defaults.user_id ~= self.username then
      defaults = { org = self.org, user_id = self.username }
      self.defaults = defaults
    end
    local req, err = validate.request(op, params, defaults)
    if not req then return nil, err end
    if opts then
      for k, v in pairs(opts) do
        if not CALL_OPTIONS[k] then misuse(("unknown call option '%s'"):format(tostring(k))) end
        req[k] = v
      end
    end
    return req
  end

  -- What call hands back for a response: its body, true when there is none, and true plus the
  -- body when the body is JSON false, so that a false first value always means failure; with
  -- to_file, the response itself (its body is in the file).
  local function result_of(res)
    if res.file then return res end
    local body = res.body
    if body == nil then return true end
    if body == false then return true, false end
    return body
  end

  --- Calls an operation. {org} and {user_id} come from the client unless params gives them;
  -- path parameters are percent-encoded; nothing is sent when the parameters are wrong.
  -- @param id string the operationId
  -- @param params table of parameters, or nil
  -- @param opts table of call options: timeout, retries, retry_unsafe, headers, to_file (a path:
  --   a 2xx body is written there as it arrives, see Client:request); or nil
  -- @return the decoded body (true when there is none; true, false for a JSON false;
  --   iblai.null for a JSON null), with to_file the response ({status, headers, file, bytes,
  --   body = its text when under 64 KiB}); or nil and an Error
  -- @usage local art, err = client:call("ai_mentor_orgs_users_artifacts_retrieve", { id = 42 })
  function Client:call(id, params, opts)
    if type(id) ~= "string" then misuse("client:call expects an operationId string, got " .. type(id)) end
    local req, err = self:prepare_call(id, params, opts)
    if not req then return nil, err end
    local res
    res, err = self:request(req)
    if not res then return nil, err end
    return result_of(res)
  end

  --- Many calls at once. A call that fails validation is not sent; a failure never cancels the
  -- others. Calls go out while later ones are still being prepared, and answers are read as
  -- they arrive.
  -- @param calls list of { op_id, params [, call options] }
  -- @param opts table: concurrency (default: the client's); or nil
  -- @return results and errs, lined up with calls: results[i] is what call would return, or
  --   errs[i] is the Error
  -- @usage local results, errs = client:call_many({ { "op_a", { id = 1 } }, { "op_b", {} } }, { concurrency = 32 })
  function Client:call_many(calls, opts)
    if type(calls) ~= "table" then misuse("client:call_many expects a list of {op_id, params}, got " .. type(calls)) end
    if opts ~= nil and type(opts) ~= "table" then misuse("call_many options must be a table, got " .. type(opts)) end
    local concurrency = opts and opts.concurrency or self.concurrency
    local results, errs, where = {}, {}, {}
    local stream <close> = self.session:stream { concurrency = concurrency, bodies = true }
    local sent, taken = 0, 0
    local function take()
      taken = taken + 1
      local i = where[taken]
      where[taken] = nil
      local _, body, err = stream:next()
      if body ~= nil then
        results[i] = body == false or body -- as call's first value: truthy on every success
      else
        errs[i] = err
      end
    end
    for i = 1, #calls do
      local c = calls[i]
      if type(c) ~= "table" or type(c[1]) ~= "string" then
        misuse(("call %d must be {op_id, params}"):format(i))
      end
      local req, err = self:prepare_call(c[1], c[2], c[3])
      if req then
        stream:add(req.json == nil and req or self:prepare(req))
        sent = sent + 1
        where[sent] = i
        if sent - taken > 2 * concurrency then take() end
      else
        errs[i] = err
      end
    end
    while taken < sent do take() end
    return results, errs
  end

  -- The walk as the loop's closing value, so that break releases it at once; none on a Lua that
  -- miscompiles that break (core.safe_for_close), where the walk goes when it is collected.
  local function closing(w)
    if core.safe_for_close then return w end
    return nil
  end

  local function walker(self, id, params, opts)
    local op = ops.get(id)
    if not op then
      local _, err = unknown_op(id)
      error(err, 3)
    end
    local w, err = paginate.walker(self, op, params, opts)
    if not w then error(err, 3) end
    return w
  end

  --- Iterates over the page bodies of a listing, whatever its envelope; when the first page
  -- tells the total, the next pages are fetched ahead, concurrently. Raises the Error if a page
  -- fails; `break` stops the requests still in flight.
  -- @param id string the operationId of a listing
  -- @param params table of parameters (the page size defaults to the largest allowed), or nil
  -- @param opts table: concurrency, and the call options timeout, retries, headers; or nil
  -- @return an iterator for a generic for (with a closing value from Lua 5.4.5 on)
  -- @usage for page in client:pages("core_platform_users_retrieve", {}) do print(#page.results) end
  function Client:pages(id, params, opts)
    local w = walker(self, id, params, opts)
    local function iter()
      local body, err = w.next()
      if err then error(err, 2) end
      return body
    end
    return iter, nil, nil, closing(w)
  end

  --- Iterates over the items of every page of a listing, as pages does.
  -- @param id string the operationId of a listing
  -- @param params table of parameters, or nil
  -- @param opts table: concurrency, and the call options timeout, retries, headers; or nil
  -- @return an iterator for a generic for (with a closing value from Lua 5.4.5 on); raises the
  --   Error of a page
  -- @usage for item in client:each("ai_mentor_orgs_users_artifacts_list", {}) do print(item.id) end
  function Client:each(id, params, opts)
    local w = walker(self, id, params, opts)
    local items, i = nil, 0
    local function iter()
      while true do
        if items and i < #items then
          i = i + 1
          return items[i]
        end
        local body, err, list = w.next()
        if err then error(err, 2) end
        if not body then return nil end
        items, i = list, 0
      end
    end
    return iter, nil, nil, closing(w)
  end

  --- Every item of every page of a listing in one list.
  -- @param id string the operationId of a listing
  -- @param params table of parameters, or nil
  -- @param opts table as for pages, or nil
  -- @return the list, or nil and an Error
  function Client:collect(id, params, opts)
    local op = ops.get(id)
    if not op then return unknown_op(id) end
    local w, err = paginate.walker(self, op, params, opts)
    if not w then return nil, err end
    local out = {}
    while true do
      local body, failed, list = w.next()
      if failed then
        w.close()
        return nil, failed
      end
      if not body then break end
      table.move(list, 1, #list, #out + 1, out)
    end
    w.close()
    return out
  end
end
