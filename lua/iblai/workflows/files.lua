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

--- Whether a file exists (can be opened for reading).
-- @param path string
-- @return boolean
function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

--- Makes sure `dir` exists (creating it and its parents) and that files can be written in it.
-- @param dir string
-- @return true, or nil and a one-line message
function M.writable_dir(dir)
  if dir == "" then return nil, "the output directory name is empty" end
  local probe = dir .. "/.iblai-write-test.partial"
  local f = io.open(probe, "wb")
  if not f then
    core.mkdir(dir, true) -- what it could not make, the second open tells
    local err
    f, err = io.open(probe, "wb")
    if not f then
      return nil, ("cannot write in %s: %s"):format(dir, (err or ""):gsub("^[^:]*: ", ""))
    end
  end
  f:close()
  os.remove(probe)
  return true
end

return M
