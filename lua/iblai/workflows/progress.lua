--- A progress line on stderr: a bar redrawn in place on a terminal, plain lines now and then
-- otherwise (a log file or a pipe gets no carriage returns).
-- @module iblai.workflows.progress
local core = require "iblai.core"

local M = {}

local Progress = {}
Progress.__index = Progress

local REDRAW_EVERY = 0.1 -- seconds between redraws on a terminal
local LINE_EVERY = 5     -- seconds between plain lines

--- Whether a file descriptor (0 stdin, 1 stdout, 2 stderr) is a terminal.
-- @param fd integer
-- @return boolean
function M.isatty(fd)
  return core.isatty(fd)
end

--- A duration as 42s, 3m05s or 1h02m.
-- @param s number of seconds
-- @return string ("?" when unknown)
function M.duration(s)
  if s ~= s or s == math.huge then return "?" end
  s = math.floor(s + 0.5)
  if s < 60 then return s .. "s" end
  if s < 3600 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return ("%dh%02dm"):format(s // 3600, s % 3600 // 60)
end

--- Creates a progress display.
-- @param opts table: label (string), total (number of users), tty (boolean: redraw in place),
--   out (a file, default io.stderr), clock (function returning seconds)
-- @return the display: update(done, detail) and finish()
function M.new(opts)
  local clock = opts.clock or core.now
  local self = setmetatable({
    label = opts.label, total = opts.total, tty = opts.tty, out = opts.out or io.stderr, clock = clock,
    started = clock(), shown = nil, done = 0, detail = "", drawn = false,
  }, Progress)
  return self
end

--- The text of the line: done/total users, the detail, the rate and the time left.
-- @return string
function Progress:text()
  local elapsed = math.max(self.clock() - self.started, 1e-3)
  local rate = self.done / elapsed
  local left = rate > 0 and (self.total - self.done) / rate or math.huge
  local head = ("%s %d/%d users"):format(self.label, self.done, self.total)
  if self.tty then
    local width = 20
    local filled = self.total > 0 and math.floor(width * self.done / self.total) or width
    head = ("%s [%s%s] %d/%d users"):format(self.label, ("#"):rep(filled), ("."):rep(width - filled), self.done,
      self.total)
  end
  local detail = self.detail ~= "" and (", " .. self.detail) or ""
  if elapsed < 1 then return head .. detail end -- too early for a rate that means anything
  return ("%s%s, %.1f users/s, ETA %s"):format(head, detail, rate, self.done >= self.total and "0s" or M.duration(left))
end

--- Records progress and shows it when it is time to.
-- @param done integer users finished so far
-- @param detail string e.g. "123 items deleted"
function Progress:update(done, detail)
  self.done, self.detail = done, detail or self.detail
  local now = self.clock()
  -- a terminal sees the bar at once; a log gets its first line after LINE_EVERY seconds
  if now - (self.shown or (self.tty and -math.huge or self.started)) < (self.tty and REDRAW_EVERY or LINE_EVERY) then
    return
  end
  self.shown = now
  self:draw()
end

--- Writes the line now: in place on a terminal, as a line of its own otherwise.
-- @local
function Progress:draw()
  if self.tty then
    self.out:write("\r\27[K", self:text())
    self.drawn = true
  else
    self.out:write(self:text(), "\n")
  end
  self.out:flush()
end

--- Shows the final state and ends the line.
function Progress:finish()
  self:draw()
  if self.tty then self.out:write("\n") end
  self.out:flush()
end

return M
