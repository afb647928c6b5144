-- A server answering one real operation of each pagination envelope kind, over numbered items.
-- Run as `iblai spec/support/pager_server.lua`; prints "port N pid P".
local httpd = require "iblai.httpd"
local json = require "iblai.json"

local function items(first, last)
  local out = {}
  for i = first, last do out[#out + 1] = { id = i } end
  return out
end

local function reply(body, delay)
  return { status = 200, body = json.encode(body), headers = { ["Content-Type"] = "application/json" }, delay = delay }
end

local function num(v, default) return math.tointeger(tonumber(v)) or default end

local function host(req) return "http://" .. req.headers.host end

local N = { drf = 257, offset = 123, data = 95, analytics = 77, next_page = 58 }

local routes = {
  -- drf_page: page / page_size, absolute next links. X-Trap lies: "deaf" (every page is page 1,
  -- its next naming page 2), "short" (a count of 5 for all 257), "none" (no count at all),
  -- "shifted" (page n answers what page n + 1 holds, with the links of page n + 1), "hollow"
  -- (page 1 empty but linking to page 2, no count), "ghost" (a count and no items), "shrinking"
  -- (one item fewer counted after page 1); "emptylinks" is no lie: "" for a missing link
  ["/api/ai-analytics/orgs/main/users/u/chat-history/"] = function(req)
    local trap = req.headers["x-trap"]
    if trap == "hollow" and num(req.query.page, 1) == 1 then
      return reply({ results = json.empty_array, previous = json.null,
        next = host(req) .. req.path .. "?page=2&page_size=" .. num(req.query.page_size, 10) })
    end
    if trap == "ghost" then return reply({ count = N.drf, results = json.empty_array, next = json.null }) end
    if trap == "deaf" then req.query.page = "1" end
    if trap == "shifted" and num(req.query.page, 1) > 1 then req.query.page = tostring(num(req.query.page, 1) + 1) end
    local page, size = num(req.query.page, 1), math.min(num(req.query.page_size, 10), 100)
    local first = (page - 1) * size + 1
    if page > 1 and first > N.drf then return { status = 404, body = '{"detail":"Invalid page."}' } end
    local last = math.min(N.drf, first + size - 1)
    local count = N.drf
    if trap == "short" then count = 5 elseif trap == "none" then count = nil end
    if trap == "shrinking" and page > 1 then count = N.drf - 1 end
    local missing = trap == "emptylinks" and "" or json.null
    return reply({ count = count, results = items(first, last),
      next = last < N.drf and (host(req) .. req.path .. "?page=" .. (page + 1) .. "&page_size=" .. size) or missing,
      previous = page > 1 and (host(req) .. req.path .. (page > 2 and "?page=" .. (page - 1) .. "&" or "?")
        .. "page_size=" .. size) or missing })
  end,
  -- drf_offset: limit / offset, capped at 50 as servers do; pages after the first are slow, to
  -- watch prefetching
  -- X-Trap "none": no count; "deaf": every offset answers offset 0; "circle": no count, and the
  -- next links go round offsets 0, 10, 20 with a new nonce each time
  ["/api/ai-analytics/orgs/main/users/u/observations/"] = function(req)
    local trap = req.headers["x-trap"]
    if trap == "deaf" then req.query.offset = "0" end
    local offset, limit = num(req.query.offset, 0), math.min(num(req.query.limit, 20), 50)
    local last = math.min(N.offset, offset + limit)
    if trap == "circle" then
      local nonce = num(req.query.nonce, 0) + 1
      return reply({ results = items(offset + 1, offset + 10), previous = json.null,
        next = host(req) .. req.path .. "?limit=10&offset=" .. ((offset + 10) % 30) .. "&nonce=" .. nonce })
    end
    return reply({ count = trap ~= "none" and N.offset or nil, results = items(offset + 1, last),
      next = last < N.offset and (host(req) .. req.path .. "?limit=" .. limit .. "&offset=" .. last) or json.null,
      previous = json.null }, offset > 0 and tonumber(req.headers["x-delay"]) or nil)
  end,
  -- data + pagination{totalPages}: page / length
  -- X-Trap "shifted": page n answers what page n + 1 holds, saying so in currentPage;
  -- "strings" is no lie: the page number written as a string
  ["/api/ai-analytics/audience/orgs/main/active-users/users"] = function(req)
    local page, length = num(req.query.page, 1), num(req.query.length, 10)
    if req.headers["x-trap"] == "shifted" and page > 1 then page = page + 1 end
    local first = (page - 1) * length + 1
    return reply({ data = items(first, math.min(N.data, first + length - 1)),
      pagination = { totalItems = N.data, perPage = length,
        currentPage = req.headers["x-trap"] == "strings" and tostring(page) or page,
        totalPages = (N.data + length - 1) // length } })
  end,
  -- /api/analytics: results + pagination with its own key names; page / limit
  ["/api/analytics/learners/"] = function(req)
    local page, limit = num(req.query.page, 1), num(req.query.limit, 20)
    local first = (page - 1) * limit + 1
    return reply({ results = items(first, math.min(N.analytics, first + limit - 1)),
      pagination = { currentPage = page, totalItems = N.analytics, perPage = limit,
        totalPages = (N.analytics + limit - 1) // limit } })
  end,
  -- /api/analytics with the paging at the top level: rows, page, limit, total_pages
  ["/api/analytics/financial/details/"] = function(req)
    local page, limit = num(req.query.page, 1), num(req.query.limit, 20)
    local first = (page - 1) * limit + 1
    return reply({ rows = items(first, math.min(N.analytics, first + limit - 1)), page = page, limit = limit,
      total_records = N.analytics, total_pages = (N.analytics + limit - 1) // limit, metrics = {}, total_cost = 0 })
  end,
  -- next_page integers; page / page_size. X-Trap breaks the envelope: "repeat" (no count, always
  -- next_page 2), "huge" (a count of 10^12, no items), "half" and "vast" (next_page 1.5 and 1e300)
  ["/api/catalog/access_requests/course/manage/"] = function(req)
    local trap = req.headers["x-trap"]
    if trap == "repeat" then return reply({ results = items(1, 2), next_page = 2, previous_page = json.null }) end
    if trap == "huge" then return reply({ count = 1e12, results = json.empty_array, next_page = 2 }) end
    if trap == "half" or trap == "vast" then
      return reply({ results = items(1, 2), next_page = trap == "half" and 1.5 or 1e300 })
    end
    local page, size = num(req.query.page, 1), num(req.query.page_size, 10)
    local first = (page - 1) * size + 1
    local last = math.min(N.next_page, first + size - 1)
    local function number(n) return trap == "strings" and tostring(n) or n end -- "strings": no lie
    return reply({ count = trap ~= "strings" and N.next_page or nil, results = items(first, last),
      next_page = last < N.next_page and number(page + 1) or json.null,
      previous_page = page > 1 and number(page - 1) or json.null })
  end,
}

-- drf_next: sessions/{chain|cycle|away}/ with a ?step= the server puts in its own next links
local function session_route(req, kind)
  local step = num(req.query.step, 1)
  local base = host(req) .. req.path
  local next_link = json.null
  if kind == "chain" and step < 4 then next_link = base .. "?step=" .. (step + 1) end
  if kind == "cycle" then next_link = base .. "?step=" .. (step == 2 and 1 or 2) end
  if kind == "away" then next_link = "http://localhost:" .. req.headers.host:match(":(%d+)") .. req.path .. "?step=2" end
  if kind == "relative" and step < 4 then next_link = "?step=" .. (step + 1) end -- resolved against the page
  if kind == "stuck" then -- a new link every time, the same items behind each
    return reply({ results = items(1, 3), next = base .. "?step=" .. (step + 1), previous = json.null })
  end
  return reply({ count = 12, results = items(step * 3 - 2, step * 3), next = next_link, previous = json.null })
end

local server = assert(httpd.new {
  handler = function(req)
    local route = routes[req.path]
    if route then return route(req) end
    local kind = req.path:match("^/api/ai%-mentor/orgs/main/users/u/sessions/(%a+)/$")
    if kind then return session_route(req, kind) end
    return { status = 404, body = '{"detail":"Not found."}', headers = { ["Content-Type"] = "application/json" } }
  end,
})
io.write(("port %d pid %d\n"):format(server:port(), httpd.pid()))
io.stdout:flush()
server:run()
server:close()
