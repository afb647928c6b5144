-- Every query parameter the spec declares for an operation the sandbox serves is honoured or
-- refused: a value that matches nothing changes the answer, or gets a 400 naming the parameter.
-- Never silently ignored. The operations come from the routes themselves (support.sandbox_ops).
local helpers = require "support.helpers"
local served = require "support.sandbox_ops"
local raw_http = require "support.raw_http"
local iblai = require "iblai"

local BOGUS = "zz-matches-nothing"
local RANGE = { start_date = "2026-01-01", end_date = helpers.TODAY }

describe("the sandbox's query parameters", function()
  local sb, client, users

  setup(function()
    sb = helpers.sandbox("--users", "30", "--seed", "4")
    client = assert(iblai.new { base_url = sb.url, api_key = "sandbox", org = "main", retries = 0 })
    users = {}
    for _, u in ipairs(assert(client:request { path = "/api/core/platform/users/", query = { page_size = 100 } }).body.results) do
      users[#users + 1] = u.username
    end
  end)

  teardown(function()
    client:close()
    sb.stop()
  end)

  -- The raw answer of op for user with query; path ids come from `ids`.
  local function send(op, user, query, ids)
    local path = op.path:gsub("{([%w_]+)}", function(name)
      if name == "org" then return "main" end
      if name == "user_id" then return user end
      return ids[name]
    end)
    local status, _, body = raw_http.request(sb.url, { path = path, query = query })
    return status, body
  end

  local function items_in(text)
    local body = require("iblai.json").decode(text)
    if type(body) ~= "table" then return 0 end
    return #(body.results or body)
  end

  it("changes the answer or names the parameter in a 400, for every declared query parameter", function()
    local checked, silent = 0, {}
    for _, op in ipairs(served()) do
      local names, base = {}, {}
      for _, p in ipairs(op.params) do
        if p.loc == "query" then
          names[#names + 1] = p.name
          if p.required then base[p.name] = RANGE[p.name] end
        end
      end
      if #names > 0 then
        -- A user whose unfiltered answer has items, so that a filter has something to remove.
        local user, ids, baseline
        for _, u in ipairs(users) do
          ids = {}
          if op.path:find("{task_id}", 1, true) then
            local task = assert(client:request { method = "POST",
              path = "/api/ai-mentor/orgs/main/users/" .. u .. "/export-chathistory/" }).body.task_id
            ids.task_id = task
          end
          local status, text = send(op, u, base, ids)
          assert.equal(200, status, op.id .. " " .. text)
          if items_in(text) > 0 or text:sub(1, 1) == "{" and not text:find('"results"', 1, true) then
            user, baseline = u, text
            break
          end
        end
        assert(user, op.id .. ": no user has anything to filter")
        for _, name in ipairs(names) do
          local query = {}
          for k, v in pairs(base) do query[k] = v end
          query[name] = BOGUS
          local status, text = send(op, user, query, ids)
          local named = status == 400 and text:find('"' .. name .. '"', 1, true)
          if not named and not (status == 200 and text ~= baseline) then
            silent[#silent + 1] = ("%s ?%s=%s: %d %s"):format(op.id, name, BOGUS, status, text:sub(1, 120))
          end
          checked = checked + 1
        end
      end
    end
    assert.is_true(checked >= 60, tostring(checked))
    assert.same({}, silent)
  end)
end)
