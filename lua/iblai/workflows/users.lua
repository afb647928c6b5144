--- Which users a workflow works on: usernames from the command line, a file, or the org listing.
-- @module iblai.workflows.users
local json = require "iblai.json"

local M = {}

--- The longest username accepted (the API's username fields hold at most 500 characters).
M.MAX_LENGTH = 500

-- Characters that change how a line reads without being seen: C1 controls, bidirectional
-- overrides and isolates, line and paragraph separators, the byte order mark (UTF-8 patterns).
local INVISIBLE = { "\194[\128-\159]", "\226\128[\142\143\168-\174]", "\226\129[\166-\169]", "\239\187\191" }

--- A username as it can be shown on one line: control characters as \xNN, invisible ones that
-- change how the line reads as \u{XXXX}, and cut after 60 bytes (on a character boundary) with
-- how long it is.
-- @param name string
-- @return string
function M.display(name)
  local shown = name:gsub("%c", function(c) return ("\\x%02X"):format(c:byte()) end)
  for _, pattern in ipairs(INVISIBLE) do
    shown = shown:gsub(pattern, function(c) return ("\\u{%04X}"):format(utf8.codepoint(c)) end)
  end
  if #shown > 60 then
    local cut = 60
    while cut > 0 and (shown:byte(cut + 1) or 0) & 0xC0 == 0x80 do cut = cut - 1 end
    shown = ("%s... (%d bytes)"):format(shown:sub(1, cut), #name)
  end
  return shown
end

--- Checks one username.
-- @param name string
-- @return true, or nil and a message saying what is wrong
function M.check(name)
  if type(name) == "table" then return nil, name.why end -- a listed user without a username
  if type(name) ~= "string" or name == "" then return nil, "a username cannot be empty" end
  if #name > M.MAX_LENGTH then
    return nil, ("a username of %d bytes is too long (at most %d)"):format(#name, M.MAX_LENGTH)
  end
  if name:find("%c") then return nil, ("the username '%s' holds a control character"):format(M.display(name)) end
  return true
end

--- Usernames from text: one a line, blank lines skipped, `#` to the end of a line is a comment
-- (at the start of a line or after a space), CR of CRLF files ignored.
-- @param text string
-- @param where string how to name the source in messages (a file name, "stdin")
-- @return list of usernames, or nil and a message naming the line
function M.parse(text, where)
  local list, n = {}, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    line = line:gsub("^#.*", ""):gsub("%s#.*", ""):match("^%s*(.-)%s*$")
    if line ~= "" then
      local ok, why = M.check(line)
      if not ok then return nil, ("%s:%d: %s"):format(where, n, why) end
      list[#list + 1] = line
    end
  end
  return list
end

--- The most a users file may hold (so `yes | iblai ... --users -` ends with an error).
M.MAX_FILE = 64 * 1024 * 1024

-- Reads a whole text file in chunks: nil and a message for NUL bytes (a device such as
-- /dev/zero, or a binary file) or more than MAX_FILE bytes, before reading it all.
local function read_text(f, name)
  local chunks, size = {}, 0
  while true do
    local chunk, err = f:read(65536)
    if chunk == nil then
      if err then return nil, ("cannot read %s: %s"):format(name, err) end
      return table.concat(chunks)
    end
    if chunk:find("\0", 1, true) then return nil, ("%s holds NUL bytes: it is not a list of usernames"):format(name) end
    size = size + #chunk
    if size > M.MAX_FILE then return nil, ("%s is larger than %d MB"):format(name, M.MAX_FILE // 1048576) end
    chunks[#chunks + 1] = chunk
  end
end

--- Reads usernames from a file, or from standard input when path is "-".
-- @param path string
-- @return list of usernames, or nil and a one-line message
function M.read(path)
  local name = path == "-" and "stdin" or path
  local f, err
  if path == "-" then
    f = io.stdin
    if not f then return nil, "standard input is not available here (restricted mode); name a file" end
  else
    f, err = io.open(path, "rb")
    if not f then return nil, ("cannot read the users file: %s"):format(err) end
  end
  local text, rerr = read_text(f, name)
  if f ~= io.stdin then f:close() end
  if not text then return nil, rerr end
  return M.parse(text, name)
end

--- How a user is named in results and messages: the username, or for a listed user without
-- one, how the listing gave it.
-- @param name a username, or an entry of M.of_org for a user without one
-- @return string
function M.label(name)
  return type(name) == "table" and name.listed or name
end

-- A user the listing gave without a usable username: { listed = how to find it, why = ... }.
local function nameless(u, i)
  local record = type(u) == "table" and u or {}
  local name, id, email = record.username, record.id, record.email
  local what = name == nil and "no username" or type(name) == "string" and "an empty username"
    or ("a username that is not a string (%s)"):format(name == json.null and "null" or type(name))
  local known = {}
  if id ~= nil and id ~= json.null then known[#known + 1] = "id " .. M.display(tostring(id)) end
  if type(email) == "string" then known[#known + 1] = "email " .. M.display(email) end
  local listed = ("(user %d of the listing%s)"):format(i, #known > 0 and ", " .. table.concat(known, ", ") or "")
  return { listed = listed, why = ("the users listing gave this user %s"):format(what) }
end

--- Every username of an org, from the platform users listing (every page), as listed: those
-- M.check refuses too, so that a workflow accounts for every user. A user without a username (or
-- with an empty one) is given as a table M.check refuses and M.label names.
-- @param client an iblai client
-- @param org string the org key (platform_key)
-- @return list of usernames, or nil and an Error
function M.of_org(client, org)
  local users, err = client:collect("core_platform_users_retrieve", { platform_key = org })
  if not users then return nil, err end
  local names = {}
  for i, u in ipairs(users) do
    local name = type(u) == "table" and u.username
    names[i] = (type(name) == "string" and name ~= "") and name or nameless(u, i)
  end
  return names
end

--- The users of `lists`, in order, each once, without those of `exclude`.
-- @param lists list of lists of usernames
-- @param exclude list of usernames (or nil)
-- @return list of usernames
function M.select(lists, exclude)
  local skip, out = {}, {}
  for _, name in ipairs(exclude or {}) do skip[name] = true end
  for _, list in ipairs(lists) do
    for _, name in ipairs(list) do
      if not skip[name] then
        skip[name] = true
        out[#out + 1] = name
      end
    end
  end
  return out
end

return M
