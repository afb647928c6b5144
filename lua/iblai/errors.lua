--- The Error type shared by the C core and the Lua layer.
-- Fields: kind ("http", "network", "timeout", "validation", "decode", "config", "too_large"),
-- message, status, op, method, url, body (a bounded excerpt), retryable, attempts.
-- tostring(err) gives one line that says what happened and what to do next.
local core = require "iblai.core"

local M = { Error = core.Error }

local BODY_EXCERPT = 512

local REASONS = {
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [405] = "Method Not Allowed", [409] = "Conflict", [413] = "Payload Too Large",
  [415] = "Unsupported Media Type", [422] = "Unprocessable Entity", [429] = "Too Many Requests",
  [500] = "Internal Server Error", [502] = "Bad Gateway", [503] = "Service Unavailable",
  [504] = "Gateway Timeout",
}

--- Makes a Lua table an Error; `kind` and `message` are required.
function M.new(fields)
  return core.error(fields)
end

function M.is(value)
  return getmetatable(value) == core.Error
end

--- The start of a body, safe to print: bounded, one line.
function M.excerpt(body)
  if type(body) ~= "string" or body == "" then return nil end
  local s = body:sub(1, BODY_EXCERPT):gsub("[%c]+", " ")
  if #body > BODY_EXCERPT then s = s .. "..." end
  return s
end

-- What the server said, from the usual DRF and ibl.ai error shapes.
local function server_says(data)
  if type(data) ~= "table" then return nil end
  for _, key in ipairs { "detail", "message", "error" } do
    if type(data[key]) == "string" then return data[key] end
  end
  for field, msgs in pairs(data) do
    if type(field) == "string" and type(msgs) == "table" and type(msgs[1]) == "string" then
      return field .. ": " .. msgs[1]
    end
  end
  return nil
end

--- An Error for a response whose status is not 2xx.
-- `data` is the decoded body when it was JSON.
function M.from_response(res, data, op)
  local status = res.status
  local said = server_says(data)
  if said and #said > 200 then said = said:sub(1, 200) .. "..." end
  local message = ("HTTP %d %s"):format(status, REASONS[status] or "")
  message = message:gsub("%s+$", "")
  if said then message = message .. ": " .. said end
  return core.error {
    kind = "http", message = message, status = status, op = op, method = res.method,
    url = res.url, body = M.excerpt(res.body), data = data, attempts = res.attempts,
    retryable = status == 429 or status == 502 or status == 503 or status == 504,
    headers = res.headers,
  }
end

return M
