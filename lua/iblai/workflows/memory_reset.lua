--- Bulk memory reset: deletes what the API remembers about users, store by store.
--
-- For each user and store, every id is collected first and deleted afterwards (deleting while
-- paging would skip records). Users are worked on in rounds: each round is one client:call_many
-- holding the deletes of the users listed in the round before and the listings of the next
-- users, so requests for many users are in flight at once. A finished (user, store) is written
-- to the journal, and a rerun with the same journal skips it.
-- @module iblai.workflows.memory_reset
-- @usage
-- local reset = require "iblai.workflows.memory_reset"
-- local result = assert(reset.run(client, { users = { "jane", "li" }, journal = "reset.journal" }))
-- print(result.deleted.edx, #result.failed)
local errors = require "iblai.errors"
local Journal = require "iblai.workflows.journal"
local stores_of = require "iblai.workflows.memory_stores"
local users_of = require "iblai.workflows.users"

local M = {}

--- The stores, in the order they are reset (STORES), and what each one is (STORE), from
-- iblai.workflows.memory_stores.
-- @table STORES
M.STORES, M.STORE = stores_of.STORES, stores_of.STORE

--- Checks a list of store names (iblai.workflows.memory_stores.check).
-- @function check_stores
-- @param stores list of strings (nil means all)
-- @return the list, each store once, or nil and a message naming the wrong one
M.check_stores = stores_of.check

--- The journal header of a reset (a journal of another org or server is refused).
M.JOURNAL = "iblai memory-reset"

local USER_CHECK = stores_of.USER_CHECK
local PAGE_SIZE = 100 -- the most the listings allow

--- The header a journal of this reset must carry.
-- @param client an iblai client
-- @param org string
-- @return the header table for iblai.workflows.journal
function M.journal_header(client, org)
  return { journal = M.JOURNAL, keys = { "version", "org", "base_url" }, version = 1, org = org,
    base_url = client.base_url }
end

local function is_404(err)
  return err and err.kind == "http" and err.status == 404
end

local function not_found(user)
  return ("user '%s' not found (HTTP 404); check the username and the org"):format(user)
end

--- Whether every one of n calls failed the way every next call would: no answer from the
-- service (network errors, timeouts), or the key refused (HTTP 401).
-- @param errs the errors of client:call_many
-- @param n the number of calls
-- @return boolean
function M.hopeless(errs, n)
  for i = 1, n do
    local e = errs[i]
    local again = e and (e.kind == "network" or e.kind == "timeout" or (e.kind == "http" and e.status == 401))
    if not again then return false end
  end
  return n > 0
end
local hopeless = M.hopeless

-- A run: the options, the result being built, and the users being worked on.
local Run = {}
Run.__index = Run

--- Hands an event to on_progress.
-- @local
function Run:emit(event)
  if self.on_progress then self.on_progress(event) end
end

--- Ends a (user, store) pair: done (journaled) or failed (left for a rerun).
-- @local
function Run:finish_pair(pair, err)
  local r = self.result
  pair.final = true
  if err then
    local message = type(err) == "string" and err or tostring(err):gsub("^iblai: ", "")
    r.failed[#r.failed + 1] = { user = pair.user, store = pair.store, error = message }
    self:emit { type = "pair", user = pair.user, store = pair.store, status = "failed", error = message,
      deleted = pair.deleted }
    return
  end
  if self.dry_run then
    local n = #pair.ids
    r.would_delete[pair.store] = r.would_delete[pair.store] + n
    if n == 0 then r.already_empty = r.already_empty + 1 end
    r.plan[#r.plan + 1] = { user = pair.user, store = pair.store, ids = pair.ids }
  else
    if pair.deleted == 0 then r.already_empty = r.already_empty + 1 end
    local ok, why = true, nil
    if self.journal then ok, why = self.journal:append { user = pair.user, store = pair.store, deleted = pair.deleted } end
    if not ok and not self.abort then
      -- without the journal a rerun cannot know this pair is done: stop before doing more
      self.abort = errors.new { kind = "journal", message = why,
        hint = "free some space or fix the file's permissions, then rerun with the same --journal" }
    end
  end
  self:emit { type = "pair", user = pair.user, store = pair.store, status = "done", deleted = pair.deleted,
    ids = self.dry_run and pair.ids or nil }
end

--- Starts a user: its pairs not in the journal, and their first calls.
-- @local
function Run:admit(user, add)
  local u = { name = user, pairs = {} }
  for _, store in ipairs(self.stores) do
    if self.finished[user .. "\0" .. store] then
      self.result.resumed = self.result.resumed + 1
      self:emit { type = "pair", user = user, store = store, status = "skipped" }
    else
      local pair = { user = user, store = store, ids = {}, deleted = 0, failures = {} }
      u.pairs[#u.pairs + 1] = pair
      local s = M.STORE[store]
      local params = { org = self.org, user_id = user }
      if s.single then
        add({ self.dry_run and s.get or s.delete, params }, function(body, err) pair.first, pair.first_err = body, err end)
      else
        if s.paged then params.page_size = self.page_size end
        if s.by_username then params.username = user end
        add({ s.list, params }, function(body, err) pair.first, pair.first_err = body, err end)
      end
    end
  end
  return u
end

--- The items of a listing's answer: a plain array, or a page whose other pages are fetched here.
-- @local
function Run:items(pair, body)
  local s = M.STORE[pair.store]
  if type(body) ~= "table" then return nil, "the listing did not answer with JSON" end
  if not s.paged then return body end
  local list = body.results
  if type(list) ~= "table" then return nil, "the listing's answer has no results" end
  local count = math.tointeger(body.count)
  if count and count > #list and #list > 0 then
    -- the other pages, with the page size the server used for the first one
    local rest, err = self.client:collect(s.list, { org = self.org, user_id = pair.user, page = 2, page_size = #list,
      username = s.by_username and pair.user or nil })
    if not rest then return nil, err end
    table.move(rest, 1, #rest, #list + 1, list)
  end
  return list
end

--- After a user's first calls: what each pair found, and what happens next.
-- @local
function Run:after_first(u)
  local known, lists_404 = false, false
  for _, pair in ipairs(u.pairs) do
    if pair.first_err == nil then known = true end
    if is_404(pair.first_err) and not M.STORE[pair.store].single then lists_404 = true end
  end
  for _, pair in ipairs(u.pairs) do
    local s, err = M.STORE[pair.store], pair.first_err
    if is_404(err) and not known then
      if lists_404 then
        self:finish_pair(pair, not_found(u.name))
      else
        pair.verify = true -- only single records answered, all 404: ask whether the user exists
      end
    elseif s.single then
      if is_404(err) then
        self:finish_pair(pair) -- nothing stored
      elseif err then
        self:finish_pair(pair, err)
      else
        if self.dry_run then
          pair.ids[1] = type(pair.first) == "table" and pair.first.id or s.title
        else
          pair.deleted = 1
          self.result.deleted[pair.store] = self.result.deleted[pair.store] + 1
        end
        self:finish_pair(pair)
      end
    elseif err then
      self:finish_pair(pair, err)
    else
      local items, ierr = self:items(pair, pair.first)
      if not items then
        self:finish_pair(pair, ierr)
      else
        for _, item in ipairs(items) do
          local key = type(item) == "table" and s.key(item)
          if key ~= nil then pair.ids[#pair.ids + 1] = key end
        end
        if self.dry_run or #pair.ids == 0 then self:finish_pair(pair) else pair.deleting = true end
      end
    end
    pair.first = nil
  end
end

--- The calls a user still needs: its deletes, or the check whether it exists.
-- @local
function Run:next_calls(u, add)
  local check
  for _, pair in ipairs(u.pairs) do
    if pair.deleting and not pair.sent then
      pair.sent, pair.pending = true, #pair.ids
      local s = M.STORE[pair.store]
      for _, key in ipairs(pair.ids) do
        add({ s.delete, { org = self.org, user_id = u.name, [s.param] = key } }, function(_, err)
          pair.pending = pair.pending - 1
          if err == nil then
            pair.deleted = pair.deleted + 1
            self.result.deleted[pair.store] = self.result.deleted[pair.store] + 1
          elseif not is_404(err) then -- a 404 means it is already gone
            pair.failures[#pair.failures + 1] = err
          end
        end)
      end
    elseif pair.verify and not pair.sent then
      pair.sent = true
      check = check or {}
      check[#check + 1] = pair
    end
  end
  if check then
    add({ USER_CHECK, { org = self.org, user_id = u.name } }, function(_, err)
      for _, pair in ipairs(check) do
        pair.verify = false
        if is_404(err) then
          self:finish_pair(pair, not_found(u.name))
        else
          self:finish_pair(pair, err) -- nil when the user exists: its record was already gone
        end
      end
    end)
  end
end

--- Whether every pair of a user has ended; ends the pairs whose deletes have all answered.
-- @local
function Run:settle(u)
  local all = true
  for _, pair in ipairs(u.pairs) do
    if pair.deleting and pair.sent and pair.pending == 0 and not pair.final then
      local failures = pair.failures
      if #failures > 0 then
        local more = #failures > 1 and (" (and %d more failed deletes)"):format(#failures - 1) or ""
        self:finish_pair(pair, tostring(failures[1]):gsub("^iblai: ", "") .. more)
      else
        self:finish_pair(pair)
      end
    end
    if not pair.final then all = false end
  end
  return all
end

--- Counts a user as done and tells on_progress.
-- @local
function Run:user_done(u)
  self.done_users = self.done_users + 1
  local total = 0
  for _, n in pairs(self.dry_run and self.result.would_delete or self.result.deleted) do total = total + n end
  -- deleted: items deleted so far (found, in a dry run)
  self:emit { type = "user", user = u.name, done = self.done_users, total = #self.users, deleted = total }
end

--- Rounds until every user is done: the calls of the active users and of the newly admitted ones
-- in one call_many, then what their answers mean.
-- @local
function Run:loop()
  local active, next_user = {}, 1
  local per_round = math.max(4, 2 * self.concurrency)
  while true do
    local calls, handlers = {}, {}
    local function add(call, handler)
      calls[#calls + 1] = call
      handlers[#calls] = handler
    end
    for _, u in ipairs(active) do self:next_calls(u, add) end
    local admitted = {}
    while #admitted < per_round and next_user <= #self.users and not self.abort do
      local u = self:admit(self.users[next_user], add)
      next_user = next_user + 1
      if #u.pairs == 0 then self:user_done(u) else admitted[#admitted + 1] = u end
    end
    if #calls == 0 or self.abort then break end
    local results, errs = self.client:call_many(calls, { concurrency = self.concurrency })
    if hopeless(errs, #calls) then
      self.abort = errs[1] -- nothing got through: stop rather than fail every user the same way
      break
    end
    for i = 1, #calls do handlers[i](results[i], errs[i]) end
    for _, u in ipairs(admitted) do
      self:after_first(u)
      active[#active + 1] = u
    end
    local still = {}
    for _, u in ipairs(active) do
      if self:settle(u) then self:user_done(u) else still[#still + 1] = u end
    end
    active = still
  end
end

--- Resets the memory of users.
-- @param client an iblai client (its org is used unless opts.org is given)
-- @param opts table:
--   users (list of usernames) or all = true (every user of the org, from the users listing);
--   exclude (list of usernames to leave alone); stores (a subset of M.STORES, default all);
--   dry_run (list what would be deleted, delete nothing); concurrency (requests in flight,
--   default 8); page_size (items per listing page, default 100); journal (a file path, or a
--   journal from iblai.workflows.journal.open: finished (user, store) pairs are appended to it,
--   and skipped when it is given again); org; on_progress (function(event); events: start,
--   pair {user, store, status = done|failed|skipped, deleted, error, ids}, user {user, done,
--   total, deleted}, finish {result})
-- @return the result: { users = N, deleted = {chats=, prompt=, edx=, profile=, mentor=},
--   already_empty = pairs that had nothing to delete, failed = { {user, store, error}, ... },
--   resumed = pairs skipped because the journal had them; with dry_run also would_delete
--   (counts per store) and plan ({user, store, ids} per pair) }; or nil and an Error when the run
--   could not start (bad options, an unusable journal, the users listing failed) or the journal
--   could not be written, or no request of a round reached the service or was let in with the
--   key (the run stops: rerun with the same journal once that is fixed)
function M.run(client, opts)
  opts = opts or {}
  local stores, why = M.check_stores(opts.stores)
  if not stores then return nil, errors.new { kind = "validation", message = why, hint = "nothing was sent" } end
  local org = opts.org or client.org
  if type(org) ~= "string" or org == "" then
    return nil, errors.new { kind = "config", message = "no org: give opts.org or create the client with org" }
  end
  local concurrency, page_size = opts.concurrency or 8, opts.page_size or PAGE_SIZE
  if math.type(concurrency) ~= "integer" or concurrency < 1 then
    return nil, errors.new { kind = "validation", message = "concurrency must be a whole number >= 1" }
  end
  if math.type(page_size) ~= "integer" or page_size < 1 or page_size > PAGE_SIZE then
    return nil, errors.new { kind = "validation", message = "page_size must be a whole number from 1 to 100" }
  end
  local journal, finished, opened = nil, {}, nil
  if type(opts.journal) == "table" then
    journal = opts.journal -- opened by the caller (Journal.open), who closes it
  elseif opts.journal then
    local jerr
    if opts.dry_run then
      journal, jerr = Journal.read(opts.journal, M.journal_header(client, org))
      journal = journal and { entries = journal } -- read only: a dry run writes nothing
    else
      journal, jerr = Journal.open(opts.journal, M.journal_header(client, org))
      opened = journal
    end
    if not journal then return nil, errors.new { kind = "config", message = jerr } end
  end
  local _ <close> = opened
  for _, e in ipairs(journal and journal.entries or {}) do finished[e.user .. "\0" .. tostring(e.store)] = true end
  if journal and not journal.append then journal = nil end
  local list = opts.users or {}
  if opts.all then
    local everyone, err = users_of.of_org(client, org)
    if not everyone then return nil, err end
    list = everyone
  end
  local users = users_of.select({ list }, opts.exclude)
  local result = { users = #users, deleted = {}, already_empty = 0, failed = {}, resumed = 0 }
  for _, s in ipairs(M.STORES) do result.deleted[s] = 0 end
  if opts.dry_run then
    result.would_delete, result.plan = {}, {}
    for _, s in ipairs(M.STORES) do result.would_delete[s] = 0 end
  end
  local run = setmetatable({
    client = client, org = org, stores = stores, users = users, dry_run = opts.dry_run, concurrency = concurrency,
    page_size = page_size,
    journal = journal, finished = finished, on_progress = opts.on_progress, result = result, done_users = 0,
  }, Run)
  run:emit { type = "start", users = #users, stores = stores, dry_run = opts.dry_run and true or false }
  run:loop()
  if run.abort then return nil, run.abort end
  run:emit { type = "finish", result = result }
  return result
end

return M
