--- The cohort / engagement report: new and returning users, activity, conversations, topics and
-- sentiment for a date range, gathered from the analytics endpoints in one concurrent batch.
--
-- The figures are the API's own: per-period numbers are the endpoints' numbers (monthly ones are
-- sums of its daily numbers, since most endpoints have no monthly aggregation), never estimates.
-- @module iblai.workflows.cohort_report
-- @usage
-- local report = require("iblai.workflows.cohort_report")
-- local data = assert(report.run(client, { start = "2026-10-01", ["end"] = "2026-11-24",
--   aggregation = "weekly" }))
-- print(data.totals.new_users, #data.errors)
local civil = require "iblai.civil"
local calendar = require "iblai.workflows.cohort_report.calendar"
local errors = require "iblai.errors"
local shape = require "iblai.workflows.cohort_report.shape"

local M = {}

--- The aggregations the report offers, in the order --help lists them.
M.AGGREGATIONS = { "daily", "weekly", "monthly" }

--- Default length of the range when only some of start/end are given, in days.
M.DEFAULT_DAYS = 30

--- The longest range a report covers, in days (ten years): longer ones are refused before any
-- call, since the answers and the tables would grow past any use (a daily report of 9999 years
-- is millions of rows).
M.MAX_DAYS = 3660

local P = "ai_analytics_orgs_users_"

-- What each call feeds; `prev` calls ask the same question of the range just before, for changes.
local CALLS = {
  { key = "cohorts", op = P .. "user_cohorts_over_time_retrieve", dated = true, agg = "api", mentor = "mentor_id" },
  { key = "usage", op = P .. "usage_summary_list", dated = true },
  { key = "transcripts", op = P .. "transcripts_list", dated = true, mentor = "mentor" },
  { key = "overview", op = P .. "overview_summary_retrieve", mentor = "mentor_id" },
  { key = "metrics", op = P .. "user_metrics_retrieve", mentor = "mentor_id" },
  { key = "sentiment", op = P .. "user_sentiment_retrieve", dated = true },
  { key = "topics", op = P .. "most_discussed_topics_list", dated = true, mentor = "mentor_id" },
  { key = "registered", op = P .. "registered_users_trend_list", dated = true, agg = "own" },
  { key = "conversations", op = P .. "conversation_list", dated = true, agg = "api", mentor = "mentor_id" },
  { key = "messages", op = P .. "average_messages_per_session_list", dated = true, agg = "api", mentor = "mentor_id" },
  { key = "cohorts_prev", op = P .. "user_cohorts_over_time_retrieve", dated = "prev", agg = "api", mentor = "mentor_id" },
  { key = "usage_prev", op = P .. "usage_summary_list", dated = "prev" },
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
  return o
end

--- The calls run() sends, as {key, op, params} (for scripts and tests that want to see them).
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
    -- Weekly is the API's; monthly is summed from daily, except where the endpoint has it.
    if c.agg == "api" then
      params.aggregation = o.aggregation == "weekly" and "weekly" or "daily"
    elseif c.agg == "own" then
      params.aggregation = o.aggregation
    end
    if c.mentor and o.mentor then params[c.mentor] = o.mentor end
    if not skip then out[#out + 1] = { key = c.key, op = c.op, params = params } end
  end
  return out
end

--- Gathers the report: every call at once (one call_many), then the figures per period.
-- A failed call does not stop the others: its sections are marked failed and the error is
-- listed in `errors`, while the rest of the report is complete.
-- @param client an iblai client (org and username set: the analytics paths need them)
-- @param opts as for check(), plus concurrency (default: the client's)
-- @return the report table (range, periods, daily_active_users, totals, previous, change,
--   topics, sentiment, overview, sections, errors, notes, activity), or nil and an Error of kind
--   "validation" when the options are wrong (nothing is sent then)
function M.run(client, opts)
  local o, msg = M.check(opts or {})
  if not o then
    return nil, errors.new { kind = "validation", message = msg, hint = "nothing was sent" }
  end
  local plan = M.plan(o)
  local calls = {}
  for i, c in ipairs(plan) do calls[i] = { c.op, c.params } end
  local results, errs = client:call_many(calls, { concurrency = o.concurrency })
  local answers, failures = {}, {}
  for i, c in ipairs(plan) do
    if errs[i] then failures[c.key] = { op = c.op, err = errs[i] } else answers[c.key] = results[i] end
  end
  return shape.build(o, answers, failures, client.org, plan)
end

return M
