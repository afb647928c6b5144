-- Contract: the sandbox's answers checked by Prism in proxy mode against the OpenAPI description.
-- Every route family the README lists is called with valid parameters (full and empty listings,
-- filters, writes, deletes); a response-side violation fails unless the reviewed allow-list
-- (spec/support/sandbox_allow.lua) names it as the spec's own contradiction.
local helpers = require "support.helpers"
local iblai = require "iblai"
local json = require "iblai.json"
local allow = require "support.sandbox_allow"
local served = require "support.sandbox_ops"
local raw_http = require "support.raw_http"

local SPEC = helpers.root .. "/../shared/openapi/ibl-data-manager-4.90.4.yml"
local PRISM = helpers.root .. "/node_modules/.bin/prism"

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

local function start_prism(upstream)
  local log = os.tmpname()
  for _ = 1, 5 do
    local port = 5100 + math.random(0, 800)
    local pid = io.popen(("%s proxy -h 127.0.0.1 -p %d --errors=false %s %s >%s 2>&1 & echo $!"):format(
      PRISM, port, SPEC, upstream, log)):read("l")
    local url = "http://127.0.0.1:" .. port
    for _ = 1, 240 do
      if os.execute(("curl -s -o /dev/null %s/"):format(url)) then
        return { url = url, stop = function() os.execute("kill " .. pid) os.remove(log) end }
      end
      if not os.execute("kill -0 " .. pid .. " 2>/dev/null") then break end -- the port was taken: try another
      os.execute("sleep 0.25")
    end
    os.execute("kill " .. pid .. " 2>/dev/null")
  end
  error("prism did not start; see " .. log)
end

-- "body.results.3.entries.0.updated_at" -> "body.results.[].entries.[].updated_at"
local function where(location)
  local parts = {}
  for i = 2, #location do
    parts[#parts + 1] = tostring(location[i]):match("^%d+$") and "[]" or tostring(location[i])
  end
  return table.concat(parts, ".")
end

describe("the sandbox's answers through Prism (proxy mode)", function()
  local sb, prism, direct
  local used, bad, checked, seen = {}, {}, 0, {}

  setup(function()
    assert(exists(PRISM), "Prism is missing: run make deps (npm install)")
    assert(exists(SPEC), "the spec is missing: " .. SPEC)
    sb = helpers.sandbox("--users", "12", "--seed", "5")
    prism = start_prism(sb.url)
    direct = assert(iblai.new { base_url = sb.url, api_key = "sandbox", org = "main", retries = 0 })
  end)

  teardown(function()
    if direct then direct:close() end
    if prism then prism.stop() end
    if sb then sb.stop() end
  end)

  -- Sends op through Prism as user; records the response-side violations the allow-list does not name.
  local function check(user, op, params, want)
    local client <close> = assert(iblai.new { base_url = prism.url, api_key = "sandbox", org = "main",
      username = user, retries = 0, timeout = 30 })
    local req = assert(client:prepare_call(op, params))
    local status, headers, text = raw_http.request(prism.url, req)
    checked, seen[op] = checked + 1, true
    if want then assert.equal(want, status, op .. " " .. text) end
    local list = headers["sl-violations"] and json.decode(headers["sl-violations"]) or {}
    for _, v in ipairs(list) do
      if v.location and v.location[1] == "response" then
        local at = where(v.location)
        local entry = allow.find(op, at, v.message, text)
        if entry then
          used[entry] = true
        else -- one line per kind of violation, whichever list item it was found at
          local line = ("%s %s: %s"):format(op, at, v.message:gsub("%d+%.", "[]."))
          if not bad[line] then
            bad[line] = true
            bad[#bad + 1] = line .. " (" .. text:sub(1, 160) .. ")"
          end
        end
      end
    end
    return status, json.decode(text) or text
  end

  -- A user with at least one record in a per-user listing, and one with none.
  local function users_by(path_of, key)
    local with, without
    for _, u in ipairs(assert(direct:request { path = "/api/core/platform/users/", query = { page_size = 100 } }).body.results) do
      local body = assert(direct:request { path = path_of(u.username) }).body
      local n = key and #body[key] or body.count
      if n > 0 and not with then with = u.username end
      if n == 0 and not without then without = u.username end
    end
    return with, without
  end

  local A = "/api/ai-mentor/orgs/main/users/"

  it("finds nothing wrong with the users listing", function()
    check("x", "core_platform_users_retrieve", { page = 1, page_size = 5 }, 200)
    check("x", "core_platform_users_retrieve", { page = 3, page_size = 5 }, 200)
    check("x", "core_platform_users_retrieve", { platform_key = "main", query = "a", sort = "-username" }, 200)
    check("x", "core_platform_users_retrieve", { platform_org = "main", sort = "date_joined", return_policies = "true" }, 200)
    check("x", "core_platform_users_retrieve", { platform_key = "elsewhere" }, 200)
  end)

  it("finds nothing wrong with artifacts, full and empty, read, written and deleted", function()
    local user, none = users_by(function(u) return A .. u .. "/artifacts/" end)
    local _, list = check(user, "ai_mentor_orgs_users_artifacts_list", { page_size = 2, ordering = "-date_created" }, 200)
    local first = list.results[1]
    check(user, "ai_mentor_orgs_users_artifacts_list", { file_extension = first.file_extension, ordering = "title" }, 200)
    check(user, "ai_mentor_orgs_users_artifacts_list", { session_id = first.session_id, llm_name = first.llm_name,
      llm_provider = first.llm_provider, username = user, search = "notes" }, 200)
    check(user, "ai_mentor_orgs_users_artifacts_list", { search = "no such words anywhere" }, 200)
    check(user, "ai_mentor_orgs_users_artifacts_list", { mentor_id = "3fa85f64-5717-4562-b3fc-2c963f66afa6",
      chat_message_id = "3fa85f64-5717-4562-b3fc-2c963f66afa6" }, 200)
    check(none, "ai_mentor_orgs_users_artifacts_list", {}, 200)
    check(user, "ai_mentor_orgs_users_artifacts_retrieve", { id = first.id }, 200)
    check(user, "ai_mentor_orgs_users_artifacts_partial_update", { id = first.id, title = "Renamed" }, 200)
    check(user, "ai_mentor_orgs_users_artifacts_update", { id = first.id, title = "Again", content = "# New" }, 200)
    check(user, "ai_mentor_orgs_users_artifacts_destroy", { id = first.id }, 204)
    check(user, "ai_mentor_orgs_users_artifacts_retrieve", { id = first.id }, 404)
  end)

  it("finds nothing wrong with all-chats and ai-prompt memory", function()
    local user = "x"
    for _, u in ipairs(assert(direct:request { path = "/api/core/platform/users/", query = { page_size = 100 } }).body.results) do
      if direct:request { path = "/api/ai-prompt/orgs/main/users/" .. u.username .. "/memory/" } then user = u.username break end
    end
    check(user, "ai_prompt_orgs_users_all_chats_memory_destroy", {})
    check(user, "ai_prompt_orgs_users_all_chats_memory_retrieve", {}, 404)
    local _, rec = check(user, "ai_prompt_orgs_users_all_chats_memory_create",
      { username = user, platform_key = "main", content = "Likes short answers" }, 201)
    check(user, "ai_prompt_orgs_users_all_chats_memory_retrieve", {}, 200)
    check(user, "ai_prompt_orgs_users_all_chats_memory_update", { username = user, platform_key = "main" }, 200)
    check(user, "ai_prompt_orgs_users_all_chats_memory_update_2", { memory_id = rec.id, username = user,
      platform_key = "main", session_id = "3fa85f64-5717-4562-b3fc-2c963f66afa6" }, 200)
    check(user, "ai_prompt_orgs_users_all_chats_memory_destroy_2", { memory_id = rec.id }, 204)
    local _, mem = check(user, "ai_prompt_orgs_users_memory_retrieve", {}, 200)
    check(user, "ai_prompt_orgs_users_memory_destroy_2", { memory_id = mem.id }, 204)
    check(user, "ai_prompt_orgs_users_memory_destroy", {}, 404)
  end)

  it("finds nothing wrong with edX memory, full, filtered and empty", function()
    local user, none = users_by(function(u) return A .. u .. "/edx-memory/" end)
    local _, list = check(user, "ai_mentor_orgs_users_edx_memory_list", { page_size = 100 }, 200)
    local rec = list.results[1]
    check(user, "ai_mentor_orgs_users_edx_memory_list", { course_id = rec.course_id, student = rec.student,
      ordering = "-date_created" }, 200)
    check(none, "ai_mentor_orgs_users_edx_memory_list", { username = user }, 200)
    check(user, "ai_mentor_orgs_users_edx_memory_list", { course_id = "course-v1:none+X+1" }, 200)
    check(none, "ai_mentor_orgs_users_edx_memory_list", {}, 200)
    check(user, "ai_mentor_orgs_users_edx_memory_retrieve", { id = rec.id }, 200)
    check(user, "ai_mentor_orgs_users_edx_memory_destroy", { id = rec.id }, 204)
  end)

  it("finds nothing wrong with profile memory tags, down to an empty list", function()
    local user = assert(direct:request { path = "/api/core/platform/users/", query = { page_size = 1 } }).body.results[1].username
    check(user, "ai_mentor_orgs_users_ai_user_profile_memory_create", { tag = "goal", detail = "pass the exam" }, 200)
    local _, tags = check(user, "ai_mentor_orgs_users_ai_user_profile_memory_list", {}, 200)
    for _, t in ipairs(tags) do check(user, "ai_mentor_orgs_users_ai_user_profile_memory_destroy", { tag = t.tag }, 204) end
    local _, after = check(user, "ai_mentor_orgs_users_ai_user_profile_memory_list", {}, 200)
    assert.equal(0, #after)
  end)

  it("finds nothing wrong with ai-mentor memories, full, filtered and empty", function()
    local user, none = users_by(function(u) return A .. u .. "/memories/" end)
    local _, list = check(user, "ai_mentor_orgs_users_memories_list", { mode = "all" }, 200)
    local m = list.results[1]
    check(user, "ai_mentor_orgs_users_memories_list", { mentor = m.mentor, mode = m.mode, platform = "main",
      session = m.session_id, start_date = "2020-01-01", end_date = "2030-01-01" }, 200)
    check(user, "ai_mentor_orgs_users_memories_list", { category = "no-such-category" }, 200)
    check(none, "ai_mentor_orgs_users_memories_list", {}, 200)
    check(none, "ai_mentor_orgs_users_filtered_memories_list", { username = user, page_size = 1 }, 200)
    check(none, "ai_mentor_orgs_users_filtered_memories_list", {}, 200)
    check(user, "ai_mentor_orgs_users_memory_retrieve", { memory_unique_id_or_name = m.name }, 200)
    check(user, "ai_mentor_orgs_users_memory_destroy", { memory_unique_id_or_name = m.unique_id }, 200)
  end)

  it("finds nothing wrong with custom instructions", function()
    local user = assert(direct:request { path = "/api/core/platform/users/", query = { page_size = 1 } }).body.results[1].username
    check(user, "ai_mentor_orgs_users_custom_instruction_create", { about_user = "A maths student",
      mentor_tone = "friendly", profession = "student", desired_mentor_traits = "patient" }, 201)
    check(user, "ai_mentor_orgs_users_custom_instruction_retrieve", {}, 200)
    check(user, "ai_mentor_orgs_users_custom_instruction_update", { about_user = json.null, profession = "teacher" }, 200)
  end)

  it("finds nothing wrong with chat-history export tasks, with and without history", function()
    local talked = assert(direct:request { path = "/api/ai-analytics/orgs/main/users/x/transcripts/" }).body[1].user_id
    local silent
    for _, u in ipairs(assert(direct:request { path = "/api/core/platform/users/", query = { page_size = 100 } }).body.results) do
      local found = false
      for _, t in ipairs(assert(direct:request { path = "/api/ai-analytics/orgs/main/users/x/transcripts/" }).body) do
        if t.user_id == u.username then found = true break end
      end
      if not found then silent = u.username break end
    end
    for _, user in ipairs { talked, silent } do
      local _, task = check(user, "ai_mentor_orgs_users_export_chathistory_create", {}, 200)
      for _ = 1, 3 do check(user, "ai_mentor_orgs_users_downloads_tasks_retrieve", { task_id = task.task_id }, 200) end
      check(user, "ai_mentor_orgs_users_downloads_tasks_retrieve", { task_id = task.task_id, to_csv = true }, 200)
    end
  end)

  it("finds nothing wrong with the analytics reports, over busy and empty ranges", function()
    local busy = { start_date = "2026-01-01", end_date = "2026-11-24" }
    local empty = { start_date = "2020-01-01", end_date = "2020-01-31" }
    for _, range in ipairs { busy, empty } do
      local function with(extra)
        local p = {}
        for k, v in pairs(range) do p[k] = v end
        for k, v in pairs(extra or {}) do p[k] = v end
        return p
      end
      check("x", "ai_analytics_orgs_users_usage_summary_list", with(), 200)
      check("x", "ai_analytics_orgs_users_usage_summary_list", with { group_by = "week" }, 200)
      check("x", "ai_analytics_orgs_users_user_cohorts_over_time_retrieve", with { aggregation = "weekly" }, 200)
      check("x", "ai_analytics_orgs_users_transcripts_list", with { topics = "Algebra,Python" }, 200)
      check("x", "ai_analytics_orgs_users_user_sentiment_retrieve", with(), 200)
      check("x", "ai_analytics_orgs_users_most_discussed_topics_list", with(), 200)
      check("x", "ai_analytics_orgs_users_registered_users_trend_list", with { aggregation = "monthly" }, 200)
      check("x", "ai_analytics_orgs_users_conversation_list", with(), 200)
      check("x", "ai_analytics_orgs_users_conversation_list", with { aggregation = "hourly" }, 200)
      check("x", "ai_analytics_orgs_users_average_messages_per_session_list", with { aggregation = "weekly" }, 200)
    end
    check("x", "ai_analytics_orgs_users_overview_summary_retrieve", {}, 200)
    check("x", "ai_analytics_orgs_users_user_metrics_retrieve", { group_by = "day" }, 200)
  end)

  it("has called every operation the sandbox serves", function()
    local missed = {}
    for _, op in ipairs(served()) do
      if not seen[op.id] then missed[#missed + 1] = op.id end
    end
    assert.same({}, missed)
  end)

  it("leaves no violation outside the allow-list, and no allow-list entry unused", function()
    assert.is_true(checked > 60, tostring(checked))
    assert.same({}, { table.unpack(bad) })
    local stale = {}
    for _, entry in ipairs(allow.entries) do
      if not used[entry] then stale[#stale + 1] = entry.op .. " " .. entry.where end
    end
    assert.same({}, stale)
  end)
end)
