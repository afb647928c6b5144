--- A seeded generator (splitmix64) so the sandbox's data depends on its seed alone. Its state is
-- a counter, so a position in the stream can be saved (`state`) and the stream resumed there.
local M = {}
M.__index = M

local GAMMA = 0x9E3779B97F4A7C15
M.UUID_DRAWS = 33 -- what uuid() consumes: 32 hex digits and the variant

function M.new(seed)
  return setmetatable({ state = math.tointeger(seed) or 1 }, M)
end

function M:next()
  self.state = self.state + GAMMA
  local z = self.state
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return z ~ (z >> 31)
end

--- Moves past n draws without making them.
function M:skip(n)
  self.state = self.state + n * GAMMA
end

--- A float in [0, 1).
function M:float()
  local z = self.state + GAMMA -- next(), written out: most of the sandbox's start is spent here
  self.state = z
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return ((z ~ (z >> 31)) >> 11) / 9007199254740992.0
end

local float, floor = M.float, math.floor

--- An integer in [lo, hi].
function M:int(lo, hi)
  return lo + floor(float(self) * (hi - lo + 1))
end

function M:pick(list)
  return list[1 + floor(float(self) * #list)]
end

local HEX = {}
for i = 0, 15 do HEX[i] = ("%x"):format(i) end
local VARIANT = { [0] = "8", "9", "a", "b" }
local concat = table.concat

-- The text of a uuid, written into one table reused by every call (uuid() never yields), so
-- making hundreds of thousands leaves only the strings behind.
local TEXT = {}
for i = 1, 36 do TEXT[i] = "-" end
TEXT[15] = "4"
local DIGIT_AT = {} -- hex digit number -> its place in the text (13 and 17 give way)
for d = 1, 32 do
  local at = d + (d > 8 and 1 or 0) + (d > 12 and 1 or 0) + (d > 16 and 1 or 0) + (d > 20 and 1 or 0)
  if d ~= 13 and d ~= 17 then DIGIT_AT[d] = at end
end

--- A version-4 UUID: 32 hex digits (each the top 4 bits of a draw, as int(0, 15) gives), of
-- which the 13th and 17th give way to the version "4" and a variant drawn last.
function M:uuid()
  local s, text, at = self.state, TEXT, DIGIT_AT
  for d = 1, 33 do
    s = s + GAMMA
    local z = s
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    z = (z ~ (z >> 31)) >> 60
    if d == 33 then
      text[20] = VARIANT[z >> 2]
    elseif at[d] then
      text[at[d]] = HEX[z]
    end
  end
  self.state = s
  return concat(text)
end

return M
