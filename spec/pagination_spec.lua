-- client:each / pages / collect over every envelope kind, early break, cross-origin and cyclic next.
local helpers = require "support.helpers"
local iblai = require "iblai"

describe("pagination", function()
  local server, client

  setup(function()
    server = helpers.start_server(helpers.root .. "/spec/support/pager_server.lua")
    client = assert(iblai.new { base_url = server.url, api_key = "k", org = "main", username = "u", retries = 0 })
  end)

  teardown(function()
    client:close()
    server.stop()
  end)

  local function ids_of(op, params, opts)
    local ids, seen = {}, {}
    for item in client:each(op, params, opts) do
      assert.is_nil(seen[item.id], "item " .. item.id .. " twice")
      seen[item.id] = true
      ids[#ids + 1] = item.id
    end
    return ids
  end

  local function assert_sequence(ids, n)
    assert.equal(n, #ids)
    for i = 1, n do assert.equal(i, ids[i]) end
  end

  it("walks DRF page/page_size listings in order, every item once", function()
    assert_sequence(ids_of("ai_analytics_orgs_users_chat_history_list", { page_size = 10 }), 257)
    assert_sequence(ids_of("ai_analytics_orgs_users_chat_history_list", {}), 257)
    assert_sequence(ids_of("ai_analytics_orgs_users_chat_history_list", { page_size = 7 }, { concurrency = 1 }), 257)
  end)

  it("walks DRF limit/offset listings", function()
    assert_sequence(ids_of("ai_analytics_orgs_users_observations_list", { limit = 10 }), 123)
  end)

  it("walks next_page listings", function()
    assert_sequence(ids_of("catalog_access_requests_course_manage_retrieve", { page_size = 9 }), 58)
  end)

  it("walks data + pagination{totalPages} listings", function()
    assert_sequence(ids_of("ai_analytics_audience_orgs_active_users_users_retrieve", { length = 10 }), 95)
  end)

  it("walks /api/analytics listings, with the paging in an object or at the top level", function()
    assert_sequence(ids_of("analytics_learners_retrieve", { limit = 25 }), 77)
    assert_sequence(ids_of("analytics_financial_details_retrieve", { limit = 30, group_by = "provider" }), 77)
  end)

  it("follows next links when the total is not known", function()
    assert_sequence(ids_of("ai_mentor_orgs_users_sessions_retrieve", { session_id = "chain" }), 12)
  end)

  it("gives pages, and collects everything or an error", function()
    local sizes = {}
    for page in client:pages("catalog_access_requests_course_manage_retrieve", { page_size = 25 }) do
      sizes[#sizes + 1] = #page.results
    end
    assert.same({ 25, 25, 8 }, sizes)
    assert.equal(95, #assert(client:collect("ai_analytics_audience_orgs_active_users_users_retrieve", {})))
    local items, err = client:collect("ai_mentor_orgs_users_sessions_retrieve", { session_id = "cycle" })
    assert.is_nil(items)
    assert.equal("pagination", err.kind)
  end)

  it("stops a cyclic next with an error instead of looping", function()
    local ok, err = pcall(function()
      for _ in client:each("ai_mentor_orgs_users_sessions_retrieve", { session_id = "cycle" }) do end
    end)
    assert.is_false(ok)
    assert.equal("pagination", err.kind)
    assert.matches("repeats", tostring(err))
  end)

  it("refuses a next link on another origin", function()
    local ok, err = pcall(function()
      for _ in client:each("ai_mentor_orgs_users_sessions_retrieve", { session_id = "away" }) do end
    end)
    assert.is_false(ok)
    assert.matches("another origin", tostring(err))
  end)

  it("keeps pages in flight while the loop runs, and break releases them", function()
    local opts = { concurrency = 4, headers = { ["X-Delay"] = "2" } }
    local during
    for _ in client:each("ai_analytics_orgs_users_observations_list", { limit = 10 }, opts) do -- luacheck: ignore 512
      during = client.session:in_flight()
      break
    end
    assert.equal(4, during)
    if not require("iblai.core").safe_for_close then -- no closing value: released when collected
      collectgarbage()
      collectgarbage()
    end
    assert.equal(0, client.session:in_flight())
    assert(client:request { path = "/api/analytics/learners/" })
  end)

  it("leaves the stack sound after a break from a body that makes a closure over the item", function()
    local seen
    for item in client:each("ai_analytics_orgs_users_chat_history_list", { page_size = 20 }) do
      if seen then break end
      seen = (function() return item.id end)() -- Lua 5.4.4 miscompiles this break when a closing value is set
    end
    local after = { "the", "stack", "is", "sound" }
    assert.equal("the stack is sound", table.concat(after, " "))
    assert.is_number(seen)
  end)

  it("lets the loop body make its own requests while pages download", function()
    local n = 0
    for item in client:each("ai_analytics_orgs_users_chat_history_list", { page_size = 20 }, { concurrency = 3 }) do
      if item.id % 50 == 0 then
        assert(client:call("analytics_learners_retrieve", { limit = 5 }))
      end
      n = n + 1
    end
    assert.equal(257, n)
    assert.equal(0, client.session:in_flight())
  end)

  it("raises at once for operations that are not listings, and for bad parameters", function()
    assert.has_error(function() client:each("ai_mentor_orgs_users_artifacts_retrieve", { id = 1 }) end)
    local ok, err = pcall(client.each, client, "ai_analytics_orgs_users_chat_history_list", { page_size = "x" })
    assert.is_false(ok)
    assert.equal("validation", err.kind)
  end)
end)
