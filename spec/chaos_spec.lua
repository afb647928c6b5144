-- Every concurrent path at once against a sandbox that fails 30% of requests (a 503 or a dropped
-- connection) after 10 ms: pages prefetching while the loop body sends requests, call_many,
-- request_many, several rounds on one client. Nothing may crash, hang, or walk an item twice;
-- every call ends in a value or a typed Error.
local helpers = require "support.helpers"
local errors = require "iblai.errors"
local iblai = require "iblai"

local USERS = 40

describe("under faults", function()
  local sb, client, admin, retries

  setup(function()
    sb = helpers.sandbox("--users", tostring(USERS), "--fail-rate", "0.3", "--latency", "10", "--seed", "3")
    retries = 0
    client = assert(iblai.new { base_url = sb.url, api_key = "k", org = "main", retries = 8,
      backoff_base = 0.005, backoff_max = 0.02, concurrency = 4,
      log = function(e) if e.event == "retry" then retries = retries + 1 end end })
    local users = assert(client:collect("core_platform_users_retrieve", { page_size = 100 }))
    admin = users[1].username
    client.username = admin
  end)

  teardown(function()
    client:close()
    sb.stop()
  end)

  local function value_or_error(v, err, what)
    if v == nil then assert.is_true(errors.is(err), what .. ": not an Error: " .. tostring(err)) end
  end

  it("walks, calls and requests at once, round after round", function()
    for round = 1, 3 do
      -- each with prefetch, and requests of the loop body's own on the same session
      local seen, n = {}, 0
      local ok, err = pcall(function()
        for user in client:each("core_platform_users_retrieve", { page_size = 3 }) do
          assert.is_nil(seen[user.username], "walked twice: " .. user.username)
          seen[user.username] = true
          n = n + 1
          if n % 4 == 0 then
            local v, e = client:call("ai_mentor_orgs_users_custom_instruction_retrieve", { user_id = user.username })
            value_or_error(v, e, "call in the loop body")
          end
        end
      end)
      if ok then assert.equal(USERS, n, "round " .. round) else value_or_error(nil, err, "walk") end

      -- call_many: reads, deletes of ids that may not exist, and one call that never goes out
      local calls = {}
      for i = 1, 30 do
        calls[#calls + 1] = { "ai_mentor_orgs_users_edx_memory_list", { user_id = admin, page = 1, page_size = 5 } }
        calls[#calls + 1] = { "ai_mentor_orgs_users_edx_memory_destroy", { user_id = admin, id = 900000 + i } }
      end
      calls[#calls + 1] = { "ai_mentor_orgs_users_edx_memory_list", { user_id = admin, page_size = "many" } }
      local results, errs = client:call_many(calls, { concurrency = 8 })
      for i = 1, #calls do
        value_or_error(results[i], errs[i], "call " .. i)
        assert.is_false(results[i] ~= nil and errs[i] ~= nil, "call " .. i .. " has a value and an error")
      end
      assert.equal("validation", errs[#calls].kind)
      for i = 2, #calls - 1, 2 do -- a missing id is a 404, never a crash or a false success
        assert.is_nil(results[i])
        assert.is_true(errs[i].status == 404 or errs[i].retryable, tostring(errs[i]))
      end

      -- pages of one listing, and request_many
      local pages = 0
      local walked = pcall(function()
        for page in client:pages("ai_mentor_orgs_users_edx_memory_list", { user_id = admin, page_size = 2 }) do
          assert.is_table(page.results)
          pages = pages + 1
        end
      end)
      if walked then assert.is_true(pages >= 1) end
      local reqs = {}
      for i = 1, 20 do
        reqs[i] = { path = ("/api/ai-mentor/orgs/main/users/%s/custom-instruction/"):format(admin), op = "ci" .. i }
      end
      local many, many_errs = client:request_many(reqs, { concurrency = 6 })
      for i = 1, 20 do value_or_error(many[i], many_errs[i], "request " .. i) end
      assert.equal(0, client.session:in_flight())
    end
    assert.is_true(retries > 20, "retries carried the faults: " .. retries)
  end)
end)
