-- Generated operation facts, lazy loading, validation before sending, and the requests built.
local helpers = require "support.helpers"
local iblai = require "iblai"
local json = require "iblai.json"

describe("generated operations", function()
  it("cover all 1176 operations of the spec, with facts and no prose", function()
    local ops = require "iblai.ops"
    local ids = ops.ids()
    assert.equal(1176, #ids)
    assert.equal(1176, ops.count())
    local kinds = {}
    for _, id in ipairs(ids) do
      local op = ops.get(id)
      assert.matches("^[A-Z]+$", op.method)
      assert.matches("^/api/", op.path)
      assert.is_nil(op.description)
      if op.envelope then kinds[op.envelope] = (kinds[op.envelope] or 0) + 1 end
    end
    assert.equal(60, (kinds.drf_page or 0) + (kinds.drf_offset or 0) + (kinds.drf_next or 0))
    assert.equal(31, kinds.next_page)
    assert.equal(34, kinds.data_pagination)
  end)

  it("keep paths exactly as the spec writes them", function()
    local ops = require "iblai.ops"
    assert.equal("/api/ai-mentor/orgs/{org}/users/{user_id}/artifacts/{id}/",
      ops.get("ai_mentor_orgs_users_artifacts_retrieve").path)
    local no_slash = 0
    for _, id in ipairs(ops.ids()) do
      if ops.get(id).path:sub(-1) ~= "/" then no_slash = no_slash + 1 end
    end
    assert.equal(186, no_slash)
  end)

  it("are not loaded by require 'iblai' or by creating a client", function()
    local code, out = helpers.run { "-e", "local c = iblai.new{}; local n = 0; " ..
      "for name in pairs(package.loaded) do if name:find('^iblai%.operations') then n = n + 1 end end; print(n)" }
    assert.equal(0, code)
    assert.equal("0\n", out)
  end)

  it("are regenerated identically by make regen", function()
    local spec = helpers.root .. "/../shared/openapi/ibl-data-manager-4.90.4.yml"
    local f = io.open(spec)
    if not f then return pending("the spec is not beside the checkout") end
    f:close()
    local dir = os.tmpname()
    os.remove(dir)
    assert.is_true(os.execute(("lua5.4 %s/tools/gen_operations.lua %s %s 2>/dev/null"):format(helpers.root, spec, dir)))
    assert.is_true(os.execute(("diff -r -q %s %s/lua/iblai/operations >/dev/null"):format(dir, helpers.root)))
    os.execute("rm -rf " .. dir)
  end)
end)

describe("client:call", function()
  local server, client

  setup(function()
    server = helpers.test_server()
    client = assert(iblai.new { base_url = server.url, api_key = "k", org = "main", username = "jane", retries = 0 })
  end)

  teardown(function()
    client:close()
    server.stop()
  end)

  local function fails(op, params, pattern)
    local res, err = client:call(op, params)
    assert.is_nil(res)
    assert.equal("validation", err.kind)
    assert.equal(op, err.op)
    assert.matches(pattern, tostring(err))
    return err
  end

  it("fills {org} and {user_id} from the client and encodes path parameters", function()
    local echo = assert(client:call("ai_mentor_orgs_users_artifacts_retrieve", { id = 7.0 }))
    assert.equal("/api/ai-mentor/orgs/main/users/jane/artifacts/7/", echo.path)
    echo = assert(client:call("ai_mentor_orgs_users_edx_memory_list", { user_id = "a/b", org = "../x" }))
    assert.equal("/api/ai-mentor/orgs/..%2Fx/users/a%2Fb/edx-memory/", echo.path)
    echo = assert(client:call("ai_analytics_audience_orgs_enrollments_courses_users_retrieve",
      { course_id = "course-v1:org+X+Y" }))
    assert.matches("/courses/course%-v1%%3Aorg%%2BX%%2BY/users$", echo.path)
  end)

  it("sends query parameters with booleans as true/false and integers without .0", function()
    local echo = assert(client:call("ai_mentor_orgs_users_downloads_tasks_retrieve",
      { task_id = "abc", to_csv = true }))
    assert.equal("true", echo.query.to_csv)
    echo = assert(client:call("ai_mentor_orgs_users_artifacts_list", { page = 2.0, page_size = 50, search = "a b" }))
    assert.same({ page = "2", page_size = "50", search = "a b" }, echo.query)
  end)

  it("sends declared body fields, or params.body, as JSON", function()
    local echo = assert(client:call("ai_prompt_orgs_users_all_chats_memory_create",
      { username = "jane", platform_key = "main", content = "hi" }))
    assert.equal("POST", echo.method)
    assert.equal("application/json", echo.headers["content-type"])
    assert.same({ username = "jane", platform_key = "main", content = "hi" }, json.decode(echo.body))
    echo = assert(client:call("ai_mentor_orgs_users_ai_user_profile_memory_create",
      { body = { tag = "goal", detail = "x" } }))
    assert.same({ tag = "goal", detail = "x" }, json.decode(echo.body))
  end)

  it("sends the key even on operations whose spec lists no security", function()
    local op = client:operation("ai_mentor_orgs_users_sessions_retrieve")
    assert.is_false(op.security)
    local echo = assert(client:call("ai_mentor_orgs_users_sessions_retrieve", { session_id = "s1" }))
    assert.equal("Api-Token k", echo.headers.authorization)
  end)

  it("rejects unknown parameters and suggests the closest name", function()
    local err = fails("ai_mentor_orgs_users_artifacts_list", { pagesize = 10 }, "did you mean 'page_size'")
    assert.equal("pagesize", err.param)
  end)

  it("rejects missing required parameters", function()
    fails("ai_analytics_orgs_users_usage_summary_list", { start_date = "2026-01-01" }, "'end_date' is required")
    local anonymous = assert(iblai.new { base_url = server.url })
    local _, err = anonymous:call("ai_mentor_orgs_users_artifacts_list", {})
    assert.matches("IBLAI_ORG", tostring(err))
    anonymous:close()
  end)

  it("rejects wrong types, naming the parameter, what it wants and what it got", function()
    local err = fails("ai_mentor_orgs_users_artifacts_retrieve", { id = "seven" }, "'id' must be an integer, got \"seven\"")
    assert.equal("an integer", err.expected)
    assert.equal("seven", err.got)
    fails("ai_mentor_orgs_users_downloads_tasks_retrieve", { task_id = "t", to_csv = "yes" }, "true or false")
  end)

  it("rejects values outside an enum, a limit or a format", function()
    fails("ai_analytics_orgs_users_user_cohorts_over_time_retrieve",
      { start_date = "2026-01-01", end_date = "2026-02-01", aggregation = "yearly" }, "one of daily, hourly, weekly")
    fails("analytics_learners_retrieve", { limit = 1000 }, "at most 100")
    fails("analytics_learners_retrieve", { page = 0 }, "at least 1")
    fails("ai_analytics_orgs_users_transcripts_list", { start_date = "01/02/2026" }, "a date %(YYYY%-MM%-DD%)")
    fails("ai_mentor_orgs_users_artifacts_partial_update", { id = 1, title = string.rep("t", 256) }, "at most 255")
  end)

  it("checks body fields: unknown, missing and mistyped", function()
    fails("ai_prompt_orgs_users_all_chats_memory_create", { body = { username = "j", platform_key = "m", colour = 1 } },
      "unknown body field 'colour'")
    fails("ai_prompt_orgs_users_all_chats_memory_create", { username = "j" }, "'platform_key' is required")
    fails("ai_mentor_orgs_users_ai_user_profile_memory_create", { tag = true, detail = "x" }, "'tag' must be a string")
  end)

  it("reports an unknown operation with a suggestion", function()
    local res, err = client:call("ai_mentor_orgs_users_artifact_list", {})
    assert.is_nil(res)
    assert.matches("did you mean 'ai_mentor_orgs_users_artifacts_list'", tostring(err))
  end)

  it("sends nothing when validation fails", function()
    local offline = assert(iblai.new { base_url = "http://127.0.0.1:1", org = "o", username = "u", retries = 0 })
    local _, err = offline:call("ai_mentor_orgs_users_artifacts_retrieve", { id = "x" })
    assert.equal("validation", err.kind)
    offline:close()
  end)

  it("returns true for an answer without a body", function()
    assert.is_true(client:call("ai_mentor_orgs_users_artifacts_destroy", { id = 1 }) ~= nil)
  end)

  it("runs many calls at once, in order; a failure does not cancel the others", function()
    local calls = {}
    for i = 1, 50 do calls[i] = { "ai_mentor_orgs_users_artifacts_retrieve", { id = i } } end
    calls[10] = { "ai_mentor_orgs_users_artifacts_retrieve", { id = "bad" } }
    calls[20] = { "no_such_operation", {} }
    local results, errs = client:call_many(calls, { concurrency = 8 })
    for i = 1, 50 do
      if i == 10 or i == 20 then
        assert.is_nil(results[i])
        assert.equal("validation", errs[i].kind)
      else
        assert.equal("/api/ai-mentor/orgs/main/users/jane/artifacts/" .. i .. "/", results[i].path)
      end
    end
  end)
end)
