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
  return (self:next() >> 11) / 9007199254740992.0
end

--- An integer in [lo, hi].
function M:int(lo, hi)
  return lo + math.floor(self:float() * (hi - lo + 1))
end

function M:pick(list)
  return list[self:int(1, #list)]
end

local HEX = {}
for i = 0, 15 do HEX[i] = ("%x"):format(i) end
local VARIANT = { [0] = "8", "9", "a", "b" }
local concat = table.concat

--- A version-4 UUID: 32 hex digits (each the top 4 bits of a draw, as int(0, 15) gives), of
-- which the 13th and 17th give way to the version "4" and a variant drawn last.
function M:uuid()
  local s, h = self.state, {}
  for i = 1, 33 do
    s = s + GAMMA
    local z = s
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    h[i] = (z ~ (z >> 31)) >> 60
  end
  self.state = s
  local x = HEX
  return concat { x[h[1]], x[h[2]], x[h[3]], x[h[4]], x[h[5]], x[h[6]], x[h[7]], x[h[8]], "-",
    x[h[9]], x[h[10]], x[h[11]], x[h[12]], "-4", x[h[14]], x[h[15]], x[h[16]], "-",
    VARIANT[h[33] >> 2], x[h[18]], x[h[19]], x[h[20]], "-", x[h[21]], x[h[22]], x[h[23]], x[h[24]],
    x[h[25]], x[h[26]], x[h[27]], x[h[28]], x[h[29]], x[h[30]], x[h[31]], x[h[32]] }
end

return M
