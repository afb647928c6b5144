--- The cohort report as GitHub-flavoured Markdown: a headline table, then one short line and a
-- table per section (people per period, retention, daily activity, conversations, topics,
-- sentiment, the org overview), and the notes that define each term. Text from the server (topic and sentiment names, error messages) goes
-- through M.text wherever it lands, so it is always read as text, never as markup.
local build = require "iblai.workflows.cohort_report.build"
local format = require "iblai.render.format"
local shape = require "iblai.workflows.cohort_report.shape"

local M = {}

local BARS = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" }
local SPARK_WIDTH = 60
--- The most periods the retention table shows (wider tables do not read; JSON and CSV have all).
M.RETENTION_COLUMNS = 60
-- The C1 control characters in UTF-8 (U+0080 to U+009F), which some terminals obey.
local C1 = "\xC2[\x80-\x9F]"

--- Text as Markdown shows it literally, on one line: control characters (line breaks too) become
-- spaces; the characters that start markup are escaped with a backslash (\ ` * [ ] < > | & ~,
-- _ outside a word, and # + - = or "1." at the start, where they would open a heading or list);
-- URLs and www. names are kept from turning into links.
-- @param s any value (tostring'd)
-- @return string
function M.text(s)
  s = tostring(s):gsub("[%c\127]", " "):gsub(C1, " "):gsub("[\\`*%[%]<>|&~]", "\\%0")
  -- An underscore inside a word never starts emphasis: only the others are escaped.
  s = s:gsub("()_", function(at)
    if s:sub(at - 1, at - 1):find("^%w$") and s:sub(at + 1, at + 1):find("^%w$") then return "_" end
    return "\\_"
  end)
  -- GitHub links bare URLs and www. names; an escaped colon or dot stops it.
  s = s:gsub("://", "\\://"):gsub("([Ww][Ww][Ww])%.", "%1\\.")
  return (s:gsub("^([#+=%-])", "\\%1"):gsub("^(%d+)([.)])", "%1\\%2"))
end

--- Text as a code span: a run of backticks longer than any inside it, on one line.
-- @param s string
-- @return string
function M.code(s)
  s = tostring(s):gsub("[%c\127]", " "):gsub(C1, " ")
  local longest = 0
  for run in s:gmatch("`+") do longest = math.max(longest, #run) end
  local fence = ("`"):rep(longest + 1)
  local pad = (s:find("^[` ]") or s:find("[` ]$")) and " " or ""
  return fence .. pad .. s .. pad .. fence
end

-- Cells hold our own text or M.text: only line breaks are flattened here.
local function cell(v)
  return (tostring(v):gsub("[\r\n]+", " "))
end

local function row(cells)
  local out = {}
  for i, c in ipairs(cells) do out[i] = cell(c) end
  return "| " .. table.concat(out, " | ") .. " |"
end

local function table_of(head, align, rows)
  local out = { row(head), "|" .. table.concat(align, "|") .. "|" }
  for _, r in ipairs(rows) do out[#out + 1] = row(r) end
  return table.concat(out, "\n")
end

--- A sparkline of values, at most SPARK_WIDTH characters (longer series are averaged in groups).
-- @param values list of numbers
-- @return string of block characters ("" for an empty list)
function M.sparkline(values, n)
  n = n or #values
  if n == 0 then return "" end
  local group = math.ceil(n / SPARK_WIDTH)
  local points = {}
  for i = 1, n, group do
    local s, c = 0, 0
    for j = i, math.min(n, i + group - 1) do
      local v = values[j]
      -- What cannot be drawn (unknown, negative) draws as nothing; scaled by 1/n, 1e308s cannot
      -- add up to infinity.
      if type(v) ~= "number" or v ~= v or v < 0 then v = 0 end
      s, c = s + v / n, c + 1
    end
    points[#points + 1] = s / c
  end
  local max = 0
  for _, v in ipairs(points) do max = math.max(max, v) end
  local out = {}
  for i, v in ipairs(points) do
    local level = max > 0 and max < math.huge and math.floor(v / max * (#BARS - 1) + 0.5) + 1 or 1
    out[i] = BARS[math.max(1, math.min(#BARS, level))]
  end
  return table.concat(out)
end

-- The lines saying a section's calls failed, or nothing.
local function failed(report, section)
  local status = report.sections[section]
  if status == "ok" or status == nil or status == "omitted" then return nil end
  local calls = {}
  for _, s in ipairs(build.SECTIONS) do
    if s.name == section then for _, c in ipairs(s.calls) do calls[c] = true end end
  end
  local out = {}
  for _, e in ipairs(report.errors) do
    if calls[e.call] and e.kind == "failed" then
      out[#out + 1] = ("> **%s:** %s"):format(status == "failed" and "Unavailable" or "Partly unavailable",
        M.text(e.message))
    end
  end
  return table.concat(out, "\n")
end

local HEADLINE = {
  { "Active users", "active_users" }, { "New users", "new_users" }, { "Returning users", "returning_users" },
  { "Registered", "registered" }, { "Avg daily active users", "avg_daily_active_users" },
}

local function headline(report)
  local t, c = report.totals, report.change
  local has_prev = next(report.previous or {}) ~= nil
  local head, align, values = {}, {}, {}
  for i, h in ipairs(HEADLINE) do
    local k = h[2]
    head[i], align[i] = h[1], "---:"
    values[i] = format.figure(t, k)
    if has_prev then
      values[i] = values[i] .. " (" .. format.figure(c, k, function(v) return format.change(v, t[k]) end) .. ")"
    end
  end
  return table_of(head, align, { values })
end

local function people(report)
  local agg, t = report.range.aggregation, report.totals
  local out = { ("## People per %s"):format(format.unit(agg)) }
  local why = failed(report, "lifecycle")
  if report.sections.activity ~= "failed" and report.sections.registrations ~= "failed" then
    out[#out + 1] = format.people_line(t, agg)
  end
  if why then out[#out + 1] = why end
  local rows = {}
  for i, p in ipairs(report.periods) do
    local r = { format.period(p, agg) }
    for _, k in ipairs(build.PEOPLE) do r[#r + 1] = format.figure(p, k) end
    rows[i] = r
  end
  rows[#rows + 1] = { "**Range**", format.figure(t, "active_users"), format.figure(t, "new_users"),
    format.figure(t, "returning_users"), "", "", format.figure(t, "registered") }
  out[#out + 1] = table_of({ "Period", "Active", "New", "Returning", "Resurrecting", "Dormant", "Registered" },
    { "---", "---:", "---:", "---:", "---:", "---:", "---:" }, rows)
  return table.concat(out, "\n\n")
end

local function retention(report)
  local agg = report.range.aggregation
  local unit = format.unit(agg)
  local out = { "## Retention" }
  local why = failed(report, "retention")
  if why then out[#out + 1] = why end
  local tri = report.retention
  if not tri then
    if report.sections.retention == "omitted" then
      out[#out + 1] = ("No retention triangle for %d periods: a coarser --aggregation gives one."):format(
        #report.periods)
    end
    return table.concat(out, "\n\n")
  end
  if #tri > M.RETENTION_COLUMNS then
    out[#out + 1] = ("The triangle of %d %ss is too wide to read here: the JSON and CSV formats carry it, "
      .. "and a coarser --aggregation shortens it."):format(#tri, unit)
    return table.concat(out, "\n\n")
  end
  out[#out + 1] = ("Each row is the users who registered in one %s; the cells count those active in that %s "
    .. "(%s 0) and in each %s after, with their share of the row."):format(unit, unit, unit, unit)
  local head, align = { "Registered in", "Users" }, { "---", "---:" }
  for j = 0, #tri - 1 do head[#head + 1], align[#align + 1] = ("%s %d"):format(unit, j), "---:" end
  local rows = {}
  for i, r in ipairs(tri) do
    local cells = { format.period(report.periods[i], agg), format.number(r.size) }
    for j = 1, #tri do
      local n = r.active[j]
      if n == nil then
        cells[#cells + 1] = ""
      elseif r.size == 0 then
        cells[#cells + 1] = "–"
      else
        cells[#cells + 1] = r.size > 0 and ("%s (%s)"):format(format.number(n), format.percent(n * 100 / r.size))
          or format.number(n)
      end
    end
    rows[i] = cells
  end
  out[#out + 1] = table_of(head, align, rows)
  return table.concat(out, "\n\n")
end

local function activity(report)
  local t = report.totals
  local out = { "## Daily active users" }
  local why = failed(report, "activity")
  if why then out[#out + 1] = why end
  if report.sections.activity == "failed" then return table.concat(out, "\n\n") end
  if t.peak_day then
    local values = {}
    for i, d in ipairs(report.daily_active_users) do values[i] = d.users end
    out[#out + 1] = ("Peak of %s on %s; %s a day on average over %d days."):format(
      format.number(t.peak_daily_active_users), t.peak_day, format.number(t.avg_daily_active_users), report.range.days)
    out[#out + 1] = "`" .. M.sparkline(values, #report.daily_active_users) .. "`"
  else
    out[#out + 1] = "Nobody was active in this range."
  end
  return table.concat(out, "\n\n")
end

local function conversations(report)
  local agg, t = report.range.aggregation, report.totals
  local out = { "## Conversations" }
  local why = failed(report, "conversations")
  if report.sections.conversations ~= "failed" then
    out[#out + 1] = ("%s conversations, %s sessions, %s messages per session on average."):format(
      format.figure(t, "conversations"), format.figure(t, "sessions"), (format.figure(t, "avg_messages")))
  end
  if why then out[#out + 1] = why end
  local rows = {}
  for i, p in ipairs(report.periods) do
    rows[i] = { format.period(p, agg), format.figure(p, "conversations"), format.figure(p, "sessions"),
      format.figure(p, "avg_messages"), format.figure(p, "avg_daily_active_users") }
  end
  rows[#rows + 1] = { "**Total**", format.figure(t, "conversations"), format.figure(t, "sessions"),
    format.figure(t, "avg_messages"), format.figure(t, "avg_daily_active_users") }
  out[#out + 1] = table_of({ "Period", "Conversations", "Sessions", "Messages per session", "Daily active (avg)" },
    { "---", "---:", "---:", "---:", "---:" }, rows)
  return table.concat(out, "\n\n")
end

local function topics(report)
  local out = { "## Top topics" }
  local why = failed(report, "topics")
  if why then out[#out + 1] = why end
  if report.sections.topics == "failed" then return table.concat(out, "\n\n") end
  if #report.topics == 0 then
    out[#out + 1] = "No topics were discussed in this range."
    return table.concat(out, "\n\n")
  end
  out[#out + 1] = ("%d topics; the top one, %s, had %s of conversations."):format(#report.topics,
    M.text(report.topics[1].name), (format.figure(report.topics[1], "share", format.percent)))
  local with_mix = report.topics[1].sentiment ~= nil
  local rows = {}
  for i, tp in ipairs(report.topics) do
    rows[i] = { i, M.text(tp.name), format.figure(tp, "conversations"), format.figure(tp, "share", format.percent) }
    if with_mix then
      for _, k in ipairs(shape.SENTIMENTS) do rows[i][#rows[i] + 1] = format.number(tp.sentiment[k] or 0) end
    end
  end
  local head, align = { "#", "Topic", "Conversations", "Share" }, { "---:", "---", "---:", "---:" }
  if with_mix then
    for _, k in ipairs(shape.SENTIMENTS) do
      head[#head + 1], align[#align + 1] = k:sub(1, 1):upper() .. k:sub(2), "---:"
    end
  end
  out[#out + 1] = table_of(head, align, rows)
  return table.concat(out, "\n\n")
end

local function sentiment(report)
  local out = { "## Sentiment" }
  local why = failed(report, "sentiment")
  local s = report.sentiment
  if why then out[#out + 1] = why end
  if not s then return table.concat(out, "\n\n") end
  if s.total == 0 and not shape.marked(s, "total") then
    out[#out + 1] = "No sentiment was recorded in this range."
  elseif s.names[1] then
    out[#out + 1] = ("%s conversations rated; %s were %s."):format(format.figure(s, "total"),
      format.figure(s, "share:" .. s.names[1], function() return format.percent(s.shares[s.names[1]]) end),
      M.text(s.names[1]))
  else
    out[#out + 1] = ("%s conversations rated."):format(format.figure(s, "total"))
  end
  local rows = {}
  for i, k in ipairs(s.names) do
    local share = s.shares[k]
    if type(share) ~= "number" or share ~= share or share < 0 then share = 0 end
    rows[i] = { M.text(k), format.figure(s, "count:" .. k, function() return format.number(s.counts[k]) end),
      format.figure(s, "share:" .. k, function() return format.percent(s.shares[k]) end),
      ("█"):rep(math.floor(math.min(share, 100) / 4 + 0.5)) }
  end
  out[#out + 1] = table_of({ "Sentiment", "Conversations", "Share", "" }, { "---", "---:", "---:", "---" }, rows)
  return table.concat(out, "\n\n")
end

local function overview(report)
  local out = { "## Org overview", "The API's own month-over-month figures for the org." }
  local why = failed(report, "overview")
  if why then out[#out + 1] = why end
  if report.overview then
    local rows = {}
    for _, k in ipairs(shape.OVERVIEW) do
      local f = report.overview[k]
      if f then
        rows[#rows + 1] = { format.OVERVIEW_LABELS[k], format.figure(f, "total"),
          format.figure(f, "change", function(c) return format.change(c, f.total) end) }
      end
    end
    out[#out + 1] = table_of({ "Figure", "Total", "Change" }, { "---", "---:", "---:" }, rows)
  end
  return table.concat(out, "\n\n")
end

--- Renders the report as Markdown.
-- @param report the table cohort_report.run returns
-- @return string ending with a newline
function M.render(report)
  local r = report.range
  local parts = {
    ("# Engagement report: %s to %s"):format(r.start, r["end"]),
    ("Org %s · %d days · %s · %s"):format(M.code(report.org or "?"), r.days, r.aggregation,
      r.mentor and ("mentor " .. M.code(r.mentor)) or "all mentors"),
  }
  local count = { failed = 0, figures = 0, records = 0 }
  for _, e in ipairs(report.errors) do count[e.kind] = count[e.kind] + 1 end
  if count.failed > 0 then
    parts[#parts + 1] = ("> **%d of the report's calls failed**; the sections they feed say so below."):format(
      count.failed)
  end
  local alerts = {
    { "figures", ("> **%d of the API's answers held figures it should not send**; they are shown as sent, marked %s, "
      .. "with what is made from them:"):format(count.figures, format.MARK) },
    { "records", ("> **%d of the API's answers held records the report cannot place**; they are left out or counted "
      .. "as the notes say:"):format(count.records) },
  }
  for _, a in ipairs(alerts) do
    if count[a[1]] > 0 then
      local lines = { a[2] }
      for _, e in ipairs(report.errors) do
        if e.kind == a[1] then lines[#lines + 1] = "> - " .. M.text(e.message) end
      end
      parts[#parts + 1] = table.concat(lines, "\n")
    end
  end
  if report.activity == false then
    parts[#parts + 1] = "**No activity in this range:** nobody registered or had a conversation."
  end
  parts[#parts + 1] = headline(report)
  parts[#parts + 1] = people(report)
  parts[#parts + 1] = retention(report)
  parts[#parts + 1] = activity(report)
  parts[#parts + 1] = conversations(report)
  parts[#parts + 1] = topics(report)
  parts[#parts + 1] = sentiment(report)
  parts[#parts + 1] = overview(report)
  local notes = { "## Notes" }
  for _, n in ipairs(report.notes) do notes[#notes + 1] = "- " .. M.text(n) end
  parts[#parts + 1] = table.concat(notes, "\n")
  return table.concat(parts, "\n\n") .. "\n"
end

return M
