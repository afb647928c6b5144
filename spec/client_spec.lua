-- The client's manners: misuse names the caller's line, the caller's tables are only read,
-- headers of any name length arrive, and what retried says why.
local helpers = require "support.helpers"
local iblai = require "iblai"

local THIS_FILE = "client_spec.lua"

describe("the client", function()
  local server, client

  setup(function()
    server = helpers.test_server()
  end)

  teardown(function()
    server.stop()
  end)

  before_each(function()
    client = assert(iblai.new { base_url = server.url, api_key = "k", org = "main", username = "u",
      backoff_base = 0.01, backoff_max = 0.02 })
  end)

  after_each(function()
    client:close()
  end)

  local function raised_at(f)
    local ok, err = pcall(f)
    assert.is_false(ok)
    assert.is_string(err)
    return err
  end

  it("names the caller's line in misuse errors", function()
    local cases = {
      function() client:call("ai_mentor_orgs_users_artifacts_list", "x") end,
      function() client:call(42) end,
      function() client:request { path = "/echo", query = { bad = print } } end,
      function() client:request { path = "/echo", timout = 3 } end,
      function() client:request "x" end,
      function() client:call_many { "not a call" } end,
      function() client:call("ai_mentor_orgs_users_artifacts_list", {}, { timout = 1 }) end,
      function() client:request_many { { path = "/echo", retries = -1 } } end,
      function() client.session:stream { concurrency = 0 } end,
      function() iblai.new "x" end,
    }
    for i, f in ipairs(cases) do
      local err = raised_at(f)
      assert.matches(THIS_FILE .. ":%d+:", err, nil, false, "case " .. i .. ": " .. err)
    end
  end)

  it("never changes the caller's parameters or body", function()
    local params = { page = 2.0, page_size = 10.0, ordering = "-date_created" }
    local body = { tag = "goal", detail = "exam" }
    local before_params, before_body = {}, {}
    for k, v in pairs(params) do before_params[k] = v end
    for k, v in pairs(body) do before_body[k] = v end
    assert(client:call("ai_mentor_orgs_users_artifacts_list", params))
    assert(client:call("ai_mentor_orgs_users_ai_user_profile_memory_create", { body = body }))
    assert.same(before_params, params)
    assert.equal("float", math.type(params.page))
    assert.same(before_body, body)
    -- an empty list in a body stays the caller's own, open table
    local projects = { name = "p", mentors_to_add = {} }
    assert(client:call("ai_mentor_orgs_projects_create", { body = projects }))
    projects.mentors_to_add[1] = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    assert.equal(1, #projects.mentors_to_add)
  end)

  it("sends an empty list in a body as []", function()
    local res = assert(client:call("ai_mentor_orgs_projects_create", { body = { name = "p", mentors_to_add = {} } }))
    assert.matches('"mentors_to_add":%[%]', res.body)
  end)

  it("keeps response headers whatever the length of their names", function()
    local long = ("x"):rep(300)
    local res = assert(client:request { path = "/echo-header", query = { name = long, value = "v" } })
    assert.equal("v", res.headers[long])
    local names = 0
    for _ in pairs(res.headers) do names = names + 1 end
    assert.is_true(names >= 3)
  end)

  it("says why it retried, and an exhausted retry is a retryable Error", function()
    local reasons = {}
    local c = assert(iblai.new { base_url = server.url, retries = 2, sleep = function() end,
      log = function(e) if e.event == "retry" then reasons[#reasons + 1] = e.reason end end })
    local res, err = c:request { path = "/status", query = { code = 503 } }
    assert.is_nil(res)
    assert.same({ "HTTP 503", "HTTP 503" }, reasons)
    assert.is_true(err.retryable)
    assert.equal(3, err.attempts)
    res, err = c:request { path = "/status", query = { code = 500 } }
    assert.is_nil(res)
    assert.is_false(err.retryable)
    c:close()
  end)
end)
