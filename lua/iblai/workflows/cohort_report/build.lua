--- Builds the cohort report from what run() gathered: the people per period, the totals and the
-- retention triangle from the raw data, the API's own figures beside them, the cross-check,
-- the errors (failed calls, odd figures, records left out) and one-line notes defining each term.
-- @module iblai.workflows.cohort_report.build
local calendar = require "iblai.workflows.cohort_report.calendar"
local crosscheck = require "iblai.workflows.cohort_report.crosscheck"
local figures = require "iblai.workflows.cohort_report.figures"
local lifecycle = require "iblai.workflows.cohort_report.lifecycle"
local people = require "iblai.workflows.cohort_report.people"
local shape = require "iblai.workflows.cohort_report.shape"

local M = {}

--- Which calls each section of the report is made from ("users" is every page of the users
-- listing, "transcripts" every span of the transcripts); `whole` sections show nothing unless
-- every call came back.
M.SECTIONS = {
  { name = "lifecycle", calls = { "users", "transcripts" } },
  { name = "retention", calls = { "users", "transcripts" }, whole = true },
  { name = "activity", calls = { "transcripts" } },
  { name = "registrations", calls = { "users" } },
  { name = "cross_check", calls = { "cohorts" } },
  { name = "conversations", calls = { "conversations", "messages" } },
  { name = "topics", calls = { "topics" } },
  { name = "sentiment", calls = { "sentiment" } },
  { name = "overview", calls = { "overview", "metrics" } },
  { name = "changes", calls = { "conversations_prev", "messages_prev" } },
}

--- The figures of a period that count people, in the order the tables show them.
M.PEOPLE = { "active_users", "new_users", "returning_users", "resurrecting_users", "dormant_users", "registered" }

--- The totals and previous-range figures that have a change.
M.CHANGED = { "active_users", "new_users", "returning_users", "registered", "avg_daily_active_users",
  "conversations", "avg_messages" }

--- How many odd figures of one answer its error line quotes; the rest are counted.
M.QUOTED = 3

local mark, marked, total, round = shape.mark, shape.marked, shape.total, shape.round
local size = people.size

local function quoted_list(list, n)
  local more = n > #list and ("; and %d more"):format(n - #list) or ""
  return table.concat(list, "; ") .. more
end

-- The people per period: the lifecycle when both the listing and the transcripts came back,
-- else what one of them tells (registrations, or active users).
local function people_rows(periods, reg, tally)
  if reg and tally then return lifecycle.periods(periods, tally.sets, tally.before, reg.joined) end
  local rows = {}
  for k = 1, #periods do rows[k] = {} end
  if reg then
    local empty = {}
    for k = 1, #periods do empty[k] = {} end
    for k, r in ipairs(lifecycle.periods(periods, empty, {}, reg.joined)) do rows[k].registered = r.registered end
  end
  if tally then
    for k = 1, #periods do rows[k].active_users = size(tally.sets[k]) end
  end
  return rows
end

-- Conversation figures of the API per period, into the rows (marked where odd).
local function api_rows(rows, conv, msg)
  for k, row in ipairs(rows) do
    if conv then
      row.conversations = conv.sums[1][k]
      mark(row, "conversations", conv.odd[1][k])
    end
    if msg then
      row.sessions, row.avg_messages = msg.sums[1][k], shape.per_session(msg.sums[1][k], msg.sums[2][k])
      mark(row, "sessions", msg.odd[1][k])
      mark(row, "avg_messages", msg.odd[1][k] or msg.odd[2][k])
    end
  end
end

-- Sums of an API series over all periods into `into` (marked where odd).
local function api_totals(into, conv, msg)
  if conv then
    local s, any = total(conv.sums[1], conv.odd[1], conv.n)
    into.conversations = s
    mark(into, "conversations", any or (s ~= nil and not figures.sane(s, "count")))
  end
  if msg then
    local sessions, any_s = total(msg.sums[1], msg.odd[1], msg.n)
    local weighted, any_w = total(msg.sums[2], msg.odd[2], msg.n)
    into.sessions = sessions
    into.avg_messages = shape.per_session(sessions, weighted)
    mark(into, "sessions", any_s)
    mark(into, "avg_messages", any_s or any_w)
  end
end

--- The marked figures of a report as paths in jq's notation ("periods[2].conversations",
-- "sentiment.counts[\"positive\"]"), in the order of the report.
-- @param report as report() returns it
-- @return list of strings
function M.flagged_paths(report)
  local out = {}
  local function keys(set)
    local list = {}
    for k in pairs(set or {}) do list[#list + 1] = k end
    table.sort(list)
    return list
  end
  local function each(prefix, obj)
    for _, k in ipairs(keys(obj and obj.flagged)) do out[#out + 1] = prefix .. "." .. k end
  end
  for i, p in ipairs(report.periods) do each(("periods[%d]"):format(i - 1), p) end
  for i, d in ipairs(report.daily_active_users) do each(("daily_active_users[%d]"):format(i - 1), d) end
  each("totals", report.totals)
  each("previous", report.previous)
  each("change", report.change)
  for i, p in ipairs(report.cross_check and report.cross_check.periods or {}) do
    each(("cross_check.periods[%d]"):format(i - 1), p)
  end
  for i, t in ipairs(report.topics) do each(("topics[%d]"):format(i - 1), t) end
  local s = report.sentiment
  for _, k in ipairs(keys(s and s.flagged)) do
    local kind, name = k:match("^(%a+):(.*)$")
    if kind then
      local escaped = name:gsub('[%c"\\]', function(c) return ("\\u%04x"):format(c:byte()) end)
      out[#out + 1] = ('sentiment.%s["%s"]'):format(kind == "count" and "counts" or "shares", escaped)
    else
      out[#out + 1] = "sentiment." .. k
    end
  end
  for _, k in ipairs(shape.OVERVIEW) do each("overview." .. k, report.overview and report.overview[k]) end
  return out
end

-- The one-line definitions, and what this report's data needs said.
local function notes(o, report, ctx)
  local unit = ({ daily = "day", weekly = "week", monthly = "month" })[o.aggregation]
  local out = {
    "Registered: users whose date_joined (in the users listing) falls in the " .. unit .. ".",
    "Active: distinct users with at least one conversation (in the transcripts) in the " .. unit .. ".",
    "New: active in the " .. unit .. " and registered in it.",
    "Returning: active in the " .. unit .. " and in the one before, registered before it.",
    "Resurrecting: active in the " .. unit .. " but not in the one before, registered before it.",
    "Dormant: active in the " .. unit .. " before, not in this one (drawn below zero).",
    ("In every %s active = new + returning + resurrecting; the first %s is compared with the whole %s before it (%s)."):format(
      unit, unit, unit, o.before.first == o.before.last and calendar.format(o.before.first)
      or calendar.format(o.before.first) .. " to " .. calendar.format(o.before.last)),
    "Totals count each person once over the whole range: new users registered in it, returning users before it.",
    ("Retention: a row is the users who registered in one %s; its cells count those active in that %s and in "
      .. "each %s after it."):format(unit, unit, unit),
    "Daily active users: distinct users with a conversation that day; a period's average is over its days.",
  }
  out[#out + 1] = o.aggregation == "monthly"
    and "Conversations, sessions and messages per session are the API's figures; monthly ones add up its daily ones."
    or "Conversations, sessions and messages per session are the API's figures."
  if o.mentor then
    out[#out + 1] = ("Mentor %s: only conversations with this mentor count as activity; registrations and "
      .. "sentiment are the whole org's."):format(o.mentor)
  end
  if o.prev_first then
    out[#out + 1] = ("Changes compare with the %d days before (%s to %s), counted the same way."):format(
      report.range.days, report.previous.start, report.previous["end"])
  end
  local cc = report.cross_check
  if cc then
    local what = cc.veterans and "its new_users with registrations, its veteran_users with active users registered "
      .. "before the range" or "its new_users with registrations only, since its months would add up distinct users "
      .. "of each day"
    if cc.disagreements == 0 then
      out[#out + 1] = ("Cross-check: the API's user-cohorts-over-time agrees in every %s (%s)."):format(unit, what)
    else
      out[#out + 1] = ("Cross-check: the API's user-cohorts-over-time disagrees in %d of %d %ss (%s): %s."):format(
        cc.disagreements, #cc.periods, unit, what, quoted_list(cc.differences, cc.disagreements))
    end
  end
  if ctx.unlisted > 0 or ctx.early > 0 then
    out[#out + 1] = ("%d active users are not in the users listing and %d were active before registering; "
      .. "both count as registered before."):format(ctx.unlisted, ctx.early)
  end
  if ctx.too_many then
    out[#out + 1] = ("No retention triangle for %d periods (at most %d): a coarser --aggregation gives one."):format(
      #report.periods, lifecycle.MAX_RETENTION)
  end
  out[#out + 1] = "The org overview is the API's own month-over-month view, whatever the range."
  if ctx.odd then
    out[#out + 1] = "A figure marked ⚠ is one the API should not send (not a number, negative, or beyond any count), "
      .. "or one made from such figures; the errors say which."
  end
  return out
end

--- Builds the report.
-- @param o options completed by cohort_report.check
-- @param answers call key -> decoded body for the API's calls that succeeded, plus users (a
--   people.registry) and transcripts (a people.tally) when they came back
-- @param failures call key -> { op = operationId, err = Error or message }
-- @param org the org the report is about (for the heading)
-- @param plan the calls as sent, { {key, op, params}, ... }: errors are listed in this order
-- @return the report table
function M.report(o, answers, failures, org, plan)
  local periods = calendar.periods(o.first, o.last, o.aggregation)
  local failed, op_of, odd, records = {}, {}, {}, {}
  for _, c in ipairs(plan) do op_of[c.key] = c.op end
  for key, f in pairs(failures) do failed[key] = { message = tostring(f.err) } end
  -- A reader returns its figures, or the call counts as failed when the answer's shape is wrong;
  -- the figures it finds odd are noted against the call.
  local function read(key, fn, ...)
    local body = answers[key]
    if body == nil or failed[key] then return nil end
    odd[key] = odd[key] or { n = 0 }
    local list = odd[key]
    local args = table.pack(...)
    args[args.n + 1] = function(where, problem)
      list.n = list.n + 1
      if #list < M.QUOTED then list[#list + 1] = where .. " " .. problem end
    end
    local a, b = fn(body, table.unpack(args, 1, args.n + 1))
    if a == nil then
      failed[key] = { message = ("iblai: the answer of %s is not as the API describes it: %s"):format(op_of[key], b) }
    end
    return a
  end

  local conv = read("conversations", shape.conversations, periods)
  local msg = read("messages", shape.messages, periods)
  local top = read("topics", shape.topics)
  local feel = read("sentiment", shape.sentiment)
  local summary, umetrics = read("overview", shape.overview), read("metrics", shape.metrics)
  local reg = not failed.users and answers.users or nil
  local tally = not failed.transcripts and answers.transcripts or nil
  if tally then odd.transcripts, records.transcripts = tally.odd, tally.problems end
  if reg then records.users = reg.problems end

  local days = o.last - o.first + 1
  local rows = people_rows(periods, reg, tally)
  for k, p in ipairs(periods) do
    local row = rows[k]
    row.start, row["end"], row.days = calendar.format(p.first), calendar.format(p.last), p.last - p.first + 1
    if tally then
      local s = 0
      for z = p.first, p.last do s = s + tally.daily[z - o.first + 1] end
      row.avg_daily_active_users = round(s / row.days, 1)
    end
  end
  api_rows(rows, conv, msg)

  local range = { first = o.first, last = o.last }
  local totals = {}
  if reg then
    totals.org_users = reg.count
    totals.registered = lifecycle.totals(range, {}, reg.joined).registered
  end
  local daily = {}
  if tally then
    totals.active_users = size(tally.range)
    if reg then
      local t = lifecycle.totals(range, tally.range, reg.joined)
      totals.new_users, totals.returning_users = t.new_users, t.returning_users
    end
    totals.messages = tally.messages
    mark(totals, "messages", tally.messages_odd)
    local sum, peak, at = 0, 0, nil
    for i, n in ipairs(tally.daily) do
      daily[i] = { date = calendar.format(o.first + i - 1), users = n }
      sum = sum + n
      if n > peak then peak, at = n, i end
    end
    totals.avg_daily_active_users = days > 0 and round(sum / days, 1) or 0
    totals.peak_daily_active_users, totals.peak_day = peak, at and calendar.format(o.first + at - 1)
  end
  api_totals(totals, conv, msg)

  -- The range before, of the same length, counted the same way.
  local previous, change = {}, {}
  if o.prev_first then
    local span = { first = o.prev_first, last = o.prev_last }
    previous = { start = calendar.format(span.first), ["end"] = calendar.format(span.last) }
    if tally then
      previous.active_users = size(tally.prev)
      previous.avg_daily_active_users = round(tally.prev_days / days, 1)
      if reg then
        local t = lifecycle.totals(span, tally.prev, reg.joined)
        previous.new_users, previous.returning_users = t.new_users, t.returning_users
      end
    end
    if reg then previous.registered = lifecycle.totals(span, {}, reg.joined).registered end
    local prev_periods = calendar.periods(span.first, span.last, o.aggregation)
    api_totals(previous, read("conversations_prev", shape.conversations, prev_periods),
      read("messages_prev", shape.messages, prev_periods))
    previous.sessions = nil
    if previous.flagged then previous.flagged.sessions = nil end
    for _, k in ipairs(M.CHANGED) do
      change[k] = shape.change(totals[k], previous[k])
      mark(change, k, marked(totals, k) or marked(previous, k))
    end
  end

  local ctx = { unlisted = 0, early = 0 }
  local retention, cross = nil, nil
  if reg and tally then
    ctx.unlisted, ctx.early = lifecycle.oddities(periods, tally.sets, reg.joined)
    local tri = lifecycle.retention(periods, tally.sets, reg.joined)
    if tri then
      retention = {}
      for k, r in ipairs(tri) do retention[k] = { start = calendar.format(r.first), size = r.size, active = r.active } end
    else
      ctx.too_many = true
    end
    cross = read("cohorts", crosscheck.compare, o, periods, rows, tally.sets, reg.joined)
  end

  if top and tally then
    for _, t in ipairs(top) do t.sentiment = tally.by_topic[t.name] or {} end
  end
  local org_figures
  if summary or umetrics then
    org_figures = {}
    for k, v in pairs(summary or {}) do org_figures[k] = v end
    for k, v in pairs(umetrics or {}) do org_figures[k] = v end
  end

  local report = {
    org = org,
    range = { start = o.start, ["end"] = o["end"], aggregation = o.aggregation, mentor = o.mentor, days = days },
    periods = rows, totals = totals, previous = previous, change = change, retention = retention,
    cross_check = cross, daily_active_users = daily, topics = top or {}, sentiment = feel, overview = org_figures,
    sections = {}, errors = {}, notes = {},
  }

  -- Errors in the order of the plan, each call once: failed, odd figures, records left out.
  local seen = {}
  for _, c in ipairs(plan) do
    local key = c.key
    if not seen[key] then
      seen[key] = true
      local function add(kind, message) report.errors[#report.errors + 1] = { call = key, operation = c.op,
        kind = kind, message = message } end
      if failed[key] then
        add("failed", failed[key].message)
      else
        local list = odd[key]
        if list and list.n > 0 then
          add("figures", ("iblai: %s sent %d figure%s no count or average can be, shown marked: %s"):format(c.op,
            list.n, list.n == 1 and "" or "s", quoted_list(list, list.n)))
        end
        local rec = records[key]
        if rec and rec.n > 0 then
          add("records", ("iblai: %s sent %d record%s the report cannot use as they are: %s"):format(c.op, rec.n,
            rec.n == 1 and "" or "s", quoted_list(rec, rec.n)))
        end
      end
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
    report.sections[s.name] = bad == 0 and "ok" or (bad == all or s.whole) and "failed" or "partial"
  end
  if ctx.too_many and report.sections.retention == "ok" then report.sections.retention = "omitted" end

  -- No activity only when the figures came back, none is odd and nothing happened; any
  -- conversation or registration means activity; anything else leaves it unknown (nil).
  local any_odd = false
  for _, e in ipairs(report.errors) do any_odd = any_odd or e.kind ~= "failed" end
  local known = tally ~= nil or totals.conversations ~= nil
  local happened = (tally and tally.conversations > 0) or (totals.conversations or 0) > 0
    or (totals.registered or 0) > 0 or (feel and (feel.total or 0) > 0)
  if happened then report.activity = true elseif known and not any_odd then report.activity = false end

  ctx.odd = #M.flagged_paths(report) > 0
  report.notes = notes(o, report, ctx)
  return report
end

return M
