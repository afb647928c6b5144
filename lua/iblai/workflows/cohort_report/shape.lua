--- Reads the API's own answers for the cohort report: conversations and messages per period,
-- topics, sentiment and the org overview. Reads the shapes of the API description and tolerates
-- what varies: dates or date-times (the first ten characters count), numbers as integers or
-- floats, empty lists. A figure that no count or average can be (1e300, "NaN", -3, null) is
-- shown as far as it can be, marked in the `flagged` set of the table holding it, and named
-- through the reader's `note`.
-- @module iblai.workflows.cohort_report.shape
local calendar = require "iblai.workflows.cohort_report.calendar"
local figures = require "iblai.workflows.cohort_report.figures"
local json = require "iblai.json"

local M = {}

--- The order sentiments are shown in; others follow alphabetically.
M.SENTIMENTS = { "positive", "neutral", "negative" }

--- The org-level figures of overview-summary and user-metrics, in the order they are shown.
M.OVERVIEW = { "conversation_volume", "users", "topics", "user_rating",
  "registered_users", "new_users", "unique_users", "veteran_users" }

local add = figures.add

local function round(x, places)
  if x == nil then return nil end
  local m = 10 ^ places
  local r = math.floor(x * m + 0.5) / m
  if r ~= r or r == math.huge or r == -math.huge then return x end
  return math.tointeger(r) or r
end

--- Percentage change from before to now, to one decimal; nil when unknown or from zero.
-- @param now number or nil
-- @param before number or nil
-- @return number or nil
function M.change(now, before)
  if now == nil or before == nil then return nil end
  if before == 0 then return now == 0 and 0 or nil end
  local c = (now - before) * 100 / before
  if not figures.sane(c, "change") then return nil end
  return round(c, 1)
end

local function share(part, whole)
  if part == nil or whole == nil or whole == 0 then return nil end
  local s = part * 100 / whole
  if not figures.sane(s, "change") then return nil end
  return round(s, 1)
end

-- Marks obj[key] as a figure the API should not have sent (or one made from such figures).
local function mark(obj, key, odd)
  if not odd then return end
  obj.flagged = obj.flagged or {}
  obj.flagged[key] = true
end

local function marked(obj, key)
  return obj ~= nil and obj.flagged ~= nil and obj.flagged[key] == true
end

-- Sum of list[1..n], whose entries may be nil (unknown figures), and whether any is odd (or
-- unknown); nil when every entry is unknown.
local function total(list, odd, n)
  local s, any, known = 0, false, n == 0
  for i = 1, n do
    if list[i] == nil then any = true else s, known = add(s, list[i]), true end
    if odd and odd[i] then any = true end
  end
  return known and s or nil, any
end

local function new_lists(width, n)
  local sums, odd, seen, unknown = {}, {}, {}, {}
  for j = 1, width do
    sums[j], odd[j], seen[j], unknown[j] = {}, {}, {}, {}
    for k = 1, n do sums[j][k], odd[j][k], seen[j][k], unknown[j][k] = 0, false, false, false end
  end
  return sums, odd, seen, unknown
end

-- Adds dated rows into the periods. Each of `fields` ({name, kind}) is read from every row; the
-- sums are `combine(values)` (the fields themselves by default); deps[j] lists the fields the
-- j-th sum is made of, so only the sums an odd field feeds are marked. A period's sum adds the
-- figures that are numbers, and is nil when none of its figures was. Returns {sums, odd, n}
-- (sums[j][k] for the k-th of n periods), or nil and what was wrong with the answer's shape.
local function into_periods(rows, periods, date_field, fields, note, combine, deps)
  if not figures.is_list(rows) then return nil, "expected a list" end
  local width = combine and #deps or #fields
  local sums, odd, seen, unknown = new_lists(width, #periods)
  for i, row in ipairs(rows) do
    local z = type(row) == "table" and calendar.day_of(row[date_field])
    if not z then return nil, ("item %d has no date in '%s'"):format(i, date_field) end
    local k = calendar.find(periods, z)
    local values, bad = {}, {}
    for f, field in ipairs(fields) do
      local v, problem = figures.read(row[field[1]], field[2])
      if problem then
        note(("%s of item %d (%s)"):format(field[1], i, calendar.format(z)), problem)
        bad[f] = true
      end
      values[f] = v
    end
    local out = combine and { combine(values) } or values
    for j = 1, width do
      local odd_j = false
      for _, f in ipairs(deps and deps[j] or { j }) do odd_j = odd_j or bad[f] or false end
      if out[j] == nil then
        unknown[j][k], odd_j = true, true
      else
        sums[j][k], seen[j][k] = add(sums[j][k], out[j]), true
      end
      odd[j][k] = odd[j][k] or odd_j
    end
  end
  -- A sum of odd figures can leave the numbers (1e308 + 1e308): it is unknown then.
  for j = 1, width do
    for k = 1, #periods do
      if unknown[j][k] and not seen[j][k] then sums[j][k] = nil end
      local v = sums[j][k]
      if v ~= nil and not figures.sane(v, "amount") then
        if v ~= v or v == math.huge or v == -math.huge then sums[j][k] = nil end
        odd[j][k] = true
      end
    end
  end
  return { sums = sums, odd = odd, n = #periods }
end

local function conversations(body, periods, note)
  return into_periods(body, periods, "date", { { "conversation_count", "count" } }, note)
end

local function messages(body, periods, note)
  -- Sessions and messages add up; the average per period is their ratio.
  return into_periods(body, periods, "time", { { "avg_messages", "amount" }, { "total_sessions", "count" } }, note,
    function(v) return v[2], v[1] and v[2] and v[1] * v[2] end, { { 2 }, { 1, 2 } })
end

local function topics(body, note)
  if not figures.is_list(body) then return nil, "expected a list" end
  local list, all, any_odd = {}, 0, false
  for i, row in ipairs(body) do
    if type(row) ~= "table" or type(row.topic_name) ~= "string" then
      return nil, ("item %d is not {topic_name, conversation_count}"):format(i)
    end
    local n, problem = figures.read(row.conversation_count, "count")
    local t = { name = row.topic_name, conversations = n }
    if problem then
      note(("conversation_count of topic %d"):format(i), problem)
      mark(t, "conversations", true)
      any_odd = true
    end
    list[#list + 1] = t
    if n then all = add(all, n) end
  end
  table.sort(list, function(a, b)
    local ca, cb = a.conversations or -math.huge, b.conversations or -math.huge
    if ca ~= cb then return ca > cb end
    return a.name < b.name
  end)
  for _, t in ipairs(list) do
    t.share = share(t.conversations, all)
    mark(t, "share", any_odd)
  end
  return list
end

local function sentiment_order(names)
  local rank = {}
  for i, s in ipairs(M.SENTIMENTS) do rank[s] = i end
  table.sort(names, function(a, b)
    local ra, rb = rank[a] or math.huge, rank[b] or math.huge
    if ra ~= rb then return ra < rb end
    return a < b
  end)
  return names
end

-- The distribution comes as counts (the sandbox) or as percentages (the API's description
-- says so); total_sentiments is a count either way.
local function sentiment(body, note)
  if type(body) ~= "table" or type(body.sentiment_distribution) ~= "table" then
    return nil, "expected {sentiment_distribution, total_sentiments}"
  end
  local total_v, total_problem = figures.read(body.total_sentiments, "count")
  if total_problem then note("total_sentiments", total_problem) end
  local values, names, bad, s, any_odd = {}, {}, {}, 0, total_problem ~= nil
  for k, v in pairs(body.sentiment_distribution) do
    if type(k) == "string" then
      local n, problem = figures.read(v, "amount")
      if problem then
        note(("sentiment_distribution[%s]"):format(figures.describe(k)), problem)
        bad[k], any_odd = true, true
      end
      values[k], names[#names + 1] = n, k
      if n then s = add(s, n) end
    end
  end
  local percent = total_v ~= nil and math.abs(s - total_v) > 0.5 and math.abs(s - 100) <= 1
  local out = { total = total_v or s, counts = {}, shares = {}, names = sentiment_order(names),
    unit = percent and "percent" or "count" }
  mark(out, "total", total_problem ~= nil or (total_v == nil and any_odd))
  for _, k in ipairs(names) do
    if percent then
      out.counts[k], out.shares[k] = values[k] and round(values[k] * out.total / 100, 0), values[k] and round(values[k], 1)
    else
      out.counts[k], out.shares[k] = values[k], share(values[k], out.total)
    end
    mark(out, "count:" .. k, bad[k] or (percent and total_problem ~= nil))
    mark(out, "share:" .. k, bad[k] or any_odd)
  end
  return out
end

-- overview-summary and user-metrics: {total, change} figures under fixed names.
local function figures_of(names, change_key)
  return function(body, note)
    if type(body) ~= "table" then return nil, "expected an object" end
    local out = {}
    for _, k in ipairs(names) do
      local v = body[k]
      if type(v) ~= "table" then return nil, ("'%s' is not {total, %s}"):format(k, change_key) end
      local t, tp = figures.read(v.total, "count")
      local c, cp
      if v[change_key] ~= nil and v[change_key] ~= json.null then
        c, cp = figures.read(v[change_key], "change")
      end
      if tp then note(k .. ".total", tp) end
      if cp then note(k .. "." .. change_key, cp) end
      out[k] = { total = t, change = c and round(c, 1) }
      mark(out[k], "total", tp ~= nil)
      mark(out[k], "change", cp ~= nil)
    end
    return out
  end
end
local org_summary = figures_of({ "conversation_volume", "users", "topics", "user_rating" }, "change")
local user_metrics = figures_of({ "registered_users", "new_users", "unique_users", "veteran_users" }, "change_percentage")

-- Weighted average messages per session, to one decimal (0 when there were no sessions).
local function per_session(sessions, weighted)
  if sessions == nil or weighted == nil then return nil end
  if sessions <= 0 then return 0 end
  local a = weighted / sessions
  return figures.sane(a, "change") and round(a, 1) or nil
end

--- The readers, each (body, [periods,] note) -> figures, or nil and what is wrong with the
-- answer's shape; the period readers give { sums = { list per figure }, odd = { ... }, n }.
M.conversations = conversations
M.messages = messages
M.topics = topics
M.sentiment = sentiment
M.overview = org_summary
M.metrics = user_metrics

-- Helpers the report is built with.
M.mark, M.marked, M.total, M.share, M.round, M.per_session = mark, marked, total, share, round, per_session

return M
