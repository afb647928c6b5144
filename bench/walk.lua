-- client:each over a listing: prints items per second.   usage: iblai bench/walk.lua BASE_URL USER
local base, user = arg[1], arg[2] or "u"
local client = assert(iblai.new { base_url = base, api_key = "bench", org = "main", username = user })
local core = require "iblai.core"
local t0, n = core.now(), 0
for _ in client:each("ai_mentor_orgs_users_artifacts_list", { page_size = 100 }) do n = n + 1 end
print(("%.1f"):format(n / (core.now() - t0)))
client:close()
