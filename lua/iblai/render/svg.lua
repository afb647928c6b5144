--- Small inline SVG charts for the HTML report: stacked bars, a line, horizontal bars and a
-- share bar. Each chart is one <svg> with role="img", a <title> and a <desc> that name it for
-- screen readers, axis labels, a legend, and a <title> on every bar or point (the tooltip).
-- Bars carry class="bar bar-<series>", so a check can count them. No script, no fonts, no files.
-- Any value can come in: what cannot be drawn (not a number, negative) is drawn as 0, and the
-- tooltips, written by the caller, tell the figure as it is.
local utf8text = require "iblai.workflows.cohort_report.text"

local M = {}

local FONT = 12
-- Columns of a horizontal bar's label: 19 of 7 px fit left of the bars.
local LABEL_COLUMNS = 19
-- The largest value drawn: a stack of a few can still be added up.
local TALLEST = 1e300

-- A value as a chart draws it.
local function drawable(v)
  if type(v) ~= "number" or v ~= v or v <= 0 then return 0 end
  return math.min(v, TALLEST)
end

-- Characters of a legend or label (bytes when it is not UTF-8).
local function width(s)
  return utf8.len(s) or #s
end

--- Escapes text for XML content and attribute values.
-- @param s any value (tostring'd)
-- @return string
function M.escape(s)
  return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
    ["'"] = "&#39;" }))
end
local esc = M.escape

local function num(x)
  if math.type(x) == "integer" then return tostring(x) end
  if x ~= x or x == math.huge or x == -math.huge then return "0" end
  local s = ("%.2f"):format(x):gsub("0+$", ""):gsub("%.$", "")
  return s == "-0" and "0" or s
end

--- Round axis steps (1, 2, 2.5 or 5 times a power of ten) so about `count` ticks span 0..max.
-- @param max the largest value
-- @param count wanted number of intervals
-- @param whole true when only whole numbers make sense (counts)
-- @return step, top (the axis maximum, a multiple of step)
function M.ticks(max, count, whole)
  if not max or max ~= max or max <= 0 then return 1, whole and 4 or 1 end
  max = math.min(max, TALLEST * 10)
  local raw = max / (count or 4)
  local mag = 10 ^ math.floor(math.log(raw, 10))
  local step
  for _, f in ipairs { 1, 2, 2.5, 5, 10 } do
    step = f * mag
    if step >= raw then break end
  end
  if whole then step = math.max(1, math.ceil(step)) end
  local top = math.max(math.ceil(max / step - 1e-9), 1) * step
  return step, top
end

local function tick_label(v)
  if math.abs(v) >= 1e15 then return ("%.3g"):format(v) end
  if v == math.floor(v) then
    local s = ("%d"):format(math.floor(v))
    return (s:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", ""))
  end
  return num(v)
end

-- Room left of a y axis for its longest tick label (wider for 1e+300 than for 40).
local function y_margin(step, top)
  local longest, v = 1, 0
  while v <= top + 1e-9 do
    longest = math.max(longest, #tick_label(v))
    v = v + step
  end
  return math.max(58, 30 + 7 * longest)
end

-- The opening of a chart: the element, its accessible name and description.
local function open(o, w, h)
  local id = esc(o.id)
  return {
    ('<svg class="chart" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="xMidYMid meet" role="img" '
      .. 'aria-labelledby="%s-title %s-desc" xmlns="http://www.w3.org/2000/svg" font-size="%d">'):format(w, h, id, id, FONT),
    ('<title id="%s-title">%s</title>'):format(id, esc(o.title)),
    ('<desc id="%s-desc">%s</desc>'):format(id, esc(o.desc or o.title)),
  }
end

-- A legend of swatches in one row starting at x, y.
local function legend(out, entries, x, y)
  for _, e in ipairs(entries) do
    out[#out + 1] = ('<rect class="swatch" x="%s" y="%s" width="12" height="12" rx="2" fill="%s"/>'):format(
      num(x), num(y - 10), e.color)
    out[#out + 1] = ('<text class="legend" x="%s" y="%s">%s</text>'):format(num(x + 17), num(y), esc(e.name))
    x = x + 17 + width(e.name) * 7 + 22
  end
end

-- Horizontal grid lines and y tick labels for 0..top.
local function y_axis(out, left, top_y, plot_w, plot_h, step, top, label)
  local v = 0
  while v <= top + 1e-9 do
    local y = top_y + plot_h - v / top * plot_h
    out[#out + 1] = ('<line class="grid" x1="%s" x2="%s" y1="%s" y2="%s" stroke="#e5e7eb"/>'):format(
      num(left), num(left + plot_w), num(y), num(y))
    out[#out + 1] = ('<text class="tick" x="%s" y="%s" text-anchor="end" fill="#6b7280">%s</text>'):format(
      num(left - 6), num(y + 4), tick_label(v))
    v = v + step
  end
  out[#out + 1] = ('<text class="axis-label" transform="translate(14 %s) rotate(-90)" text-anchor="middle" '
    .. 'fill="#374151">%s</text>'):format(num(top_y + plot_h / 2), esc(label))
end

-- X labels under some of n slots (at most `room` of them, evenly spaced, always the first).
local function x_labels(out, labels, xs, y, room)
  local n = #labels
  local every = math.max(1, math.ceil(n / room))
  for i = 1, n, every do
    out[#out + 1] = ('<text class="tick" x="%s" y="%s" text-anchor="middle" fill="#6b7280">%s</text>'):format(
      num(xs[i]), num(y), esc(labels[i]))
  end
end

local function empty_note(out, x, y, text)
  out[#out + 1] = ('<text class="empty" x="%s" y="%s" text-anchor="middle" fill="#6b7280" font-size="14">%s</text>')
    :format(num(x), num(y), esc(text))
end

--- Stacked vertical bars, one stack per category.
-- @param o table: id, title, desc, labels (one per category), series ({name, key, color, values}),
--   y_label, x_label, tip(i, series) -> tooltip text, empty (text shown when every value is 0),
--   width (760), height (300)
-- @return SVG text
function M.stacked_bars(o)
  local w, h = o.width or 760, o.height or 300
  local n = #o.labels
  local max = 0
  for i = 1, n do
    local s = 0
    for _, ser in ipairs(o.series) do s = s + drawable(ser.values[i]) end
    max = math.max(max, s)
  end
  local step, top = M.ticks(max, 4, true)
  local left, right, top_y, bottom = y_margin(step, top), 12, 34, 48
  local pw, ph = w - left - right, h - top_y - bottom
  local out = open(o, w, h)
  legend(out, o.series, left, 16)
  y_axis(out, left, top_y, pw, ph, step, top, o.y_label)
  local slot = pw / math.max(n, 1)
  -- Gaps while there is room for them; never bars so wide they read as blocks.
  local bw = slot > 6 and math.min(slot * 0.72, 90) or slot
  local xs = {}
  for i = 1, n do
    local x = left + (i - 1) * slot + (slot - bw) / 2
    xs[i] = x + bw / 2
    local base = top_y + ph
    for _, ser in ipairs(o.series) do
      local bh = drawable(ser.values[i]) / top * ph
      base = base - bh
      out[#out + 1] = ('<rect class="bar bar-%s" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>')
        :format(ser.key, num(x), num(base), num(bw), num(bh), ser.color, esc(o.tip(i, ser)))
    end
  end
  out[#out + 1] = ('<line class="axis" x1="%s" x2="%s" y1="%s" y2="%s" stroke="#9ca3af"/>'):format(
    num(left), num(left + pw), num(top_y + ph), num(top_y + ph))
  x_labels(out, o.labels, xs, top_y + ph + 16, math.floor(pw / 64))
  out[#out + 1] = ('<text class="axis-label" x="%s" y="%s" text-anchor="middle" fill="#374151">%s</text>'):format(
    num(left + pw / 2), num(h - 6), esc(o.x_label))
  if max == 0 and o.empty then empty_note(out, left + pw / 2, top_y + ph / 2, o.empty) end
  out[#out + 1] = "</svg>"
  return table.concat(out, "\n")
end

--- Stacked bars above and below a zero line, one stack of each per category (the lifecycle:
-- new, returning and resurrecting users above, dormant users below).
-- @param o table: id, title, desc, labels, up and down (lists of {name, key, color, values}),
--   y_label, x_label, tip(i, series) -> tooltip text, empty, width (760), height (300)
-- @return SVG text
function M.diverging_bars(o)
  local w, h = o.width or 760, o.height or 300
  local n = #o.labels
  local function stack_max(series)
    local max = 0
    for i = 1, n do
      local s = 0
      for _, ser in ipairs(series) do s = s + drawable(ser.values[i]) end
      max = math.max(max, s)
    end
    return max
  end
  local up_max, down_max = stack_max(o.up), stack_max(o.down)
  local step = M.ticks(math.max(up_max, down_max), 4, true)
  local up_top = math.max(1, math.ceil(up_max / step - 1e-9)) * step
  local down_top = math.ceil(down_max / step - 1e-9) * step
  local widest = math.max(#tick_label(up_top), #tick_label(down_top) + 1)
  local left, right, top_y, bottom = math.max(58, 30 + 7 * widest), 12, 34, 48
  local pw, ph = w - left - right, h - top_y - bottom
  local span = up_top + down_top
  local zero = top_y + up_top / span * ph
  local out = open(o, w, h)
  local entries = {}
  for _, ser in ipairs(o.up) do entries[#entries + 1] = ser end
  for _, ser in ipairs(o.down) do entries[#entries + 1] = ser end
  legend(out, entries, left, 16)
  local v = -down_top
  while v <= up_top + 1e-9 do
    local y = zero - v / span * ph
    out[#out + 1] = ('<line class="grid" x1="%s" x2="%s" y1="%s" y2="%s" stroke="#e5e7eb"/>'):format(
      num(left), num(left + pw), num(y), num(y))
    out[#out + 1] = ('<text class="tick" x="%s" y="%s" text-anchor="end" fill="#6b7280">%s</text>'):format(
      num(left - 6), num(y + 4), v < 0 and "−" .. tick_label(-v) or tick_label(v))
    v = v + step
  end
  out[#out + 1] = ('<text class="axis-label" transform="translate(14 %s) rotate(-90)" text-anchor="middle" '
    .. 'fill="#374151">%s</text>'):format(num(top_y + ph / 2), esc(o.y_label))
  local slot = pw / math.max(n, 1)
  local bw = slot > 6 and math.min(slot * 0.72, 90) or slot
  local xs = {}
  for i = 1, n do
    local x = left + (i - 1) * slot + (slot - bw) / 2
    xs[i] = x + bw / 2
    for _, side in ipairs { { o.up, -1 }, { o.down, 1 } } do
      local at = zero
      for _, ser in ipairs(side[1]) do
        local bh = drawable(ser.values[i]) / span * ph
        local y = side[2] < 0 and at - bh or at
        at = at + side[2] * bh
        out[#out + 1] = ('<rect class="bar bar-%s" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>')
          :format(ser.key, num(x), num(y), num(bw), num(bh), ser.color, esc(o.tip(i, ser)))
      end
    end
  end
  out[#out + 1] = ('<line class="axis" x1="%s" x2="%s" y1="%s" y2="%s" stroke="#374151"/>'):format(
    num(left), num(left + pw), num(zero), num(zero))
  x_labels(out, o.labels, xs, top_y + ph + 16, math.floor(pw / 64))
  out[#out + 1] = ('<text class="axis-label" x="%s" y="%s" text-anchor="middle" fill="#374151">%s</text>'):format(
    num(left + pw / 2), num(h - 6), esc(o.x_label))
  if up_max == 0 and down_max == 0 and o.empty then empty_note(out, left + pw / 2, top_y + ph / 2, o.empty) end
  out[#out + 1] = "</svg>"
  return table.concat(out, "\n")
end

--- A line over time, with its area shaded and a dashed line at the average.
-- @param o table: id, title, desc, labels, values, name (legend), color, y_label, x_label,
--   tip(i) -> tooltip text, average (drawn when given), empty, width (760), height (300)
-- @return SVG text
function M.line(o)
  local w, h = o.width or 760, o.height or 300
  local n = o.n or #o.values
  local values = {}
  for i = 1, n do values[i] = drawable(o.values[i]) end
  local max = 0
  for _, v in ipairs(values) do max = math.max(max, v) end
  local step, top = M.ticks(max, 4, true)
  local left, right, top_y, bottom = y_margin(step, top), 16, 34, 48
  local pw, ph = w - left - right, h - top_y - bottom
  local out = open(o, w, h)
  local entries = { { name = o.name, color = o.color } }
  if o.average then entries[2] = { name = "average " .. tick_label(drawable(o.average)), color = "#9ca3af" } end
  legend(out, entries, left, 16)
  y_axis(out, left, top_y, pw, ph, step, top, o.y_label)
  local xs, pts = {}, {}
  local base = top_y + ph
  for i, v in ipairs(values) do
    xs[i] = n == 1 and left + pw / 2 or left + (i - 1) * pw / (n - 1)
    pts[i] = num(xs[i]) .. "," .. num(base - v / top * ph)
  end
  if n > 0 then
    out[#out + 1] = ('<path class="area" d="M%s,%s L%s L%s,%s Z" fill="%s" fill-opacity="0.12"/>'):format(
      num(xs[1]), num(base), table.concat(pts, " L"), num(xs[n]), num(base), o.color)
    out[#out + 1] = ('<polyline class="line" points="%s" fill="none" stroke="%s" stroke-width="2.2" '
      .. 'stroke-linejoin="round" stroke-linecap="round"/>'):format(table.concat(pts, " "), o.color)
  end
  if drawable(o.average) > 0 then
    local y = base - drawable(o.average) / top * ph
    out[#out + 1] = ('<line class="average" x1="%s" x2="%s" y1="%s" y2="%s" stroke="#9ca3af" stroke-dasharray="5 4"/>')
      :format(num(left), num(left + pw), num(y), num(y))
  end
  -- A point per day while they stay apart; each carries its tooltip.
  local r = n <= 62 and 3 or (n <= 400 and 1.6 or 0)
  if r > 0 then
    for i, v in ipairs(values) do
      out[#out + 1] = ('<circle class="point" cx="%s" cy="%s" r="%s" fill="%s"><title>%s</title></circle>'):format(
        num(xs[i]), num(base - v / top * ph), num(r), o.color, esc(o.tip(i)))
    end
  end
  out[#out + 1] = ('<line class="axis" x1="%s" x2="%s" y1="%s" y2="%s" stroke="#9ca3af"/>'):format(
    num(left), num(left + pw), num(base), num(base))
  x_labels(out, o.labels, xs, base + 16, math.floor(pw / 72))
  out[#out + 1] = ('<text class="axis-label" x="%s" y="%s" text-anchor="middle" fill="#374151">%s</text>'):format(
    num(left + pw / 2), num(h - 6), esc(o.x_label))
  if max == 0 and o.empty then empty_note(out, left + pw / 2, top_y + ph / 2, o.empty) end
  out[#out + 1] = "</svg>"
  return table.concat(out, "\n")
end

--- Horizontal bars, one per item, largest first as given.
-- @param o table: id, title, desc, items ({label, value, tip}), name (legend), key, color,
--   x_label, empty, width (760)
-- @return SVG text
function M.hbars(o)
  local w = o.width or 760
  local n = #o.items
  local max, longest = 0, 1
  for _, it in ipairs(o.items) do
    max = math.max(max, drawable(it.value))
    longest = math.max(longest, width(it.value_label or tick_label(drawable(it.value))))
  end
  local left, right, top_y, row = 150, math.max(44, 12 + 7 * longest), 34, 26
  local h = top_y + math.max(n, 2) * row + 44
  local pw = w - left - right
  local step, top = M.ticks(max, 4, true)
  local out = open(o, w, h)
  legend(out, { { name = o.name, color = o.color } }, left, 16)
  local bottom = top_y + math.max(n, 2) * row
  local v = 0
  while v <= top + 1e-9 do
    local x = left + v / top * pw
    out[#out + 1] = ('<line class="grid" x1="%s" x2="%s" y1="%s" y2="%s" stroke="#e5e7eb"/>'):format(
      num(x), num(x), num(top_y), num(bottom))
    out[#out + 1] = ('<text class="tick" x="%s" y="%s" text-anchor="middle" fill="#6b7280">%s</text>'):format(
      num(x), num(bottom + 16), tick_label(v))
    v = v + step
  end
  for i, it in ipairs(o.items) do
    local y = top_y + (i - 1) * row + 4
    local bw = drawable(it.value) / top * pw
    local label = utf8text.fit(it.label, LABEL_COLUMNS)
    out[#out + 1] = ('<text class="category" x="%s" y="%s" text-anchor="end" fill="#111827">%s</text>'):format(
      num(left - 8), num(y + 13), esc(label))
    out[#out + 1] = ('<rect class="bar bar-%s" x="%s" y="%s" width="%s" height="%s" rx="3" fill="%s"><title>%s</title></rect>')
      :format(o.key, num(left), num(y), num(bw), num(row - 8), o.color, esc(it.tip))
    out[#out + 1] = ('<text class="value" x="%s" y="%s" fill="#374151">%s</text>'):format(
      num(left + bw + 5), num(y + 13), it.value_label or tick_label(drawable(it.value)))
  end
  out[#out + 1] = ('<text class="axis-label" x="%s" y="%s" text-anchor="middle" fill="#374151">%s</text>'):format(
    num(left + pw / 2), num(h - 6), esc(o.x_label))
  if n == 0 and o.empty then empty_note(out, left + pw / 2, top_y + row, o.empty) end
  out[#out + 1] = "</svg>"
  return table.concat(out, "\n")
end

--- Whole percentages of parts that add up to exactly 100 (largest remainder).
-- @param values list of numbers (not all zero)
-- @return list of integers
function M.percents(values)
  local total, out, rest, given = 0, {}, {}, 0
  for _, v in ipairs(values) do total = total + drawable(v) end
  for i, v in ipairs(values) do
    local exact = drawable(v) * 100 / total
    out[i] = math.floor(exact)
    rest[#rest + 1] = { i = i, r = exact - out[i] }
    given = given + out[i]
  end
  table.sort(rest, function(a, b) if a.r ~= b.r then return a.r > b.r end return a.i < b.i end)
  for k = 1, 100 - given do out[rest[k].i] = out[rest[k].i] + 1 end
  return out
end

--- One bar split into the shares of a whole (sentiment), with a 0-100% axis.
-- @param o table: id, title, desc, parts ({name, key, value, color, tip}), x_label, empty, width (760)
-- @return SVG text
function M.share_bar(o)
  local w, h = o.width or 760, 128
  local left, right, top_y, bh = 16, 16, 34, 34
  local pw = w - left - right
  local total = 0
  for _, p in ipairs(o.parts) do total = total + drawable(p.value) end
  local out = open(o, w, h)
  legend(out, o.parts, left, 16)
  local x = left
  local values = {}
  for i, p in ipairs(o.parts) do values[i] = drawable(p.value) end
  local pct = total > 0 and M.percents(values) or {}
  if total == 0 then
    out[#out + 1] = ('<rect class="track" x="%s" y="%s" width="%s" height="%s" rx="4" fill="#f3f4f6"/>'):format(
      num(left), num(top_y), num(pw), num(bh))
    if o.empty then empty_note(out, left + pw / 2, top_y + 22, o.empty) end
  end
  for i, p in ipairs(o.parts) do
    local pw_i = total > 0 and drawable(p.value) / total * pw or 0
    out[#out + 1] = ('<rect class="bar bar-%s" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>')
      :format(p.key, num(x), num(top_y), num(pw_i), num(bh), p.color, esc(p.tip))
    if pw_i >= 44 then
      out[#out + 1] = ('<text class="inside" x="%s" y="%s" text-anchor="middle" fill="#ffffff" font-weight="600">%s%%</text>')
        :format(num(x + pw_i / 2), num(top_y + 22), pct[i])
    end
    x = x + pw_i
  end
  for at = 0, 100, 25 do
    local tx = left + at / 100 * pw
    out[#out + 1] = ('<line class="grid" x1="%s" x2="%s" y1="%s" y2="%s" stroke="#d1d5db"/>'):format(
      num(tx), num(tx), num(top_y + bh), num(top_y + bh + 5))
    out[#out + 1] = ('<text class="tick" x="%s" y="%s" text-anchor="%s" fill="#6b7280">%d%%</text>'):format(
      num(tx), num(top_y + bh + 18), at == 0 and "start" or at == 100 and "end" or "middle", at)
  end
  out[#out + 1] = ('<text class="axis-label" x="%s" y="%s" text-anchor="middle" fill="#374151">%s</text>'):format(
    num(left + pw / 2), num(h - 8), esc(o.x_label))
  out[#out + 1] = "</svg>"
  return table.concat(out, "\n")
end

return M
