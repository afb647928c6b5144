--- The raw data the report counts people from: when each user registered (the users listing's
-- date_joined) and who had a conversation when (the transcripts), kept as sets of usernames per
-- period, never as sums. Records that cannot be placed (no username, no date) are left out and
-- named; odd message counts are marked as in the rest of the report.
-- @module iblai.workflows.cohort_report.people
local calendar = require "iblai.workflows.cohort_report.calendar"
local figures = require "iblai.workflows.cohort_report.figures"

local M = {}

-- A strict day from an API date or date-time: a real calendar date, then nothing or a time.
local function day_of(s)
  if type(s) ~= "string" then return nil end
  local rest = s:sub(11, 11)
  if rest ~= "" and rest ~= "T" and rest ~= " " then return nil end
  return calendar.parse(s:sub(1, 10))
end
M.day_of = day_of

--- How many problems of one kind are kept as text; the rest are counted (list.n counts all).
M.QUOTED = 3

local function note(list, text)
  list.n = (list.n or 0) + 1
  if #list < M.QUOTED then list[#list + 1] = text end
end

--- A new reading of the users listing.
-- @return { joined = username -> day number (false: no date), count, problems = { n, the first
--   few as text } }
function M.registry()
  return { joined = {}, count = 0, problems = { n = 0 } }
end

--- Adds the items of one page of the users listing.
-- @param reg as from registry()
-- @param items the page's list of users ({username, date_joined, ...})
function M.add_users(reg, items)
  if not figures.is_list(items) then
    note(reg.problems, "a page came without a list of users in results")
    return
  end
  for i, u in ipairs(items) do
    local name = type(u) == "table" and u.username or nil
    if type(name) ~= "string" or name == "" then
      note(reg.problems, ("user %d of a page has the username %s; left out"):format(i,
        figures.describe(type(u) == "table" and u.username or u)))
    elseif reg.joined[name] ~= nil then
      note(reg.problems, ("the user %s is listed twice; counted once"):format(figures.describe(name)))
    else
      local day = day_of(u.date_joined)
      reg.joined[name] = day or false
      reg.count = reg.count + 1
      if not day then
        note(reg.problems, ("the user %s has the date_joined %s; counted as registered before every period"):format(
          figures.describe(name), figures.describe(u.date_joined)))
      end
    end
  end
end

--- A new tally of conversations over the report's windows.
-- @param w { periods (the range's), first, last (the range), before = {first, last} (the
--   calendar period before the first), prev = {first, last} or nil (the range before, of the
--   same length) }
-- @return the tally: sets[k] (usernames active in period k), before, prev and range (sets),
--   daily[d] (distinct users on day first + d - 1), prev_days (the sum of the previous range's
--   daily counts), conversations and messages of the range, by_topic (topic -> sentiment ->
--   conversations), problems (records left out) and odd (odd figures), as text
function M.tally(w)
  local t = { w = w, sets = {}, before = {}, prev = {}, range = {}, daily = {}, prev_days = 0,
    conversations = 0, messages = 0, messages_odd = false, by_topic = {}, problems = { n = 0 }, odd = { n = 0 } }
  for k = 1, #w.periods do t.sets[k] = {} end
  for d = 1, w.last - w.first + 1 do t.daily[d] = 0 end
  return t
end

local function inside(z, span)
  return span ~= nil and z >= span.first and z <= span.last
end

local function size(set)
  local n = 0
  for _ in pairs(set) do n = n + 1 end
  return n
end

-- The username of a conversation: a string, or a whole number written as one.
local function user_of(c)
  local u = c.user_id
  if math.type(u) == "integer" then return tostring(u) end
  if type(u) == "string" and u ~= "" then return u end
  return nil
end

--- Adds the conversations one transcripts call answered for the days span.first..span.last;
-- each day must come from one call only (the spans do not overlap).
-- @param t as from tally()
-- @param rows the decoded answer (a list of ConversationMessage)
-- @param span { first, last } the days asked for
-- @return true, or nil and what is wrong with the answer's shape
function M.add_conversations(t, rows, span)
  if not figures.is_list(rows) then return nil, "expected a list" end
  local w, by_day = t.w, {}
  local what = ("%s to %s"):format(calendar.format(span.first), calendar.format(span.last))
  for i, c in ipairs(rows) do
    local user = type(c) == "table" and user_of(c) or nil
    local z = type(c) == "table" and day_of(c.inserted_at) or nil
    if not user then
      note(t.problems, ("conversation %d of %s has the user_id %s; left out"):format(i, what,
        figures.describe(type(c) == "table" and c.user_id or c)))
    elseif not z then
      note(t.problems, ("conversation %d of %s has the inserted_at %s; left out"):format(i, what,
        figures.describe(c.inserted_at)))
    elseif not inside(z, span) then
      note(t.problems, ("conversation %d of %s is dated %s, outside the days asked for; left out"):format(i, what,
        calendar.format(z)))
    else
      by_day[z] = by_day[z] or {}
      by_day[z][user] = true
      local k = calendar.locate(w.periods, z)
      if k then
        t.sets[k][user], t.range[user] = true, true
        t.conversations = t.conversations + 1
        local n, problem = figures.read(c.message_count, "count")
        if problem then
          note(t.odd, ("message_count of conversation %d of %s %s"):format(i, what, problem))
          t.messages_odd = true
        end
        if n then t.messages = figures.add(t.messages, n) end
        local feel = type(c.user_sentiment) == "string" and c.user_sentiment or nil
        for _, topic in ipairs(type(c.topics) == "table" and c.topics or {}) do
          if type(topic) == "table" and type(topic.name) == "string" and feel then
            t.by_topic[topic.name] = t.by_topic[topic.name] or {}
            t.by_topic[topic.name][feel] = (t.by_topic[topic.name][feel] or 0) + 1
          end
        end
      end
      if inside(z, w.before) then t.before[user] = true end
      if inside(z, w.prev) then t.prev[user] = true end
    end
  end
  -- A day comes from one span only, so its distinct users are complete here.
  for z, set in pairs(by_day) do
    if z >= w.first and z <= w.last then t.daily[z - w.first + 1] = size(set) end
    if inside(z, w.prev) then t.prev_days = t.prev_days + size(set) end
  end
  return true
end

M.size = size

return M
