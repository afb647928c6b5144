-- Contract: the requests the SDK builds for every operation, checked by Prism, an
-- OpenAPI-validating mock started from the spec (npm @stoplight/prism-cli, installed by make deps).
local helpers = require "support.helpers"
local iblai = require "iblai"
local ops = require "iblai.ops"
local synth = require "support.synth"

local SPEC = helpers.root .. "/../shared/openapi/ibl-data-manager-4.90.4.yml"
local PRISM = helpers.root .. "/node_modules/.bin/prism"

-- Operations whose spec asks for something no client can send, each with the reason.
local SPEC_TRAPS = {}

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

local function start_prism()
  local port = 4100 + math.random(0, 800)
  local log = os.tmpname()
  local pid = io.popen(("%s mock -h 127.0.0.1 -p %d %s >%s 2>&1 & echo $!"):format(PRISM, port, SPEC, log)):read("l")
  local url = "http://127.0.0.1:" .. port
  for _ = 1, 240 do
    if os.execute(("curl -s -o /dev/null %s/"):format(url)) then
      return { url = url, stop = function() os.execute("kill " .. pid) os.remove(log) end }
    end
    os.execute("sleep 0.25")
  end
  os.execute("kill " .. pid)
  error("prism did not start; see " .. log)
end

describe("contract with the OpenAPI description (Prism)", function()
  local prism, client

  setup(function()
    assert(exists(PRISM), "Prism is missing: run make deps (npm install)")
    assert(exists(SPEC), "the spec is missing: " .. SPEC)
    prism = start_prism()
    client = assert(iblai.new { base_url = prism.url, api_key = "contract-key", org = "main", username = "jane",
      retries = 0, timeout = 30 })
  end)

  teardown(function()
    if client then client:close() end
    if prism then prism.stop() end
  end)

  -- Sends op with params; returns nil when Prism found nothing wrong with the request, else why.
  local function violations(id, params)
    local req = assert(client:prepare_call(id, params))
    local res, err = client:request(req)
    local raw = res or (err.kind == "http" and err) -- an error status is still Prism's answer
    if not raw then return "no answer: " .. tostring(err) end
    -- Prism also reports where its example answers break their schemas (spec trap 4); only the
    -- request's own violations are ours.
    local list = raw.headers["sl-violations"] and require("iblai.json").decode(raw.headers["sl-violations"]) or {}
    local mine = {}
    for _, v in ipairs(list) do
      if v.location and v.location[1] ~= "response" then mine[#mine + 1] = v.message end
    end
    if #mine > 0 then return table.concat(mine, "; ") end
    if raw.status == 422 and tostring(raw.body):find("Invalid request", 1, true) then return raw.body end
    return nil
  end

  it("accepts every seed operation as the SDK sends it", function()
    local seeds = {
      { "ai_mentor_orgs_users_artifacts_list", { page = 1, page_size = 100, ordering = "-date_created", search = "notes" } },
      { "ai_mentor_orgs_users_artifacts_retrieve", { id = 1 } },
      { "ai_mentor_orgs_users_custom_instruction_retrieve", {} },
      { "ai_mentor_orgs_users_downloads_tasks_retrieve", { task_id = "3fa85f64-5717-4562-b3fc-2c963f66afa6", to_csv = true } },
      { "ai_mentor_orgs_users_edx_memory_list", { page = 2, page_size = 10, course_id = "course-v1:ibl+X+2025" } },
      { "ai_mentor_orgs_users_edx_memory_retrieve", { id = 3 } },
      { "ai_mentor_orgs_users_edx_memory_destroy", { id = 3 } },
      { "ai_prompt_orgs_users_all_chats_memory_retrieve", {} },
      { "ai_prompt_orgs_users_all_chats_memory_create", { username = "jane", platform_key = "main", content = "x" } },
      { "ai_prompt_orgs_users_all_chats_memory_update", { username = "jane", platform_key = "main" } },
      { "ai_prompt_orgs_users_all_chats_memory_destroy", {} },
      { "ai_prompt_orgs_users_all_chats_memory_update_2", { memory_id = 4, username = "jane", platform_key = "main" } },
      { "ai_prompt_orgs_users_all_chats_memory_destroy_2", { memory_id = 4 } },
      { "ai_mentor_orgs_users_ai_user_profile_memory_list", {} },
      { "ai_mentor_orgs_users_ai_user_profile_memory_create", { tag = "goal", detail = "exam" } },
      { "ai_mentor_orgs_users_ai_user_profile_memory_destroy", { tag = "goal" } },
      { "ai_analytics_orgs_users_transcripts_list", { start_date = "2026-01-01", end_date = "2026-02-01", topics = "a,b" } },
      { "ai_analytics_orgs_users_usage_summary_list", { start_date = "2026-01-01", end_date = "2026-02-01" } },
      { "ai_analytics_orgs_users_user_cohorts_over_time_retrieve",
        { start_date = "2026-01-01", end_date = "2026-02-01", aggregation = "weekly" } },
      { "core_platform_users_retrieve", { platform_key = "main", page = 1, page_size = 50 } },
      { "ai_mentor_orgs_users_export_chathistory_create", {} },
    }
    for _, s in ipairs(seeds) do
      assert.is_nil(violations(s[1], s[2]), s[1])
    end
  end)

  it("accepts every generated operation called with its required parameters", function()
    local bad, checked = {}, 0
    for _, id in ipairs(ops.ids()) do
      if not SPEC_TRAPS[id] then
        local why = violations(id, synth.params(ops.get(id)))
        checked = checked + 1
        if why then bad[#bad + 1] = id .. ": " .. why:sub(1, 300) end
      end
    end
    assert.equal(1176, checked + (function() local n = 0 for _ in pairs(SPEC_TRAPS) do n = n + 1 end return n end)())
    assert.same({}, bad)
  end)
end)
