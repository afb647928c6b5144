--- Turns the analytics answers into the cohort report: figures per period, totals, changes,
-- topics, sentiment. Reads the shapes of the API description and tolerates what varies: dates
-- or date-times (the first ten characters count), numbers as integers or floats, empty lists.
-- @module iblai.workflows.cohort_report.shape
local calendar = require "iblai.workflows.cohort_report.calendar"

local M = {}

--- Which calls each section of the report is made from.
M.SECTIONS = {
  { name = "cohorts", calls = { "cohorts" } },
  { name = "activity", calls = { "usage" } },
  { name = "conversations", calls = { "conversations", "messages" } },
  { name = "registrations", calls = { "registered" } },
  { name = "topics", calls = { "topics" } },
  { name = "transcripts", calls = { "transcripts" } },
  { name = "sentiment", calls = { "sentiment" } },
  { name = "overview", calls = { "overview", "metrics" } },
  { name = "changes", calls = { "cohorts_prev", "usage_prev", "conversations_prev", "messages_prev" } },
}

--- The order sentiments are shown in; others follow alphabetically.
M.SENTIMENTS = { "positive", "neutral", "negative" }

--- The org-level figures of overview-summary and user-metrics, in the order they are shown.
M.OVERVIEW = { "conversation_volume", "users", "topics", "user_rating",
  "registered_users", "new_users", "unique_users", "veteran_users" }

local function number(v)
  if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then return nil end
  return math.tointeger(v) or v
end

local function round(x, places)
  if x == nil then return nil end
  local m = 10 ^ places
  local r = math.floor(x * m + 0.5) / m
  return math.tointeger(r) or r
end

--- Percentage change from before to now, to one decimal; nil when unknown or from zero.
-- @param now number or nil
-- @param before number or nil
-- @return number or nil
function M.change(now, before)
  if now == nil or before == nil then return nil end
  if before == 0 then return now == 0 and 0 or nil end
  return round((now - before) * 100 / before, 1)
end

local function share(part, whole)
  if part == nil or whole == nil or whole == 0 then return nil end
  return round(part * 100 / whole, 1)
end

local function zeros(n)
  local t = {}
  for i = 1, n do t[i] = 0 end
  return t
end

local function sum(list)
  local s = 0
  for _, v in ipairs(list) do s = s + v end
  return s
end

-- Adds dated rows into the periods. values(row) returns the numbers to add, or nil when the row
-- is not of the expected shape. Returns one list of sums per value, or nil and what was wrong.
local function into_periods(rows, periods, date_field, width, values)
  if type(rows) ~= "table" then return nil, "expected a list" end
  local sums = {}
  for j = 1, width do sums[j] = zeros(#periods) end
  for i, row in ipairs(rows) do
    local z = type(row) == "table" and calendar.day_of(row[date_field])
    if not z then return nil, ("item %d has no date in '%s'"):format(i, date_field) end
    local got = { values(row) }
    if #got < width then return nil, ("item %d lacks a number"):format(i) end
    local k = calendar.find(periods, z)
    for j = 1, width do sums[j][k] = sums[j][k] + got[j] end
  end
  return sums
end

local function cohorts(body, periods)
  if type(body) ~= "table" or type(body.periods) ~= "table" or type(body.new_users) ~= "table"
    or type(body.veteran_users) ~= "table" then
    return nil, "expected {periods, new_users, veteran_users}"
  end
  local rows = {}
  for i, label in ipairs(body.periods) do
    rows[i] = { date = label, new = body.new_users[i], veteran = body.veteran_users[i] }
  end
  return into_periods(rows, periods, "date", 2, function(r)
    local n, v = number(r.new), number(r.veteran)
    if n and v then return n, v end
  end)
end

local function conversations(body, periods)
  return into_periods(body, periods, "date", 1, function(r) return number(r.conversation_count) end)
end

local function messages(body, periods)
  -- Sessions and messages add up; the average per period is their ratio.
  return into_periods(body, periods, "time", 2, function(r)
    local avg, n = number(r.avg_messages), number(r.total_sessions)
    if avg and n then return n, avg * n end
  end)
end

local function registered(body, periods)
  return into_periods(body, periods, "interval", 1, function(r) return number(r.count) end)
end

-- Daily active users for every day of first..last (days the API leaves out had none).
local function usage(body, first, last)
  if type(body) ~= "table" then return nil, "expected a list" end
  local days = zeros(last - first + 1)
  for i, row in ipairs(body) do
    local z = type(row) == "table" and calendar.day_of(row.date)
    local n = type(row) == "table" and number(row.user_count)
    if not z or not n then return nil, ("item %d is not {date, user_count}"):format(i) end
    if z >= first and z <= last then days[z - first + 1] = days[z - first + 1] + n end
  end
  return days
end

local function topics(body)
  if type(body) ~= "table" then return nil, "expected a list" end
  local list, all = {}, 0
  for i, row in ipairs(body) do
    local n = type(row) == "table" and number(row.conversation_count)
    if not n or type(row.topic_name) ~= "string" then
      return nil, ("item %d is not {topic_name, conversation_count}"):format(i)
    end
    list[#list + 1] = { name = row.topic_name, conversations = n }
    all = all + n
  end
  table.sort(list, function(a, b)
    if a.conversations ~= b.conversations then return a.conversations > b.conversations end
    return a.name < b.name
  end)
  for _, t in ipairs(list) do t.share = share(t.conversations, all) end
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
local function sentiment(body)
  if type(body) ~= "table" or type(body.sentiment_distribution) ~= "table" then
    return nil, "expected {sentiment_distribution, total_sentiments}"
  end
  local total = number(body.total_sentiments)
  local values, names, s = {}, {}, 0
  for k, v in pairs(body.sentiment_distribution) do
    local n = number(v)
    if type(k) == "string" and n then
      values[k], names[#names + 1], s = n, k, s + n
    end
  end
  local percent = total ~= nil and math.abs(s - total) > 0.5 and math.abs(s - 100) <= 1
  local out = { total = total or s, counts = {}, shares = {}, names = sentiment_order(names),
    unit = percent and "percent" or "count" }
  for _, k in ipairs(names) do
    if percent then
      out.counts[k], out.shares[k] = round(values[k] * out.total / 100, 0), round(values[k], 1)
    else
      out.counts[k], out.shares[k] = values[k], share(values[k], out.total)
    end
  end
  return out
end

-- Distinct users, messages, and the sentiment of each topic's conversations.
local function transcripts(body)
  if type(body) ~= "table" then return nil, "expected a list" end
  local users, n_users, msgs, by_topic = {}, 0, 0, {}
  for i, c in ipairs(body) do
    if type(c) ~= "table" then return nil, ("item %d is not a conversation"):format(i) end
    if c.user_id ~= nil and not users[c.user_id] then users[c.user_id], n_users = true, n_users + 1 end
    msgs = msgs + (number(c.message_count) or 0)
    local feel = type(c.user_sentiment) == "string" and c.user_sentiment or nil
    for _, t in ipairs(type(c.topics) == "table" and c.topics or {}) do
      if type(t) == "table" and type(t.name) == "string" and feel then
        by_topic[t.name] = by_topic[t.name] or {}
        by_topic[t.name][feel] = (by_topic[t.name][feel] or 0) + 1
      end
    end
  end
  return { conversations = #body, active_users = n_users, messages = msgs, by_topic = by_topic }
end

local function metric(v, change_key)
  if type(v) ~= "table" then return nil end
  local total = number(v.total)
  if total == nil then return nil end
  return { total = total, change = number(v[change_key]) and round(number(v[change_key]), 1) }
end

-- overview-summary and user-metrics: {total, change} figures under fixed names.
local function figures(names, change_key)
  return function(body)
    if type(body) ~= "table" then return nil, "expected an object" end
    local out = {}
    for _, k in ipairs(names) do
      out[k] = metric(body[k], change_key)
      if not out[k] then return nil, ("'%s' is not {total, %s}"):format(k, change_key) end
    end
    return out
  end
end
local org_summary = figures({ "conversation_volume", "users", "topics", "user_rating" }, "change")
local user_metrics = figures({ "registered_users", "new_users", "unique_users", "veteran_users" }, "change_percentage")

-- Weighted average messages per session, to one decimal (0 when there were no sessions).
local function per_session(sessions, weighted)
  if sessions == nil then return nil end
  return sessions > 0 and round(weighted / sessions, 1) or 0
end

local function average_per_day(days)
  if days == nil then return nil end
  return #days > 0 and round(sum(days) / #days, 1) or 0
end

local function sum_or_nil(list) return list and sum(list) end

--- Builds the report from the answers of run()'s calls.
-- @param o options completed by cohort_report.check
-- @param answers call key -> decoded body, for the calls that succeeded
-- @param failures call key -> { op = operationId, err = Error }
-- @param org the org the report is about (for the heading)
-- @param plan the calls as sent, { {key, op, params}, ... }: errors are listed in this order
-- @return the report table
function M.build(o, answers, failures, org, plan)
  local periods = calendar.periods(o.first, o.last, o.aggregation)
  local failed, op_of = {}, {}
  for _, c in ipairs(plan) do op_of[c.key] = c.op end
  for key, f in pairs(failures) do failed[key] = { message = tostring(f.err) } end
  -- Each reader returns its figures, or records the call as failed when the answer's shape is wrong.
  local function read(key, fn, ...)
    local body = answers[key]
    if body == nil then return nil end
    local a, b = fn(body, ...)
    if a == nil then
      failed[key] = { message = ("iblai: the answer of %s is not as the API describes it: %s"):format(op_of[key], b) }
    end
    return a, b
  end

  local cs = read("cohorts", cohorts, periods)
  local conv = read("conversations", conversations, periods)
  local msg = read("messages", messages, periods)
  local reg = read("registered", registered, periods)
  local dau = read("usage", usage, o.first, o.last)
  local top = read("topics", topics)
  local feel = read("sentiment", sentiment)
  local tr = read("transcripts", transcripts)
  local summary, umetrics = read("overview", org_summary), read("metrics", user_metrics)
  local org_figures
  if summary or umetrics then
    org_figures = {}
    for k, v in pairs(summary or {}) do org_figures[k] = v end
    for k, v in pairs(umetrics or {}) do org_figures[k] = v end
  end

  local days = o.last - o.first + 1
  local rows = {}
  for k, p in ipairs(periods) do
    local row = { start = calendar.format(p.first), ["end"] = calendar.format(p.last), days = p.last - p.first + 1 }
    if cs then
      row.new_users, row.veteran_users = cs[1][k], cs[2][k]
      row.returning_share = share(row.veteran_users, row.new_users + row.veteran_users)
    end
    if reg then row.registered = reg[1][k] end
    if conv then row.conversations = conv[1][k] end
    if msg then row.sessions, row.avg_messages = msg[1][k], per_session(msg[1][k], msg[2][k]) end
    if dau then
      local s = 0
      for z = p.first, p.last do s = s + dau[z - o.first + 1] end
      row.avg_daily_active_users = round(s / row.days, 1)
    end
    rows[k] = row
  end

  local daily = {}
  if dau then
    for i, n in ipairs(dau) do daily[i] = { date = calendar.format(o.first + i - 1), users = n } end
  end

  local totals = {
    new_users = cs and sum(cs[1]), veteran_users = cs and sum(cs[2]),
    registered = reg and sum(reg[1]), conversations = conv and sum(conv[1]),
    sessions = msg and sum(msg[1]), avg_messages = msg and per_session(sum(msg[1]), sum(msg[2])),
    avg_daily_active_users = average_per_day(dau),
    active_users = tr and tr.active_users, messages = tr and tr.messages,
  }
  totals.returning_share = cs and share(totals.veteran_users, totals.new_users + totals.veteran_users)
  if dau then
    local peak, at = 0, nil
    for i, n in ipairs(dau) do if n > peak then peak, at = n, i end end
    totals.peak_daily_active_users = peak
    totals.peak_day = at and calendar.format(o.first + at - 1)
  end

  -- The range before, of the same length, asked with the same aggregation.
  local previous, change = {}, {}
  if o.prev_first then
    local prev_periods = calendar.periods(o.prev_first, o.prev_last, o.aggregation)
    local pcs = read("cohorts_prev", cohorts, prev_periods)
    local pconv = read("conversations_prev", conversations, prev_periods)
    local pmsg = read("messages_prev", messages, prev_periods)
    local pdau = read("usage_prev", usage, o.prev_first, o.prev_last)
    previous = {
      start = calendar.format(o.prev_first), ["end"] = calendar.format(o.prev_last),
      new_users = pcs and sum(pcs[1]), veteran_users = pcs and sum(pcs[2]),
      conversations = sum_or_nil(pconv and pconv[1]),
      avg_messages = pmsg and per_session(sum(pmsg[1]), sum(pmsg[2])),
      avg_daily_active_users = average_per_day(pdau),
    }
    for _, k in ipairs { "new_users", "veteran_users", "conversations", "avg_messages", "avg_daily_active_users" } do
      change[k] = M.change(totals[k], previous[k])
    end
  end

  if top and tr then
    for _, t in ipairs(top) do t.sentiment = tr.by_topic[t.name] or {} end
  end

  local report = {
    org = org,
    range = { start = o.start, ["end"] = o["end"], aggregation = o.aggregation, mentor = o.mentor, days = days },
    periods = rows, daily_active_users = daily, totals = totals, previous = previous, change = change,
    topics = top or {}, sentiment = feel, overview = org_figures,
    sections = {}, errors = {}, notes = {},
  }

  for _, c in ipairs(plan) do
    local f = failed[c.key]
    if f then report.errors[#report.errors + 1] = { call = c.key, operation = c.op, message = f.message } end
  end
  for _, s in ipairs(M.SECTIONS) do
    local bad, all = 0, 0
    for _, key in ipairs(s.calls) do
      if not (s.name == "changes" and not o.prev_first) then
        all = all + 1
        if failed[key] then bad = bad + 1 end
      end
    end
    report.sections[s.name] = bad == 0 and "ok" or bad == all and "failed" or "partial"
  end

  -- Activity is known when any range figure came back; nil when none did.
  local seen, known = 0, false
  local counts = { totals.new_users, totals.veteran_users, totals.conversations, totals.sessions,
    dau and sum(dau), feel and feel.total, tr and tr.conversations, totals.registered }
  for i = 1, 8 do
    if counts[i] then seen, known = seen + counts[i], true end
  end
  if known then report.activity = seen > 0 end

  local notes = report.notes
  if o.aggregation == "monthly" then
    notes[#notes + 1] = "Monthly figures are sums of the API's daily figures (it has no monthly cohorts)."
  end
  notes[#notes + 1] = "A returning user is one who registered before the range; one active in several "
    .. "periods counts once in each."
  if o.mentor then
    notes[#notes + 1] = "Daily active users, registrations and sentiment are for the whole org: "
      .. "the API does not filter them by mentor."
  end
  if o.prev_first then
    notes[#notes + 1] = ("Changes compare with the %d days before (%s to %s)."):format(days,
      previous.start, previous["end"])
  end
  notes[#notes + 1] = "The org overview is the API's own month-over-month view, whatever the range."
  return report
end

return M
