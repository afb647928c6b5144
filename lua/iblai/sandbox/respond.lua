--- Answers in the shapes the Data Manager uses (DRF pages, field errors, detail messages).
local json = require "iblai.json"
local query = require "iblai.query"

local M = {}

function M.json(status, body, headers)
  headers = headers or {}
  headers["Content-Type"] = "application/json"
  return { status = status, body = json.encode(body), headers = headers }
end

function M.detail(status, text)
  return M.json(status, { detail = text })
end

function M.not_found(what)
  return M.detail(404, (what or "Not found") .. ".")
end

function M.no_content()
  return { status = 204 }
end

--- 400 with DRF's {field: [messages]} shape.
function M.invalid(fields)
  return M.json(400, fields)
end

function M.method_not_allowed(method)
  return M.detail(405, ('Method "%s" not allowed.'):format(method))
end

local MAX_PAGE_SIZE = 100

--- Reads a positive integer query parameter; returns value or nil, error answer.
function M.int_param(req, name, default, min, max)
  local raw = req.query[name]
  if raw == nil or raw == "" then return default end
  local n = tonumber(raw)
  if not n or n ~= math.floor(n) or n < (min or 1) or (max and n > max) then
    return nil, M.invalid { [name] = { ("A valid integer is required%s."):format(
      max and (" between %d and %d"):format(min or 1, max) or "") } }
  end
  return math.tointeger(n)
end

-- The absolute URL of this request with some query parameters replaced, from the Host header.
local function link(req, changes)
  local q = {}
  for k, v in pairs(req.query) do q[k] = v end
  for k, v in pairs(changes) do q[k] = v end
  return query.append("http://" .. (req.headers.host or "127.0.0.1") .. req.prefix .. req.path, q)
end

--- Slices items into a page; `style` is "drf" (count/next/previous) or "next_page" (integers).
function M.page(req, items, style)
  local page, err = M.int_param(req, "page", 1, 1)
  if not page then return err end
  local size
  size, err = M.int_param(req, "page_size", 10, 1)
  if not size then return err end
  size = math.min(size, MAX_PAGE_SIZE)
  local count = #items
  local first = (page - 1) * size + 1
  if page > 1 and first > count then return M.not_found("Invalid page") end
  local results = {}
  for i = first, math.min(count, first + size - 1) do results[#results + 1] = items[i] end
  local has_next, has_prev = first + size - 1 < count, page > 1
  if style == "next_page" then
    return M.json(200, {
      count = count, results = results,
      next_page = has_next and page + 1 or json.null, previous_page = has_prev and page - 1 or json.null,
    })
  end
  return M.json(200, {
    count = count, results = results,
    next = has_next and link(req, { page = page + 1, page_size = size }) or json.null,
    previous = has_prev and link(req, { page = page - 1, page_size = size }) or json.null,
  })
end

return M
