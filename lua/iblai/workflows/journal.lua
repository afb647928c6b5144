--- An append-only journal of finished work, so a killed run can be rerun and finish the rest.
-- The first line names the kind of run and where it ran (never the key); each further line is one
-- JSON entry, flushed as it is written. A torn line (a run killed mid-write) is ignored. The file
-- is only ever appended to, and locked while a run has it open: a second run on it is refused.
-- @module iblai.workflows.journal
local core = require "iblai.core"
local json = require "iblai.json"

local M = {}

local Journal = {}
Journal.__index = Journal

-- A journal's text, or nil when there is no such file. A file that does not start like one
-- (a device such as /dev/zero, a binary file) is read no further: its first bytes are enough.
-- NUL bytes later on are what a crash of the machine can leave at the end: torn lines.
local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local head = f:read(4096)
  if head == nil or (head:sub(1, 2) ~= '{"' and head ~= "") then
    f:close()
    return head or ""
  end
  local rest = f:read("a")
  f:close()
  return head .. (rest or "")
end

-- Why the first line of an existing journal does not fit this run, or nil when it does.
local function header_mismatch(path, found, header)
  if type(found) ~= "table" or found.journal ~= header.journal then
    return ("%s is not an %s journal; give --journal a new file or that run's journal"):format(path, header.journal)
  end
  for _, k in ipairs(header.keys or {}) do
    if found[k] ~= header[k] then
      return ("%s was written by a run with %s %s, not %s; give this run another --journal"):format(
        path, k, tostring(found[k]), tostring(header[k]))
    end
  end
end

-- Parses a journal's text: entries, whether the header is still to be written, whether the
-- text ends in a torn line; or nil and a message. A line cut short by a killed run (it starts
-- like a JSON object but is not JSON) is skipped wherever it is, the header's too: a later run
-- ended it with a newline. The first whole line is the header.
local function parse(text, path, header)
  if text == nil or text == "" then return {}, true, false end
  local entries, headed, n = {}, false, 0
  for line in text:gmatch("([^\n]*)\n?") do
    n = n + 1
    local value = line ~= "" and json.decode(line)
    local torn = value == nil and (line:sub(1, 1) == "{" or (headed and line:byte(1) == 0))
    if line == "" or torn then
      goto next_line -- blank, or torn: skipped
    end
    if not headed then
      local why = header_mismatch(path, value, header)
      if why then return nil, why end
      headed = true
    elseif type(value) == "table" and type(value.user) == "string" then
      entries[#entries + 1] = value
    else
      return nil, ("%s:%d is not a journal entry; the file was edited or is not a journal"):format(path, n)
    end
    ::next_line::
  end
  return entries, not headed, text:sub(-1) ~= "\n"
end

-- The header line: fields in a fixed order, so it reads the same in every journal.
local function header_line(header)
  local parts = { ('"journal":%s'):format(json.encode(header.journal)) }
  for _, k in ipairs(header.keys or {}) do
    parts[#parts + 1] = ("%s:%s"):format(json.encode(k), json.encode(header[k]))
  end
  return "{" .. table.concat(parts, ",") .. "}\n"
end

--- Reads a journal without changing it.
-- @param path string
-- @param header table: journal (the kind of run), keys (a list of field names) and their values;
--   an existing journal whose first line differs is refused
-- @return list of entries (empty when the file does not exist), or nil and a one-line message
function M.read(path, header)
  local entries, why = parse(read_all(path), path, header)
  if not entries then return nil, why end
  return entries
end

--- Opens a journal for appending, creating it with its header line when it is new, and locks it
-- (flock) until it is closed. Checked at once, so an unwritable path, or a journal another run
-- has open, is reported before any request.
-- @param path string
-- @param header table as for read
-- @return the journal (its .entries are the entries already in it), or nil and a one-line message
function M.open(path, header)
  -- a file that is not a journal is refused before it is opened for writing
  local entries, fresh = parse(read_all(path), path, header)
  if not entries then return nil, fresh end
  local torn
  local f, err = io.open(path, "ab") -- never truncated: only appended to
  if not f then return nil, ("cannot write the journal: %s"):format(err) end
  local locked, why, busy = core.lock_file(f)
  if not locked then
    f:close()
    if busy == "busy" then
      return nil, ("the journal %s is in use by another run: wait for it to end, or give this run another "
        .. "journal"):format(path)
    end
    return nil, ("cannot lock the journal %s: %s"):format(path, why)
  end
  -- read again under the lock: the run that held it may have written more
  entries, fresh, torn = parse(read_all(path), path, header)
  if not entries then
    f:close()
    return nil, fresh
  end
  -- end a torn line, so that what comes next starts a line of its own
  local ok, werr = f:write(torn and "\n" or "", fresh and header_line(header) or "")
  if ok then ok, werr = f:flush() end
  if not ok then
    f:close()
    return nil, ("cannot write the journal %s: %s"):format(path, tostring(werr))
  end
  -- a file that cannot be synced (such as /dev/null) is found out before any request
  local synced, serr = core.sync_file(f)
  if not synced then
    f:close()
    return nil, ("cannot sync the journal %s to disk (%s); give --journal a regular file"):format(path, serr)
  end
  return setmetatable({ path = path, file = f, entries = entries }, Journal)
end

--- Appends one entry and flushes it to the operating system, so a killed run keeps it.
-- @param entry table with a string `user` field (JSON-encodable)
-- @return true, or nil and a message
function Journal:append(entry)
  local line = assert(json.encode(entry))
  local ok, err = self.file:write(line, "\n")
  if ok then ok, err = self.file:flush() end
  if not ok then return nil, ("cannot write the journal %s: %s"):format(self.path, tostring(err)) end
  return true
end

--- Makes what was appended durable (fsync): a crash of the machine then loses none of it.
-- @return true, or nil and a message
function Journal:sync()
  local ok, err = core.sync_file(self.file)
  if not ok then return nil, ("cannot write the journal %s: %s"):format(self.path, tostring(err)) end
  return true
end

--- Closes the file (and so its lock); safe to call twice.
function Journal:close()
  if self.file then
    self.file:close()
    self.file = nil
  end
end
Journal.__close = Journal.close

return M
