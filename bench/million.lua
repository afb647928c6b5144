-- Walks 1,000,000 items with client:each and prints the item count and the peak resident
-- memory of the process in MB (VmHWM).   usage: iblai bench/million.lua BASE_URL
local client = assert(iblai.new { base_url = arg[1], api_key = "bench", org = "main", username = "million" })
local n = 0
for _ in client:each("ai_mentor_orgs_users_artifacts_list", { page_size = 100 }) do n = n + 1 end
client:close()
local status = assert(io.open("/proc/self/status")):read("a")
local kb = tonumber(status:match("VmHWM:%s*(%d+)"))
print(("%d %.1f"):format(n, kb / 1024))
