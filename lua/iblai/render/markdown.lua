--- The cohort report as GitHub-flavoured Markdown: a headline table, then one short line and a
-- table per section.
local format = require "iblai.render.format"
local shape = require "iblai.workflows.cohort_report.shape"

local M = {}

local BARS = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" }
local SPARK_WIDTH = 60

-- Table cells must not break the table: pipes escaped, line breaks flattened.
local function cell(v)
  return (tostring(v):gsub("|", "\\|"):gsub("[\r\n]+", " "))
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
function M.sparkline(values)
  local n = #values
  if n == 0 then return "" end
  local group = math.ceil(n / SPARK_WIDTH)
  local points = {}
  for i = 1, n, group do
    local s, c = 0, 0
    for j = i, math.min(n, i + group - 1) do s, c = s + values[j], c + 1 end
    points[#points + 1] = s / c
  end
  local max = 0
  for _, v in ipairs(points) do max = math.max(max, v) end
  local out = {}
  for i, v in ipairs(points) do
    out[i] = BARS[max > 0 and math.floor(v / max * (#BARS - 1) + 0.5) + 1 or 1]
  end
  return table.concat(out)
end

-- The lines saying a section's calls failed, or nothing.
local function failed(report, section)
  local status = report.sections[section]
  if status == "ok" or status == nil then return nil end
  local calls = {}
  for _, s in ipairs(shape.SECTIONS) do
    if s.name == section then for _, c in ipairs(s.calls) do calls[c] = true end end
  end
  local out = {}
  for _, e in ipairs(report.errors) do
    if calls[e.call] then
      out[#out + 1] = ("> **%s:** %s"):format(status == "failed" and "Unavailable" or "Partly unavailable", e.message)
    end
  end
  return table.concat(out, "\n")
end

local function headline(report)
  local t, c = report.totals, report.change
  local has_prev = next(report.previous or {}) ~= nil
  local keys = { "new_users", "veteran_users", "conversations", "avg_messages", "avg_daily_active_users" }
  local values = {}
  for i, k in ipairs(keys) do
    values[i] = format.number(t[k])
    if has_prev then values[i] = values[i] .. " (" .. format.change(c[k], t[k]) .. ")" end
  end
  return table_of({ "New users", "Returning users", "Conversations", "Messages per session",
    "Avg daily active users" }, { "---:", "---:", "---:", "---:", "---:" }, { values })
end

local function cohorts(report)
  local agg, t = report.range.aggregation, report.totals
  local out = { "## New and returning users" }
  local why = failed(report, "cohorts")
  if report.sections.cohorts ~= "failed" then
    out[#out + 1] = format.cohorts_line(t, #report.periods, agg)
  end
  if why then out[#out + 1] = why end
  local rows = {}
  for i, p in ipairs(report.periods) do
    rows[i] = { format.period(p, agg), format.number(p.new_users), format.number(p.veteran_users),
      format.percent(p.returning_share), format.number(p.registered) }
  end
  rows[#rows + 1] = { "**Total**", format.number(t.new_users), format.number(t.veteran_users),
    format.percent(t.returning_share), format.number(t.registered) }
  out[#out + 1] = table_of({ "Period", "New", "Returning", "Returning share", "Registered" },
    { "---", "---:", "---:", "---:", "---:" }, rows)
  local reg = failed(report, "registrations")
  if reg then out[#out + 1] = reg end
  return table.concat(out, "\n\n")
end

local function activity(report)
  local t = report.totals
  local out = { "## Daily active users" }
  local why = failed(report, "activity")
  if why then
    out[#out + 1] = why
  elseif t.peak_day then
    local values = {}
    for i, d in ipairs(report.daily_active_users) do values[i] = d.users end
    out[#out + 1] = ("Peak of %s on %s; %s a day on average over %d days; %s distinct users in all."):format(
      format.number(t.peak_daily_active_users), t.peak_day, format.number(t.avg_daily_active_users),
      report.range.days, format.number(t.active_users))
    out[#out + 1] = "`" .. M.sparkline(values) .. "`"
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
      format.number(t.conversations), format.number(t.sessions), format.number(t.avg_messages))
  end
  if why then out[#out + 1] = why end
  local rows = {}
  for i, p in ipairs(report.periods) do
    rows[i] = { format.period(p, agg), format.number(p.conversations), format.number(p.sessions),
      format.number(p.avg_messages), format.number(p.avg_daily_active_users) }
  end
  rows[#rows + 1] = { "**Total**", format.number(t.conversations), format.number(t.sessions),
    format.number(t.avg_messages), format.number(t.avg_daily_active_users) }
  out[#out + 1] = table_of({ "Period", "Conversations", "Sessions", "Messages per session", "Daily active (avg)" },
    { "---", "---:", "---:", "---:", "---:" }, rows)
  return table.concat(out, "\n\n")
end

local function topics(report)
  local out = { "## Top topics" }
  local why = failed(report, "topics")
  if why then
    out[#out + 1] = why
    return table.concat(out, "\n\n")
  end
  if #report.topics == 0 then
    out[#out + 1] = "No topics were discussed in this range."
    return table.concat(out, "\n\n")
  end
  out[#out + 1] = ("%d topics; the top one, %s, had %s of conversations."):format(#report.topics,
    report.topics[1].name, format.percent(report.topics[1].share))
  local with_mix = report.topics[1].sentiment ~= nil
  local rows = {}
  for i, tp in ipairs(report.topics) do
    rows[i] = { i, tp.name, format.number(tp.conversations), format.percent(tp.share) }
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
  local tr = failed(report, "transcripts")
  if tr then out[#out + 1] = tr end
  return table.concat(out, "\n\n")
end

local function sentiment(report)
  local out = { "## Sentiment" }
  local why = failed(report, "sentiment")
  local s = report.sentiment
  if why then out[#out + 1] = why end
  if not s then return table.concat(out, "\n\n") end
  if s.total == 0 then
    out[#out + 1] = "No sentiment was recorded in this range."
  else
    out[#out + 1] = ("%s conversations rated; %s were %s."):format(format.number(s.total),
      format.percent(s.shares[s.names[1]]), s.names[1])
  end
  local rows = {}
  for i, k in ipairs(s.names) do
    local share = s.shares[k] or 0
    rows[i] = { k, format.number(s.counts[k]), format.percent(s.shares[k]), ("█"):rep(math.floor(share / 4 + 0.5)) }
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
      if f then rows[#rows + 1] = { format.OVERVIEW_LABELS[k], format.number(f.total), format.change(f.change, f.total) } end
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
    ("Org `%s` · %d days · %s · %s"):format(report.org or "?", r.days, r.aggregation,
      r.mentor and ("mentor `" .. r.mentor .. "`") or "all mentors"),
  }
  if #report.errors > 0 then
    parts[#parts + 1] = ("> **%d of the report's calls failed**; the sections they feed say so below."):format(
      #report.errors)
  end
  if report.activity == false then
    parts[#parts + 1] = "**No activity in this range:** no new or returning users, no conversations."
  end
  parts[#parts + 1] = headline(report)
  parts[#parts + 1] = cohorts(report)
  parts[#parts + 1] = activity(report)
  parts[#parts + 1] = conversations(report)
  parts[#parts + 1] = topics(report)
  parts[#parts + 1] = sentiment(report)
  parts[#parts + 1] = overview(report)
  local notes = { "## Notes" }
  for _, n in ipairs(report.notes) do notes[#notes + 1] = "- " .. n end
  parts[#parts + 1] = table.concat(notes, "\n")
  return table.concat(parts, "\n\n") .. "\n"
end

return M
