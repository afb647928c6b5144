--- Waiting for the API's asynchronous tasks: poll an operation with growing intervals until its
-- answer says the task is done, or a deadline passes.
-- Several tasks are polled together with a poll set: each round sends every poll that is due at
-- once (client:call_many), then sleeps until the next one is due.
-- @module iblai.tasks
-- @usage
-- local history, err = client:wait_task("ai_mentor_orgs_users_downloads_tasks_retrieve",
--   { user_id = "jane", task_id = id }, { deadline = 600, interval = 1, max_interval = 15 })
local core = require "iblai.core"
local errors = require "iblai.errors"
local json = require "iblai.json"

local M = {}

--- Defaults: seconds until giving up, first interval, the largest interval, the growth factor.
M.DEFAULTS = { deadline = 600, interval = 1, max_interval = 15, factor = 1.5 }

--- Sleeps for `seconds` on the monotonic clock (core.sleep: Ctrl-C stops it at once, with the
-- error "interrupted!").
-- @param seconds number
function M.sleep(seconds)
  core.sleep(seconds)
end

--- The default reading of a poll's answer, as the API's download tasks answer: a body holding
-- a `state` field (such as {"state": "task_not_ready"}) means not ready; anything else is the
-- result. Both answer 200.
-- @param body the decoded body (a table, or text such as CSV)
-- @return "done" or "pending"; or nil and a message when the task failed
function M.ready(body)
  if type(body) == "table" and body.state ~= nil then return "pending" end
  return "done"
end

-- Errors worth polling through: the client already retried them, and the task may still finish.
local function transient(err)
  return err.retryable or err.kind == "network" or err.kind == "timeout"
end

--- Checks the timing options of a poll set (missing ones take the defaults).
-- @param opts table: deadline, interval, max_interval, factor
-- @return true, or nil and a message
function M.check(opts)
  local function get(k) return opts[k] == nil and M.DEFAULTS[k] or opts[k] end
  for k in pairs(M.DEFAULTS) do
    local v = get(k)
    if type(v) ~= "number" or v ~= v or v == math.huge or v < 0 then
      return nil, ("%s must be a finite number of seconds >= 0"):format(k)
    end
  end
  if get("interval") <= 0 then return nil, "interval must be more than 0 seconds" end
  if get("max_interval") < get("interval") then return nil, "max_interval must be at least interval" end
  if get("factor") < 1 then return nil, "factor must be 1 or more" end
  return true
end

local Set = {}
Set.__index = Set

--- Creates a poll set.
-- @param client an iblai client
-- @param opts table (all optional): deadline (seconds after add), interval (seconds before the
--   second poll), max_interval, factor (growth per poll), concurrency (polls in flight),
--   ready (function(body) as M.ready; true and false may stand for "done" and "pending"),
--   on_poll (function(key, body, err, polls)), sleep (function(seconds)), clock (function())
-- @return the set (wrong timing options raise; M.check tells first)
function M.pollset(client, opts)
  opts = opts or {}
  local self = setmetatable({ client = client, entries = {}, size = 0 }, Set)
  local ok, why = M.check(opts)
  if not ok then core.misuse("tasks: " .. why) end
  for k, v in pairs(M.DEFAULTS) do
    if opts[k] == nil then self[k] = v else self[k] = opts[k] end
  end
  self.concurrency = opts.concurrency
  self.classify = opts.ready or M.ready
  self.on_poll = opts.on_poll
  self.sleep = opts.sleep or M.sleep
  self.clock = opts.clock or core.now
  return self
end

--- Adds a task: it is polled at once, then after interval, interval * factor, ... seconds.
-- @param key any value naming the task in what step returns
-- @param op string the operationId to poll
-- @param params table its parameters
-- @param call_opts table of call options for each poll, or nil. With to_file, every answer is
--   written to that file as it arrives (a large result is never held in memory); the ready
--   function then reads the answer decoded when it is JSON under 64 KiB (a status such as
--   {"state": ...}), and nil otherwise (the result itself, whatever its size), and what step
--   returns as the body is the response ({file, bytes, headers, ...}).
function Set:add(key, op, params, call_opts)
  local now = self.clock()
  self.entries[key] = { op = op, params = params, opts = call_opts, due = now, ends = now + self.deadline,
    interval = self.interval, polls = 0 }
  self.size = self.size + 1
end

--- How many tasks are still being polled.
-- @return integer
function Set:count()
  return self.size
end

-- The error for a task whose deadline passed; last_error is the last poll's own Error when that
-- poll failed (the task may have been ready, its answer lost).
local function timed_out(e, seconds)
  local last = e.last_error and ("; the last poll failed: " .. e.last_error.message) or ""
  return errors.new {
    kind = "timeout", op = e.op, message = ("the task was not ready after %gs (%d polls)%s"):format(seconds, e.polls, last),
    hint = "raise the deadline, or poll again later", last_error = e.last_error,
  }
end

--- Waits until at least one poll is due, sends every due poll at once, and returns the tasks
-- that ended: { {key =, body =} | {key =, err =}, ... } (err.kind is "timeout" when the deadline
-- passed; its last_error is the Error of the last poll when that poll failed). Unfinished tasks
-- are polled again by later steps.
-- @return list of finished tasks (possibly empty)
function Set:step()
  local first
  for _, e in pairs(self.entries) do
    if not first or e.due < first then first = e.due end
  end
  if not first then return {} end
  local wait = first - self.clock()
  if wait > 0 then self.sleep(wait) end
  local now = self.clock()
  local keys, calls = {}, {}
  for key, e in pairs(self.entries) do
    if e.due <= now + 0.001 then
      keys[#keys + 1] = key
      calls[#calls + 1] = { e.op, e.params, e.opts }
    end
  end
  local results, errs = self.client:call_many(calls, { concurrency = self.concurrency })
  now = self.clock()
  local finished = {}
  for i, key in ipairs(keys) do
    local e, body, err = self.entries[key], results[i], errs[i]
    e.polls = e.polls + 1
    if self.on_poll then self.on_poll(key, body, err, e.polls) end
    local state, why
    e.last_error = err
    if err then
      state = transient(err) and "pending" or "failed"
    else
      local seen = body
      if e.opts and e.opts.to_file then
        seen = body.body and json.decode(body.body) -- nil: too large to be a status, or not JSON
      end
      state, why = self.classify(seen)
      if state == true then state = "done" elseif state == false then state = "pending" end
      if state ~= "done" and state ~= "pending" then
        state, err = "failed", errors.new { kind = "task", op = e.op, message = "the task failed: " .. tostring(why),
          hint = "start it again, or ask the service why" }
      end
    end
    if state == "pending" and now >= e.ends then state, err = "failed", timed_out(e, self.deadline) end
    if state == "pending" then
      e.due = math.min(now + e.interval, e.ends)
      e.interval = math.min(e.interval * self.factor, self.max_interval)
    else
      self.entries[key] = nil
      self.size = self.size - 1
      finished[#finished + 1] = state == "done" and { key = key, body = body, polls = e.polls }
        or { key = key, err = err, polls = e.polls }
    end
  end
  return finished
end

--- Polls one task until it is done.
-- @param client an iblai client
-- @param op string the operationId to poll (e.g. ai_mentor_orgs_users_downloads_tasks_retrieve)
-- @param params table its parameters
-- @param opts table as for pollset (deadline, interval, max_interval, factor, ready, sleep, clock),
--   with on_poll(body, err, polls) called after each poll
-- @return the body of the answer that said done, or nil and an Error (kind "timeout" when the
--   deadline passed; the Error of the poll when it failed for good)
function M.wait(client, op, params, opts)
  if type(op) ~= "string" then core.misuse("wait_task expects an operationId string, got " .. type(op)) end
  if params ~= nil and type(params) ~= "table" then core.misuse("wait_task parameters must be a table, got " .. type(params)) end
  if opts ~= nil and type(opts) ~= "table" then core.misuse("wait_task options must be a table, got " .. type(opts)) end
  opts = opts or {}
  local on_poll = opts.on_poll
  local set_opts = setmetatable({
    on_poll = on_poll and function(_, body, err, polls) on_poll(body, err, polls) end,
  }, { __index = opts })
  local set = M.pollset(client, set_opts)
  set:add(1, op, params)
  while true do
    local done = set:step()[1]
    if done then
      if done.err then return nil, done.err end
      return done.body
    end
  end
end

--- Polls one task until it is done: M.wait with this client (see install).
-- @function Client:wait_task
-- @param op string the operationId to poll
-- @param params table its parameters
-- @param opts table as for M.wait, or nil
-- @return the body of the answer that said done, or nil and an Error

--- Gives the client a wait_task(op, params, opts) method (see M.wait).
-- @param Client the client class of iblai
function M.install(Client)
  -- documented above M.install: the reference reads no comment inside a documented function
  function Client:wait_task(op, params, opts)
    return M.wait(self, op, params, opts)
  end
end

return M
