--- Answers in the shapes the Data Manager uses (DRF pages, field errors, detail messages).
local json = require "iblai.sandbox.json"
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

--- 400 for one field.
function M.field_error(name, message)
  return M.invalid { [name] = { message } }
end

function M.method_not_allowed(method)
  return M.detail(405, ('Method "%s" not allowed.'):format(method))
end

local MAX_PAGE_SIZE = 100
M.MAX_INT = 2147483647 -- the largest page, id or count a query may name (a database integer)

--- Reads an integer query parameter in [min, max] (max defaults to MAX_INT); returns the value,
-- or nil and a 400 answer naming the parameter.
function M.int_param(req, name, default, min, max)
  local raw = req.query[name]
  if raw == nil or raw == "" then return default end
  min, max = min or 1, max or M.MAX_INT
  local digits = raw:match("^%s*(-?%d+)%s*$")
  if not digits then return nil, M.field_error(name, "A valid integer is required.") end
  local n = #digits <= 12 and math.tointeger(tonumber(digits)) or (digits:sub(1, 1) == "-" and -math.huge or math.huge)
  if n < min then return nil, M.field_error(name, ("Ensure this value is greater than or equal to %d."):format(min)) end
  if n > max then return nil, M.field_error(name, ("Ensure this value is less than or equal to %d."):format(max)) end
  return n
end

local TRUE = { ["true"] = true, ["True"] = true, ["1"] = true, yes = true, on = true }
local FALSE = { ["false"] = true, ["False"] = true, ["0"] = true, no = true, off = true }

--- Reads a boolean query parameter as DRF does; returns the value, or nil and a 400 answer.
function M.bool_param(req, name, default)
  local raw = req.query[name]
  if raw == nil or raw == "" then return default end
  if TRUE[raw] then return true end
  if FALSE[raw] then return false end
  return nil, M.field_error(name, "Must be a valid boolean.")
end

--- Reads a query parameter that must be one of `choices` (a set); returns it, or nil and a 400.
function M.choice_param(req, name, choices, default)
  local v = req.query[name]
  if v == nil or v == "" then return default end
  if not choices[v] then return nil, M.field_error(name, ('"%s" is not a valid choice.'):format(v)) end
  return v
end

-- The absolute URL of this request with some query parameters replaced, from the Host header.
local function link(req, changes)
  local q = {}
  for k, v in pairs(req.query) do q[k] = v end
  for k, v in pairs(changes) do q[k] = v end
  return query.append("http://" .. (req.headers.host or "127.0.0.1") .. req.prefix .. req.path, q)
end

--- Slices items into a page; `style` is "drf" (count/next/previous) or "next_page" (integers);
-- `extra` adds fields to the envelope; `view`, when given, makes each item of the page what is sent.
function M.page(req, items, style, extra, view)
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
  for i = first, math.min(count, first + size - 1) do results[#results + 1] = view and view(items[i]) or items[i] end
  local has_next, has_prev = first + size - 1 < count, page > 1
  local body
  if style == "next_page" then
    body = { count = count, results = results,
      next_page = has_next and page + 1 or json.null, previous_page = has_prev and page - 1 or json.null }
  else
    body = { count = count, results = results,
      next = has_next and link(req, { page = page + 1, page_size = size }) or json.null,
      previous = has_prev and link(req, { page = page - 1, page_size = size }) or json.null }
  end
  for k, v in pairs(extra and extra(results) or {}) do body[k] = v end
  return M.json(200, body)
end

return M
