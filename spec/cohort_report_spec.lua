-- iblai.workflows.cohort_report and `iblai cohort-report`: the calendar, the shaping of the
-- analytics answers, the renderers, usage errors, the figures against the sandbox's own listings,
-- failing sections, and the HTML page rendered by headless Chromium.
local helpers = require "support.helpers"
local chromium = require "support.chromium"
local iblai = require "iblai"
local json = require "iblai.json"
local calendar = require "iblai.workflows.cohort_report.calendar"
local cohort_report = require "iblai.workflows.cohort_report"
local shape = require "iblai.workflows.cohort_report.shape"
local csv = require "iblai.render.csv"
local markdown = require "iblai.render.markdown"
local svg = require "iblai.render.svg"
local format = require "iblai.render.format"

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function count(text, pattern)
  local n = 0
  for _ in text:gmatch(pattern) do n = n + 1 end
  return n
end

local function lines(text)
  local out = {}
  for l in text:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p " .. helpers.quote(d)))
  return d
end

describe("cohort report calendar", function()
  it("accepts real calendar dates only", function()
    assert.equal(require("iblai.civil").day(2024, 2, 29), calendar.parse("2024-02-29"))
    assert.is_nil(calendar.parse("2026-02-30"))
    assert.is_nil(calendar.parse("2025-02-29"))
    assert.is_nil(calendar.parse("2026-13-01"))
    assert.is_nil(calendar.parse("2026-1-01"))
    assert.is_nil(calendar.parse("2026-01-01T00:00:00Z"))
    assert.equal("1970-01-01", calendar.format(0))
    assert.equal("2026-11-24", calendar.format(calendar.parse("2026-11-24")))
  end)

  it("reads API dates and date-times by their first ten characters", function()
    local day = calendar.parse("2026-10-05")
    assert.equal(day, calendar.day_of("2026-10-05"))
    assert.equal(day, calendar.day_of("2026-10-05T00:00:00Z"))
    assert.equal(day, calendar.day_of("2026-10-05T23:59:59+05:00"))
    assert.is_nil(calendar.day_of(42))
  end)

  it("cuts weeks Monday to Sunday and months by the calendar, clipped to the range", function()
    local weeks = calendar.periods(calendar.parse("2026-10-01"), calendar.parse("2026-10-20"), "weekly")
    assert.same({ "2026-10-01", "2026-10-05", "2026-10-12", "2026-10-19" },
      { calendar.format(weeks[1].first), calendar.format(weeks[2].first), calendar.format(weeks[3].first),
        calendar.format(weeks[4].first) })
    assert.equal("2026-10-04", calendar.format(weeks[1].last))
    assert.equal("2026-10-20", calendar.format(weeks[4].last))
    local months = calendar.periods(calendar.parse("2023-12-15"), calendar.parse("2024-03-01"), "monthly")
    assert.equal(4, #months)
    assert.equal("2024-02-29", calendar.format(months[3].last))
    assert.equal("2024-03-01", calendar.format(months[4].first))
    assert.equal(calendar.parse("2024-03-01"), months[4].last)
    -- A row labelled before the range (a week that began earlier) counts in the first period.
    assert.equal(1, calendar.find(weeks, calendar.parse("2026-09-28")))
    assert.equal(3, calendar.find(weeks, calendar.parse("2026-10-18")))
    assert.equal(4, calendar.find(weeks, calendar.parse("2027-01-01")))
  end)

  it("checks options without sending anything, naming the option", function()
    local o = assert(cohort_report.check { start = "2026-10-01", ["end"] = "2026-10-31" })
    assert.equal("daily", o.aggregation)
    assert.equal(calendar.parse("2026-09-30"), o.prev_last)
    assert.equal(calendar.parse("2026-08-31"), o.prev_first)
    local _, msg = cohort_report.check { start = "2026-02-30", ["end"] = "2026-03-01" }
    assert.matches("^start '2026%-02%-30' is not a calendar date", msg)
    _, msg = cohort_report.check { start = "2026-03-02", ["end"] = "2026-03-01" }
    assert.matches("^end 2026%-03%-01 is before start 2026%-03%-02", msg)
    _, msg = cohort_report.check { start = "2026-03-01", ["end"] = "2026-03-01", aggregation = "hourly" }
    assert.matches("^aggregation 'hourly' is not daily, weekly or monthly", msg)
    local one = assert(cohort_report.check { ["end"] = "2026-03-31" })
    assert.equal("2026-03-02", one.start)
    assert(cohort_report.check { start = "2016-11-26", ["end"] = "2026-11-25" }) -- ten years, 3,652 days
    _, msg = cohort_report.check { start = "0001-01-01", ["end"] = "9999-12-31" }
    assert.matches("^end 9999%-12%-31 is 3652059 days from start 0001%-01%-01; a report covers at most 3660 days", msg)
  end)

  it("asks monthly reports of the API day by day, except where it has months", function()
    local plan = cohort_report.plan(assert(cohort_report.check {
      start = "2026-01-01", ["end"] = "2026-03-31", aggregation = "monthly", mentor = "m-1" }))
    local by = {}
    for _, c in ipairs(plan) do by[c.key] = c end
    assert.equal("daily", by.cohorts.params.aggregation)
    assert.equal("monthly", by.registered.params.aggregation)
    assert.equal("m-1", by.cohorts.params.mentor_id)
    assert.equal("m-1", by.transcripts.params.mentor)
    assert.is_nil(by.usage.params.mentor_id)
    assert.equal("2025-10-03", by.cohorts_prev.params.start_date)
    assert.equal("2025-12-31", by.cohorts_prev.params.end_date)
  end)
end)

-- A complete set of answers for 2026-10-01..2026-10-14, weekly, in the API description's shapes.
local function answers()
  return {
    cohorts = { periods = { "2026-09-28T00:00:00Z", "2026-10-05T00:00:00Z", "2026-10-12T00:00:00Z" },
      new_users = { 1, 2, 3 }, veteran_users = { 4, 5, 6 } },
    conversations = { { date = "2026-09-28T00:00:00Z", conversation_count = 3 },
      { date = "2026-10-12", conversation_count = 4 } },
    messages = { { time = "2026-09-28T00:00:00Z", avg_messages = 10, total_sessions = 3 },
      { time = "2026-10-12T00:00:00Z", avg_messages = 20, total_sessions = 1 } },
    registered = { { interval = "2026-10-06T00:00:00Z", count = 2 } },
    usage = { { date = "2026-10-01", user_count = 3 }, { date = "2026-10-14", user_count = 1 } },
    topics = { { topic_name = "Algebra", conversation_count = 1 }, { topic_name = "Python", conversation_count = 3 } },
    sentiment = { sentiment_distribution = { positive = 50, neutral = 25, negative = 25 }, total_sentiments = 8 },
    transcripts = {
      { id = "a", user_id = "u1", topics = { { name = "Python" } }, message_count = 4, user_sentiment = "positive",
        inserted_at = "2026-10-01T10:00:00Z", model = "m", first_message = "hi" },
      { id = "b", user_id = "u1", topics = { { name = "Python" } }, message_count = 6, user_sentiment = "negative",
        inserted_at = "2026-10-02T10:00:00Z", model = "m", first_message = "hi" },
    },
    overview = { conversation_volume = { total = 7, change = 12.34 }, users = { total = 3, change = 0 },
      topics = { total = 2, change = -50 }, user_rating = { total = 4, change = 0 } },
    metrics = { registered_users = { total = 9, change_percentage = 1 }, new_users = { total = 6, change_percentage = 0 },
      unique_users = { total = 3, change_percentage = 0 }, veteran_users = { total = 3, change_percentage = 0 } },
  }
end

local function build(a, failures, opts)
  local o = assert(cohort_report.check(opts or { start = "2026-10-01", ["end"] = "2026-10-14", aggregation = "weekly" }))
  return shape.build(o, a, failures or {}, "main", cohort_report.plan(o))
end

describe("cohort report shaping", function()
  it("puts each answer in its period, dates or date-times alike, and sums them", function()
    local r = build(answers())
    assert.equal(3, #r.periods) -- Oct 1-4, Oct 5-11, Oct 12-14
    assert.same({ 1, 2, 3 }, { r.periods[1].new_users, r.periods[2].new_users, r.periods[3].new_users })
    assert.same({ 4, 5, 6 }, { r.periods[1].veteran_users, r.periods[2].veteran_users, r.periods[3].veteran_users })
    assert.same({ 3, 0, 4 }, { r.periods[1].conversations, r.periods[2].conversations, r.periods[3].conversations })
    assert.equal(2, r.periods[2].registered)
    assert.equal(6, r.totals.new_users)
    assert.equal(15, r.totals.veteran_users)
    assert.equal(7, r.totals.conversations)
    assert.equal(12.5, r.totals.avg_messages) -- (10 * 3 + 20 * 1) / 4 sessions
    assert.equal(14, #r.daily_active_users)
    assert.equal(3, r.daily_active_users[1].users)
    assert.equal(0, r.daily_active_users[2].users)
    assert.equal("2026-10-01", r.totals.peak_day)
    assert.equal("Python", r.topics[1].name)
    assert.equal(75, r.topics[1].share)
    assert.same({ positive = 1, negative = 1 }, r.topics[1].sentiment)
    assert.equal(1, r.totals.active_users)
    assert.equal(10, r.totals.messages)
    assert.is_true(r.activity)
    assert.same({}, r.errors)
  end)

  it("reads a sentiment distribution given in percent, and one given in counts", function()
    local r = build(answers())
    assert.equal("percent", r.sentiment.unit)
    assert.same({ positive = 4, neutral = 2, negative = 2 }, r.sentiment.counts)
    assert.same({ "positive", "neutral", "negative" }, r.sentiment.names)
    local a = answers()
    a.sentiment = { sentiment_distribution = { negative = 1, positive = 3, mixed = 1 }, total_sentiments = 5 }
    r = build(a)
    assert.equal("count", r.sentiment.unit)
    assert.same({ "positive", "negative", "mixed" }, r.sentiment.names)
    assert.equal(60, r.sentiment.shares.positive)
  end)

  it("marks a failed call's sections and keeps the others", function()
    local a = answers()
    a.topics = nil
    local err = setmetatable({}, { __tostring = function() return "iblai: HTTP 500 Internal Server Error" end })
    local r = build(a, { topics = { op = "x", err = err } })
    assert.equal("failed", r.sections.topics)
    assert.equal("ok", r.sections.cohorts)
    assert.equal(1, #r.errors)
    assert.equal("topics", r.errors[1].call)
    assert.equal("ai_analytics_orgs_users_most_discussed_topics_list", r.errors[1].operation)
    assert.equal(6, r.totals.new_users)
  end)

  it("calls an answer of another shape a failure, saying which operation", function()
    local a = answers()
    a.cohorts = { periods = { "2026-10-01" } }
    a.conversations = { { date = "yesterday", conversation_count = 1 } }
    local r = build(a)
    assert.equal("failed", r.sections.cohorts)
    assert.equal("partial", r.sections.conversations)
    assert.is_nil(r.totals.new_users)
    assert.is_nil(r.periods[1].new_users)
    assert.matches("user_cohorts_over_time_retrieve is not as the API describes it", r.errors[1].message)
    assert.matches("no date in 'date'", r.errors[2].message)
  end)

  it("renders an empty range with zeros and says there was no activity", function()
    local r = build({ cohorts = { periods = {}, new_users = {}, veteran_users = {} }, conversations = {}, messages = {},
      registered = {}, usage = {}, topics = {}, transcripts = {},
      sentiment = { sentiment_distribution = {}, total_sentiments = 0 } })
    assert.is_false(r.activity)
    assert.equal(0, r.totals.new_users)
    assert.equal(0, r.totals.avg_messages)
    local doc = require("iblai.render.json").render(r)
    assert.matches('"topics":%[%]', doc)
    assert.matches('"errors":%[%]', doc)
    assert.matches('"new_users":0[,}]', doc)
    assert.matches("No activity in this range", markdown.render(r))
  end)
end)

describe("cohort report renderers", function()
  it("quotes CSV fields as RFC 4180 says", function()
    assert.equal('"a,b"', csv.field("a,b"))
    assert.equal('"say ""hi"""', csv.field('say "hi"'))
    assert.equal("", csv.field(nil))
    assert.equal("12", csv.field(12))
  end)

  it("writes one table per section after a # line, separated by a blank line", function()
    local text = csv.render(build(answers()))
    local blocks = {}
    for block in (text .. "\n"):gmatch("(.-)\n\n") do blocks[#blocks + 1] = block end
    local names = {}
    for _, b in ipairs(blocks) do
      names[#names + 1] = b:match("^# (%S+)\n")
      -- Tidy: every row has as many fields as the header.
      local ls = lines(b)
      local width = count(ls[2], ",")
      for i = 3, #ls do assert.equal(width, count(ls[i]:gsub('"[^"]*"', ""), ","), ls[i]) end
    end
    assert.same({ "range", "summary", "periods", "daily_active_users", "topics", "sentiment", "overview" }, names)
  end)

  it("keeps Markdown tables intact whatever a topic is called", function()
    local a = answers()
    a.topics[1].topic_name = "C | C++\nsystems"
    local text = markdown.render(build(a))
    assert.matches("C \\| C%+%+ systems", text)
  end)

  it("formats numbers, shares and changes", function()
    assert.equal("1,234,567", format.number(1234567))
    assert.equal("15.4", format.number(15.4))
    assert.equal("n/a", format.number(nil))
    assert.equal("+12%", format.change(12.3, 5))
    assert.equal("-5.5%", format.change(-5.5, 5))
    assert.equal("new", format.change(nil, 3))
    assert.equal("±0%", format.change(0, 0))
    assert.equal("Oct 2026", format.period({ start = "2026-10-01", ["end"] = "2026-10-31" }, "monthly"))
    assert.equal("Nov 1–24, 2026", format.period({ start = "2026-11-01", ["end"] = "2026-11-24" }, "monthly"))
  end)

  it("draws charts with round ticks, whole percentages adding to 100, and escaped text", function()
    assert.same({ 5, 20 }, { svg.ticks(17, 4, true) })
    assert.same({ 1, 4 }, { svg.ticks(0, 4, true) })
    local p = svg.percents { 59, 60, 60 }
    assert.equal(100, p[1] + p[2] + p[3])
    local chart = svg.hbars { id = "t", title = "A <b> & c", items = { { label = "x<y", value = 3, tip = "t" } },
      name = "n", key = "topic", color = "#000", x_label = "x" }
    assert.matches("A &lt;b&gt; &amp; c", chart)
    assert.matches("x&lt;y", chart)
    assert.equal(1, count(chart, 'class="bar bar%-topic"'))
    assert.equal("", markdown.sparkline {})
    local many = {}
    for i = 1, 1000 do many[i] = i % 7 end
    local width = utf8.len(markdown.sparkline(many))
    assert.is_true(width <= 60 and width >= 50, "sparkline width " .. width)
  end)
end)

describe("iblai cohort-report usage errors", function()
  -- Nothing listens on port 1: a command that sent a request would end in a network error (exit 1).
  local env = { IBLAI_BASE_URL = "http://127.0.0.1:1", IBLAI_API_KEY = "k", IBLAI_ORG = "main", IBLAI_USERNAME = "a" }

  local function usage(args, pattern)
    local code, out, err = helpers.run(args, env)
    assert.equal(2, code, err)
    assert.equal("", out)
    assert.equal(1, #lines(err), err)
    assert.matches(pattern, err)
    return err
  end

  it("refuses impossible dates, reversed ranges, unknown aggregations and formats, with one line", function()
    usage({ "cohort-report", "--start", "2026-02-30", "--end", "2026-03-10" }, "%-%-start '2026%-02%-30' is not a calendar date")
    usage({ "cohort-report", "--start", "2026-03-10", "--end", "2026-03-01" }, "%-%-end 2026%-03%-01 is before start")
    usage({ "cohort-report", "--start", "2026-03-01", "--end", "2026/03/02" }, "%-%-end '2026/03/02'")
    usage({ "cohort-report", "--aggregation", "hourly" }, "%-%-aggregation 'hourly' is not daily, weekly or monthly")
    usage({ "cohort-report", "--start", "1900-01-01", "--end", "2026-11-24" }, "at most 3660 days %(ten years%)")
    usage({ "cohort-report", "--format", "pdf" }, "unknown %-%-format 'pdf'")
    usage({ "cohort-report", "--bogus" }, "unknown option '%-%-bogus'")
  end)

  it("wants a key, an org and a user before sending anything", function()
    local code, _, err = helpers.run({ "cohort-report" }, { IBLAI_BASE_URL = env.IBLAI_BASE_URL, IBLAI_API_KEY = "",
      IBLAI_ORG = "main", IBLAI_USERNAME = "a" })
    assert.equal(2, code)
    assert.matches("set IBLAI_API_KEY", err)
    code, _, err = helpers.run({ "cohort-report" }, { IBLAI_BASE_URL = env.IBLAI_BASE_URL, IBLAI_API_KEY = "k",
      IBLAI_ORG = "main", IBLAI_USERNAME = "" })
    assert.equal(2, code)
    assert.matches("IBLAI_USERNAME", err)
  end)

  it("wants --out for html, and an --out it can write", function()
    usage({ "cohort-report", "--format", "html" }, "%-%-format html needs %-%-out")
    usage({ "cohort-report", "--out", "/no/such/dir/report.md" }, "cannot write %-%-out /no/such/dir/report.md")
    local dir = tmpdir()
    usage({ "cohort-report", "--out", dir }, "cannot write %-%-out")
    -- An immutable file: not even root may write it (skipped where chattr is not supported).
    local locked = dir .. "/locked.md"
    assert(io.open(locked, "w")):close()
    if os.execute("chattr +i " .. helpers.quote(locked) .. " 2>/dev/null") then
      usage({ "cohort-report", "--out", locked }, "cannot write %-%-out")
      os.execute("chattr -i " .. helpers.quote(locked))
    end
    os.execute("rm -rf " .. helpers.quote(dir))
  end)

  it("refuses a read-only --out for a user who may not write it, though the directory is writable", function()
    if not os.execute("command -v setpriv >/dev/null && [ \"$(id -u)\" = 0 ]") then
      return pending("needs root and setpriv to run the program as another user")
    end
    local dir = tmpdir()
    os.execute("chmod 1777 " .. helpers.quote(dir))
    local file = dir .. "/report.md"
    assert(io.open(file, "w")):close()
    os.execute("chmod 444 " .. helpers.quote(file))
    local program = helpers.program
    if program:sub(1, 1) ~= "/" then
      local pwd = io.popen("pwd"):read("l")
      program = pwd .. "/" .. program
    end
    local cmd = ("cd / && IBLAI_BASE_URL=http://127.0.0.1:1 IBLAI_API_KEY=k IBLAI_ORG=main IBLAI_USERNAME=a "
      .. "setpriv --reuid=65534 --regid=65534 --clear-groups %s cohort-report --out %s 2>&1"):format(
      helpers.quote(program), helpers.quote(file))
    local p = io.popen(cmd)
    local err = p:read("a")
    local _, _, code = p:close()
    os.execute("rm -rf " .. helpers.quote(dir))
    if err:find("Permission denied", 1, true) and err:find("exec", 1, true) then
      return pending("the program is not reachable by an unprivileged user here")
    end
    assert.equal(2, code, err)
    assert.matches("cannot write %-%-out .*Permission denied", err)
  end)

  it("describes itself in --help and in iblai --help", function()
    local code, out = helpers.run { "cohort-report", "--help" }
    assert.equal(0, code)
    for _, word in ipairs { "%-%-start", "%-%-end", "%-%-aggregation", "%-%-mentor", "%-%-format", "%-%-out", "Exit status" } do
      assert.matches(word, out)
    end
    code, out = helpers.run { "--help" }
    assert.equal(0, code)
    assert.matches("cohort%-report", out)
  end)
end)

describe("iblai cohort-report against the sandbox", function()
  local sb, client, env, users

  setup(function()
    sb = helpers.sandbox("--users", "60", "--seed", "7")
    client = assert(iblai.new { base_url = sb.url, api_key = "sandbox", org = "main", username = "admin",
      retries = 0 })
    env = { IBLAI_BASE_URL = sb.url, IBLAI_API_KEY = "sandbox", IBLAI_ORG = "main", IBLAI_USERNAME = "admin" }
    users = assert(client:collect("core_platform_users_retrieve", {}))
  end)

  teardown(function()
    client:close()
    sb.stop()
  end)

  local function report_json(args)
    local full = { "cohort-report", "--format", "json" }
    for _, a in ipairs(args) do full[#full + 1] = a end
    local code, out, err = helpers.run(full, env)
    assert.equal(0, code, err)
    assert.equal(1, #lines(out))
    return assert(json.decode(out)), out
  end

  -- The figures a person would compute from the listings: users (registration dates) and the
  -- conversations of the range (transcripts), bucketed by the report's own periods.
  local function from_listings(r)
    local start, stop = r.range.start, r.range["end"]
    local function period_of(date)
      for i, p in ipairs(r.periods) do
        if date >= p.start and date <= p["end"] then return i end
      end
    end
    local joined = {}
    for _, u in ipairs(users) do joined[u.username] = u.date_joined:sub(1, 10) end
    local convs = assert(client:call("ai_analytics_orgs_users_transcripts_list", { start_date = start, end_date = stop }))
    local want = { new = {}, conversations = {}, messages = {}, topics = {}, sentiment = {}, daily = {}, veteran = {} }
    for i = 1, #r.periods do
      want.new[i], want.conversations[i], want.messages[i], want.veteran[i] = 0, 0, 0, {}
    end
    for _, day in pairs(joined) do
      local i = day >= start and day <= stop and period_of(day)
      if i then want.new[i] = want.new[i] + 1 end
    end
    local daily_veteran = {}
    for _, c in ipairs(convs) do
      local day = c.inserted_at:sub(1, 10)
      local i = assert(period_of(day))
      want.conversations[i] = want.conversations[i] + 1
      want.messages[i] = want.messages[i] + c.message_count
      want.topics[c.topics[1].name] = (want.topics[c.topics[1].name] or 0) + 1
      want.sentiment[c.user_sentiment] = (want.sentiment[c.user_sentiment] or 0) + 1
      want.daily[day] = want.daily[day] or {}
      want.daily[day][c.user_id] = true
      if joined[c.user_id] < start then
        want.veteran[i][c.user_id] = true
        daily_veteran[day] = daily_veteran[day] or {}
        daily_veteran[day][c.user_id] = true
      end
    end
    local function size(set)
      local n = 0
      for _ in pairs(set) do n = n + 1 end
      return n
    end
    for i = 1, #r.periods do want.veteran[i] = size(want.veteran[i]) end
    -- Monthly periods sum the API's daily counts, so a user counts once per day.
    want.veteran_by_day = {}
    for i = 1, #r.periods do want.veteran_by_day[i] = 0 end
    for day, set in pairs(daily_veteran) do
      local i = period_of(day)
      want.veteran_by_day[i] = want.veteran_by_day[i] + size(set)
    end
    for day, set in pairs(want.daily) do want.daily[day] = size(set) end
    return want, #convs
  end

  it("matches the users and conversations listings, week by week", function()
    local r = report_json { "--start", "2026-09-01", "--end", "2026-11-24", "--aggregation", "weekly" }
    local want, n = from_listings(r)
    assert.is_true(n > 50, "the sandbox should have conversations in this range")
    assert.equal(13, #r.periods)
    local new_total = 0
    for i, p in ipairs(r.periods) do
      assert.equal(want.new[i], p.new_users, "new users, period " .. p.start)
      assert.equal(want.veteran[i], p.veteran_users, "returning users, period " .. p.start)
      assert.equal(want.conversations[i], p.conversations, "conversations, period " .. p.start)
      assert.equal(want.conversations[i], p.sessions)
      if p.sessions > 0 then
        -- The API describes avg_messages as an integer; the report keeps one decimal of what it gets.
        assert.near(want.messages[i] / p.sessions, p.avg_messages, 0.55)
      end
      new_total = new_total + p.new_users
    end
    assert.is_true(new_total > 0, "some users registered in the range")
    assert.equal(new_total, r.totals.new_users)
    assert.equal(n, r.totals.conversations)
    for _, d in ipairs(r.daily_active_users) do assert.equal(want.daily[d.date] or 0, d.users, d.date) end
    assert.equal(85, #r.daily_active_users)
    for _, t in ipairs(r.topics) do assert.equal(want.topics[t.name], t.conversations, t.name) end
    for name, c in pairs(r.sentiment.counts) do assert.equal(want.sentiment[name] or 0, c, name) end
    assert.equal(n, r.sentiment.total)
  end)

  it("sums to the cohorts endpoint's own new users, and weeks begin where the API's begin", function()
    local r = report_json { "--start", "2026-09-01", "--end", "2026-11-24", "--aggregation", "weekly" }
    local api = assert(client:call("ai_analytics_orgs_users_user_cohorts_over_time_retrieve",
      { start_date = "2026-09-01", end_date = "2026-11-24", aggregation = "weekly" }))
    local sum_api, sum_report = 0, 0
    for _, n in ipairs(api.new_users) do sum_api = sum_api + n end
    for _, p in ipairs(r.periods) do sum_report = sum_report + p.new_users end
    assert.equal(sum_api, sum_report)
    for i = 2, #r.periods do assert.equal(api.periods[i]:sub(1, 10), r.periods[i].start) end
  end)

  it("builds months from the API's days, new users per calendar month", function()
    local r = report_json { "--start", "2026-06-15", "--end", "2026-11-24", "--aggregation", "monthly" }
    local want = from_listings(r)
    assert.same({ "2026-06-15", "2026-07-01", "2026-08-01", "2026-09-01", "2026-10-01", "2026-11-01" },
      (function()
        local s = {}
        for i, p in ipairs(r.periods) do s[i] = p.start end
        return s
      end)())
    for i, p in ipairs(r.periods) do
      assert.equal(want.new[i], p.new_users, p.start)
      assert.equal(want.conversations[i], p.conversations, p.start)
      assert.equal(want.veteran_by_day[i], p.veteran_users, p.start)
      assert.equal(want.new[i], p.registered, p.start)
    end
    assert.matches("sums of the API's daily figures", table.concat(r.notes, " "))
  end)

  it("writes integers as integers and every list as a list", function()
    local r, text = report_json { "--start", "2026-11-01", "--end", "2026-11-24" }
    assert.not_matches('"new_users":%d+%.0', text)
    assert.not_matches('"conversations":%d+%.0', text)
    assert.matches('"periods":%[{', text)
    assert.equal("integer", math.type(r.totals.new_users))
    for _, key in ipairs { "range", "periods", "totals", "topics", "sentiment" } do assert.is_not_nil(r[key], key) end
    assert.same({ "start", "end", "aggregation" }, { r.range.start and "start", r.range["end"] and "end",
      r.range.aggregation and "aggregation" })
    for _, key in ipairs { "start", "new_users", "veteran_users", "conversations" } do
      assert.is_not_nil(r.periods[1][key], key)
    end
    assert.is_not_nil(r.topics[1].name)
    assert.is_not_nil(r.topics[1].conversations)
  end)

  it("says there was no activity in an empty range, with zeros and empty lists", function()
    local r, text = report_json { "--start", "2010-01-01", "--end", "2010-01-10" }
    assert.is_false(r.activity)
    assert.equal(0, r.totals.new_users)
    assert.equal(0, r.totals.conversations)
    assert.matches('"topics":%[%]', text)
    local code, out = helpers.run({ "cohort-report", "--start", "2010-01-01", "--end", "2010-01-10" }, env)
    assert.equal(0, code)
    assert.matches("No activity in this range", out)
  end)

  it("prints Markdown by default and CSV on request, both to a pipe", function()
    local code, out = helpers.run({ "cohort-report", "--start", "2026-11-01", "--end", "2026-11-24",
      "--aggregation", "weekly" }, env)
    assert.equal(0, code)
    assert.matches("^# Engagement report: 2026%-11%-01 to 2026%-11%-24\n", out)
    for _, h in ipairs { "## New and returning users", "## Daily active users", "## Conversations", "## Top topics",
      "## Sentiment", "## Org overview" } do
      assert.truthy(out:find(h, 1, true), h)
    end
    code, out = helpers.run({ "cohort-report", "--start", "2026-11-01", "--end", "2026-11-24", "--format", "csv" }, env)
    assert.equal(0, code)
    assert.matches("^# range\nstart,end,aggregation,mentor,days,org\n2026%-11%-01,2026%-11%-24,daily,,24,main\n\n# summary",
      out)
  end)

  it("writes --out atomically, the format following the extension, and leaves no temporary file", function()
    local dir = tmpdir()
    local out = dir .. "/report.json"
    local f = assert(io.open(out, "w"))
    f:write("old")
    f:close()
    local code, stdout, err = helpers.run({ "cohort-report", "--start", "2026-11-01", "--end", "2026-11-24",
      "--out", out }, env)
    assert.equal(0, code, err)
    assert.equal("", stdout)
    assert.matches("wrote .*report%.json %(json", err)
    assert.is_table(json.decode(slurp(out)))
    local p = io.popen("ls -A " .. helpers.quote(dir))
    assert.equal("report.json\n", p:read("a"))
    p:close()
    os.execute("rm -rf " .. helpers.quote(dir))
  end)

  it("runs examples/cohort_report.lua, which writes the HTML page", function()
    local dir = tmpdir()
    local code, out, err = helpers.run({ helpers.root .. "/examples/cohort_report.lua", "2026-10-01", "2026-11-24",
      dir .. "/r.html" }, env)
    assert.equal(0, code, err)
    local r = report_json { "--start", "2026-10-01", "--end", "2026-11-24" }
    assert.matches(("%d new, %d returning, %d conversations"):format(r.totals.new_users,
      report_json({ "--start", "2026-10-01", "--end", "2026-11-24", "--aggregation", "weekly" }).totals.veteran_users,
      r.totals.conversations), out)
    assert.matches("topic 1: ", out)
    assert.matches("^<!DOCTYPE html>", slurp(dir .. "/r.html"))
    os.execute("rm -rf " .. helpers.quote(dir))
  end)

  it("filters by mentor where the API can, and says which sections stay org-wide", function()
    local all = report_json { "--start", "2026-09-01", "--end", "2026-11-24" }
    local mentor = "nobody-mentor"
    local r = report_json { "--start", "2026-09-01", "--end", "2026-11-24", "--mentor", mentor }
    assert.equal(mentor, r.range.mentor)
    assert.equal(0, r.totals.conversations)
    assert.equal(all.totals.avg_daily_active_users, r.totals.avg_daily_active_users)
    assert.matches("does not filter them by mentor", table.concat(r.notes, " "))
  end)

  it("copes with a sandbox that fails 30% of requests: a whole report, exit 0 or 1", function()
    local flaky = helpers.sandbox("--users", "60", "--seed", "7", "--fail-rate", "0.3")
    finally(function() flaky.stop() end)
    local e = { IBLAI_BASE_URL = flaky.url, IBLAI_API_KEY = "k-flaky-9876", IBLAI_ORG = "main", IBLAI_USERNAME = "admin" }
    for _ = 1, 2 do
      local code, out, err = helpers.run({ "cohort-report", "--start", "2026-10-01", "--end", "2026-11-24",
        "--format", "json" }, e)
      local r = assert(json.decode(out), err)
      assert.is_true(code == 0 or code == 1, err)
      assert.equal(code == 1, #r.errors > 0)
      assert.equal(r.sections.activity == "ok" and 55 or 0, #r.daily_active_users)
      assert.not_matches("k%-flaky%-9876", err .. out) -- the key never shows
    end
  end)
end)

describe("iblai cohort-report with failing calls", function()
  local sb, env

  setup(function()
    sb = helpers.sandbox("--users", "40", "--seed", "2", "--script", helpers.root .. "/spec/support/cohort_faults.lua")
    env = { IBLAI_BASE_URL = sb.url, IBLAI_API_KEY = "secret-key-1234", IBLAI_ORG = "main", IBLAI_USERNAME = "admin" }
  end)

  teardown(function() sb.stop() end)

  it("renders every other section, says which failed, and exits 1", function()
    local code, out, err = helpers.run({ "cohort-report", "--start", "2026-10-01", "--end", "2026-11-24",
      "--format", "json" }, env)
    assert.equal(1, code)
    local r = assert(json.decode(out))
    assert.equal("failed", r.sections.topics)
    assert.equal("failed", r.sections.sentiment)
    assert.equal("ok", r.sections.cohorts)
    assert.equal("ok", r.sections.activity)
    assert.equal(json.null, r.sentiment)
    assert.same({}, r.topics)
    assert.is_true(r.totals.new_users >= 0)
    assert.matches("2 of the report's calls failed", err)
    assert.matches("HTTP 500", err)
    assert.matches("topics are being reindexed", err)
    assert.matches("is not as the API describes it", err)
    assert.not_matches("secret%-key%-1234", err .. out)

    code, out = helpers.run({ "cohort-report", "--start", "2026-10-01", "--end", "2026-11-24" }, env)
    assert.equal(1, code)
    assert.matches("## Top topics\n\n> %*%*Unavailable:%*%* iblai: [%w_]+: HTTP 500", out)
    assert.matches("## New and returning users\n\n%d+ new", out)
  end)
end)

-- Records of a CSV text as RFC 4180 reads them (quoted fields may hold commas, quotes doubled,
-- line breaks); a line of its own starting "# " opens a section. Returns section -> records.
local function read_csv(text)
  local sections, current, record, i = {}, nil, nil, 1
  local function finish_record()
    if record then current[#current + 1] = record end
    record = nil
  end
  while i <= #text do
    if not record and text:sub(i, i + 1) == "# " then
      local name, stop = text:match("^# ([^\n]*)\n()", i)
      current = {}
      sections[name] = current
      i = stop
    elseif not record and text:sub(i, i) == "\n" then
      i = i + 1
    else
      record = record or {}
      local field
      if text:sub(i, i) == '"' then
        field, i = "", i + 1
        while true do
          local q = assert(text:find('"', i, true), "unterminated quoted field")
          field = field .. text:sub(i, q - 1)
          if text:sub(q + 1, q + 1) == '"' then field, i = field .. '"', q + 2 else i = q + 1 break end
        end
      else
        local stop = text:find("[,\n]", i) or #text + 1
        field, i = text:sub(i, stop - 1), stop
        assert(not field:find('"', 1, true), "a quote inside an unquoted field: " .. field)
      end
      record[#record + 1] = field
      local sep = text:sub(i, i)
      i = i + 1
      if sep ~= "," then finish_record() end
    end
  end
  finish_record()
  return sections
end

-- The HTML cmark-gfm (GitHub's Markdown) makes of a text, with GitHub's extensions.
local function gfm(text, dir)
  local md = dir .. "/report.md"
  local f = assert(io.open(md, "wb"))
  f:write(text)
  f:close()
  local p = assert(io.popen("cmark-gfm -e table -e autolink -e strikethrough -e tagfilter " .. helpers.quote(md)))
  local html = p:read("a")
  p:close()
  return html
end

describe("cohort report figures the API should not send", function()
  local figures = require "iblai.workflows.cohort_report.figures"

  it("reads counts, amounts and changes, saying what is wrong with the odd ones", function()
    assert.same({ 3 }, { figures.read(3.0, "count") })
    assert.equal("integer", math.type((figures.read(3.0, "count"))))
    local v, why = figures.read(1e300, "count")
    assert.equal(1e300, v)
    assert.matches("beyond any count", why)
    v, why = figures.read("NaN", "count")
    assert.is_nil(v)
    assert.matches('the string "NaN", not a number', why)
    v, why = figures.read(-4, "count")
    assert.equal(-4, v)
    assert.matches("negative", why)
    v, why = figures.read(1 / 0, "amount")
    assert.is_nil(v)
    assert.matches("not a finite number", why)
    assert.matches("is null", select(2, figures.read(json.null, "count")))
    assert.matches("not a whole number", select(2, figures.read(2.5, "count")))
    assert.same({ 2.5 }, { figures.read(2.5, "amount") })
    assert.same({ -12.5 }, { figures.read(-12.5, "change") })
    assert.equal('"a\\x0ab\\x1b' .. ("x"):rep(36) .. '…"', figures.describe("a\nb\27" .. ("x"):rep(60)))
  end)

  it("adds without wrapping: two rows of 2^62 make 2^63, not a negative number", function()
    local s = figures.add(1 << 62, 1 << 62)
    assert.is_true(s > 0)
    assert.equal(2.0 ^ 63, s)
    assert.is_true(figures.add(math.mininteger, -1) < 0)
    assert.equal(5, figures.add(2, 3))
    assert.equal("integer", math.type(figures.add(2, 3)))
  end)

  it("formats any number without raising", function()
    assert.equal("1e+300", format.number(1e300))
    assert.equal("-1e+300", format.number(-1e300))
    assert.equal("9.223e+18", format.number(2.0 ^ 63))
    assert.equal("-9,223,372,036,854,775,808", format.number(math.mininteger))
    assert.equal("1e+302%", format.percent(1e302))
    assert.equal("+1e+300%", format.change(1e300, 1))
    assert.equal("∞", format.number(1 / 0))
    assert.equal("NaN", format.number(0 / 0))
    assert.same({ 2.5e299, 1e300 }, { svg.ticks(1e300, 4, true) })
    assert.equal("▁█▁", markdown.sparkline { -5, 1e300, 0 / 0 })
  end)

  it("cuts chart labels on UTF-8 characters, never inside one", function()
    assert.same({ "日本", true }, { format.cut("日本語", 2) })
    assert.same({ "ab", false }, { format.cut("ab", 2) })
    -- Fitted in columns: a wide character (CJK, emoji) takes two.
    assert.equal(("😀"):rep(9) .. "…", format.fit(("😀"):rep(24), 19))
    assert.equal(("a"):rep(18) .. "…", format.fit(("a"):rep(24), 19))
    assert.equal(("a"):rep(19), format.fit(("a"):rep(19), 19))
    -- An invalid sequence is cut between its bytes, never before a continuation byte.
    local cut = format.cut("a\xE2\x82\xAC\x80\x80b", 2)
    assert.equal("a\xE2\x82\xAC\x80\x80", cut)
    local chart = svg.hbars { id = "t", title = "t", items = { { label = ("é"):rep(30), value = 1, tip = "t" } },
      name = "n", key = "topic", color = "#000", x_label = "x" }
    local label = chart:match('<text class="category"[^>]*>([^<]*)</text>')
    assert.is_not_nil(utf8.len(label), "the label is valid UTF-8")
    assert.equal(("é"):rep(18) .. "…", label)
  end)

  it("escapes server text for Markdown, CSV and the JSON writer's markers", function()
    assert.equal("a \\| b \\`c\\` \\<d\\> # e", markdown.text("a | b `c` <d>\n# e"))
    assert.equal("\\# heading", markdown.text("# heading"))
    assert.equal("1\\. one", markdown.text("1. one"))
    assert.equal("snake_case \\_x\\_", markdown.text("snake_case _x_"))
    assert.equal("http\\://x www\\.y", markdown.text("http://x www.y"))
    assert.equal("``a`b``", markdown.code("a`b"))
    assert.equal("`` `x ``", markdown.code("`x"))
    for _, s in ipairs { "=1+1", "+1", "-1", "@A1", "\tx", "\rx" } do
      assert.equal("'", csv.field(s):gsub('^"', ""):sub(1, 1), s)
    end
    assert.equal("-1", csv.field(-1))
    assert.equal('"\'=A1,B1"', csv.field("=A1,B1"))
    assert.equal("33.3", csv.field(33.3))
    assert.equal("", csv.field(0 / 0))
    local doc = require("iblai.render.json").render(build(answers()))
    assert.is_table(json.decode(doc))
  end)
end)

describe("iblai cohort-report against answers no API should give", function()
  local sb, dir
  local RANGE = { "--start", "2026-10-01", "--end", "2026-10-07" }

  setup(function()
    sb = helpers.sandbox("--script", helpers.root .. "/spec/support/cohort_odd.lua")
    dir = tmpdir()
  end)

  teardown(function()
    sb.stop()
    os.execute("rm -rf " .. helpers.quote(dir))
  end)

  -- Runs the report for an org of the fake server in a format; returns exit code, text, stderr.
  local function report(org, fmt)
    local args = { "cohort-report", "--format", fmt }
    for _, a in ipairs(RANGE) do args[#args + 1] = a end
    local out = dir .. "/" .. org .. "." .. fmt
    if fmt == "html" then
      args[#args + 1] = "--out"
      args[#args + 1] = out
    end
    local code, text, err = helpers.run(args, { IBLAI_BASE_URL = sb.url, IBLAI_API_KEY = "k", IBLAI_ORG = org,
      IBLAI_USERNAME = "admin" })
    if fmt == "html" then text = slurp(out) end
    assert.not_matches("traceback", err)
    assert.not_matches("iblai cohort%-report: .*%.lua:%d+:", err)
    return code, text, err
  end

  it("renders 1e300, \"NaN\", negatives, 1e400 and rows of 2^62 in every format, marked, and exits 1", function()
    for _, fmt in ipairs { "md", "csv", "json", "html" } do
      local code, text, err = report("odd", fmt)
      assert.equal(1, code, err)
      assert.matches("held figures it should not send", err)
      assert.matches('new_users of item 2 %(2026%-10%-02%) is the string "NaN", not a number', err)
      assert.is_true(#text > 1000, fmt)
    end
    local _, text = report("odd", "json")
    local r = assert(json.decode(text))
    local kinds = {}
    for _, e in ipairs(r.errors) do kinds[e.call] = e.kind end
    for _, call in ipairs { "cohorts", "usage", "topics", "sentiment", "overview", "registered", "conversations",
      "messages", "transcripts", "cohorts_prev" } do
      assert.equal("figures", kinds[call], call)
    end
    assert.equal(1e300, r.periods[1].new_users)
    assert.equal(json.null, r.periods[2].new_users)
    assert.equal(-4, r.periods[3].new_users)
    assert.equal(1 << 62, r.periods[4].new_users)
    -- Sums cannot wrap: 2^62 + 2^62 + 1 is about 2^63, never negative.
    assert.is_true(r.totals.veteran_users >= 2.0 ^ 63, tostring(r.totals.veteran_users))
    assert.is_true(r.totals.registered >= 2.0 ^ 63, tostring(r.totals.registered))
    assert.equal(0, r.totals.conversations) -- -5 + 5, marked
    assert.not_equal(false, r.activity)
    local flagged = {}
    for _, p in ipairs(r.flagged) do flagged[p] = true end
    for _, p in ipairs { "periods[0].new_users", "periods[1].new_users", "periods[2].new_users", "totals.new_users",
      "totals.veteran_users", "totals.registered", "totals.conversations", "topics[0].conversations",
      "daily_active_users[0].users", "daily_active_users[1].users", "sentiment.total",
      'sentiment.counts["positive"]', "overview.users.total", "overview.conversation_volume.change" } do
      assert.is_true(flagged[p], p)
    end
    assert.is_nil(flagged["periods[4].new_users"])
    assert.is_nil(flagged["topics[1].conversations"])

    _, text = report("odd", "md")
    assert.matches("| 2026-10-01 | 1e+300 ⚠ | 4,611,686,018,427,387,904 ⚠ |", text, 1, true)
    assert.matches("| 2026-10-02 | n/a ⚠ |", text, 1, true)
    assert.matches("| 2026-10-03 | -4 ⚠ | 1 |", text, 1, true)
    assert.matches("| **Total** | 1e+300 ⚠ | 9.223e+18 ⚠ |", text, 1, true)
    assert.not_matches("No activity", text)

    _, text = report("odd", "csv")
    local csv_doc = read_csv(text)
    assert.same({ "2026-10-01", "2026-10-01", "1e+300", "4611686018427387904" },
      { table.unpack(csv_doc.periods[2], 1, 4) })
    assert.equal("", csv_doc.periods[3][3]) -- "NaN": no number to write
    local csv_flagged = {}
    for i = 2, #csv_doc.flagged do csv_flagged[csv_doc.flagged[i][1]] = true end
    assert.same(flagged, csv_flagged)

    _, text = report("odd", "html")
    assert.matches('1e+300 <span class="odd"', text, 1, true)
    -- Every number the charts draw is one SVG reads.
    for name, value in text:gmatch(' ([%w-]+)="(%-?[%a]+)"') do
      if name:find("^[xy]%d?$") or name == "width" or name == "height" then
        assert.fail(("%s=%q"):format(name, value))
      end
    end
    for value in text:gmatch(' [xy]%d?="([^"]*)"') do assert.is_not_nil(tonumber(value), value) end
    for value in text:gmatch(' height="([^"]*)"') do assert.is_true(tonumber(value) >= 0, value) end
  end)

  it("never calls a range quiet when its figures only add up to zero", function()
    local code, text = report("quiet", "md")
    assert.equal(1, code)
    assert.not_matches("No activity", text)
    assert.matches("| 2026-10-01 | -2 ⚠ |", text, 1, true)
    code, text = report("quiet", "html")
    assert.equal(1, code)
    assert.not_matches('class="quiet"', text)
    code, text = report("quiet", "json")
    assert.equal(1, code)
    assert.equal(json.null, json.decode(text).activity)
  end)

  it("keeps server strings as data in Markdown, read as GitHub reads it", function()
    if not os.execute("command -v cmark-gfm >/dev/null") then
      local msg = "cmark-gfm is needed: apt-get install cmark-gfm (make deps does)"
      if os.getenv("IBLAI_COUNTS") then error(msg) end
      return pending(msg)
    end
    local code, text = report("strings", "md")
    assert.equal(1, code)
    local html = gfm(text, dir)
    assert.not_matches("<script", html)
    assert.not_matches("<img", html)
    assert.not_matches("<a ", html)
    assert.not_matches("<em>", html)
    assert.not_matches("<strong>bold", html)
    assert.equal(1, count(html, "<h1>"))
    assert.equal(7, count(html, "<h2>"))
    -- The topics table: every row has its seven cells, whatever the names hold.
    local topics = html:match("<h2>Top topics</h2>(.-)</table>")
    for row in topics:gmatch("<tr>(.-)</tr>") do
      assert.equal(7, count(row, "<t[hd][ >]"), row)
    end
    assert.truthy(topics:find("<td>C | C++ `code` &lt;script&gt;alert(1)&lt;/script&gt; # not a heading</td>", 1, true))
    assert.truthy(topics:find("<td>**bold** _it_ [link](http://evil.example) &amp;amp; www.evil.example</td>", 1, true))
    assert.truthy(topics:find("<td>=HYPERLINK(&quot;http://evil.example&quot;,&quot;x&quot;)</td>", 1, true))
    -- In a sentence too, and in the error the server wrote.
    assert.truthy(html:find("the top one, C | C++ `code` &lt;script&gt;alert(1)&lt;/script&gt; # not a heading, had",
      1, true))
    assert.truthy(html:find("| broken `table` &lt;img src=x onerror=alert(1)&gt; # heading =1+1", 1, true))
  end)

  it("keeps server strings as data in CSV: formulas neutralised, fields quoted as RFC 4180 says", function()
    local _, text = report("strings", "csv")
    local doc = read_csv(text)
    for name, records in pairs(doc) do
      for i = 2, #records do assert.equal(#records[1], #records[i], name .. " record " .. i) end
    end
    local names = {}
    for i = 2, #doc.topics do names[#names + 1] = doc.topics[i][2] end
    assert.same({ "C | C++ `code` <script>alert(1)</script>\n# not a heading",
      "'=HYPERLINK(\"http://evil.example\",\"x\")", "'+1", "'-2+3", "'@SUM(A1)", "'\tTab", "'\rCR",
      'a,b "quoted"', "日本語のトピック名はとても長いですね本当に長い名前です", ("😀"):rep(24),
      "**bold** _it_ [link](http://evil.example) &amp; www.evil.example", "\0iblai:[]" }, names)
    assert.equal("'", doc.errors[2][4]:match("^iblai") and "'" or doc.errors[2][4]:sub(1, 1))
  end)

  it("keeps server strings as data in JSON and HTML, byte for byte, and cuts chart labels on characters", function()
    local _, text = report("strings", "json")
    local r = assert(json.decode(text))
    assert.equal("\0iblai:[]", r.topics[12].name)
    assert.equal("C | C++ `code` <script>alert(1)</script>\n# not a heading", r.topics[1].name)
    _, text = report("strings", "html")
    assert.not_matches("<script", text)
    assert.not_matches("<img", text)
    local labels = {}
    for label in text:gmatch('<text class="category"[^>]*>([^<]*)</text>') do
      label = label:gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&quot;", '"'):gsub("&#39;", "'"):gsub("&amp;", "&")
      assert.is_not_nil(utf8.len(label), "a label cut inside a character: " .. label)
      assert.is_true(utf8.len(label) <= 19, label)
      labels[#labels + 1] = label
    end
    assert.equal(10, #labels)
    assert.equal("日本語のトピック名…", labels[9])
    assert.equal(("😀"):rep(9) .. "…", labels[10])
  end)
end)

describe("the HTML report in headless Chromium", function()
  local browser = chromium.find()
  local under_make_test = os.getenv("IBLAI_COUNTS") ~= nil
  local sb, dir, html_path, html

  setup(function()
    if not browser or not chromium.has_poppler() then return end
    sb = helpers.sandbox("--users", "60", "--seed", "7")
    dir = tmpdir()
    html_path = dir .. "/report.html"
    local code, _, err = helpers.run({ "cohort-report", "--start", "2026-10-01", "--end", "2026-11-24",
      "--aggregation", "weekly", "--out", html_path },
      { IBLAI_BASE_URL = sb.url, IBLAI_API_KEY = "sandbox", IBLAI_ORG = "main", IBLAI_USERNAME = "admin" })
    assert.equal(0, code, err)
    html = slurp(html_path)
  end)

  teardown(function()
    if sb then sb.stop() end
    if dir then os.execute("rm -rf " .. helpers.quote(dir)) end
  end)

  local function need_browser()
    if browser and chromium.has_poppler() then return true end
    local msg = "headless Chromium and poppler-utils are needed: apt-get install chromium poppler-utils (make deps does)"
    if under_make_test then error(msg) end
    pending(msg)
    return false
  end

  it("is one self-contained page: no script, nothing fetched", function()
    if not need_browser() then return end
    assert.not_matches("<script", html)
    assert.not_matches("<link", html)
    assert.not_matches("<img", html)
    assert.not_matches("url%(", html)
    assert.not_matches("@import", html)
    -- The only URL is the SVG namespace name, which is never fetched.
    assert.equal(count(html, "https?://"), count(html, 'xmlns="http://www%.w3%.org/2000/svg"'))
  end)

  it("draws the expected bars, each chart named and described, with axis labels and a legend", function()
    if not need_browser() then return end
    assert.equal(9, count(html, 'class="bar bar%-new"'))
    assert.equal(9, count(html, 'class="bar bar%-returning"'))
    assert.equal(9, count(html, 'class="bar bar%-conversations"'))
    assert.equal(10, count(html, 'class="bar bar%-topic"'))
    assert.equal(3, count(html, 'class="bar bar%-%a+tive"') + count(html, 'class="bar bar%-neutral"'))
    assert.equal(55, count(html, 'class="point"'))
    assert.equal(5, count(html, '<svg class="chart"'))
    assert.equal(5, count(html, 'role="img" aria%-labelledby="[%w-]+%-title [%w-]+%-desc"'))
    assert.equal(5, count(html, '<title id="[%w-]+%-title">'))
    assert.equal(8, count(html, 'class="axis%-label"')) -- x and y of three charts, x of the bar charts
    assert.is_true(count(html, 'class="swatch"') >= 8)
    -- Every bar carries its own tooltip.
    assert.equal(count(html, 'class="bar '), count(html, 'class="bar [^"]*"[^>]*><title>'))
  end)

  it("renders something at 1280x800: the screenshot is far from a blank page", function()
    if not need_browser() then return end
    local shot = assert(chromium.screenshot(browser, html_path, dir .. "/report.png", 1280, 800), "no screenshot")
    local blank_html = dir .. "/blank.html"
    local f = assert(io.open(blank_html, "w"))
    f:write("<!DOCTYPE html><html><body></body></html>")
    f:close()
    local blank = assert(chromium.screenshot(browser, blank_html, dir .. "/blank.png", 1280, 800))
    assert.equal("\137PNG", shot:sub(1, 4))
    -- Width and height from the IHDR chunk.
    assert.equal(1280, string.unpack(">I4", shot, 17))
    assert.equal(800, string.unpack(">I4", shot, 21))
    assert.is_true(#shot > 8 * #blank, ("screenshot %d bytes, blank page %d"):format(#shot, #blank))
  end)

  it("prints on A4, the charts' colours on the first page", function()
    if not need_browser() then return end
    local pdf = dir .. "/report.pdf"
    assert.is_true(chromium.pdf(browser, html_path, pdf))
    local info = chromium.pdf_info(pdf)
    assert.near(595, info.width, 2)
    assert.near(842, info.height, 2)
    assert.is_true(info.pages >= 1 and info.pages <= 3, "pages: " .. tostring(info.pages))
    local page = assert(chromium.pdf_page_pixels(pdf, 1, 40))
    local html_mod = require "iblai.render.html"
    local c = html_mod.COLORS
    local counts, distinct = chromium.count_colours(page, { new = c.new, returning = c.returning,
      active = c.active, conversations = c.conversations, topic = c.topic })
    assert.is_true(distinct > 50, "distinct colours: " .. distinct)
    for name, n in pairs(counts) do assert.is_true(n > 20, ("%s: %d pixels"):format(name, n)) end
  end)
end)
