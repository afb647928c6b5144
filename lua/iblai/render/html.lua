--- The cohort report as one self-contained HTML page: inline CSS and inline SVG charts, no
-- script, no fonts or images to fetch. Laid out for a 1280x800 screen and for A4 paper.
local build = require "iblai.workflows.cohort_report.build"
local format = require "iblai.render.format"
local shape = require "iblai.workflows.cohort_report.shape"
local svg = require "iblai.render.svg"

local M = {}

local esc = svg.escape
local MINUS = "\u{2212}"

-- A figure as HTML: the number, and after a figure the API should not have sent (or one made
-- from such) the mark, which says so when hovered.
local function fig(obj, key, fmt)
  local text = (fmt or format.number)(obj and obj[key])
  if not shape.marked(obj, key) then return esc(text) end
  return esc(text) .. (' <span class="odd" title="%s">%s</span>'):format(esc(format.MARK_MEANS), format.MARK)
end

-- A figure as a tooltip says it: plain text, with what the mark means.
local function tip(obj, key, fmt)
  local text = format.figure(obj, key, fmt)
  return shape.marked(obj, key) and (text .. " (" .. format.MARK_MEANS .. ")") or text
end

--- Colours of the series, shared with the legend and the tables.
M.COLORS = {
  new = "#6366f1", returning = "#14b8a6", resurrecting = "#84cc16", dormant = "#fb7185", registered = "#64748b",
  active = "#f59e0b", topic = "#8b5cf6", conversations = "#0ea5e9",
  positive = "#16a34a", neutral = "#94a3b8", negative = "#dc2626", other = "#64748b",
}

local CSS = [[
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:#f3f4f6;color:#111827;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif;-webkit-print-color-adjust:exact;print-color-adjust:exact}
.report{max-width:1220px;margin:0 auto;padding:20px 24px 28px}
header{display:flex;justify-content:space-between;align-items:flex-end;gap:16px;margin-bottom:14px}
h1{font-size:24px;line-height:1.2;margin:0;letter-spacing:-.01em}
h2{font-size:15px;margin:0 0 2px}
.sub{margin:4px 0 0;color:#4b5563}
.stamp{color:#6b7280;font-size:12px;text-align:right}
.kpis{display:grid;grid-template-columns:repeat(5,1fr);gap:12px;margin-bottom:14px}
.kpi{background:#fff;border-radius:10px;padding:12px 14px;box-shadow:0 1px 2px rgba(0,0,0,.06);
border-top:4px solid var(--accent,#6366f1)}
.kpi .label{color:#4b5563;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.kpi .value{font-size:28px;font-weight:700;line-height:1.15;margin:2px 0;font-variant-numeric:tabular-nums}
.delta{font-size:12px;font-weight:600;display:inline-block;padding:1px 7px;border-radius:999px;
background:#f3f4f6;color:#4b5563}
.delta.up{background:#dcfce7;color:#166534}.delta.down{background:#fee2e2;color:#991b1b}
.kpi .vs{color:#6b7280;font-size:11px;margin-left:4px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:14px}
.card{background:#fff;border-radius:10px;padding:14px 16px;box-shadow:0 1px 2px rgba(0,0,0,.06);margin:0;
break-inside:avoid}
.card p.lead{margin:0 0 6px;color:#4b5563;font-size:13px}
.wide{grid-column:1/-1}
.chart{display:block;height:auto}
.chart text{font-family:inherit}
.failed{color:#991b1b;background:#fef2f2;border-radius:8px;padding:10px 12px;margin:6px 0 0;font-size:13px}
.alert{background:#fef2f2;border:1px solid #fecaca;color:#7f1d1d;border-radius:10px;padding:10px 16px;
margin-bottom:14px}
.alert h2{color:#991b1b}.alert ul{margin:4px 0 0;padding-left:18px;font-size:13px}
.odd{color:#b45309;font-weight:700}
.quiet{background:#eff6ff;border:1px solid #bfdbfe;color:#1e3a8a;border-radius:10px;padding:10px 16px;
margin-bottom:14px;font-weight:600}
table{border-collapse:collapse;width:100%;font-size:13px;font-variant-numeric:tabular-nums}
th,td{padding:5px 8px;border-bottom:1px solid #e5e7eb;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
thead th{color:#4b5563;font-weight:600;background:#f9fafb;position:sticky;top:0}
tfoot td{font-weight:700;border-top:2px solid #d1d5db;border-bottom:0}
.dot{display:inline-block;width:9px;height:9px;border-radius:2px;margin-right:6px;vertical-align:baseline}
.scroll{max-height:340px;overflow:auto}
.wide-table{overflow-x:auto}
table.heatmap td.cell{text-align:center;min-width:40px;line-height:1.15}
table.heatmap td.empty{color:#9ca3af}
table.heatmap td.cell small{display:block;font-size:10px;opacity:.85}
table.heatmap th{text-align:center}
.tables{margin-top:14px}
footer{margin-top:14px;color:#6b7280;font-size:12px}
footer ul{margin:4px 0 0;padding-left:18px}
@media screen and (max-width:900px){.kpis{grid-template-columns:repeat(2,1fr)}.grid{grid-template-columns:1fr}}
@page{size:A4;margin:11mm}
@media print{
body{background:#fff;font-size:10.5px}
.report{max-width:none;padding:0}
h1{font-size:19px}
.kpis{gap:6px}.kpi{padding:7px 9px;box-shadow:none;border:1px solid #e5e7eb;border-top-width:4px}
.kpi .value{font-size:19px}.kpi .vs{display:block;margin:2px 0 0}
.grid{gap:8px}
.card{box-shadow:none;border:1px solid #e5e7eb;padding:8px 10px}

.scroll{max-height:none;overflow:visible}
table{font-size:10px}th,td{padding:2px 5px}
thead th{position:static}
}
]]

local function change_pill(report, key)
  local c = report.change and report.change[key]
  local now = report.totals[key]
  if next(report.previous or {}) == nil then return "" end
  local cls = c == nil and "" or c > 0 and " up" or c < 0 and " down" or ""
  local arrow = c == nil and "" or c > 0 and "▲ " or c < 0 and "▼ " or ""
  return ('<span class="delta%s">%s%s</span><span class="vs">vs previous %d days</span>'):format(
    cls, arrow, fig(report.change, key, function(v) return format.change(v, now, MINUS) end), report.range.days)
end

local function kpis(report)
  local t = report.totals
  local cards = {
    { "Active users", "active_users", M.COLORS.active },
    { "New users", "new_users", M.COLORS.new },
    { "Returning users", "returning_users", M.COLORS.returning },
    { "Registered", "registered", M.COLORS.registered },
    { "Avg daily active users", "avg_daily_active_users", M.COLORS.conversations },
  }
  local out = { '<section class="kpis" aria-label="Totals for the range">' }
  for _, c in ipairs(cards) do
    out[#out + 1] = ('<div class="kpi" style="--accent:%s"><div class="label">%s</div><div class="value">%s</div>%s</div>')
      :format(c[3], c[1], fig(t, c[2]), change_pill(report, c[2]))
  end
  out[#out + 1] = "</section>"
  return table.concat(out, "\n")
end

-- Sections whose calls failed show this instead of their chart.
local function failed_note(report, section)
  local status = report.sections[section]
  if status == "ok" or status == nil or status == "omitted" then return "" end
  local calls = {}
  for _, s in ipairs(build.SECTIONS) do
    if s.name == section then for _, c in ipairs(s.calls) do calls[c] = true end end
  end
  local lines = {}
  for _, e in ipairs(report.errors) do
    if calls[e.call] and e.kind == "failed" then lines[#lines + 1] = esc(e.message) end
  end
  return ('<p class="failed"><b>%s:</b> %s</p>'):format(status == "failed" and "Unavailable" or "Partly unavailable",
    table.concat(lines, "<br>"))
end

local function card(class, title, lead, body)
  return ('<figure class="card%s"><figcaption><h2>%s</h2><p class="lead">%s</p></figcaption>\n%s\n</figure>'):format(
    class, esc(title), esc(lead), body)
end

local function lifecycle_chart(report)
  local agg, unit = report.range.aggregation, format.unit(report.range.aggregation)
  local labels, series = {}, {}
  local names = { new_users = "New", returning_users = "Returning", resurrecting_users = "Resurrecting",
    dormant_users = "Dormant" }
  for _, k in ipairs { "new_users", "returning_users", "resurrecting_users", "dormant_users" } do
    local key = k:match("^(%a+)_")
    series[k] = { name = names[k], key = key, color = M.COLORS[key], values = {}, field = k }
  end
  for i, p in ipairs(report.periods) do
    labels[i] = format.short(p.start, agg)
    for k, ser in pairs(series) do ser.values[i] = p[k] end
  end
  local whole = report.sections.lifecycle == "ok"
  local lead = report.sections.activity == "failed" and "" or format.people_line(report.totals, agg)
  local chart = ""
  if whole then -- without the listing or the transcripts, who is new or returning is not known
    chart = svg.diverging_bars {
      id = "lifecycle", title = "Lifecycle of users per " .. unit,
      desc = ("Stacked bars, one per %s: new, returning and resurrecting users above zero, dormant users below. %s")
        :format(unit, lead),
      labels = labels,
      up = { series.new_users, series.returning_users, series.resurrecting_users },
      down = { series.dormant_users },
      y_label = "users", x_label = format.axis(agg), width = 960, height = 260,
      tip = function(i, ser)
        return ("%s: %s %s"):format(format.period(report.periods[i], agg), tip(report.periods[i], ser.field),
          ser.name:lower())
      end,
      empty = "No users in this range",
    }
  end
  return card(" wide", "People per " .. unit, lead, chart .. failed_note(report, "lifecycle"))
end

--- The most periods the retention heatmap shows (JSON and CSV carry every one).
M.RETENTION_COLUMNS = 60

-- The retention triangle as a table: a row per registration cohort, a column per period after,
-- each cell the number of users shaded by their share of the cohort.
local function retention_heatmap(report)
  local agg, unit = report.range.aggregation, format.unit(report.range.aggregation)
  local tri = report.retention
  local lead, body = "", ""
  if tri and #tri > M.RETENTION_COLUMNS then
    lead = ("The triangle of %d %ss is too wide to read here: the JSON and CSV formats carry it, and a coarser "
      .. "aggregation shortens it."):format(#tri, unit)
  elseif tri then
    lead = ("Each row is the users who registered in one %s; a cell counts those active in that %s (%s 0) and in "
      .. "each %s after, shaded by their share of the row."):format(unit, unit, unit, unit)
    local out = { '<div class="wide-table"><table class="heatmap"><thead><tr><th>Registered in</th><th>Users</th>' }
    for j = 0, #tri - 1 do out[#out + 1] = ("<th>%s %d</th>"):format(esc(unit), j) end
    out[#out + 1] = "</tr></thead><tbody>"
    for i, r in ipairs(tri) do
      local cells = { ('<tr><td title="%s">%s</td><td>%s</td>'):format(esc(format.period(report.periods[i], agg)),
        esc(format.short(report.periods[i].start, agg)), esc(format.number(r.size))) }
      for j = 1, #tri do
        local n = r.active[j]
        if n == nil then
          cells[#cells + 1] = '<td class="none"></td>'
        elseif r.size == 0 then
          cells[#cells + 1] = '<td class="cell empty">–</td>'
        else
          local share = r.size > 0 and n / r.size or 0
          local later = report.periods[i + j - 1]
          cells[#cells + 1] = ('<td class="cell" style="background:rgba(99,102,241,%.2f);color:%s" title="%s">%s<small>%s'
            .. '</small></td>'):format(0.06 + 0.84 * share, share > 0.5 and "#fff" or "#111827",
            esc(("%s of the %s users who registered in %s were active in %s"):format(format.number(n),
              format.number(r.size), format.period(report.periods[i], agg), later and format.period(later, agg) or "?")),
            esc(format.number(n)), r.size > 0 and esc(format.percent(share * 100)) or "")
        end
      end
      cells[#cells + 1] = "</tr>"
      out[#out + 1] = table.concat(cells)
    end
    out[#out + 1] = "</tbody></table></div>"
    body = table.concat(out, "\n")
  elseif report.sections.retention == "omitted" then
    lead = ("No retention triangle for %d periods: a coarser aggregation gives one."):format(#report.periods)
  end
  return card(" wide", "Retention", lead, body .. failed_note(report, "retention"))
end

local function activity_chart(report)
  local labels, values = {}, {}
  for i, d in ipairs(report.daily_active_users) do
    labels[i] = format.short(d.date, "daily")
    values[i] = d.users
  end
  local t = report.totals
  local failed = report.sections.activity == "failed"
  local lead = failed and "" or (t.peak_day and ("Peak of %s on %s; %s a day on average."):format(
    format.figure(t, "peak_daily_active_users"), t.peak_day, (format.figure(t, "avg_daily_active_users")))
    or shape.marked(t, "avg_daily_active_users") and ("%s a day on average."):format(
      (format.figure(t, "avg_daily_active_users")))
    or "Nobody was active in this range.")
  local chart = failed and "" or svg.line {
    id = "dau", title = "Daily active users", desc = "A line of the users active each day. " .. lead,
    labels = labels, values = values, n = #report.daily_active_users, name = "Active users", color = M.COLORS.active,
    average = t.avg_daily_active_users, y_label = "users", x_label = "day", width = 440, height = 250,
    tip = function(i)
      return ("%s: %s active"):format(report.daily_active_users[i].date, tip(report.daily_active_users[i], "users"))
    end,
    empty = "No activity in this range",
  }
  return card("", "Daily active users", lead, chart .. failed_note(report, "activity"))
end

local function conversations_chart(report)
  local agg, unit = report.range.aggregation, format.unit(report.range.aggregation)
  local labels, values = {}, {}
  for i, p in ipairs(report.periods) do
    labels[i] = format.short(p.start, agg)
    values[i] = p.conversations
  end
  local t = report.totals
  local failed = report.sections.conversations == "failed"
  local lead = failed and "" or ("%s conversations; %s messages per session on average."):format(
    format.figure(t, "conversations"), (format.figure(t, "avg_messages")))
  local chart = (failed or not t.conversations) and "" or svg.stacked_bars {
    id = "conversations", title = "Conversations per " .. unit, desc = "Bars of conversations per " .. unit .. ". " .. lead,
    labels = labels, series = { { name = "Conversations", key = "conversations", color = M.COLORS.conversations,
      values = values } },
    y_label = "conversations", x_label = format.axis(report.range.aggregation), width = 440, height = 250,
    tip = function(i)
      local p = report.periods[i]
      return ("%s: %s conversations, %s messages per session"):format(format.period(p, agg),
        tip(p, "conversations"), tip(p, "avg_messages"))
    end,
    empty = "No conversations in this range",
  }
  return card("", "Conversations", lead, chart .. failed_note(report, "conversations"))
end

local TOP = 10

local function topics_chart(report)
  local items = {}
  for i = 1, math.min(TOP, #report.topics) do
    local tp = report.topics[i]
    items[i] = { label = tp.name, value = tp.conversations, value_label = (format.figure(tp, "conversations")),
      tip = ("%s: %s conversations (%s)"):format(tp.name, tip(tp, "conversations"), tip(tp, "share", format.percent)) }
  end
  local failed = report.sections.topics == "failed"
  local lead = failed and "" or (#report.topics == 0 and "No topics were discussed in this range."
    or ("%d topics; the top one, %s, had %s of conversations."):format(#report.topics, report.topics[1].name,
      (format.figure(report.topics[1], "share", format.percent))))
  local chart = failed and "" or svg.hbars {
    id = "topics", title = "Most discussed topics", desc = "Horizontal bars of conversations per topic. " .. lead,
    items = items, name = "Conversations", key = "topic", color = M.COLORS.topic, x_label = "conversations",
    width = 440,
    empty = "No topics in this range",
  }
  return card("", "Top topics", lead, chart .. failed_note(report, "topics"))
end

local function sentiment_parts(s)
  local parts = {}
  for _, name in ipairs(s.names) do
    local key = name:lower():gsub("[^%w]+", "-")
    parts[#parts + 1] = { name = name:sub(1, 1):upper() .. name:sub(2), key = key,
      value = s.counts[name], color = rawget(M.COLORS, name) or M.COLORS.other,
      tip = ("%s: %s conversations (%s)"):format(name, tip(s, "count:" .. name, function() return format.number(s.counts[name]) end),
        tip(s, "share:" .. name, function() return format.percent(s.shares[name]) end)) }
  end
  return parts
end

local function overview_table(report)
  local ov = report.overview
  if not ov then return failed_note(report, "overview") end
  local rows = { '<table><thead><tr><th>Org overview (the API\'s month over month)</th><th>Total</th><th>Change</th></tr></thead><tbody>' }
  for _, k in ipairs(shape.OVERVIEW) do
    local f = ov[k]
    if f then
      rows[#rows + 1] = ("<tr><td>%s</td><td>%s</td><td>%s</td></tr>"):format(esc(format.OVERVIEW_LABELS[k]),
        fig(f, "total"), fig(f, "change", function(c) return format.change(c, f.total, MINUS) end))
    end
  end
  rows[#rows + 1] = "</tbody></table>"
  return table.concat(rows, "\n") .. failed_note(report, "overview")
end

local function sentiment_chart(report)
  local s = report.sentiment
  local failed = report.sections.sentiment == "failed"
  local lead, chart = "", ""
  if s then
    local best = s.names[1]
    lead = (s.total == 0 and not shape.marked(s, "total")) and "No sentiment was recorded in this range." or
      best and ("%s conversations rated; %s were %s."):format(format.figure(s, "total"),
        (format.figure(s, "share:" .. best, function() return format.percent(s.shares[best]) end)), best)
      or ("%s conversations rated."):format((format.figure(s, "total")))
    chart = svg.share_bar {
      id = "sentiment", title = "Sentiment of conversations",
      desc = "One bar split into the share of each sentiment. " .. lead,
      parts = sentiment_parts(s), x_label = "share of conversations", empty = "No sentiment recorded", width = 440,
    }
  end
  local body = (failed and "" or chart) .. failed_note(report, "sentiment")
  return card("", "Sentiment", lead, body .. '\n<div class="tables">' .. overview_table(report) .. "</div>")
end

local function cell(obj, key, fmt)
  return "<td>" .. fig(obj, key, fmt) .. "</td>"
end

local function periods_table(report)
  local agg = report.range.aggregation
  local out = { ('<section class="card wide tables"><h2>Per %s</h2><div class="scroll"><table><thead><tr>'):format(
    format.unit(agg)) }
  local function dot(key, name)
    return ('<th><span class="dot" style="background:%s"></span>%s</th>'):format(M.COLORS[key], name)
  end
  out[#out + 1] = "<th>Period</th><th>Active</th>" .. dot("new", "New") .. dot("returning", "Returning")
    .. dot("resurrecting", "Resurrecting") .. dot("dormant", "Dormant") .. "<th>Registered</th><th>Conversations</th>"
    .. "<th>Sessions</th><th>Messages / session</th><th>Daily active (avg)</th></tr></thead><tbody>"
  local keys = { "active_users", "new_users", "returning_users", "resurrecting_users", "dormant_users", "registered",
    "conversations", "sessions", "avg_messages", "avg_daily_active_users" }
  for _, p in ipairs(report.periods) do
    local cells = { "<tr><td>" .. esc(format.period(p, agg)) .. "</td>" }
    for _, k in ipairs(keys) do cells[#cells + 1] = cell(p, k) end
    out[#out + 1] = table.concat(cells) .. "</tr>"
  end
  local t = report.totals
  out[#out + 1] = "</tbody><tfoot><tr><td>Range</td>" .. cell(t, "active_users") .. cell(t, "new_users")
    .. cell(t, "returning_users") .. "<td></td><td></td>" .. cell(t, "registered") .. cell(t, "conversations")
    .. cell(t, "sessions") .. cell(t, "avg_messages") .. cell(t, "avg_daily_active_users") .. "</tr></tfoot></table></div>"
  out[#out + 1] = failed_note(report, "registrations") .. "</section>"
  return table.concat(out, "\n")
end

local function header(report)
  local r = report.range
  local who = r.mentor and ("mentor " .. r.mentor) or "all mentors"
  return ('<header><div><h1>Engagement report</h1><p class="sub">Org <b>%s</b> · %s to %s (%d days) · %s · %s</p>'
    .. '</div><div class="stamp">%s active users · %s messages<br>from the ibl.ai analytics API</div></header>'):format(
    esc(report.org or "?"), esc(r.start), esc(r["end"]), r.days, esc(r.aggregation), esc(who),
    fig(report.totals, "active_users"), fig(report.totals, "messages"))
end

local function alerts(report)
  local out = {}
  local groups = {
    { kind = "failed", title = "Some figures could not be fetched" },
    { kind = "figures", title = ("Figures the API should not send, shown as sent and marked %s"):format(format.MARK) },
    { kind = "records", title = "Records the report cannot place, left out or counted as the notes say" },
  }
  for _, g in ipairs(groups) do
    local items = {}
    for _, e in ipairs(report.errors) do
      if e.kind == g.kind then items[#items + 1] = ("<li>%s</li>"):format(esc(e.message)) end
    end
    if #items > 0 then
      out[#out + 1] = ('<section class="alert" role="alert"><h2>%s</h2><ul>'):format(esc(g.title))
        .. table.concat(items, "\n") .. "</ul></section>"
    end
  end
  if report.activity == false then
    out[#out + 1] = '<p class="quiet">No activity in this range: nobody registered or had a conversation.</p>'
  end
  return table.concat(out, "\n")
end

--- Renders the report as a complete HTML document.
-- @param report the table cohort_report.run returns
-- @return string (UTF-8 HTML)
function M.render(report)
  local r = report.range
  local notes = {}
  for _, n in ipairs(report.notes) do notes[#notes + 1] = "<li>" .. esc(n) .. "</li>" end
  return table.concat({
    "<!DOCTYPE html>",
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    ("<title>Engagement report · %s · %s to %s</title>"):format(esc(report.org or "?"), esc(r.start), esc(r["end"])),
    "<style>" .. CSS .. "</style></head><body><main class=\"report\">",
    header(report), alerts(report), kpis(report),
    '<div class="grid">', lifecycle_chart(report), activity_chart(report), conversations_chart(report),
    topics_chart(report), sentiment_chart(report), retention_heatmap(report),
    "</div>", periods_table(report),
    "<footer><ul>" .. table.concat(notes) .. "</ul></footer>",
    "</main></body></html>", "",
  }, "\n")
end

return M
