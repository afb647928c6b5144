--- The cohort / engagement report: how many people were active, new, returning, resurrecting
-- and dormant per period, how each registration cohort kept coming back, and conversations,
-- topics and sentiment, for a date range.
--
-- People are counted from the raw data: the users listing (when each one registered) and the
-- transcripts (who had a conversation when), as sets of usernames, so a person counts once per
-- figure however many conversations or days they had. The API's user-cohorts-over-time is a
-- cross-check. Conversations, messages, topics, sentiment and the org overview are the API's
-- own figures.
-- @module iblai.workflows.cohort_report
-- @usage
-- local report = require("iblai.workflows.cohort_report")
-- local data = assert(report.run(client, { start = "2026-10-01", ["end"] = "2026-11-24",
--   aggregation = "weekly" }))
-- print(data.totals.active_users, data.totals.new_users, #data.errors)
local civil = require "iblai.civil"
local calendar = require "iblai.workflows.cohort_report.calendar"
local errors = require "iblai.errors"
local people = require "iblai.workflows.cohort_report.people"
local build = require "iblai.workflows.cohort_report.build"

local M = {}

--- The aggregations the report offers, in the order --help lists them.
M.AGGREGATIONS = { "daily", "weekly", "monthly" }

--- Default length of the range when only some of start/end are given, in days.
M.DEFAULT_DAYS = 30

--- The longest range a report covers, in days (ten years): longer ones are refused before any
-- call, since the answers and the tables would grow past any use (a daily report of 9999 years
-- is millions of rows).
M.MAX_DAYS = 3660

--- The most days one transcripts call asks for: the answer is not paged, so its size grows with
-- the days it covers; the calls go out in batches of the concurrency, each answer tallied and
-- dropped before the next batch.
M.SPAN_DAYS = 31

local P = "ai_analytics_orgs_users_"

--- The operations the raw data comes from.
M.USERS = "core_platform_users_retrieve"
M.TRANSCRIPTS = P .. "transcripts_list"

-- The API's own figures, asked once each; `prev` calls ask the same of the range just before.
local CALLS = {
  { key = "cohorts", op = P .. "user_cohorts_over_time_retrieve", dated = true, agg = "api", mentor = "mentor_id" },
  { key = "overview", op = P .. "overview_summary_retrieve", mentor = "mentor_id" },
  { key = "metrics", op = P .. "user_metrics_retrieve", mentor = "mentor_id" },
  { key = "sentiment", op = P .. "user_sentiment_retrieve", dated = true },
  { key = "topics", op = P .. "most_discussed_topics_list", dated = true, mentor = "mentor_id" },
  { key = "conversations", op = P .. "conversation_list", dated = true, agg = "api", mentor = "mentor_id" },
  { key = "messages", op = P .. "average_messages_per_session_list", dated = true, agg = "api", mentor = "mentor_id" },
  { key = "conversations_prev", op = P .. "conversation_list", dated = "prev", agg = "api", mentor = "mentor_id" },
  { key = "messages_prev", op = P .. "average_messages_per_session_list", dated = "prev", agg = "api",
    mentor = "mentor_id" },
}
M.CALLS = CALLS

local function is_aggregation(v)
  for _, a in ipairs(M.AGGREGATIONS) do if a == v then return true end end
  return false
end

--- Checks and completes the options without sending anything.
-- @param opts table: start, ["end"] (YYYY-MM-DD; a missing end is today in UTC, a missing start
--   the DEFAULT_DAYS days up to the end), aggregation ("daily" default, "weekly", "monthly"), mentor
-- @return the completed options (first, last day numbers added), or nil and a one-line message
--   that starts with the option's name ("start '2026-02-30' is not a calendar date ...")
function M.check(opts)
  if type(opts) ~= "table" then error("cohort_report options must be a table", 2) end
  local o = { aggregation = opts.aggregation or "daily", mentor = opts.mentor, concurrency = opts.concurrency }
  if not is_aggregation(o.aggregation) then
    return nil, ("aggregation '%s' is not daily, weekly or monthly"):format(tostring(o.aggregation))
  end
  if o.mentor ~= nil and (type(o.mentor) ~= "string" or o.mentor == "") then
    return nil, "mentor must be a non-empty mentor id"
  end
  for _, name in ipairs { "start", "end" } do
    if opts[name] ~= nil then
      local day = calendar.parse(opts[name])
      if not day then
        return nil, ("%s '%s' is not a calendar date (YYYY-MM-DD)"):format(name, tostring(opts[name]))
      end
      o[name == "start" and "first" or "last"] = day
    end
  end
  o.last = o.last or calendar.today()
  o.first = o.first or o.last - M.DEFAULT_DAYS + 1
  if o.last < o.first then
    return nil, ("end %s is before start %s"):format(calendar.format(o.last), calendar.format(o.first))
  end
  o.start, o["end"] = calendar.format(o.first), calendar.format(o.last)
  local days = o.last - o.first + 1
  if days > M.MAX_DAYS then
    return nil, ("end %s is %d days from start %s; a report covers at most %d days (ten years)"):format(
      o["end"], days, o.start, M.MAX_DAYS)
  end
  -- The range just before, of the same length, for the changes; none before year 1.
  if o.first - days >= civil.day(1, 1, 1) then
    o.prev_first, o.prev_last = o.first - days, o.first - 1
  end
  -- The whole calendar period before the first, which the first period's lifecycle compares with.
  o.before = calendar.before(o.first, o.aggregation)
  return o
end

-- The days the transcripts are asked for: the range, the period before it and the range before.
local function fetched_days(o)
  local first = math.min(o.before.first, o.prev_first or o.before.first)
  return math.max(first, civil.day(1, 1, 1)), o.last
end

--- The calls run() sends, as {key, op, params} (for scripts and tests that want to see them):
-- the API's figures, the users listing (key "users", every page; run() adds the org as
-- platform_key) and the transcripts, one call per span of days (key "transcripts").
-- @param o options completed by check()
-- @return list of { key = name, op = operationId, params = table }
function M.plan(o)
  local out = {}
  for _, c in ipairs(CALLS) do
    local params, skip = {}, false
    if c.dated == "prev" then
      if not o.prev_first then skip = true else
        params.start_date, params.end_date = calendar.format(o.prev_first), calendar.format(o.prev_last)
      end
    elseif c.dated then
      params.start_date, params.end_date = o.start, o["end"]
    end
    -- Weekly is the API's; monthly is summed from daily, as the API has no months.
    if c.agg == "api" then params.aggregation = o.aggregation == "weekly" and "weekly" or "daily" end
    if c.mentor and o.mentor then params[c.mentor] = o.mentor end
    if not skip then out[#out + 1] = { key = c.key, op = c.op, params = params } end
  end
  out[#out + 1] = { key = "users", op = M.USERS, params = {} }
  local first, last = fetched_days(o)
  for _, span in ipairs(calendar.spans(first, last, M.SPAN_DAYS)) do
    out[#out + 1] = { key = "transcripts", op = M.TRANSCRIPTS, span = span, params = {
      start_date = calendar.format(span.first), end_date = calendar.format(span.last), mentor = o.mentor } }
  end
  return out
end

-- Walks every page of the users listing into a registry; nil and the Error when a page fails.
local function read_users(client, params, concurrency)
  local reg = people.registry()
  local ok, err = pcall(function()
    for page in client:pages(M.USERS, params, { concurrency = concurrency }) do
      people.add_users(reg, type(page) == "table" and page.results or nil)
    end
  end)
  if ok then return reg end
  if not errors.is(err) then error(err, 0) end -- an interruption, or a bug: not the API's answer
  return nil, err
end

-- Asks for the transcripts span by span, a batch of `concurrency` at a time, tallying each answer
-- before the next batch; nil and the first failure (an Error, or what is wrong with an answer).
local function read_transcripts(client, o, calls, concurrency)
  local tally = people.tally { periods = calendar.periods(o.first, o.last, o.aggregation), first = o.first,
    last = o.last, before = o.before, prev = o.prev_first and { first = o.prev_first, last = o.prev_last } }
  for i = 1, #calls, concurrency do
    local batch = {}
    for j = i, math.min(#calls, i + concurrency - 1) do batch[#batch + 1] = { calls[j].op, calls[j].params } end
    local results, errs = client:call_many(batch, { concurrency = concurrency })
    for j = 1, #batch do
      if errs[j] then return nil, errs[j] end
      local span = calls[i + j - 1].span
      local ok, why = people.add_conversations(tally, results[j], span)
      if not ok then
        return nil, ("iblai: the answer of %s for %s to %s is not as the API describes it: %s"):format(M.TRANSCRIPTS,
          calendar.format(span.first), calendar.format(span.last), why)
      end
    end
  end
  return tally
end

--- Gathers the report: the API's figures at once (one call_many), the users listing, then the
-- transcripts, and counts the people from them.
-- A failed call does not stop the others: its sections are marked failed and the error is
-- listed in `errors`, while the rest of the report is complete.
-- @param client an iblai client (org and username set: the analytics paths need them)
-- @param opts as for check(), plus concurrency (default: the client's)
-- @return the report table (range, periods, totals, previous, change, retention, cross_check,
--   daily_active_users, topics, sentiment, overview, sections, errors, flagged, notes, activity),
--   or nil and an Error of kind "validation" when the options are wrong (nothing is sent then)
function M.run(client, opts)
  local o, msg = M.check(opts or {})
  if not o then
    return nil, errors.new { kind = "validation", message = msg, hint = "nothing was sent" }
  end
  local concurrency = o.concurrency or client.concurrency or 8
  local plan = M.plan(o)
  local calls, keyed, spans, users = {}, {}, {}, nil
  for _, c in ipairs(plan) do
    if c.key == "transcripts" then
      spans[#spans + 1] = c
    elseif c.key == "users" then
      users = c
      users.params.platform_key = client.org
    else
      keyed[#keyed + 1] = c
      calls[#calls + 1] = { c.op, c.params }
    end
  end
  local results, errs = client:call_many(calls, { concurrency = concurrency })
  local answers, failures = {}, {}
  for i, c in ipairs(keyed) do
    if errs[i] then failures[c.key] = { op = c.op, err = errs[i] } else answers[c.key] = results[i] end
  end
  local err
  answers.users, err = read_users(client, users.params, concurrency)
  if err then failures.users = { op = M.USERS, err = err } end
  answers.transcripts, err = read_transcripts(client, o, spans, concurrency)
  if err then failures.transcripts = { op = M.TRANSCRIPTS, err = err } end
  return build.report(o, answers, failures, client.org, plan)
end

return M
