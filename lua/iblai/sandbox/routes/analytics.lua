--- Analytics computed from the org's users and conversations, so every report agrees with the
-- raw data and with the others. {user_id} is ignored, as on the real service. Series are cut by
-- `aggregation`, or by `group_by` where no aggregation is given; on reports that are totals,
-- group_by is checked but cannot change a total.
local respond = require "iblai.sandbox.respond"
local scope = require "iblai.sandbox.routes.scope"
local dates = require "iblai.sandbox.dates"

local BASE = "/api/ai-analytics/orgs/{org}/users/{user_id}/"
local DAY = 86400
local AGGREGATIONS = { daily = true, hourly = true, weekly = true }
local ALL_BUCKETS = { daily = true, hourly = true, weekly = true, monthly = true }
local GROUPS = { hour = "hourly", day = "daily", week = "weekly", month = "monthly" }
local MAX_PERIODS = 20000

--- Reads start_date/end_date; returns start, end_exclusive or nil and a 400 answer.
local function range(req, required, default_days, today)
  local errors, out = {}, {}
  for _, f in ipairs { "start_date", "end_date" } do
    local raw = req.query[f]
    if raw == nil or raw == "" then
      if required then errors[f] = { "This field is required." } end
    else
      out[f] = dates.parse(raw)
      if not out[f] then errors[f] = { "Date has wrong format. Use one of these formats instead: YYYY-MM-DD." } end
    end
  end
  if next(errors) then return nil, respond.invalid(errors) end
  local last = out.end_date or today
  local first = out.start_date or (last - (default_days or 30) * DAY)
  if first > last then return nil, respond.invalid { non_field_errors = { "start_date must be before end_date." } } end
  return first, last + DAY
end

-- The bucket size of a series: aggregation, else group_by; nil and a 400 naming the bad one.
local function bucket_of(req, opts)
  local agg, err
  if opts.aggregation then
    agg, err = respond.choice_param(req, "aggregation", opts.aggregation)
    if err then return nil, err end
  end
  local g = req.query.group_by
  if opts.group_by and g and g ~= "" then
    local as = GROUPS[g]
    if not as or not opts.group_by[as] then
      return nil, respond.field_error("group_by", ('"%s" is not a valid choice.'):format(g))
    end
    if agg and agg ~= as then
      return nil, respond.field_error("group_by", ("group_by=%s does not match aggregation=%s."):format(g, agg))
    end
    agg = as
  end
  return agg or "daily"
end

-- Sorted bucket keys -> rows.
local function series(buckets, make)
  local keys = {}
  for k in pairs(buckets) do keys[#keys + 1] = k end
  table.sort(keys)
  local rows = {}
  for _, k in ipairs(keys) do rows[#rows + 1] = make(k, buckets[k]) end
  return rows
end

return function(router, model)
  local s = model.state

  -- The conversations of a range, found through the model's time index: a report costs what
  -- its range holds, not what the org holds.
  local function in_range(first, stop, mentor)
    local list, all = {}, s.conversations
    local i, j = model:conversations_between(first, stop)
    for k = i, j do
      local c = all[k]
      if not mentor or c.mentor == mentor then list[#list + 1] = c end
    end
    return list
  end

  local function registered(first, stop)
    local _, i, j = model:joined_between(first, stop)
    return j - i + 1
  end

  local function active_users(convs)
    local set, n = {}, 0
    for _, c in ipairs(convs) do
      if not set[c.user_id] then set[c.user_id], n = true, n + 1 end
    end
    return set, n
  end

  local function change(now, before)
    if before == 0 then return now > 0 and 100.0 or 0.0 end
    return (now - before) * 100.0 / before
  end

  -- Registers GET handlers that first check the org, and the date range when asked to.
  local function report(path, opts, fn)
    router:add(BASE .. path, {
      GET = function(req, p)
        local ok, err = scope.org(model, p)
        if not ok then return err end
        local first, stop = range(req, opts.required, opts.default_days, s.today)
        if not first then return stop end
        local agg
        agg, err = bucket_of(req, opts)
        if not agg then return err end
        return fn(req, first, stop, agg)
      end,
    })
  end

  report("usage-summary/", { required = true, group_by = { daily = true, weekly = true, monthly = true } },
    function(_, first, stop, agg)
    local buckets = {}
    for _, c in ipairs(in_range(first, stop)) do
      local day = dates.bucket(c.at, agg)
      buckets[day] = buckets[day] or {}
      buckets[day][c.user_id] = true
    end
    return respond.json(200, series(buckets, function(day, users)
      local n = 0
      for _ in pairs(users) do n = n + 1 end
      return { date = dates.date(day), user_count = n }
    end))
  end)

  report("user-cohorts-over-time/", { required = true, aggregation = AGGREGATIONS }, function(req, first, stop, agg)
    local step = agg == "hourly" and 3600 or agg == "weekly" and 7 * DAY or DAY
    if (stop - first) // step > MAX_PERIODS then -- every period is listed, so the range is bounded
      return respond.field_error("end_date", ("The range holds more than %d %s periods; narrow it."):format(
        MAX_PERIODS, agg))
    end
    local buckets = {}
    for t = dates.bucket(first, agg), stop - 1, step do
      buckets[t] = { new = 0, veteran = {} }
    end
    local joined, i, j = model:joined_between(first, stop)
    for k = i, j do
      local b = buckets[dates.bucket(joined[k].joined, agg)]
      if b then b.new = b.new + 1 end
    end
    for _, c in ipairs(in_range(first, stop, req.query.mentor_id)) do
      local u = model:user(c.user_id)
      if u and u.joined < first then
        local b = buckets[dates.bucket(c.at, agg)]
        if b then b.veteran[c.user_id] = true end
      end
    end
    local out = { periods = {}, new_users = {}, veteran_users = {} }
    for _, row in ipairs(series(buckets, function(t, b)
      local v = 0
      for _ in pairs(b.veteran) do v = v + 1 end
      return { dates.iso(t), b.new, v }
    end)) do
      out.periods[#out.periods + 1], out.new_users[#out.new_users + 1], out.veteran_users[#out.veteran_users + 1] =
        row[1], row[2], row[3]
    end
    return respond.json(200, out)
  end)

  -- Rows of the schema's ConversationMessage (the spec's example shows other fields).
  report("transcripts/", { default_days = 3650 }, function(req, first, stop)
    local wanted = {}
    for t in (req.query.topics or ""):gmatch("[^,]+") do wanted[t] = true end
    local rows = {}
    for _, c in ipairs(in_range(first, stop, req.query.mentor)) do
      if not next(wanted) or wanted[c.topics[1].name] then
        rows[#rows + 1] = { id = c.id, user_id = c.user_id, first_message = c.first_message, topics = c.topics,
          message_count = c.message_count, model = c.model, inserted_at = c.inserted_at,
          user_sentiment = c.user_sentiment }
      end
    end
    return respond.json(200, rows)
  end)

  report("overview-summary/", { default_days = 30, group_by = ALL_BUCKETS }, function(req, first, stop)
    local span = stop - first
    local now, before = in_range(first, stop, req.query.mentor_id), in_range(first - span, first, req.query.mentor_id)
    local function topics(list)
      local set, n = {}, 0
      for _, c in ipairs(list) do
        if not set[c.topics[1].name] then set[c.topics[1].name], n = true, n + 1 end
      end
      return n
    end
    local _, users_now = active_users(now)
    local _, users_before = active_users(before)
    local function rating(list) -- the schema's total is a count of ratings (its example agrees)
      local n = 0
      for _, c in ipairs(list) do if c.rating then n = n + 1 end end
      return n
    end
    return respond.json(200, {
      conversation_volume = { total = #now, change = change(#now, #before) },
      users = { total = users_now, change = change(users_now, users_before) },
      topics = { total = topics(now), change = change(topics(now), topics(before)) },
      user_rating = { total = rating(now), change = change(rating(now), rating(before)) },
    })
  end)

  report("user-metrics/", { default_days = 30, group_by = ALL_BUCKETS }, function(req, first, stop)
    local span = stop - first
    local total_now, total_before = registered(-math.huge, stop), registered(-math.huge, first)
    local new_now, new_before = registered(first, stop), registered(first - span, first)
    local set_now, unique_now = active_users(in_range(first, stop, req.query.mentor_id))
    local _, unique_before = active_users(in_range(first - span, first, req.query.mentor_id))
    local veteran = 0
    for name in pairs(set_now) do
      local u = model:user(name)
      if u and u.joined < first then veteran = veteran + 1 end
    end
    local function metric(a, b) return { total = a, change_percentage = change(a, b) } end
    return respond.json(200, {
      registered_users = metric(total_now, total_before), new_users = metric(new_now, new_before),
      unique_users = metric(unique_now, unique_before), veteran_users = metric(veteran, 0),
    })
  end)

  report("user-sentiment/", { required = true, group_by = ALL_BUCKETS }, function(_, first, stop)
    local dist = { positive = 0, neutral = 0, negative = 0 }
    local list = in_range(first, stop)
    for _, c in ipairs(list) do dist[c.user_sentiment] = dist[c.user_sentiment] + 1 end
    return respond.json(200, { sentiment_distribution = dist, total_sentiments = #list })
  end)

  report("most-discussed-topics/", { required = true, aggregation = AGGREGATIONS, group_by = AGGREGATIONS },
    function(req, first, stop)
    local counts = {}
    for _, c in ipairs(in_range(first, stop, req.query.mentor_id)) do
      counts[c.topics[1].name] = (counts[c.topics[1].name] or 0) + 1
    end
    local rows = {}
    for name, n in pairs(counts) do rows[#rows + 1] = { topic_name = name, conversation_count = n } end
    table.sort(rows, function(a, b)
      if a.conversation_count == b.conversation_count then return a.topic_name < b.topic_name end
      return a.conversation_count > b.conversation_count
    end)
    return respond.json(200, rows)
  end)

  report("registered-users-trend/", { required = true, aggregation = ALL_BUCKETS, group_by = ALL_BUCKETS },
    function(_, first, stop, agg)
    local buckets = {}
    local joined, i, j = model:joined_between(first, stop)
    for k = i, j do
      local b = dates.bucket(joined[k].joined, agg)
      buckets[b] = (buckets[b] or 0) + 1
    end
    return respond.json(200, series(buckets, function(t, n) return { interval = dates.iso(t), count = n } end))
  end)

  report("conversation/", { required = true, aggregation = AGGREGATIONS }, function(req, first, stop, agg)
    local buckets = {}
    for _, c in ipairs(in_range(first, stop, req.query.mentor_id)) do
      local b = dates.bucket(c.at, agg)
      buckets[b] = (buckets[b] or 0) + 1
    end
    return respond.json(200, series(buckets, function(t, n)
      return { date = dates.iso(t), conversation_count = n } -- date-time, as the schema says
    end))
  end)

  report("average-messages-per-session/", { required = true, aggregation = AGGREGATIONS, group_by = AGGREGATIONS },
    function(req, first, stop, agg)
    local buckets = {}
    for _, c in ipairs(in_range(first, stop, req.query.mentor_id)) do
      local b = dates.bucket(c.at, agg)
      buckets[b] = buckets[b] or { sessions = 0, messages = 0 }
      buckets[b].sessions = buckets[b].sessions + 1
      buckets[b].messages = buckets[b].messages + c.message_count
    end
    return respond.json(200, series(buckets, function(t, b)
      -- an integer, as the schema says: the mean rounded half up
      return { time = dates.iso(t), avg_messages = (2 * b.messages + b.sessions) // (2 * b.sessions),
        total_sessions = b.sessions }
    end))
  end)
end
