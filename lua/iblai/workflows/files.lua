--- Files the workflows write: whole or not at all, under names any username can map to.
-- @module iblai.workflows.files
local core = require "iblai.core"

local M = {}

--- The file name for a username: bytes other than letters, digits and `.`, `_`, `-`, `@`, `+`
-- become %XX (so `a/b` is `a%2Fb`), and so does a leading dot (no hidden files, no `..`).
-- @param username string
-- @return the name, or nil and a message when it would be too long for a file system
function M.safe_name(username)
  local name = username:gsub("[^%w._@+-]", function(c) return ("%%%02X"):format(c:byte()) end)
  name = name:gsub("^%.", "%%2E")
  if #name > 200 then return nil, ("the username is too long for a file name (%d bytes once encoded)"):format(#name) end
  return name
end

--- The temporary name a file is written under before it is renamed into place: in the same
-- directory (so the rename is atomic), hidden, and fixed, so a rerun overwrites what a killed
-- run left.
-- @param path string the final path
-- @return string
function M.temp_path(path)
  local dir, base = path:match("^(.*/)([^/]*)$")
  if not dir then dir, base = "", path end
  return dir .. "." .. base .. ".partial"
end

--- Writes a file atomically: the content goes to a temporary file in the same directory, is
-- flushed and closed (each step checked), then renamed over `path`. On failure, or when the
-- run is interrupted meanwhile, the temporary file is removed and `path` is untouched.
-- @param path string
-- @param content string
-- @return true, or nil and a message
function M.write_atomic(path, content)
  local tmp = M.temp_path(path)
  local renamed = false
  local _ <close> = setmetatable({}, { __close = function()
    if not renamed then os.remove(tmp) end
  end })
  local f, err = io.open(tmp, "wb")
  if not f then return nil, ("cannot write %s: %s"):format(path, err) end
  local ok, werr = f:write(content)
  if ok then ok, werr = f:flush() end
  local closed, cerr = f:close()
  if not ok or not closed then return nil, ("cannot write %s: %s"):format(path, tostring(werr or cerr)) end
  local moved, merr = os.rename(tmp, path)
  if not moved then return nil, ("cannot move %s into place: %s"):format(path, tostring(merr)) end
  renamed = true
  return true
end

--- Moves a file written under its temporary name (see temp_path) into place; the temporary
-- file is removed when that fails.
-- @param tmp string the temporary path
-- @param path string the final path
-- @return true, or nil and a message
function M.commit(tmp, path)
  local moved, err = os.rename(tmp, path)
  if moved then return true end
  os.remove(tmp)
  return nil, ("cannot move %s into place: %s"):format(path, tostring(err))
end

--- Whether a file exists (can be opened for reading).
-- @param path string
-- @return boolean
function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local ENOENT = 2

-- The directories of `dir`'s path that do not exist, innermost first.
local function missing_dirs(dir)
  local missing = {}
  local d = dir:gsub("/+$", "")
  while d ~= "" and d ~= "." do
    local f, _, code = io.open(d, "rb") -- opens a directory too (for reading, never read)
    if f then f:close() end
    if code ~= ENOENT then break end
    missing[#missing + 1] = d
    d = d:match("^(.*)/[^/]*$") or ""
    d = d:gsub("/+$", "")
  end
  return missing
end

--- Makes sure `dir` exists (creating it and its parents) and that files can be written in it.
-- @param dir string
-- @return true and the list of the directories it created (innermost first, for
--   remove_created), or nil and a one-line message
function M.writable_dir(dir)
  if dir == "" then return nil, "the output directory name is empty" end
  local probe = dir .. "/.iblai-write-test.partial"
  local f = io.open(probe, "wb")
  local created = {}
  if not f then
    created = missing_dirs(dir)
    core.mkdir(dir, true) -- what it could not make, the second open tells
    local err
    f, err = io.open(probe, "wb")
    if not f then
      M.remove_created(created)
      return nil, ("cannot write in %s: %s"):format(dir, (err or ""):gsub("^[^:]*: ", ""))
    end
  end
  f:close()
  os.remove(probe)
  return true, created
end

--- Removes the directories writable_dir created that are still empty, so a run that wrote
-- nothing leaves nothing behind.
-- @param created the list writable_dir returned
-- @return true when every one of them is gone (or there were none)
function M.remove_created(created)
  for _, d in ipairs(created or {}) do
    if not os.remove(d) then return false end -- not empty: it and its parents stay
  end
  return true
end

return M
