--- Bulk memory reset: deletes what the API remembers about users, store by store, and proves it.
--
-- For each user and store, every id is collected first (every page, following each `next`
-- link) and deleted afterwards (deleting while paging would skip records). Then the store is
-- listed again: a (user, store) pair is done only when that fresh listing comes back empty. What
-- is still there is deleted again, a few times at most; what remains after that is reported as
-- failed, with how many items remain. Users are worked on in rounds: each round is one
-- client:call_many holding the deletes and checks of the users already started and the listings
-- of the next users, so requests for many users are in flight at once. A pair proven empty is
-- written to the journal, and a rerun with the same journal skips it.
-- @module iblai.workflows.memory_reset
-- @usage
-- local reset = require "iblai.workflows.memory_reset"
-- local result = assert(reset.run(client, { users = { "jane", "li" }, journal = "reset.journal" }))
-- print(result.deleted.edx, result.verified_empty, #result.failed)
local errors = require "iblai.errors"
local json = require "iblai.json"
local paginate = require "iblai.paginate"
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

--- How many rounds of deletes a (user, store) pair gets before what still remains is reported.
M.PASSES = 3

--- The most items one listing of a (user, store) is read to: a listing that has not ended by
-- then (its next links go on and on) fails the pair instead of filling memory.
M.MAX_ITEMS = 100000

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
-- Each (user, store) pair goes: listed -> deleting -> checking (listed again) -> done, or back to
-- deleting while items remain and passes are left, or failed.
local Run = {}
Run.__index = Run

--- Hands an event to on_progress.
-- @local
function Run:emit(event)
  if self.on_progress then self.on_progress(event) end
end

-- An Error or message as one line, without the "iblai: " every Error starts with.
local function say(err)
  return (type(err) == "string" and err or tostring(err):gsub("^iblai: ", ""))
end

--- Ends a (user, store) pair: proven empty (journaled), or failed (left for a rerun), with how
-- many items remain when that is known.
-- @local
function Run:finish_pair(pair, err, remaining)
  local r = self.result
  pair.final = true
  if err then
    local message = say(err)
    r.failed[#r.failed + 1] = { user = pair.user, store = pair.store, error = message, remaining = remaining }
    self:emit { type = "pair", user = pair.user, store = pair.store, status = "failed", error = message,
      deleted = pair.deleted, remaining = remaining }
    return
  end
  if self.dry_run then
    local n = #pair.ids
    r.would_delete[pair.store] = r.would_delete[pair.store] + n
    r.plan[#r.plan + 1] = { user = pair.user, store = pair.store, ids = pair.ids }
    if n == 0 then r.already_empty, r.verified_empty = r.already_empty + 1, r.verified_empty + 1 end
  else
    if pair.deleted == 0 then r.already_empty = r.already_empty + 1 end
    r.verified_empty = r.verified_empty + 1
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

--- The call that reads a pair's store: the record of a single-record store, or the first page of
-- a listing.
-- @local
function Run:reading(pair)
  local s = M.STORE[pair.store]
  local params = { org = self.org, user_id = pair.user }
  if s.single then return { s.get, params } end
  if s.paged then params.page_size = self.page_size end
  if s.by_username then params.username = pair.user end
  return { s.list, params }
end

--- Starts a user: its pairs not in the journal, and their first calls. A username that cannot
-- be sent fails each of its pairs, with the reason.
-- @local
function Run:admit(listed, add)
  local user, usable, why = users_of.label(listed), users_of.check(listed)
  local u = { name = user, pairs = {} }
  for _, store in ipairs(self.stores) do
    if usable and self.finished[user .. "\0" .. store] then
      self.result.resumed = self.result.resumed + 1
      self:emit { type = "pair", user = user, store = store, status = "skipped" }
    else
      -- ours: the keys this run sent a delete for that may have deleted it (true for a single
      -- record), true when acknowledged, false when it failed (the item may be gone all the same)
      local pair = { user = user, store = store, ids = {}, deleted = 0, failures = {}, passes = 0, ours = {} }
      u.pairs[#u.pairs + 1] = pair
      local s = M.STORE[store]
      local function first(body, err) pair.answer, pair.answer_err = body, err end
      if not usable then
        self:finish_pair(pair, why .. "; nothing was sent for it")
      elseif s.single and not self.dry_run then
        add({ s.delete, { org = self.org, user_id = user } }, first)
        pair.passes = 1
      else
        add(self:reading(pair), first)
      end
    end
  end
  return u
end

--- The items of a listing's answer: a plain array, or every item of every page, the pages after
-- the first walked from the start by the pager (which follows each `next` and never stops at a
-- count). Nil and a message when the answer is not a listing.
-- @local
function Run:items(pair, body)
  local s = M.STORE[pair.store]
  if type(body) ~= "table" then return nil, "the listing did not answer with JSON" end
  if not s.paged then
    if #body == 0 and next(body) ~= nil then return nil, "the listing did not answer with a list" end
    return body
  end
  local list = body.results
  if type(list) ~= "table" then return nil, "the listing's answer has no results" end
  local more = (type(body.next) == "string" and body.next ~= "") or (math.tointeger(body.count) or 0) > #list
  if not more then return list end
  local call = self:reading(pair)
  local walk, err = paginate.walker(self.client, self.client:operation(call[1]), call[2])
  if not walk then return nil, err end
  local _ <close> = walk
  local all = {}
  while true do
    local page, failed, items = walk.next()
    if failed then return nil, failed end
    if not page then return all end
    table.move(items, 1, #items, #all + 1, all)
    if #all > M.MAX_ITEMS then
      return nil, ("the listing did not end after %d items; it is not read further"):format(M.MAX_ITEMS)
    end
  end
end

--- What a fresh read of a pair's store says: a list of the keys to delete and how many items
-- are there (a single record is one item, keyed by nothing); or nil and an Error or message.
-- @local
function Run:held(pair, body, err)
  local s = M.STORE[pair.store]
  if s.single then
    if is_404(err) then return {}, 0 end
    if err then return nil, err end
    return { type(body) == "table" and body.id ~= nil and body.id ~= json.null and body.id or s.title }, 1
  end
  if err then return nil, err end
  local items, ierr = self:items(pair, body)
  if not items then return nil, ierr end
  local keys, seen = {}, {}
  for _, item in ipairs(items) do
    local key = type(item) == "table" and s.key(item)
    if key ~= nil and key ~= json.null and not seen[key] then -- an item listed twice is deleted once
      seen[key] = true
      keys[#keys + 1] = key
    end
  end
  return keys, #items
end

--- Recounts what this run deleted of a pair from a read of it: the items a delete of ours was
-- sent for and not refused as already gone (404), acknowledged or failed (a delete can be done
-- and still answered 500), that the read no longer shows. A record that answered 404 was deleted
-- by someone else.
-- @local
function Run:recount(pair, keys, n)
  local gone, single = 0, M.STORE[pair.store].single
  if not keys then -- the read failed: what the server acknowledged stands
    for _, acknowledged in pairs(pair.ours) do gone = gone + (acknowledged and 1 or 0) end
  elseif single then
    -- a failed delete counts only of a record a read of this run showed (the first call was a delete)
    local ours = pair.ours[true] or (pair.ours[true] == false and pair.shown)
    gone = (ours and n == 0) and 1 or 0
    pair.shown = pair.shown or n > 0
  else
    local present = {}
    for _, key in ipairs(keys) do present[key] = true end
    for key in pairs(pair.ours) do
      if not present[key] then gone = gone + 1 end
    end
  end
  self.result.deleted[pair.store] = self.result.deleted[pair.store] + gone - pair.deleted
  pair.deleted = gone
end

--- A pair's store has just been read (first listed, or checked after deletes): done when empty,
-- deleted (again) while items remain and passes are left, failed otherwise.
-- @local
function Run:after_read(pair, body, err)
  local keys, n = self:held(pair, body, err)
  self:recount(pair, keys, n)
  if not keys then
    local what = pair.passes == 0 and "could not list it" or "could not check that it is empty"
    return self:finish_pair(pair, ("%s: %s"):format(what, say(n)))
  end
  if self.dry_run then
    pair.ids = keys
    return self:finish_pair(pair)
  end
  if n == 0 then return self:finish_pair(pair) end
  local last = pair.failures[1]
  local hopeless_pass = last and not last.retryable and last.kind ~= "network" and last.kind ~= "timeout"
  if pair.passes >= M.PASSES or hopeless_pass or #keys == 0 then
    local why = ("%d item%s remain%s after %d round%s of deletes"):format(n, n == 1 and "" or "s", n == 1 and "s" or "",
      pair.passes, pair.passes == 1 and "" or "s")
    if #keys < n then why = why .. (" (%d without a key to delete by)"):format(n - #keys) end
    if last then
      local more = #pair.failures > 1 and (" (and %d more failed deletes)"):format(#pair.failures - 1) or ""
      why = why .. "; " .. say(last) .. more
    end
    return self:finish_pair(pair, why, n)
  end
  pair.ids, pair.failures, pair.passes, pair.deleting = keys, {}, pair.passes + 1, true
end

--- What a delete's answer says of its item: ours unless a 404 says it was already gone (the
-- next read tells whether it really went); an error is also a failure.
-- @local
function Run:answered(pair, key, err)
  if is_404(err) then return end
  pair.ours[key] = pair.ours[key] or err == nil -- true once acknowledged
  if err then pair.failures[#pair.failures + 1] = err end
end

--- After a user's first calls: what each pair found, and what happens next. When every answer
-- was a 404, asks whether the user exists before calling it "nothing stored".
-- @local
function Run:after_first(u)
  local known, lists_404 = false, false
  for _, pair in ipairs(u.pairs) do
    if not pair.final and pair.answer_err == nil then known = true end
    if is_404(pair.answer_err) and not M.STORE[pair.store].single then lists_404 = true end
  end
  for _, pair in ipairs(u.pairs) do
    local s, err = M.STORE[pair.store], pair.answer_err
    if pair.final then
      goto next_pair -- failed at admission
    end
    if is_404(err) and not known then
      if lists_404 then
        self:finish_pair(pair, not_found(u.name))
      else
        pair.verify = true -- only single records answered, all 404: ask whether the user exists
      end
    elseif s.single and not self.dry_run then
      self:answered(pair, true, err)
      pair.checking = true -- read whether the record is still there
    else
      self:after_read(pair, pair.answer, err)
    end
    pair.answer, pair.answer_err = nil, nil
    ::next_pair::
  end
end

--- The calls a user still needs: its deletes, the reads that check them, or the check whether
-- the user exists.
-- @local
function Run:next_calls(u, add)
  local check
  for _, pair in ipairs(u.pairs) do
    local s = M.STORE[pair.store]
    if pair.deleting then
      pair.deleting, pair.pending = false, #pair.ids
      for _, key in ipairs(pair.ids) do
        local call = s.single and { s.delete, { org = self.org, user_id = u.name } }
          or { s.delete, { org = self.org, user_id = u.name, [s.param] = key } }
        add(call, function(_, err)
          pair.pending = pair.pending - 1
          self:answered(pair, s.single or key, err)
          if pair.pending == 0 then pair.checking = true end
        end)
      end
    elseif pair.checking then
      pair.checking = false
      add(self:reading(pair), function(body, err) pair.answer, pair.answer_err, pair.read = body, err, true end)
    elseif pair.verify then
      pair.verify = false
      check = check or {}
      check[#check + 1] = pair
    end
  end
  if check then
    add({ USER_CHECK, { org = self.org, user_id = u.name } }, function(_, err)
      for _, pair in ipairs(check) do
        if is_404(err) then
          self:finish_pair(pair, not_found(u.name))
        elseif err then
          self:finish_pair(pair, err)
        else
          pair.checking = true -- the user exists: read whether the record is there
        end
      end
    end)
  end
end

--- Whether every pair of a user has ended; handles the reads that came back this round.
-- @local
function Run:settle(u)
  local all = true
  for _, pair in ipairs(u.pairs) do
    if pair.read then
      pair.read = false
      self:after_read(pair, pair.answer, pair.answer_err)
      pair.answer, pair.answer_err = nil, nil
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
    if self.abort or (#calls == 0 and #admitted == 0) then break end
    if #calls > 0 then
      local results, errs = self.client:call_many(calls, { concurrency = self.concurrency })
      -- nothing got through: stop rather than fail every user the same way; a few calls failing
      -- together tell no outage, and their pairs fail on their own
      if #calls >= 4 and hopeless(errs, #calls) then
        self.abort = errs[1]
        break
      end
      for i = 1, #calls do handlers[i](results[i], errs[i]) end
    end
    for _, u in ipairs(admitted) do
      self:after_first(u)
      active[#active + 1] = u
    end
    local still = {}
    for _, u in ipairs(active) do
      if self:settle(u) then self:user_done(u) else still[#still + 1] = u end
    end
    active = still
    if self.journal and self.journal.sync then self:sync_journal() end
  end
end

--- Makes the journal's lines of this round durable; a journal that cannot be synced stops the
-- run as one that cannot be written does.
-- @local
function Run:sync_journal()
  local ok, why = self.journal:sync()
  if not ok and not self.abort then
    self.abort = errors.new { kind = "journal", message = why,
      hint = "free some space or fix the file's permissions, then rerun with the same --journal" }
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
--   pair {user, store, status = done|failed|skipped, deleted, error, remaining, ids}, user {user,
--   done, total, deleted}, finish {result})
-- @return the result: { users = N, deleted = {chats=, prompt=, edx=, profile=, mentor=} (what
--   this run deleted), verified_empty = pairs a fresh read after the deletes proved empty,
--   already_empty = those of them that had nothing to delete, failed = { {user, store, error,
--   remaining}, ... } (pairs not proven empty; remaining: how many items the last read found),
--   resumed = pairs skipped because the journal had them; with dry_run also would_delete
--   (counts per store) and plan ({user, store, ids} per pair) }; or nil and an Error when the run
--   could not start (bad options, an unusable journal, the users listing failed) or the journal
--   could not be written, or no request of a round (of 4 or more) reached the service or was let
--   in with the key (the run stops: rerun with the same journal once that is fixed)
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
  local result = { users = #users, deleted = {}, verified_empty = 0, already_empty = 0, failed = {}, resumed = 0 }
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
