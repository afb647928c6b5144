-- Raw HTTP through curl, for specs that must see an answer's own bytes and headers (the client
-- decodes JSON bodies, so it cannot tell [] from {} or show the order of keys).
local helpers = require "support.helpers"
local json = require "iblai.json"
local query = require "iblai.query"

local M = {}

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  os.remove(path)
  return s
end

--- Sends req ({ method, path | url, query, joined, json | body }, as client:prepare_call builds
-- them) to base with the sandbox's key; returns status, headers (lower-case names), body text.
function M.request(base, req, headers)
  local url = query.append(req.url or (base .. req.path), req.query, req.joined)
  local head, out = os.tmpname(), os.tmpname()
  local cmd = { "curl", "-s", "-S", "--max-time", "60", "-X", req.method or "GET", "-D", head, "-o", out,
    "-w", "%{http_code}", "-H", helpers.quote("Authorization: Api-Token sandbox") }
  for k, v in pairs(headers or {}) do cmd[#cmd + 1] = "-H " .. helpers.quote(k .. ": " .. v) end
  local body = req.body or (req.json ~= nil and assert(json.encode(req.json))) or nil
  local data
  if body then
    data = os.tmpname()
    local f = assert(io.open(data, "wb"))
    f:write(body)
    f:close()
    cmd[#cmd + 1] = "-H 'Content-Type: application/json' --data-binary @" .. data
  end
  cmd[#cmd + 1] = helpers.quote(url)
  local pipe = assert(io.popen(table.concat(cmd, " ")))
  local status = tonumber(pipe:read("a"))
  pipe:close()
  if data then os.remove(data) end
  local names = {}
  for line in slurp(head):gmatch("[^\r\n]+") do
    local k, v = line:match("^([^:%s]+):%s*(.*)$")
    if k then names[k:lower()] = v end
  end
  return status, names, slurp(out)
end

return M
