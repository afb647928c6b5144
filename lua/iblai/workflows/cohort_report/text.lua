--- Cutting server text to a length on UTF-8 character boundaries, for messages and chart labels.
-- Works on any bytes: a byte that is not a continuation byte (0x80-0xBF) starts a character, so
-- even an invalid sequence is never cut before one of its continuation bytes.
-- @module iblai.workflows.cohort_report.text
local M = {}

-- Columns a character takes, from its first byte: two from U+1000 up (CJK, Hangul, emoji, ... and
-- some narrow scripts: a label is cut a little early there rather than too late).
local function columns(b)
  if b >= 0xE1 then return 2 end
  return 1
end

-- The prefix of s within `limit`, counting each character as measure(first byte); and whether
-- anything was cut.
local function prefix(s, limit, measure)
  local used = 0
  for i = 1, #s do
    local b = s:byte(i)
    if b < 0x80 or b > 0xBF then
      used = used + measure(b)
      if used > limit then return s:sub(1, i - 1), true end
    end
  end
  return s, false
end

--- Cuts s to at most n characters.
-- @param s string
-- @param n number of characters kept
-- @return the prefix, and true when something was cut
function M.cut(s, n)
  return prefix(s, n, function() return 1 end)
end

--- Fits s in `width` columns (a wide character takes two), ending in "…" when it was cut.
-- @param s string
-- @param width columns available
-- @return string
function M.fit(s, width)
  local head, cut = prefix(s, width, columns)
  if not cut then return s end
  return (prefix(head, width - 1, columns)) .. "…"
end

return M
