--- Walking every page of a listing, whatever its envelope. When the first page tells how many
-- pages there are, the rest are requested concurrently through a stream of the C core and
-- handed out in order; otherwise the `next` links are followed one at a time.
-- client:pages, client:each and client:collect are built on it.
-- @module iblai.paginate
local core = require "iblai.core"
local errors = require "iblai.errors"
local json = require "iblai.json"

local M = {}

local function int(v)
  return math.type(v) == "integer" and v or (type(v) == "number" and v == math.floor(v) and math.tointeger(v)) or nil
end

-- How many pages count items take at size a page; nil when either is not a usable number (a
-- negative count is no count at all: the next links are followed instead).
local function pages_for(count, size)
  count, size = int(count), int(size)
  if not count or not size or size < 1 or count < 0 then return nil end
  return math.max(1, math.tointeger(math.ceil(count / size)) or math.maxinteger)
end

-- The whole-number value of query parameter `name` in a link (absolute or relative); `absent`
-- when the link has none (DRF drops the parameter from links to the first page); false when the
-- parameter is not a whole number; nil when there is no link.
local function link_param(link, name, absent)
  if type(link) ~= "string" or link == "" then return nil end
  for k, v in (link:match("%?([^#]*)") or ""):gmatch("([^&=]+)=?([^&]*)") do
    if k == name then return math.tointeger(tonumber(v)) or false end
  end
  return absent
end

-- Per envelope kind: where the items are, how pages are numbered, how many there are.
M.KINDS = {
  drf_page = {
    page = "page", size = "page_size",
    items = function(b) return b.results end,
    total = function(b, size) return pages_for(b.count, size) end,
    next_url = function(b) return b.next end,
    -- the pages its next and previous links name
    neighbours = function(b) return link_param(b.next, "page", 1), link_param(b.previous, "page", 1) end,
  },
  drf_offset = { -- the number of pages comes from count and the starting offset (see walker)
    offset = "offset", size = "limit",
    items = function(b) return b.results end,
    next_url = function(b) return b.next end,
    -- the offsets its next and previous links name
    neighbours = function(b) return link_param(b.next, "offset", 0), link_param(b.previous, "offset", 0) end,
  },
  drf_next = {
    items = function(b) return b.results end,
    next_url = function(b) return b.next end,
  },
  next_page = {
    page = "page", size = "page_size",
    items = function(b) return b.results end,
    total = function(b, size) return pages_for(b.count, size) end,
    neighbours = function(b)
      local nxt, prev = b.next_page, b.previous_page
      return nxt ~= json.null and nxt or nil, prev ~= json.null and prev or nil
    end,
  },
  data_pagination = {
    page = "page", size = "length",
    items = function(b) return b.data end,
    total = function(b) return type(b.pagination) == "table" and int(b.pagination.totalPages) or nil end,
    current = function(b) return type(b.pagination) == "table" and b.pagination.currentPage or nil end,
  },
  analytics = {
    page = "page", size = "limit",
    items = function(b)
      for _, key in ipairs { "results", "learners", "rows", "data", "items" } do
        if type(b[key]) == "table" then return b[key] end
      end
    end,
    total = function(b)
      local p = type(b.pagination) == "table" and b.pagination or b -- some put it at the top level
      return int(p.total_pages) or int(p.totalPages) or int(p.num_pages) or int(p.pages)
    end,
    current = function(b)
      local p = type(b.pagination) == "table" and b.pagination or b
      if p.currentPage ~= nil then return p.currentPage end
      return p.page
    end,
  },
  scim = {
    items = function(b) return b.Resources end,
  },
}

-- Whether two decoded values are the same, field by field (depth-limited: pages are shallow).
local function same(a, b, depth)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" or depth > 8 then return false end
  for k, v in pairs(a) do
    if not same(v, b[k], depth + 1) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

-- Whether a page holds exactly the items of the page before it: a server that ignores the page
-- number or the offset answers every request with the same page.
local function repeats(list, before)
  if not before or #list == 0 or #list ~= #before then return false end
  for i = 1, #list do
    if not same(list[i], before[i], 0) then return false end
  end
  return true
end

local function walk_error(op, message, url)
  return errors.new { kind = "pagination", op = op.id, message = message, method = "GET", url = url }
end

local function param_fact(op, name)
  for _, p in ipairs(op.params) do
    if p.name == name then return p end
  end
end

--- The largest page size an operation allows, so a walk takes as few requests as it can.
local function default_size(op, kind)
  local fact = kind.size and param_fact(op, kind.size)
  if not fact then return nil end
  return math.min(100, fact.maximum or 100)
end

--- Creates a walker over pages; walker.next() gives each page body (and its items), walker.close()
-- stops.
-- @param client an iblai client
-- @param op the operation's facts (client:operation(id)); misuse raises when it has no pages
-- @param params table of parameters, or nil
-- @param opts table: concurrency, and the call options timeout, retries, headers; or nil
-- @return the walker: next() returns body, nil, items (nil at the end) or nil, an Error;
--   close() stops what is in flight; also closes as a to-be-closed variable
function M.walker(client, op, params, opts)
  local kind = M.KINDS[op.envelope]
  if not kind then
    core.misuse(("%s does not return pages (it has no pagination envelope); use client:call"):format(op.id))
  end
  if params ~= nil and type(params) ~= "table" then core.misuse("parameters must be a table, got " .. type(params)) end
  if opts ~= nil and type(opts) ~= "table" then core.misuse("options must be a table, got " .. type(opts)) end
  local first = {}
  for k, v in pairs(params or {}) do first[k] = v end
  local size = kind.size and (first[kind.size] or default_size(op, kind))
  if kind.size and size then first[kind.size] = size end
  local start_page = kind.page and (int(first[kind.page]) or 1) or 1
  local start_offset = kind.offset and (int(first[kind.offset]) or 0) or 0
  local concurrency = (opts and opts.concurrency) or client.concurrency

  local call_opts
  for k, v in pairs(opts or {}) do
    if k ~= "concurrency" then
      call_opts = call_opts or {}
      call_opts[k] = v
    end
  end
  local base, err = client:prepare_call(op, first, call_opts)
  if not base then return nil, err end
  local fixed = {} -- the query every page shares; the page number or offset is added per page
  for name, v in pairs(base.query or {}) do fixed[name] = v end
  base.query = fixed
  local stream = client.session:stream { concurrency = concurrency }

  -- The request for page number k (1-based from where the walk started).
  local function request_for(k)
    local q = {}
    for name, v in pairs(base.query) do q[name] = v end
    if kind.page then q[kind.page] = start_page + k - 1 end
    if kind.offset then q[kind.offset] = start_offset + (k - 1) * size end
    local r = {}
    for name, v in pairs(base) do r[name] = v end
    r.query = q
    return client:prepare(r)
  end

  -- last: how many pages this walk takes, once page 1 tells; nil while next links are followed
  local self = { stream = stream, delivered = 0, added = 0, last = nil, seen = {}, done = false }
  local origin = client.session:origin()

  local function add(req)
    self.added = self.added + 1
    stream:add(req)
  end
  add(request_for(1))

  -- A walk that cannot go on: the page in hand is still delivered, the error comes next.
  local function fail_after(message, url)
    self.failed = walk_error(op, message, url)
    stream:close()
  end

  -- The next link or page number a page gives, or nil when it gives none (null, or an empty
  -- link); a page number written as a string of digits is read as the number.
  local function next_of(body)
    local nxt = kind.next_url and kind.next_url(body)
    if kind.page and not kind.next_url and body.next_page ~= nil then
      nxt = body.next_page
      if type(nxt) == "string" and nxt:find("^%d+$") then nxt = tonumber(nxt) end
    end
    if nxt == json.null or nxt == "" then return nil end
    return nxt
  end

  -- Follows the next link or page number of a page whose envelope does not tell the total.
  local function follow(res, body, count)
    local nxt = next_of(body)
    if nxt == nil then
      self.done = true
    elseif count == 0 then
      return fail_after(("page %d is empty but names a next page; the walk stops"):format(self.delivered), res.url)
    elseif type(nxt) == "number" then
      local page = int(nxt)
      if not page or page < 1 then
        return fail_after(("the next page number %s is not a whole number of 1 or more; the walk stops"):format(nxt),
          res.url)
      end
      if self.seen[page] then
        return fail_after(("the next page number %d repeats an earlier page; the walk stops instead of looping")
          :format(page), res.url)
      end
      self.seen[page] = true
      add(request_for(page - start_page + 1))
    elseif type(nxt) == "string" then
      local url = core.resolve(res.url, nxt) -- a relative link is read against its page
      if not url then
        return fail_after("the next link is not a URL; the walk stops", res.url)
      end
      if core.origin(url) ~= origin then
        return fail_after(("the next page is on another origin (%s); the walk stops so the key is not sent there")
          :format(tostring(core.origin(url) or url)), res.url)
      end
      -- a page number, or an offset (kept apart from page numbers), seen again is the same page
      local page = kind.page and link_param(url, kind.page, 1)
      local offset = kind.offset and link_param(url, kind.offset, 0)
      if offset then page = "offset " .. offset end
      if self.seen[url] or (page and self.seen[page]) then
        return fail_after("the next link repeats an earlier page; the walk stops instead of looping", url)
      end
      self.seen[url] = true
      if page then self.seen[page] = true end
      add(client:prepare { url = url, op = op.id, timeout = base.timeout, retries = base.retries,
        headers = base.headers })
    else
      return fail_after(("the next page is given as a %s; the walk stops"):format(type(nxt)), res.url)
    end
  end

  -- What page 1 tells: the page size the server really uses, and how many pages there are.
  local function learn(res, body, count)
    self.seen[res.url] = true
    if kind.page then self.seen[start_page] = true end
    if kind.offset then self.seen["offset " .. start_offset] = true end
    local total_items = int(body.count)
    self.count = total_items
    -- a server that gives fewer items than asked, on a page that is not the last, caps the size
    local before = kind.offset and start_offset or (start_page - 1) * (size or 0) -- items ahead of this page
    local capped = size and count > 0 and count < size and total_items and total_items - before > count
    if (capped or (not size and count > 0)) and (kind.page or kind.offset) then
      size = count
      base.query[kind.size] = size
    end
    if kind.offset then
      self.last = pages_for(math.max(0, (total_items or 0) - start_offset), size)
    elseif kind.total then
      local total = kind.total(body, size or (count > 0 and count) or nil)
      self.last = total and math.max(1, total - (start_page - 1))
    end
  end

  -- Why page k of a walk by page numbers (or offsets) is not the page asked for, or nil: its
  -- links or its page number must name its own neighbours, as DRF's and the analytics' do.
  local function misplaced(k, body, count)
    local at, after, before
    if kind.offset then
      at = start_offset + (k - 1) * size
      after, before = at + count, at > 0 and math.max(0, at - size) or nil
    else
      at = start_page + k - 1
      after, before = at + 1, at > 1 and at - 1 or nil
    end
    local what = kind.offset and "offset" or "page"
    if kind.neighbours then
      local nxt, prev = kind.neighbours(body)
      if nxt ~= nil and int(tonumber(nxt)) ~= after then
        return ("the %s at %s %d names %s %s as the next one, not %d"):format(what, what, at, what, tostring(nxt), after)
      end
      -- some servers link back to the first page from every page: only a link forward is wrong
      if prev ~= nil and (int(tonumber(prev)) == nil or int(tonumber(prev)) >= at) then
        return ("the %s at %s %d names %s %s as the one before it"):format(what, what, at, what, tostring(prev))
      end
      if prev ~= nil and before == nil then
        return ("the %s at %s %d names %s %s as the one before it, and there is none"):format(
          what, what, at, what, tostring(prev))
      end
    end
    local current = kind.current and kind.current(body)
    if current ~= nil and current ~= json.null and int(tonumber(current)) ~= at then
      return ("page %d says it is page %s"):format(at, tostring(current))
    end
  end

  -- After the last page the total announced: a next link on it means the total was short (items
  -- arrived, or the count is wrong), so the walk goes on by the links instead of stopping.
  local function past_total(res, body, count)
    if next_of(body) == nil then
      self.done = true
      return
    end
    for k = 1, self.last do
      if kind.offset then self.seen["offset " .. (start_offset + (k - 1) * size)] = true end
      if kind.page then self.seen[start_page + k - 1] = true end
    end
    self.last = nil
    follow(res, body, count)
  end

  -- Why a page contradicts what the listing said of itself before, or nil: a first page with
  -- nothing on it while the count says there is, or a count that changed since the first page
  -- (the listing changed while it was read, so pages asked for by number shifted).
  local function contradicts(body, count)
    local total = int(body.count)
    if self.delivered == 1 then
      local ahead = kind.offset and start_offset or (start_page - 1) * (size or 0)
      if count == 0 and total and total > ahead then
        return ("page 1 is empty although the listing says it holds %d items"):format(total)
      end
    elseif total and self.count and total ~= self.count then
      return ("the listing changed while it was read (page 1 said %d items, page %d says %d); read it again")
        :format(self.count, self.delivered, total)
    end
  end

  -- The next page and its items, or nil at the end, or nil and the Error that ended the walk
  -- (again on every later call: a failed walk never looks finished).
  function self.next()
    if self.failed then return nil, self.failed end
    if self.done then return nil end
    local ok, ticket, res, ferr = pcall(stream.next, stream)
    if not ok then -- a hook raised, or the walk was interrupted: ticket holds the error
      self.failed = ticket
      pcall(stream.close, stream)
      error(ticket, 0)
    end
    if not res then
      self.failed = ferr
      stream:close()
      return nil, ferr
    end
    local body = res.body
    local list = type(body) == "table" and kind.items(body)
    if type(list) ~= "table" or (#list == 0 and next(list) ~= nil) then
      fail_after("a page did not have the expected envelope (" .. op.envelope .. ")", res.url)
      return nil, self.failed
    end
    self.delivered = self.delivered + 1
    local count = #list
    if repeats(list, self.before) then
      fail_after(("page %d repeats the items of the page before it: the server ignores the page asked for; "
        .. "the walk stops"):format(self.delivered), res.url)
      return nil, self.failed
    end
    self.before = list
    if self.delivered == 1 then learn(res, body, count) end
    local why = contradicts(body, count)
    if why then
      fail_after(why .. "; the walk stops", res.url)
      return nil, self.failed
    end
    if self.last then
      if count == 0 and self.delivered < self.last then
        fail_after(("page %d is empty although the listing said it has %d pages; the walk stops")
          :format(self.delivered, self.last), res.url)
        return nil, self.failed
      end
      why = misplaced(self.delivered, body, count)
      if why then
        fail_after(why .. ": the server did not answer with the page asked for; the walk stops", res.url)
        return nil, self.failed
      end
      local last = self.last
      while self.added < last and self.added < self.delivered + concurrency do add(request_for(self.added + 1)) end
      if self.delivered >= last then past_total(res, body, count) end
    else
      follow(res, body, count)
    end
    return body, nil, list
  end

  function self.close()
    stream:close()
    self.done = true
  end

  return setmetatable(self, { __close = function() self.close() end })
end

return M
