--- Durable --data FILE: what the org's seed cannot make again (the changed stores, id counters,
-- tasks) as a JSON snapshot in FILE (replaced atomically: temp file, fsync, rename), plus
-- FILE.journal, one JSON line per changing request since that snapshot. A request is written to
-- the journal and synced to disk before it is applied, and replayed at start: a change that
-- cannot be written is refused and not applied, so whatever was answered survives a crash.
local httpd = require "iblai.httpd"
local json = require "iblai.sandbox.json"

local M = {}
M.__index = M

M.COMPACT_EVERY = 10000 -- journal lines before the state is rewritten as one snapshot

--- Checks where FILE goes; returns a store, or nil and a message (a usage error: exit 2).
function M.open(path)
  local dir = path:match("^(.*)/[^/]*$") or "."
  if dir == "" then dir = "/" end
  if httpd.file_kind(dir) ~= "directory" then
    return nil, ("--data %s: the directory %s does not exist"):format(path, dir)
  end
  local kind = httpd.file_kind(path)
  if kind and kind ~= "file" then return nil, ("--data %s: not a regular file"):format(path) end
  return setmetatable({ path = path, journal = path .. ".journal", seq = 0, saved = 0 }, M)
end

--- Takes FILE.lock for this process; nil and a message when another sandbox uses FILE.
function M:lock()
  local ok, err = httpd.lock_file(self.path .. ".lock")
  if not ok then return nil, ("--data %s is in use by another sandbox (%s)"):format(self.path, err) end
  return true
end

--- The saved state, nil when there is none yet, or nil and a message when FILE is not ours.
function M:load()
  local f, err = io.open(self.path, "rb")
  if not f then
    if httpd.file_kind(self.path) then return nil, "cannot read --data " .. err end -- never start over it
    return nil
  end
  local text = f:read("a")
  f:close()
  local state
  state, err = json.decode_state(text)
  if type(state) ~= "table" or (type(state.users) ~= "table" and type(state.generated) ~= "table") then
    return nil, ("--data %s is not sandbox data (%s); move it away or name another file"):format(
      self.path, err or "no users")
  end
  self.seq = math.tointeger(state.journal_seq) or 0
  self.saved = self.seq
  state.journal_seq = nil
  return state
end

--- The journal's requests newer than the snapshot, oldest first. Only whole lines count: a line
-- torn by a crash mid-write is a request that was never applied nor answered.
function M:pending()
  local f = io.open(self.journal, "rb")
  if not f then return {} end
  local text = f:read("a")
  f:close()
  local list = {}
  for line in text:gmatch("([^\n]*)\n") do
    local entry = json.decode_state(line)
    local seq = type(entry) == "table" and math.tointeger(entry.seq)
    if seq and seq > self.seq then
      list[#list + 1] = entry
      self.seq = seq
    end
  end
  return list
end

--- Writes `state` as the new snapshot; the journal before it is then obsolete. Returns true, or
-- nil, a message and "full" (no space, a size limit) or "failed".
function M:snapshot(state)
  state.journal_seq = self.seq
  local text, err = json.encode_state(state)
  state.journal_seq = nil
  if not text then return nil, err, "failed" end
  local ok, kind
  ok, err, kind = httpd.write_file(self.path, text)
  if not ok then return nil, err, kind end
  os.remove(self.journal) -- every line in it is now in the snapshot (and would be skipped anyway)
  self.saved, self.broken = self.seq, false
  return true
end

--- Makes a changing request durable before it is applied: a journal line synced to disk. After a
-- failed write the journal may end in a line of a refused request, so a snapshot (which numbers
-- past it) must be written first. `state` gives what a snapshot saves. Returns true, or nil, a
-- message and "full" or "failed".
function M:record(req, state)
  if self.broken then
    local ok, err, kind = self:snapshot(state())
    if not ok then return nil, err, kind end
  end
  self.seq = self.seq + 1 -- numbered even when the write fails: a number is never used twice
  local line = json.encode_state { seq = self.seq, method = req.method, path = req.path, query = req.query,
    body = req.body }
  local ok, err, kind = httpd.append_file(self.journal, line .. "\n")
  if not ok then
    self.broken = true
    return nil, err, kind
  end
  if self.seq - self.saved >= M.COMPACT_EVERY and not self:snapshot(state()) then
    self.saved = self.seq -- the journal still holds every change; try compacting later
  end
  return true
end

return M
