--- Chat-history export: one file per user, written whole or not at all.
--
-- For each user an export task is started (POST export-chathistory), then its download is polled
-- with growing intervals until the answer is the history rather than {"state": ...} (both
-- answer 200), or the deadline passes. Up to `concurrency` users are exported at once; the polls
-- that are due go out together. A user whose file already exists is skipped, so a rerun resumes.
--
-- The file is the body the server sent, byte for byte: each poll's answer streams to a hidden
-- temporary file beside the final one (never held in memory, never decoded and written again),
-- a JSON one is checked as it arrives, the file is synced to the disk, then renamed into place.
-- @module iblai.workflows.chat_export
-- @usage
-- local export = require "iblai.workflows.chat_export"
-- local result = assert(export.run(client, { users = { "jane", "li" }, out = "exports" }))
-- print(result.exported, #result.timed_out, #result.failed)
local core = require "iblai.core"
local errors = require "iblai.errors"
local files = require "iblai.workflows.files"
local tasks = require "iblai.tasks"
local users_of = require "iblai.workflows.users"
local hopeless = require("iblai.workflows.memory_reset").hopeless

local M = {}

M.FORMATS = { json = "json", csv = "csv" }
M.START = "ai_mentor_orgs_users_export_chathistory_create"
M.POLL = "ai_mentor_orgs_users_downloads_tasks_retrieve"

--- The file a user's export goes to.
-- @param out string the directory
-- @param username string
-- @param format "json" or "csv"
-- @return the path, or nil and a message when the username cannot be a file name
function M.path_for(out, username, format)
  local name, why = files.safe_name(username)
  if not name then return nil, why end
  return (out:gsub("/+$", "")) .. "/" .. name .. "." .. format
end

-- Why the answer that said "done" (already in the temporary file, and checked by the core when
-- it says it is JSON) cannot be the user's file; nil when it can.
local function unfit(res, format)
  local ctype = res.headers["content-type"] or ""
  local is_json = ctype:lower():find("json", 1, true) ~= nil
  if res.bytes == 0 then return "the answer is empty" end
  if format == "csv" and is_json then return "CSV was asked for but the answer is JSON" end
  if format == "json" and not is_json then
    return ("the answer is not JSON (Content-Type: %s)"):format(ctype == "" and "none" or ctype)
  end
  return nil
end

-- An Error as one line for the result, without the "iblai: " every Error starts with.
local function say(err)
  return (tostring(err):gsub("^iblai: ", ""))
end

local function is_404(err)
  return err.kind == "http" and err.status == 404
end

local Run = {}
Run.__index = Run

--- Hands an event to on_progress.
-- @local
function Run:emit(event)
  if self.on_progress then self.on_progress(event) end
end

--- Ends a user: status is exported, skipped, failed or timed_out.
-- @local
function Run:finish(user, status, detail)
  local r = self.result
  if status == "exported" then
    r.exported = r.exported + 1
  elseif status == "skipped" then
    r.skipped = r.skipped + 1
  elseif status == "timed_out" then
    r.timed_out[#r.timed_out + 1] = user
  else
    r.failed[#r.failed + 1] = { user = user, error = detail }
  end
  self.done_users = self.done_users + 1
  self:emit { type = "user", user = user, status = status, detail = detail, done = self.done_users,
    total = #self.users, exported = r.exported }
end

--- Starts the export task of each user in `batch` ({user, path} pairs), all at once.
-- @local
function Run:start(batch)
  local calls = {}
  for i, job in ipairs(batch) do
    -- a repeated start only makes another task, so a lost answer is worth retrying
    calls[i] = { M.START, { org = self.org, user_id = job.user }, { retry_unsafe = true } }
  end
  local results, errs = self.client:call_many(calls, { concurrency = self.concurrency })
  if hopeless(errs, #calls) then
    self.abort = errs[1] -- nothing got through: stop rather than fail every user the same way
    return
  end
  for i, job in ipairs(batch) do
    local body, err = results[i], errs[i]
    local id = type(body) == "table" and body.task_id
    if err then
      self:finish(job.user, "failed", is_404(err)
        and ("user '%s' not found (HTTP 404); check the username and the org"):format(job.user) or say(err))
    elseif type(id) ~= "string" and math.type(id) ~= "integer" then
      self:finish(job.user, "failed", "the export did not start: the answer has no task_id")
    else
      self.jobs[job.user] = job
      self.polls:add(job.user, M.POLL, { org = self.org, user_id = job.user, task_id = tostring(id),
        to_csv = self.format == "csv" or nil }, { to_file = job.tmp })
    end
  end
end

--- Writes the file of a user whose task ended, or records why there is none.
-- @local
function Run:ended(done)
  local job = self.jobs[done.key]
  self.jobs[done.key] = nil
  if done.err then
    os.remove(job.tmp)
    if done.err.kind == "timeout" and not done.err.last_error then -- polls failing till the end is a failure
      self:finish(job.user, "timed_out", say(done.err))
    else
      self:finish(job.user, "failed", say(done.err))
    end
    return
  end
  local why = unfit(done.body, self.format)
  local ok = not why
  if ok then
    ok, why = files.commit(job.tmp, job.path)
  else
    os.remove(job.tmp)
  end
  if ok then
    self.result.files[#self.result.files + 1] = job.path
    self:finish(job.user, "exported", job.path)
  else
    self:finish(job.user, "failed", why)
  end
end

--- Keeps up to `concurrency` users between start and file: admits users, starts their tasks,
-- polls what is due, writes what is ready.
-- @local
function Run:loop()
  local next_user = 1
  while true do
    local batch = {}
    while self.polls:count() + #batch < self.concurrency and next_user <= #self.users do
      local listed = self.users[next_user]
      local user = users_of.label(listed)
      next_user = next_user + 1
      local path, why = users_of.check(listed)
      if path then path, why = M.path_for(self.out, user, self.format) else why = why .. "; nothing was sent for it" end
      if not path then
        self:finish(user, "failed", why)
      elseif not self.force and files.exists(path) then
        self:finish(user, "skipped", path)
      else
        batch[#batch + 1] = { user = user, path = path, tmp = files.temp_path(path) }
      end
    end
    if #batch > 0 then self:start(batch) end
    if self.abort then return end
    if self.polls:count() == 0 then
      if next_user > #self.users then break end
    else
      for _, done in ipairs(self.polls:step()) do self:ended(done) end
    end
  end
end

--- Exports the chat history of users, one file each.
-- @param client an iblai client (its org is used unless opts.org is given)
-- @param opts table:
--   users (list of usernames) or all = true (every user of the org); exclude (list);
--   out (directory, created when missing, and removed again when the run wrote nothing in it);
--   format ("json", the default, or "csv");
--   force (export again when the file exists); concurrency (users at once, default 8);
--   deadline (seconds a task may take, default 600); poll_initial (seconds between the first
--   polls, default 1, growing x1.5); poll_max (the largest interval, default 15); org;
--   on_progress (function(event), events: start, user, finish); sleep (function(seconds))
-- @return the result: { users = N, exported = n, skipped = n (their file existed),
--   timed_out = {usernames}, failed = { {user, error}, ... }, files = {paths written}, out = dir },
--   or nil and an Error when the run could not start (bad options, an unwritable directory,
--   the users listing failed) or none of a batch of starts reached the service or was let in
--   with the key (the files written so far stay; a rerun skips them)
function M.run(client, opts)
  opts = opts or {}
  local function bad(message)
    return nil, errors.new { kind = "validation", message = message, hint = "nothing was sent" }
  end
  local format = M.FORMATS[opts.format or "json"]
  if not format then return bad(("unknown format '%s'; use json or csv"):format(tostring(opts.format))) end
  if type(opts.out) ~= "string" then return bad("opts.out (the directory for the files) is required") end
  local org = opts.org or client.org
  if type(org) ~= "string" or org == "" then
    return nil, errors.new { kind = "config", message = "no org: give opts.org or create the client with org" }
  end
  local concurrency = opts.concurrency or 8
  if math.type(concurrency) ~= "integer" or concurrency < 1 then return bad("concurrency must be a whole number >= 1") end
  local writable, created = files.writable_dir(opts.out)
  if not writable then return nil, errors.new { kind = "config", message = created } end
  -- One run at a time in a directory: two would write the same temporary files. The lock is the
  -- directory's own (flock), so nothing is left in it; a file system without flock goes unlocked.
  local lock = io.open(opts.out, "r")
  if lock then
    local locked, _, state = core.lock_file(lock)
    if not locked and state == "busy" then
      lock:close()
      return nil, errors.new { kind = "config", message = ("another export is writing in %s"):format(opts.out),
        hint = "wait for it to end, or give another directory" }
    end
  end
  local jobs = {} -- user -> {user, path, tmp}, while the user's task is polled
  -- whatever way the run ends (an error, Ctrl-C): no temporary file left, no directory it made left empty
  local _ <close> = setmetatable({}, { __close = function()
    for _, job in pairs(jobs) do os.remove(job.tmp) end
    if lock then lock:close() end
    files.remove_created(created)
  end })
  local list = opts.users or {}
  if opts.all then
    local everyone, err = users_of.of_org(client, org)
    if not everyone then return nil, err end
    list = everyone
  end
  local users = users_of.select({ list }, opts.exclude)
  local timing = { deadline = opts.deadline, interval = opts.poll_initial, max_interval = opts.poll_max,
    concurrency = concurrency, sleep = opts.sleep }
  local timing_ok, timing_why = tasks.check(timing)
  if not timing_ok then return bad(timing_why) end
  local polls = tasks.pollset(client, timing)
  local result = { users = #users, exported = 0, skipped = 0, timed_out = {}, failed = {}, files = {}, out = opts.out }
  local run = setmetatable({
    client = client, org = org, users = users, out = opts.out, format = format, force = opts.force,
    concurrency = concurrency, polls = polls, jobs = jobs, result = result, on_progress = opts.on_progress,
    done_users = 0,
  }, Run)
  run:emit { type = "start", users = #users, format = format, out = opts.out }
  run:loop()
  if run.abort then return nil, run.abort end
  run:emit { type = "finish", result = result }
  return result
end

return M
