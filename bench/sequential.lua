-- Sequential small GETs through client:request (JSON decoded). Prints requests per second.
-- usage: iblai bench/sequential.lua BASE_URL PATH N
local base, path, n = arg[1], arg[2], tonumber(arg[3])
local client = assert(iblai.new { base_url = base, api_key = "bench" })
local core = require "iblai.core"
local t0 = core.now()
for i = 1, n do
  local res, err = client:request { path = path }
  if not res then error(("request %d failed: %s"):format(i, tostring(err))) end
end
print(("%.1f"):format(n / (core.now() - t0)))
client:close()
