--- Turns the analytics answers into the cohort report: figures per period, totals, changes,
-- topics, sentiment. Reads the shapes of the API description and tolerates what varies: dates
-- or date-times (the first ten characters count), numbers as integers or floats, empty lists.
-- A figure that no count or average can be (1e300, "NaN", -3, null) is shown as far as it can
-- be, marked in the `flagged` set of the table holding it, and named under the report's errors.
-- @module iblai.workflows.cohort_report.shape
local calendar = require "iblai.workflows.cohort_report.calendar"
local figures = require "iblai.workflows.cohort_report.figures"
local json = require "iblai.json"

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

--- How many odd figures of one answer its error line quotes; the rest are counted.
M.QUOTED = 3

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
  if type(rows) ~= "table" then return nil, "expected a list" end
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

local function cohorts(body, periods, note)
  if type(body) ~= "table" or type(body.periods) ~= "table" or type(body.new_users) ~= "table"
    or type(body.veteran_users) ~= "table" then
    return nil, "expected {periods, new_users, veteran_users}"
  end
  local rows = {}
  for i, label in ipairs(body.periods) do
    rows[i] = { date = label, new_users = body.new_users[i], veteran_users = body.veteran_users[i] }
  end
  return into_periods(rows, periods, "date", { { "new_users", "count" }, { "veteran_users", "count" } }, note)
end

local function conversations(body, periods, note)
  return into_periods(body, periods, "date", { { "conversation_count", "count" } }, note)
end

local function messages(body, periods, note)
  -- Sessions and messages add up; the average per period is their ratio.
  return into_periods(body, periods, "time", { { "avg_messages", "amount" }, { "total_sessions", "count" } }, note,
    function(v) return v[2], v[1] and v[2] and v[1] * v[2] end, { { 2 }, { 1, 2 } })
end

local function registered(body, periods, note)
  return into_periods(body, periods, "interval", { { "count", "count" } }, note)
end

-- Daily active users for every day of first..last (days the API leaves out had none).
local function usage(body, first, last, note)
  if type(body) ~= "table" then return nil, "expected a list" end
  local n = last - first + 1
  local days, odd, known = {}, {}, {}
  for i = 1, n do days[i], odd[i] = 0, false end
  for i, row in ipairs(body) do
    local z = type(row) == "table" and calendar.day_of(row.date)
    if not z then return nil, ("item %d is not {date, user_count}"):format(i) end
    if z >= first and z <= last then
      local d = z - first + 1
      local v, problem = figures.read(row.user_count, "count")
      if problem then
        note(("user_count of item %d (%s)"):format(i, calendar.format(z)), problem)
        odd[d] = true
      end
      if v == nil then
        known[d] = known[d] or false
      else
        days[d], known[d] = add(days[d], v), true
      end
    end
  end
  for d = 1, n do
    local v = days[d]
    if known[d] == false or v ~= v or v == math.huge then days[d] = nil end
    if v ~= nil and not figures.sane(v, "count") then odd[d] = true end
  end
  return { days = days, odd = odd, n = n }
end

local function topics(body, note)
  if type(body) ~= "table" then return nil, "expected a list" end
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

-- Distinct users, messages, and the sentiment of each topic's conversations.
local function transcripts(body, note)
  if type(body) ~= "table" then return nil, "expected a list" end
  local users, n_users, msgs, by_topic, odd = {}, 0, 0, {}, false
  for i, c in ipairs(body) do
    if type(c) ~= "table" then return nil, ("item %d is not a conversation"):format(i) end
    if c.user_id ~= nil and not users[c.user_id] then users[c.user_id], n_users = true, n_users + 1 end
    local n, problem = figures.read(c.message_count, "count")
    if problem then
      note(("message_count of item %d"):format(i), problem)
      odd = true
    end
    if n then msgs = add(msgs, n) end
    local feel = type(c.user_sentiment) == "string" and c.user_sentiment or nil
    for _, t in ipairs(type(c.topics) == "table" and c.topics or {}) do
      if type(t) == "table" and type(t.name) == "string" and feel then
        by_topic[t.name] = by_topic[t.name] or {}
        by_topic[t.name][feel] = (by_topic[t.name][feel] or 0) + 1
      end
    end
  end
  if not figures.sane(msgs, "count") then odd = true end
  return { conversations = #body, active_users = n_users, messages = msgs, messages_odd = odd, by_topic = by_topic }
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

local function average_per_day(source)
  local s = total(source.days, nil, source.n)
  if s == nil then return nil end
  return source.n > 0 and round(s / source.n, 1) or 0
end

-- The report's one line per answer that held odd figures: how many, and the first few.
local function figures_message(op, list)
  local quoted = {}
  for i = 1, math.min(#list, M.QUOTED) do quoted[i] = list[i] end
  local more = #list > M.QUOTED and ("; and %d more"):format(#list - M.QUOTED) or ""
  return ("iblai: %s sent %d figure%s no count or average can be, shown marked: %s%s"):format(op, #list,
    #list == 1 and "" or "s", table.concat(quoted, "; "), more)
end

--- Builds the report from the answers of run()'s calls.
-- @param o options completed by cohort_report.check
-- @param answers call key -> decoded body, for the calls that succeeded
-- @param failures call key -> { op = operationId, err = Error }
-- @param org the org the report is about (for the heading)
-- @param plan the calls as sent, { {key, op, params}, ... }: errors are listed in this order
-- @return the report table
function M.build(o, answers, failures, org, plan)
  local periods = calendar.periods(o.first, o.last, o.aggregation)
  local failed, op_of, odd_figures = {}, {}, {}
  for _, c in ipairs(plan) do op_of[c.key] = c.op end
  for key, f in pairs(failures) do failed[key] = { message = tostring(f.err) } end
  -- Each reader returns its figures, or records the call as failed when the answer's shape is
  -- wrong; the figures it finds odd are noted against the call.
  local function read(key, fn, ...)
    local body = answers[key]
    if body == nil then return nil end
    local notes = {}
    local args = table.pack(...)
    args[args.n + 1] = function(where, problem) notes[#notes + 1] = where .. " " .. problem end
    local a, b = fn(body, table.unpack(args, 1, args.n + 1))
    if a == nil then
      failed[key] = { message = ("iblai: the answer of %s is not as the API describes it: %s"):format(op_of[key], b) }
    elseif #notes > 0 then
      odd_figures[key] = notes
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
      row.new_users, row.veteran_users = cs.sums[1][k], cs.sums[2][k]
      mark(row, "new_users", cs.odd[1][k])
      mark(row, "veteran_users", cs.odd[2][k])
      row.returning_share = share(row.veteran_users, add(row.new_users, row.veteran_users))
      mark(row, "returning_share", cs.odd[1][k] or cs.odd[2][k])
    end
    if reg then
      row.registered = reg.sums[1][k]
      mark(row, "registered", reg.odd[1][k])
    end
    if conv then
      row.conversations = conv.sums[1][k]
      mark(row, "conversations", conv.odd[1][k])
    end
    if msg then
      row.sessions, row.avg_messages = msg.sums[1][k], per_session(msg.sums[1][k], msg.sums[2][k])
      mark(row, "sessions", msg.odd[1][k])
      mark(row, "avg_messages", msg.odd[1][k] or msg.odd[2][k])
    end
    if dau then
      local part, part_odd = {}, {}
      for z = p.first, p.last do
        part[#part + 1], part_odd[#part_odd + 1] = dau.days[z - o.first + 1], dau.odd[z - o.first + 1]
      end
      local s, any = total(part, part_odd, row.days)
      row.avg_daily_active_users = s and round(s / row.days, 1)
      mark(row, "avg_daily_active_users", any)
    end
    rows[k] = row
  end

  local daily = {}
  if dau then
    for i = 1, dau.n do
      daily[i] = { date = calendar.format(o.first + i - 1), users = dau.days[i] }
      mark(daily[i], "users", dau.odd[i])
    end
  end

  -- A total is marked when a figure it adds up is, or when it leaves what a count can be.
  local totals = {}
  local function sum_into(key, source, j)
    if not source then return end
    local s, any = total(source.sums[j], source.odd[j], source.n)
    totals[key] = s
    mark(totals, key, any or (s ~= nil and not figures.sane(s, "count")))
  end
  sum_into("new_users", cs, 1)
  sum_into("veteran_users", cs, 2)
  sum_into("registered", reg, 1)
  sum_into("conversations", conv, 1)
  sum_into("sessions", msg, 1)
  if msg then
    local weighted, any = total(msg.sums[2], msg.odd[2], msg.n)
    totals.avg_messages = per_session(totals.sessions, weighted)
    mark(totals, "avg_messages", any or marked(totals, "sessions"))
  end
  if dau then
    totals.avg_daily_active_users = average_per_day(dau)
    local peak, at, any = 0, nil, false
    for i = 1, dau.n do
      local n = dau.days[i]
      any = any or dau.odd[i]
      if n and n > peak then peak, at = n, i end
    end
    totals.peak_daily_active_users = peak
    totals.peak_day = at and calendar.format(o.first + at - 1)
    mark(totals, "avg_daily_active_users", any)
    mark(totals, "peak_daily_active_users", any)
  end
  if tr then
    totals.active_users, totals.messages = tr.active_users, tr.messages
    mark(totals, "messages", tr.messages_odd)
  end
  if cs then
    totals.returning_share = share(totals.veteran_users, add(totals.new_users, totals.veteran_users))
    mark(totals, "returning_share", marked(totals, "new_users") or marked(totals, "veteran_users"))
  end

  -- The range before, of the same length, asked with the same aggregation.
  local previous, change = {}, {}
  if o.prev_first then
    local prev_periods = calendar.periods(o.prev_first, o.prev_last, o.aggregation)
    local pcs = read("cohorts_prev", cohorts, prev_periods)
    local pconv = read("conversations_prev", conversations, prev_periods)
    local pmsg = read("messages_prev", messages, prev_periods)
    local pdau = read("usage_prev", usage, o.prev_first, o.prev_last)
    previous = { start = calendar.format(o.prev_first), ["end"] = calendar.format(o.prev_last) }
    local function prev_sum(key, source, j)
      if not source then return end
      local s, any = total(source.sums[j], source.odd[j], source.n)
      previous[key] = s
      mark(previous, key, any or (s ~= nil and not figures.sane(s, "count")))
    end
    prev_sum("new_users", pcs, 1)
    prev_sum("veteran_users", pcs, 2)
    prev_sum("conversations", pconv, 1)
    if pmsg then
      local sessions, any_s = total(pmsg.sums[1], pmsg.odd[1], pmsg.n)
      local weighted, any_w = total(pmsg.sums[2], pmsg.odd[2], pmsg.n)
      previous.avg_messages = per_session(sessions, weighted)
      mark(previous, "avg_messages", any_s or any_w)
    end
    if pdau then
      local _, any = total(pdau.days, pdau.odd, pdau.n)
      previous.avg_daily_active_users = average_per_day(pdau)
      mark(previous, "avg_daily_active_users", any)
    end
    for _, k in ipairs { "new_users", "veteran_users", "conversations", "avg_messages", "avg_daily_active_users" } do
      change[k] = M.change(totals[k], previous[k])
      mark(change, k, marked(totals, k) or marked(previous, k))
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
    if f then
      report.errors[#report.errors + 1] = { call = c.key, operation = c.op, kind = "failed", message = f.message }
    elseif odd_figures[c.key] then
      report.errors[#report.errors + 1] = { call = c.key, operation = c.op, kind = "figures",
        message = figures_message(c.op, odd_figures[c.key]) }
    end
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

  -- No activity only when every figure came back, none is odd and each is zero; any figure
  -- above zero means activity; anything else leaves it unknown (nil).
  local counts = {
    { totals.new_users, "new_users" }, { totals.veteran_users, "veteran_users" },
    { totals.conversations, "conversations" }, { totals.sessions, "sessions" },
    { totals.registered, "registered" }, { totals.peak_daily_active_users, "peak_daily_active_users" },
    { feel and feel.total, "sentiment" }, { tr and tr.conversations, "transcripts" },
  }
  local any_known, any_positive, any_odd = false, false, false
  for _, c in ipairs(counts) do
    if c[1] ~= nil then any_known, any_positive = true, any_positive or c[1] > 0 end
    if marked(totals, c[2]) or (c[2] == "sentiment" and marked(feel, "total")) then any_odd = true end
  end
  for _, key in ipairs { "cohorts", "conversations", "messages", "registered", "usage", "sentiment", "transcripts" } do
    if odd_figures[key] then any_odd = true end
  end
  if any_positive then report.activity = true elseif any_known and not any_odd then report.activity = false end

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
  for _, e in ipairs(report.errors) do
    if e.kind == "figures" then
      notes[#notes + 1] = "A figure marked ⚠ is one the API should not send (not a number, negative, "
        .. "or beyond any count), or one made from such figures; the errors say which."
      break
    end
  end
  return report
end

local function sorted_keys(set)
  local keys = {}
  for k in pairs(set or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local function json_string(name)
  return '"' .. name:gsub('[%c"\\]', function(c) return ("\\u%04x"):format(c:byte()) end) .. '"'
end

--- The marked figures of a report as paths in jq's notation ("periods[2].new_users",
-- "sentiment.counts[\"positive\"]"), in the order of the report.
-- @param report as build returns it
-- @return list of strings
function M.flagged_paths(report)
  local out = {}
  local function each(prefix, obj)
    for _, k in ipairs(sorted_keys(obj and obj.flagged)) do out[#out + 1] = prefix .. "." .. k end
  end
  for i, p in ipairs(report.periods) do each(("periods[%d]"):format(i - 1), p) end
  for i, d in ipairs(report.daily_active_users) do each(("daily_active_users[%d]"):format(i - 1), d) end
  each("totals", report.totals)
  each("previous", report.previous)
  each("change", report.change)
  for i, t in ipairs(report.topics) do each(("topics[%d]"):format(i - 1), t) end
  local s = report.sentiment
  for _, k in ipairs(sorted_keys(s and s.flagged)) do
    local kind, name = k:match("^(%a+):(.*)$")
    if kind then
      out[#out + 1] = ("sentiment.%s[%s]"):format(kind == "count" and "counts" or "shares", json_string(name))
    else
      out[#out + 1] = "sentiment." .. k
    end
  end
  for _, k in ipairs(M.OVERVIEW) do each("overview." .. k, report.overview and report.overview[k]) end
  return out
end

--- True when a figure of the report is marked as odd.
-- @param obj the table holding it (a period, totals, a topic, ...)
-- @param key its name
-- @return boolean
M.marked = marked

return M
