-- The memory-reset workflow over the first N users of a sandbox, all stores: prints users per
-- second, then the items deleted and the requests sent (the users listing is not timed).
-- usage: iblai bench/memory_reset.lua BASE_URL CONCURRENCY [N]
local reset = require "iblai.workflows.memory_reset"
local core = require "iblai.core"
local base, concurrency, n = arg[1], math.tointeger(tonumber(arg[2])), tonumber(arg[3])
local client = assert(iblai.new { base_url = base, api_key = "bench", org = "main", concurrency = concurrency })
local users = {}
for u in client:each("core_platform_users_retrieve", { page_size = 100 }) do
  if not n or #users < n then users[#users + 1] = u.username end
end
local t0 = core.now()
local result = assert(reset.run(client, { users = users, concurrency = concurrency }))
local elapsed = core.now() - t0
if #result.failed > 0 then error(("%d (user, store) pairs failed: %s"):format(#result.failed, result.failed[1].error)) end
local items = 0
for _, s in ipairs(reset.STORES) do items = items + result.deleted[s] end
print(("%.2f %d %d %.2f"):format(#users / elapsed, #users, items, elapsed))
client:close()
