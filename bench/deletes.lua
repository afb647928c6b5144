-- client:call_many of N DELETEs at a concurrency: prints requests per second.
-- usage: iblai bench/deletes.lua BASE_URL N CONCURRENCY
local base, n, concurrency = arg[1], tonumber(arg[2]), tonumber(arg[3])
local client = assert(iblai.new { base_url = base, api_key = "bench", org = "main", username = "u" })
local calls = {}
for i = 1, n do calls[i] = { "ai_mentor_orgs_users_edx_memory_destroy", { id = i } } end
local core = require "iblai.core"
local t0 = core.now()
local results, errs = client:call_many(calls, { concurrency = concurrency })
local elapsed = core.now() - t0
for i = 1, n do
  if not results[i] then error(("DELETE %d failed: %s"):format(i, tostring(errs[i]))) end
end
print(("%.1f"):format(n / elapsed))
client:close()
