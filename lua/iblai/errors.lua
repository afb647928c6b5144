--- The Error type shared by the C core and the Lua layer.
-- Fields: kind, message, status, op, method, url, body (a bounded excerpt), data (the decoded error
-- body), headers, retryable, attempts; `param`, `expected` and `got` for validation errors.
-- Kinds: "http" (a status other than 2xx), "network", "timeout", "decode" (a 2xx body that is not
-- the JSON it claims), "too_large", "config" and "validation" (nothing was sent), "pagination"
-- (a listing whose pages do not add up), "file" (a to_file that cannot be written).
-- tostring(err) gives one line that says what happened and what to do next.
-- @module iblai.errors
-- @usage
-- local res, err = client:call("ai_mentor_orgs_users_artifacts_retrieve", { id = 1 })
-- if not res and err.kind == "http" and err.status == 404 then print("no such artifact") end
local core = require "iblai.core"

local M = { Error = core.Error }

--- Makes a Lua table an Error.
-- @param fields table: kind and message (required), and any of the fields above
-- @return the Error (the same table)
function M.new(fields)
  return core.error(fields)
end

--- Whether a value is an Error (as opposed to a string or any other value raised or returned).
-- @param value any value
-- @return boolean
function M.is(value)
  return getmetatable(value) == core.Error
end

--- Raises a misuse error (a wrong argument type, an unknown field) at the caller's line.
-- @function misuse
-- @param message string
M.misuse = core.misuse

return M
