-- A first script: who am I talking to, and what does the org's first page of users hold?
-- Run against the sandbox: iblai examples/hello.lua   (IBLAI_BASE_URL etc. set by make demo)
local client = assert(iblai.from_env())
print(("talking to %s as %s in org %s"):format(client.base_url, client.username or "?", client.org or "?"))

local res, err = client:request { path = "/echo", query = { hello = "world" } }
if not res then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
print(("%s answered %d to %s %s"):format(res.url, res.status, res.body.method, res.body.path))
client:close()
