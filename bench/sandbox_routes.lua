-- The routes `make bench` measures on the sandbox, for one of the first users (the same user,
-- with the same records, in an org of any size): prints "label path" lines.
-- usage: iblai bench/sandbox_routes.lua BASE_URL
local client = assert(iblai.new { base_url = arg[1], api_key = "bench", org = "main" })

local function get(path, query)
  local res = client:request { path = path, query = query }
  return res and res.body
end

for u in client:each("core_platform_users_retrieve", { page_size = 50 }) do
  local name = u.username
  local mentor = "/api/ai-mentor/orgs/main/users/" .. name .. "/"
  local prompt = "/api/ai-prompt/orgs/main/users/" .. name .. "/"
  local artifacts, edx = get(mentor .. "artifacts/"), get(mentor .. "edx-memory/")
  local memories = get(mentor .. "memories/")
  if artifacts.count > 0 and edx.count > 0 and memories.count > 0 and get(prompt .. "all-chats-memory/")
    and get(prompt .. "memory/") and #get(mentor .. "ai-user-profile-memory/") > 0
    and get(mentor .. "custom-instruction/") then
    local lines = {
      { "users, a page of 10", "/api/core/platform/users/?page_size=10" },
      { "artifacts, a page of 10", mentor .. "artifacts/?page_size=10" },
      { "one artifact", mentor .. "artifacts/" .. math.tointeger(artifacts.results[1].id) .. "/" },
      { "edX memory records", mentor .. "edx-memory/" },
      { "one edX memory record", mentor .. "edx-memory/" .. math.tointeger(edx.results[1].id) .. "/" },
      { "all-chats memory", prompt .. "all-chats-memory/" },
      { "ai-prompt memory", prompt .. "memory/" },
      { "profile memory tags", mentor .. "ai-user-profile-memory/" },
      { "memories", mentor .. "memories/" },
      { "filtered memories", mentor .. "filtered-memories/?mode=all" },
      { "one memory", mentor .. "memory/" .. memories.results[1].unique_id .. "/" },
      { "custom instruction", mentor .. "custom-instruction/" },
      { "analytics user-metrics*", "/api/ai-analytics/orgs/main/users/" .. name .. "/user-metrics/" },
    }
    for _, l in ipairs(lines) do print(l[1] .. "\t" .. l[2]) end
    break
  end
end
client:close()
