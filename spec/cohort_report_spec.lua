-- iblai.workflows.cohort_report and `iblai cohort-report`: the calendar, the shaping of the
-- analytics answers, the renderers, usage errors, the figures against the sandbox's own listings,
-- failing sections, and the HTML page rendered by headless Chromium.
local helpers = require "support.helpers"
local chromium = require "support.chromium"
local iblai = require "iblai"
local json = require "iblai.json"
local calendar = require "iblai.workflows.cohort_report.calendar"
local cohort_report = require "iblai.workflows.cohort_report"
local people = require "iblai.workflows.cohort_report.people"
local report_build = require "iblai.workflows.cohort_report.build"
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

  it("asks monthly reports of the API day by day, and the transcripts in spans", function()
    local o = assert(cohort_report.check {
      start = "2026-01-01", ["end"] = "2026-03-31", aggregation = "monthly", mentor = "m-1" })
    local plan = cohort_report.plan(o)
    local by, spans = {}, {}
    for _, c in ipairs(plan) do
      if c.key == "transcripts" then spans[#spans + 1] = c else by[c.key] = c end
    end
    assert.equal("daily", by.cohorts.params.aggregation)
    assert.equal("m-1", by.cohorts.params.mentor_id)
    assert.is_nil(by.sentiment.params.mentor_id)
    assert.equal("core_platform_users_retrieve", by.users.op)
    assert.equal("2025-10-03", by.conversations_prev.params.start_date)
    assert.equal("2025-12-31", by.conversations_prev.params.end_date)
    -- The transcripts from the range before to the end, in spans of at most 31 days, none missed.
    assert.equal("2025-10-03", spans[1].params.start_date)
    assert.equal("2026-03-31", spans[#spans].params.end_date)
    for i, c in ipairs(spans) do
      assert.equal("m-1", c.params.mentor)
      assert.is_true(c.span.last - c.span.first < 31)
      if i > 1 then assert.equal(spans[i - 1].span.last + 1, c.span.first) end
    end
    assert.equal("2025-12-01", calendar.format(o.before.first))
    assert.equal("2025-12-31", calendar.format(o.before.last))
    -- The week before a Thursday start is the whole week before its Monday.
    local w = assert(cohort_report.check { start = "2026-10-01", ["end"] = "2026-10-14", aggregation = "weekly" })
    assert.same({ "2026-09-21", "2026-09-27" }, { calendar.format(w.before.first), calendar.format(w.before.last) })
  end)
end)

-- Five users and a few conversations for 2026-10-01..2026-10-14 by weeks, whose lifecycle is
-- worked out by hand: u1 (registered before) is returning in week 1 after a conversation in the
-- week before; u5 is resurrecting in weeks 1 and 3; u2 and u3 are new in their weeks; u4 never
-- talks. And the API's answers in the shapes of its description.
local function answers()
  local function talk(id, user, date, topic, feel, messages)
    return { id = id, user_id = user, topics = { { name = topic } }, message_count = messages or 4,
      user_sentiment = feel or "positive", inserted_at = date .. "T10:00:00Z", model = "m", first_message = "hi" }
  end
  return {
    users = {
      { username = "u1", date_joined = "2026-09-01T08:00:00Z" }, { username = "u2", date_joined = "2026-10-02T08:00:00Z" },
      { username = "u3", date_joined = "2026-10-06T08:00:00Z" }, { username = "u4", date_joined = "2026-10-13T08:00:00Z" },
      { username = "u5", date_joined = "2026-08-01T08:00:00Z" },
    },
    transcripts = {
      talk("a", "u1", "2026-09-25", "Python"), talk("b", "u1", "2026-10-01", "Python", "negative", 6),
      talk("c", "u5", "2026-10-02", "Algebra"), talk("d", "u2", "2026-10-03", "Python"),
      talk("e", "u3", "2026-10-06", "Python", "neutral"), talk("f", "u2", "2026-10-07", "Algebra"),
      talk("g", "u5", "2026-10-12", "Python"),
    },
    cohorts = { periods = { "2026-09-28T00:00:00Z", "2026-10-05T00:00:00Z", "2026-10-12T00:00:00Z" },
      new_users = { 1, 1, 1 }, veteran_users = { 2, 0, 1 } },
    conversations = { { date = "2026-09-28T00:00:00Z", conversation_count = 3 },
      { date = "2026-10-12", conversation_count = 4 } },
    messages = { { time = "2026-09-28T00:00:00Z", avg_messages = 10, total_sessions = 3 },
      { time = "2026-10-12T00:00:00Z", avg_messages = 20, total_sessions = 1 } },
    topics = { { topic_name = "Algebra", conversation_count = 1 }, { topic_name = "Python", conversation_count = 3 } },
    sentiment = { sentiment_distribution = { positive = 50, neutral = 25, negative = 25 }, total_sentiments = 8 },
    overview = { conversation_volume = { total = 7, change = 12.34 }, users = { total = 3, change = 0 },
      topics = { total = 2, change = -50 }, user_rating = { total = 4, change = 0 } },
    metrics = { registered_users = { total = 9, change_percentage = 1 }, new_users = { total = 6, change_percentage = 0 },
      unique_users = { total = 3, change_percentage = 0 }, veteran_users = { total = 3, change_percentage = 0 } },
  }
end

-- The report from answers as run() gathers them: the users listing and the transcripts read
-- into a registry and a tally, the rest as the API's bodies.
local function build(a, failures, opts)
  local o = assert(cohort_report.check(opts or { start = "2026-10-01", ["end"] = "2026-10-14", aggregation = "weekly" }))
  local given = {}
  for k, v in pairs(a) do given[k] = v end
  if a.users then
    given.users = people.registry()
    people.add_users(given.users, a.users)
  end
  if a.transcripts then
    given.transcripts = people.tally { periods = calendar.periods(o.first, o.last, o.aggregation), first = o.first,
      last = o.last, before = o.before, prev = o.prev_first and { first = o.prev_first, last = o.prev_last } }
    assert(people.add_conversations(given.transcripts, a.transcripts,
      { first = math.min(o.before.first, o.prev_first or o.before.first), last = o.last }))
  end
  return report_build.report(o, given, failures or {}, "main", cohort_report.plan(o))
end

describe("cohort report shaping", function()
  it("counts people per week from sets, as worked out by hand", function()
    local r = build(answers())
    assert.equal(3, #r.periods) -- Oct 1-4, Oct 5-11, Oct 12-14
    local function column(key)
      local out = {}
      for i, p in ipairs(r.periods) do out[i] = p[key] end
      return out
    end
    assert.same({ 3, 2, 1 }, column("active_users"))
    assert.same({ 1, 1, 0 }, column("new_users"))
    assert.same({ 1, 1, 0 }, column("returning_users"))
    assert.same({ 1, 0, 1 }, column("resurrecting_users"))
    assert.same({ 0, 2, 2 }, column("dormant_users"))
    assert.same({ 1, 1, 1 }, column("registered"))
    assert.same({ active_users = 4, new_users = 2, returning_users = 2, registered = 3, org_users = 5 },
      { active_users = r.totals.active_users, new_users = r.totals.new_users, returning_users = r.totals.returning_users,
        registered = r.totals.registered, org_users = r.totals.org_users })
    assert.same({ { start = "2026-10-01", size = 1, active = { 1, 1, 0 } }, { start = "2026-10-05", size = 1,
      active = { 1, 0 } }, { start = "2026-10-12", size = 1, active = { 0 } } }, r.retention)
    assert.equal(1, r.previous.active_users) -- u1 on Sep 25
    assert.equal(300, r.change.active_users)
    assert.equal(0, r.cross_check.disagreements)
    assert.same({ 1, 1, 1, 0, 0, 1, 1 }, (function()
      local out = {}
      for i = 1, 7 do out[i] = r.daily_active_users[i].users end
      return out
    end)())
    -- The API's own conversation figures beside them.
    assert.same({ 3, 0, 4 }, column("conversations"))
    assert.equal(7, r.totals.conversations)
    assert.equal(12.5, r.totals.avg_messages) -- (10 * 3 + 20 * 1) / 4 sessions
    assert.equal(26, r.totals.messages) -- the transcripts of the range: 6 + 4 * 5
    assert.equal("Python", r.topics[1].name)
    assert.equal(75, r.topics[1].share)
    assert.same({ positive = 2, negative = 1, neutral = 1 }, r.topics[1].sentiment)
    assert.is_true(r.activity)
    assert.same({}, r.errors)
  end)

  it("names a disagreement of user-cohorts-over-time with both figures", function()
    local a = answers()
    a.cohorts.new_users[2], a.cohorts.veteran_users[1] = 4, 7
    local r = build(a)
    assert.equal(2, r.cross_check.disagreements)
    local notes = table.concat(r.notes, "\n")
    assert.matches("disagrees in 2 of 3 weeks", notes)
    assert.matches("2026%-10%-01: registered 1 here, new_users 1 there; registered before the range and active 2 here, "
      .. "veteran_users 7 there", notes)
    assert.matches("2026%-10%-05: registered 1 here, new_users 4 there", notes)
  end)

  it("counts users it cannot place in time as registered before, and says so", function()
    local a = answers()
    a.users[5] = { username = "u5", date_joined = "not a date" }
    a.users[6] = { username = 42 }
    a.transcripts[#a.transcripts + 1] = { user_id = "ghost", inserted_at = "2026-10-03T01:00:00Z", message_count = 1 }
    a.transcripts[#a.transcripts + 1] = { user_id = json.null, inserted_at = "2026-10-03T01:00:00Z" }
    a.transcripts[#a.transcripts + 1] = { user_id = "u1", inserted_at = "2026-02-30T01:00:00Z" }
    local r = build(a)
    assert.same({ 4, 2, 1 }, { r.periods[1].active_users, r.periods[2].active_users, r.periods[3].active_users })
    for _, p in ipairs(r.periods) do
      assert.equal(p.active_users, p.new_users + p.returning_users + p.resurrecting_users)
    end
    local kinds = {}
    for _, e in ipairs(r.errors) do kinds[e.call .. ":" .. e.kind] = e.message end
    assert.matches('the user "u5" has the date_joined "not a date"', kinds["users:records"])
    assert.matches("user 6 of a page has the username 42", kinds["users:records"])
    assert.matches("conversation 9 of .* has the user_id null; left out", kinds["transcripts:records"])
    assert.matches('has the inserted_at "2026%-02%-30T01:00:00Z"; left out', kinds["transcripts:records"])
    assert.matches("1 active users are not in the users listing", table.concat(r.notes, "\n"))
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
    a.topics, a.users = nil, nil
    local err = setmetatable({}, { __tostring = function() return "iblai: HTTP 500 Internal Server Error" end })
    local r = build(a, { topics = { op = "x", err = err }, users = { op = "y", err = err } })
    assert.equal("failed", r.sections.topics)
    assert.equal("partial", r.sections.lifecycle)
    assert.equal("failed", r.sections.retention)
    assert.equal("failed", r.sections.registrations)
    assert.equal("ok", r.sections.activity)
    assert.same({ "users", "topics" }, { r.errors[2].call, r.errors[1].call })
    assert.equal("ai_analytics_orgs_users_most_discussed_topics_list", r.errors[1].operation)
    -- Without the listing, active users are still counted; who is new is not known.
    assert.equal(4, r.totals.active_users)
    assert.is_nil(r.totals.new_users)
    assert.equal(3, r.periods[1].active_users)
    assert.is_nil(r.periods[1].new_users)
    assert.is_nil(r.retention)
  end)

  it("calls an answer of another shape a failure, saying which operation", function()
    local a = answers()
    a.cohorts = { periods = { "2026-10-01" } }
    a.conversations = { { date = "yesterday", conversation_count = 1 } }
    a.topics = { detail = "an object where a list belongs is no list of topics" }
    local r = build(a)
    assert.equal("failed", r.sections.cross_check)
    assert.equal("partial", r.sections.conversations)
    assert.equal("failed", r.sections.topics)
    assert.is_nil(r.cross_check)
    assert.equal(3, r.periods[1].active_users)
    local by = {}
    for _, e in ipairs(r.errors) do by[e.call] = e.message end
    assert.matches("user_cohorts_over_time_retrieve is not as the API describes it", by.cohorts)
    assert.matches("no date in 'date'", by.conversations)
    assert.matches("most_discussed_topics_list is not as the API describes it: expected a list", by.topics)
  end)

  it("renders an empty range with zeros and says there was no activity", function()
    local r = build({ cohorts = { periods = {}, new_users = {}, veteran_users = {} }, conversations = {}, messages = {},
      users = {}, transcripts = {}, topics = {}, sentiment = { sentiment_distribution = {}, total_sentiments = 0 } })
    assert.is_false(r.activity)
    assert.equal(0, r.totals.active_users)
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
    assert.same({ "range", "summary", "periods", "retention", "cross_check", "daily_active_users", "topics", "sentiment",
      "overview" }, names)
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
    assert.equal("from 0", format.change(nil, 3))
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

-- Day numbers (0 = 1970-01-01) and dates, written here apart from the library's calendar so that
-- the brute force below shares nothing with what it checks.
local function day_number(date)
  local y, m, d = date:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)")
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (m > 2 and m - 3 or m + 9) + 2) // 5 + d - 1
  return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
end

local function date_of(z)
  z = z + 719468
  local era = z // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d, m = doy - (153 * mp + 2) // 5 + 1, mp < 10 and mp + 3 or mp - 9
  return ("%04d-%02d-%02d"):format(yoe + era * 400 + (m <= 2 and 1 or 0), m, d)
end

-- Which calendar period a day is in: the day, the Monday of its week, or its month.
local function period_key(z, aggregation)
  if aggregation == "weekly" then return date_of(z - (z + 3) % 7) end
  if aggregation == "monthly" then return date_of(z):sub(1, 7) end
  return date_of(z)
end

-- People per period, totals, the range before and the triangle, counted by brute force from the
-- users (date_joined) and the conversations (user_id, inserted_at) exactly as the issue defines
-- them: sets of usernames, one walk over the days.
local function brute_force(first_date, last_date, aggregation, users, conversations)
  local first, last = day_number(first_date), day_number(last_date)
  local days = last - first + 1
  local periods, index_of = {}, {}
  for z = first, last do
    local key = period_key(z, aggregation)
    if not index_of[key] then
      periods[#periods + 1] = { first = z, last = z, active = {} }
      index_of[key] = #periods
    end
    periods[index_of[key]].last = z
  end
  -- The whole calendar period before the first one.
  local start = first
  while period_key(start - 1, aggregation) == period_key(first, aggregation) do start = start - 1 end
  local before_key = period_key(start - 1, aggregation)
  local joined = {}
  for _, u in ipairs(users) do joined[u.username] = day_number(u.date_joined) end
  local before, range, prev, daily, prev_daily = {}, {}, {}, {}, {}
  local prev_first, prev_last = first - days, first - 1
  for _, c in ipairs(conversations) do
    local z = day_number(c.inserted_at)
    if z >= first and z <= last then
      periods[index_of[period_key(z, aggregation)]].active[c.user_id] = true
      range[c.user_id] = true
      daily[z] = daily[z] or {}
      daily[z][c.user_id] = true
    end
    if period_key(z, aggregation) == before_key then before[c.user_id] = true end
    if z >= prev_first and z <= prev_last then
      prev[c.user_id] = true
      prev_daily[z] = prev_daily[z] or {}
      prev_daily[z][c.user_id] = true
    end
  end
  local function size(set)
    local n = 0
    for _ in pairs(set) do n = n + 1 end
    return n
  end
  local want = { periods = {}, daily = {}, retention = {} }
  for k, p in ipairs(periods) do
    local was = k == 1 and before or periods[k - 1].active
    local row = { start = date_of(p.first), ["end"] = date_of(p.last), registered = 0, active_users = 0,
      new_users = 0, returning_users = 0, resurrecting_users = 0, dormant_users = 0 }
    for _, j in pairs(joined) do
      if j >= p.first and j <= p.last then row.registered = row.registered + 1 end
    end
    for u in pairs(p.active) do
      row.active_users = row.active_users + 1
      local j = joined[u]
      if j >= p.first and j <= p.last then
        row.new_users = row.new_users + 1
      elseif was[u] then
        row.returning_users = row.returning_users + 1
      else
        row.resurrecting_users = row.resurrecting_users + 1
      end
    end
    for u in pairs(was) do
      if not p.active[u] then row.dormant_users = row.dormant_users + 1 end
    end
    want.periods[k] = row
    -- The cohort of this period, and how many of it were active in this and each later period.
    local cohort = { start = row.start, size = row.registered, active = {} }
    for later = k, #periods do
      local n = 0
      for u in pairs(periods[later].active) do
        if joined[u] >= p.first and joined[u] <= p.last then n = n + 1 end
      end
      cohort.active[#cohort.active + 1] = n
    end
    want.retention[k] = cohort
  end
  local function totals(active, a, b)
    local t = { active_users = size(active), new_users = 0, registered = 0 }
    for u in pairs(active) do
      if joined[u] >= a and joined[u] <= b then t.new_users = t.new_users + 1 end
    end
    for _, j in pairs(joined) do
      if j >= a and j <= b then t.registered = t.registered + 1 end
    end
    t.returning_users = t.active_users - t.new_users
    return t
  end
  want.totals = totals(range, first, last)
  want.previous = totals(prev, prev_first, prev_last)
  local sum, prev_sum = 0, 0
  for z = first, last do
    want.daily[#want.daily + 1] = { date = date_of(z), users = daily[z] and size(daily[z]) or 0 }
    sum = sum + want.daily[#want.daily].users
  end
  for _, set in pairs(prev_daily) do prev_sum = prev_sum + size(set) end
  want.totals.avg_daily_active_users = math.floor(sum / days * 10 + 0.5) / 10
  want.previous.avg_daily_active_users = math.floor(prev_sum / days * 10 + 0.5) / 10
  want.fetch_first = date_of(math.min(start - 1 - 40, prev_first)) -- the period before, and the range before
  return want
end

describe("iblai cohort-report counts people as a brute force over the raw data does", function()
  -- Two orgs of different seeds and sizes; ranges that start inside a month and on a Thursday.
  for _, case in ipairs { { seed = "7", users = "60" }, { seed = "3", users = "240" } } do
    describe(("a sandbox of %s users, seed %s"):format(case.users, case.seed), function()
      local sb, client, env, users, mentors

      setup(function()
        sb = helpers.sandbox("--users", case.users, "--seed", case.seed)
        client = assert(iblai.new { base_url = sb.url, api_key = "sandbox", org = "main", username = "admin",
          retries = 0 })
        env = { IBLAI_BASE_URL = sb.url, IBLAI_API_KEY = "sandbox", IBLAI_ORG = "main", IBLAI_USERNAME = "admin" }
        users = assert(client:collect("core_platform_users_retrieve", {}))
        -- Mentor ids as the API shows them: in the users' memories.
        mentors = {}
        for i = 1, math.min(#users, 20) do
          for _, m in ipairs(assert(client:collect("ai_mentor_orgs_users_memories_list", { user_id = users[i].username }))) do
            if not mentors[m.mentor] then
              mentors[m.mentor] = true
              mentors[#mentors + 1] = m.mentor
            end
          end
        end
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
        return assert(json.decode(out)), out
      end

      -- Every figure of every period, the totals, the range before, daily activity and the
      -- triangle, against the brute force over one transcripts call that spans them all.
      local function check(start, stop, aggregation, mentor)
        local args = { "--start", start, "--end", stop, "--aggregation", aggregation }
        if mentor then
          args[#args + 1] = "--mentor"
          args[#args + 1] = mentor
        end
        local r = report_json(args)
        local want = brute_force(start, stop, aggregation, users, {})
        local conversations = assert(client:call("ai_analytics_orgs_users_transcripts_list",
          { start_date = want.fetch_first, end_date = stop, mentor = mentor }))
        want = brute_force(start, stop, aggregation, users, conversations)
        assert.same({}, r.errors)
        assert.equal(#want.periods, #r.periods)
        local active_sum = 0
        for k, p in ipairs(want.periods) do
          for key, value in pairs(p) do assert.equal(value, r.periods[k][key], ("%s of %s"):format(key, p.start)) end
          local got = r.periods[k]
          assert.equal(got.active_users, got.new_users + got.returning_users + got.resurrecting_users, p.start)
          active_sum = active_sum + got.active_users
        end
        for key, value in pairs(want.totals) do assert.equal(value, r.totals[key], "totals." .. key) end
        for key, value in pairs(want.previous) do assert.equal(value, r.previous[key], "previous." .. key) end
        assert.equal(#users, r.totals.org_users)
        -- No headline exceeds the org's user count, though the periods' sum may.
        for _, key in ipairs { "active_users", "new_users", "returning_users", "registered", "avg_daily_active_users" } do
          assert.is_true(r.totals[key] <= #users, key)
        end
        assert.same(want.daily, r.daily_active_users)
        assert.same(want.retention, r.retention)
        for k, cohort in ipairs(r.retention) do assert.equal(r.periods[k].new_users, cohort.active[1]) end
        assert.equal(0, r.cross_check.disagreements)
        return r, want, active_sum, #conversations
      end

      it("month by month from a start inside a month", function()
        local r, _, active_sum, n = check("2026-01-15", "2026-11-24", "monthly")
        assert.is_true(n > 100, "conversations: " .. n)
        assert.equal("2026-01-15", r.periods[1].start)
        assert.equal(11, #r.periods)
        assert.is_true(active_sum > r.totals.active_users, "the periods count some people more than once")
        assert.is_true(r.totals.new_users > 0 and r.totals.returning_users > 0)
        local resurrecting, dormant = 0, 0
        for _, p in ipairs(r.periods) do
          resurrecting, dormant = resurrecting + p.resurrecting_users, dormant + p.dormant_users
        end
        assert.is_true(resurrecting > 0 and dormant > 0)
        assert.matches("agrees in every month %(its new_users with registrations only", table.concat(r.notes, "\n"))
      end)

      it("week by week from a Thursday, and day by day", function()
        local r = check("2026-09-03", "2026-11-24", "weekly")
        assert.equal("2026-09-03", r.periods[1].start)
        assert.equal("2026-09-06", r.periods[1]["end"])
        assert.equal("2026-09-07", r.periods[2].start)
        assert.matches("agrees in every week %(its new_users with registrations, its veteran_users",
          table.concat(r.notes, "\n"))
        check("2026-10-20", "2026-11-24", "daily")
      end)

      it("for one mentor, counted the same way, registrations staying the org's", function()
        assert.is_true(#mentors >= 2, "mentor ids in the memories")
        local all = report_json { "--start", "2026-03-01", "--end", "2026-11-24", "--aggregation", "monthly" }
        for i = 1, 2 do
          local r = check("2026-03-01", "2026-11-24", "monthly", mentors[i])
          assert.is_true(r.totals.active_users < all.totals.active_users)
          assert.equal(all.totals.registered, r.totals.registered)
          assert.matches("only conversations with this mentor count as activity", table.concat(r.notes, "\n"))
        end
        check("2026-09-03", "2026-11-24", "weekly", mentors[1])
      end)
    end)
  end
end)

describe("iblai cohort-report against the sandbox", function()
  local sb, env

  setup(function()
    sb = helpers.sandbox("--users", "60", "--seed", "7")
    env = { IBLAI_BASE_URL = sb.url, IBLAI_API_KEY = "sandbox", IBLAI_ORG = "main", IBLAI_USERNAME = "admin" }
  end)

  teardown(function() sb.stop() end)

  local function report_json(args)
    local full = { "cohort-report", "--format", "json" }
    for _, a in ipairs(args) do full[#full + 1] = a end
    local code, out, err = helpers.run(full, env)
    assert.equal(0, code, err)
    assert.equal(1, #lines(out))
    return assert(json.decode(out)), out
  end

  it("writes integers as integers, every list as a list, and the keys the issue names", function()
    local r, text = report_json { "--start", "2026-11-01", "--end", "2026-11-24", "--aggregation", "weekly" }
    assert.not_matches('"active_users":%d+%.0', text)
    assert.not_matches('"conversations":%d+%.0', text)
    assert.matches('"periods":%[{', text)
    assert.equal("integer", math.type(r.totals.new_users))
    for _, key in ipairs { "range", "periods", "totals", "previous", "change", "retention", "cross_check", "topics",
      "sentiment", "daily_active_users", "flagged", "notes" } do
      assert.is_not_nil(r[key], key)
    end
    for _, key in ipairs { "start", "end", "registered", "active_users", "new_users", "returning_users",
      "resurrecting_users", "dormant_users", "conversations", "sessions", "avg_messages" } do
      assert.is_not_nil(r.periods[1][key], key)
    end
    for _, key in ipairs { "active_users", "new_users", "returning_users", "registered" } do
      assert.equal("integer", math.type(r.totals[key]), key)
    end
    assert.same({ "active", "size", "start" }, (function()
      local keys = {}
      for k in pairs(r.retention[1]) do keys[#keys + 1] = k end
      table.sort(keys)
      return keys
    end)())
    assert.is_not_nil(r.topics[1].name)
    -- Notes define every term, one line each.
    local notes = table.concat(r.notes, "\n")
    for _, term in ipairs { "Registered", "Active", "New", "Returning", "Resurrecting", "Dormant", "Retention" } do
      assert.matches("\n" .. term .. ": ", "\n" .. notes, nil, false)
    end
  end)

  it("says there was no activity in an empty range, with zeros and empty lists", function()
    local r, text = report_json { "--start", "2010-01-01", "--end", "2010-01-10" }
    assert.is_false(r.activity)
    assert.equal(0, r.totals.active_users)
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
    for _, h in ipairs { "## People per week", "## Retention", "## Daily active users", "## Conversations",
      "## Top topics", "## Sentiment", "## Org overview", "## Notes" } do
      assert.truthy(out:find(h, 1, true), h)
    end
    assert.truthy(out:find("| Period | Active | New | Returning | Resurrecting | Dormant | Registered |", 1, true))
    code, out = helpers.run({ "cohort-report", "--start", "2026-11-01", "--end", "2026-11-24", "--format", "csv" }, env)
    assert.equal(0, code)
    assert.matches("^# range\nstart,end,aggregation,mentor,days,org\n2026%-11%-01,2026%-11%-24,daily,,24,main\n\n# summary",
      out)
    local doc = read_csv(out)
    assert.same({ "start", "end", "days", "registered", "active_users", "new_users", "returning_users",
      "resurrecting_users", "dormant_users", "conversations", "sessions", "avg_messages", "avg_daily_active_users" },
      doc.periods[1])
    assert.same({ "cohort_start", "size", "period_start", "offset", "active", "share" }, doc.retention[1])
    assert.equal(24 * 25 // 2 + 1, #doc.retention) -- the triangle of 24 days, one cell a row, and the header
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
    local r = report_json { "--start", "2026-10-01", "--end", "2026-11-24", "--aggregation", "weekly" }
    assert.matches(("%d active: %d new, %d returning; %d conversations"):format(r.totals.active_users,
      r.totals.new_users, r.totals.returning_users, r.totals.conversations), out)
    assert.matches("topic 1: ", out)
    assert.matches("^<!DOCTYPE html>", slurp(dir .. "/r.html"))
    os.execute("rm -rf " .. helpers.quote(dir))
  end)

  it("copes with a sandbox that fails 30% of requests: a whole report, exit 0 or 1", function()
    local flaky = helpers.sandbox("--users", "60", "--seed", "7", "--fail-rate", "0.3", "--latency", "5")
    finally(function() flaky.stop() end)
    local e = { IBLAI_BASE_URL = flaky.url, IBLAI_API_KEY = "k-flaky-9876", IBLAI_ORG = "main", IBLAI_USERNAME = "admin" }
    local steady = report_json { "--start", "2026-10-01", "--end", "2026-11-24" }
    for _ = 1, 2 do
      local code, out, err = helpers.run({ "cohort-report", "--start", "2026-10-01", "--end", "2026-11-24",
        "--format", "json" }, e)
      local r = assert(json.decode(out), err)
      assert.is_true(code == 0 or code == 1, err)
      assert.equal(code == 1, #r.errors > 0)
      assert.equal(r.sections.activity == "ok" and 55 or 0, #r.daily_active_users)
      -- What came back is what a steady sandbox gives: retries never count a person twice.
      if r.sections.lifecycle == "ok" then assert.same(steady.periods[1].active_users, r.periods[1].active_users) end
      if r.sections.activity == "ok" then assert.same(steady.totals.active_users, r.totals.active_users) end
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
    assert.equal("ok", r.sections.lifecycle)
    assert.equal("ok", r.sections.retention)
    assert.equal("ok", r.sections.activity)
    assert.equal(json.null, r.sentiment)
    assert.same({}, r.topics)
    assert.is_true(r.totals.new_users > 0)
    assert.matches("2 of the report's calls failed", err)
    assert.matches("HTTP 500", err)
    assert.matches("topics are being reindexed", err)
    assert.matches("is not as the API describes it", err)
    assert.not_matches("secret%-key%-1234", err .. out)

    code, out = helpers.run({ "cohort-report", "--start", "2026-10-01", "--end", "2026-11-24" }, env)
    assert.equal(1, code)
    assert.matches("## Top topics\n\n> %*%*Unavailable:%*%* iblai: [%w_]+: HTTP 500", out)
    assert.matches("## People per day\n\n%d+ distinct users were active: %d+ new", out)
  end)
end)

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
  local WEEKLY = { "--aggregation", "weekly" }

  setup(function()
    sb = helpers.sandbox("--script", helpers.root .. "/spec/support/cohort_odd.lua")
    dir = tmpdir()
  end)

  teardown(function()
    sb.stop()
    os.execute("rm -rf " .. helpers.quote(dir))
  end)

  -- Runs the report for an org of the fake server in a format; returns exit code, text, stderr.
  local function report(org, fmt, more)
    local args = { "cohort-report", "--format", fmt }
    for _, a in ipairs(RANGE) do args[#args + 1] = a end
    for _, a in ipairs(more or {}) do args[#args + 1] = a end
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

  it("renders 1e300, \"NaN\", negatives, null and rows of 2^62 in every format, marked, and exits 1", function()
    for _, fmt in ipairs { "md", "csv", "json", "html" } do
      local code, text, err = report("odd", fmt, WEEKLY)
      assert.equal(1, code, err)
      assert.matches("held figures it should not send", err)
      assert.matches('new_users%[2%] %(2026%-10%-02%) is the string "NaN", not a number', err)
      assert.matches("conversation_count of item 3 %(2026%-10%-03%) is null", err)
      assert.is_true(#text > 1000, fmt)
    end
    local _, text = report("odd", "json", WEEKLY)
    local r = assert(json.decode(text))
    local kinds = {}
    for _, e in ipairs(r.errors) do kinds[e.call] = kinds[e.call] or e.kind end
    for _, call in ipairs { "cohorts", "topics", "sentiment", "overview", "conversations", "messages", "transcripts",
      "conversations_prev", "messages_prev" } do
      assert.equal("figures", kinds[call], call)
    end
    -- Sums cannot wrap: 2^62 + 2^62 + 1 in one week is about 2^63, never negative.
    local week = r.cross_check.periods[1]
    assert.is_true(week.api_veteran_users >= 2.0 ^ 63, tostring(week.api_veteran_users))
    assert.equal(json.null, week.api_new_users) -- one of its days is "NaN"
    assert.equal(0, r.periods[1].conversations) -- -5 + 5, and a null: marked
    assert.equal(1e300, r.periods[1].sessions)
    assert.equal(json.null, r.periods[1].avg_messages) -- 1e300 x 1e300 messages is no number
    assert.equal(1e300, r.topics[1].conversations)
    assert.not_equal(false, r.activity)
    local flagged = {}
    for _, p in ipairs(r.flagged) do flagged[p] = true end
    for _, p in ipairs { "periods[0].conversations", "periods[0].sessions", "periods[0].avg_messages",
      "totals.conversations", "totals.messages", "topics[0].conversations", "sentiment.total",
      'sentiment.counts["positive"]', "overview.users.total", "overview.conversation_volume.change",
      "cross_check.periods[0].api_new_users", "cross_check.periods[0].api_veteran_users", "change.conversations" } do
      assert.is_true(flagged[p], p)
    end
    assert.is_nil(flagged["periods[1].conversations"])
    assert.is_nil(flagged["topics[1].conversations"])
    assert.matches("disagrees in 1 of 2 weeks.*new_users not a number there.*veteran_users 9%.22337203685477%d*e%+18 there",
      table.concat(r.notes, "\n"))

    _, text = report("odd", "md", WEEKLY)
    assert.matches("| 2026-10-01 to 2026-10-04 | 0 ⚠ | 1e+300 ⚠ | n/a ⚠ |", text, 1, true)
    assert.matches("| 1 | Algebra | 1e+300 ⚠ |", text, 1, true)
    assert.not_matches("No activity", text)

    _, text = report("odd", "csv", WEEKLY)
    local csv_doc = read_csv(text)
    assert.same({ "0", "1e+300", "" }, { table.unpack(csv_doc.periods[2], 10, 12) })
    local csv_flagged = {}
    for i = 2, #csv_doc.flagged do csv_flagged[csv_doc.flagged[i][1]] = true end
    assert.same(flagged, csv_flagged)

    _, text = report("odd", "html", WEEKLY)
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

  it("shows the rest when the transcripts fail: no people, the API's own figures", function()
    local code, text, err = report("broken", "json")
    assert.equal(1, code)
    assert.matches("transcripts are offline", err)
    local r = json.decode(text)
    for _, s in ipairs { "activity", "retention" } do assert.equal("failed", r.sections[s], s) end
    assert.equal("partial", r.sections.lifecycle) -- registrations are still counted
    assert.equal("ok", r.sections.registrations)
    assert.equal(json.null, r.totals.active_users)
    assert.equal(0, r.totals.registered)
    assert.equal(json.null, r.retention)
    code, text = report("broken", "md")
    assert.equal(1, code)
    assert.matches("## People per day\n\n> %*%*Partly unavailable:%*%* iblai: ai_analytics_orgs_users_transcripts_list",
      text)
    assert.matches("## Retention\n\n> %*%*Unavailable:%*%*", text)
  end)

  it("calls transcripts of another shape a failure, and leaves out what is outside the days asked for", function()
    local code, text, err = report("shapeless", "json")
    assert.equal(1, code)
    assert.matches("transcripts_list for 2026%-09%-2%d to 2026%-10%-07 is not as the API describes it: expected a list",
      err)
    assert.equal("failed", json.decode(text).sections.activity)
    -- A server that ignores the dates: each span still counts only its own days, once.
    code, text, err = report("dateless", "json", WEEKLY)
    assert.equal(1, code)
    local r = json.decode(text)
    assert.equal("ok", r.sections.activity)
    assert.same({ 2, 1 }, { r.periods[1].active_users, r.periods[2].active_users }) -- u0 and u1 on Oct 2, u2 on Oct 6
    assert.equal(3, r.totals.active_users)
    assert.equal(1, r.previous.active_users) -- Sep 29 (u2); Sep 20 is before the range before
    assert.matches("records the report cannot place", err)
    assert.matches("is dated 2026%-09%-20, outside the days asked for; left out", err)
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
    assert.equal(8, count(html, "<h2>"))
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
    -- The lifecycle: new, returning and resurrecting above zero, dormant below, one of each a week.
    for _, key in ipairs { "new", "returning", "resurrecting", "dormant" } do
      assert.equal(9, count(html, 'class="bar bar%-' .. key .. '"'), key)
    end
    local zero = tonumber(html:match('<svg class="chart"[^>]-aria%-labelledby="lifecycle%-title.-<line class="axis" '
      .. 'x1="[^"]*" x2="[^"]*" y1="([^"]*)"'))
    for y in html:gmatch('class="bar bar%-dormant" x="[^"]*" y="([^"]*)"') do
      assert.is_true(math.abs(tonumber(y) - zero) < 0.01, "a dormant bar hangs from the zero line")
    end
    for y, h in html:gmatch('class="bar bar%-new" x="[^"]*" y="([^"]*)" width="[^"]*" height="([^"]*)"') do
      assert.is_true(math.abs(tonumber(y) + tonumber(h) - zero) < 0.01, "a new bar stands on the zero line")
    end
    -- The retention heatmap: the triangle of 9 weeks, every cell a number (and its share).
    local heatmap = assert(html:match('<table class="heatmap">(.-)</table>'))
    assert.equal(9, count(heatmap, "<tr><td"))
    assert.equal(9 * 10 // 2, count(heatmap, '<td class="cell'))
    for cell in heatmap:gmatch('<td class="cell"[^>]*>(.-)</td>') do assert.matches("^%d+<small>%d+%%</small>$", cell) end
    assert.equal(9, count(html, 'class="bar bar%-conversations"'))
    assert.equal(10, count(html, 'class="bar bar%-topic"'))
    assert.equal(3, count(html, 'class="bar bar%-%a+tive"') + count(html, 'class="bar bar%-neutral"'))
    assert.equal(55, count(html, 'class="point"'))
    assert.equal(5, count(html, '<svg class="chart"')) -- lifecycle, daily active users, conversations, topics, sentiment
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
      resurrecting = c.resurrecting, dormant = c.dormant, active = c.active, conversations = c.conversations,
      topic = c.topic })
    assert.is_true(distinct > 50, "distinct colours: " .. distinct)
    for name, n in pairs(counts) do assert.is_true(n > 20, ("%s: %d pixels"):format(name, n)) end
  end)
end)
