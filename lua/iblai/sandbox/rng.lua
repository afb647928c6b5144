--- A seeded generator (splitmix64) so the sandbox's data depends on its seed alone.
local M = {}
M.__index = M

function M.new(seed)
  return setmetatable({ state = math.tointeger(seed) or 1 }, M)
end

function M:next()
  self.state = self.state + 0x9E3779B97F4A7C15
  local z = self.state
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return z ~ (z >> 31)
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

function M:uuid()
  local hex = {}
  for i = 1, 32 do hex[i] = ("%x"):format(self:int(0, 15)) end
  local s = table.concat(hex)
  local variant = ("89ab"):sub(self:int(1, 4), nil)
  return ("%s-%s-4%s-%s%s-%s"):format(s:sub(1, 8), s:sub(9, 12), s:sub(14, 16), variant:sub(1, 1), s:sub(18, 20),
    s:sub(21, 32))
end

return M
