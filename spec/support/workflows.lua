-- Helpers for the workflow specs: what each memory store of a user holds, read through the API;
-- sandbox route scripts; files; the program in the background.
local helpers = require "support.helpers"
local iblai = require "iblai"
local json = require "iblai.json"

local M = {}

M.STORES = { "chats", "prompt", "edx", "profile", "mentor" }

--- A client of the sandbox that never waits between retries.
function M.client(sb, opts)
  local o = { base_url = sb.url, api_key = "sandbox", org = "main", sleep = function() end }
  for k, v in pairs(opts or {}) do o[k] = v end
  return assert(iblai.new(o))
end

--- The first n usernames of the sandbox's org.
function M.usernames(client, n)
  local names = {}
  for u in client:each("core_platform_users_retrieve", { page_size = 100 }) do
    if #names < (n or math.huge) then names[#names + 1] = u.username end
  end
  return names
end

local function present(client, op, user)
  local body, err = client:call(op, { user_id = user })
  if body then return 1 end
  assert(err.status == 404, tostring(err))
  return 0
end

--- How many items each store holds for a user: { chats = 0|1, prompt = 0|1, edx = n, ... }.
function M.holdings(client, user)
  local edx = assert(client:collect("ai_mentor_orgs_users_edx_memory_list", { user_id = user, page_size = 3 }))
  local mentor = assert(client:collect("ai_mentor_orgs_users_filtered_memories_list",
    { user_id = user, username = user, page_size = 3 }))
  local profile = assert(client:call("ai_mentor_orgs_users_ai_user_profile_memory_list", { user_id = user }))
  return {
    chats = present(client, "ai_prompt_orgs_users_all_chats_memory_retrieve", user),
    prompt = present(client, "ai_prompt_orgs_users_memory_retrieve", user),
    edx = #edx, profile = #profile, mentor = #mentor,
  }
end

--- Per store, the items all the users hold together.
function M.totals(client, users)
  local sum = {}
  for _, s in ipairs(M.STORES) do sum[s] = 0 end
  for _, u in ipairs(users) do
    for s, n in pairs(M.holdings(client, u)) do sum[s] = sum[s] + n end
  end
  return sum
end

function M.sum(counts)
  local n = 0
  for _, s in ipairs(M.STORES) do n = n + (counts[s] or 0) end
  return n
end

function M.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

function M.decode(text)
  return assert(json.decode(text), "not JSON: " .. tostring(text))
end

--- A fresh temporary directory.
function M.tmpdir()
  local path = os.tmpname()
  os.remove(path)
  assert(os.execute("mkdir -p " .. helpers.quote(path)))
  return path
end

function M.rmdir(path)
  os.execute("rm -rf " .. helpers.quote(path))
end

--- The names in a directory (hidden ones too), sorted.
function M.ls(dir)
  local names = {}
  local p = assert(io.popen("ls -A " .. helpers.quote(dir)))
  for line in p:lines() do names[#names + 1] = line end
  p:close()
  table.sort(names)
  return names
end

--- A sandbox route script (iblai sandbox --script FILE) from Lua source.
function M.script(source)
  return M.write(os.tmpname(), source)
end

--- The environment for the program to talk to a sandbox.
function M.env(sb)
  return { IBLAI_BASE_URL = sb.url, IBLAI_API_KEY = "sandbox", IBLAI_ORG = "main" }
end

--- Starts the program in the background; returns its pid and the files of its stdout and stderr.
function M.start(args, env)
  local out, err, pidfile = os.tmpname(), os.tmpname(), os.tmpname()
  local cmd = {}
  for k, v in pairs(env or {}) do cmd[#cmd + 1] = k .. "=" .. helpers.quote(v) end
  cmd[#cmd + 1] = helpers.quote(helpers.program)
  for _, a in ipairs(args) do cmd[#cmd + 1] = helpers.quote(a) end
  -- the exit status goes to a file, since the shell that waits for it is gone
  local status = os.tmpname()
  os.execute(("(%s </dev/null >%s 2>%s; echo $? >%s) & echo $! >%s"):format(table.concat(cmd, " "), out, err,
    status, pidfile))
  local job = { out = out, err = err, status = status }
  -- the program's own pid: the child of the subshell whose pid we have
  local sub = tonumber(M.read(pidfile))
  os.remove(pidfile)
  for _ = 1, 100 do
    local p = io.popen("pgrep -P " .. sub)
    local pid = p:read("n")
    p:close()
    if pid then
      job.pid = pid
      break
    end
    os.execute("sleep 0.02")
  end
  assert(job.pid, "the program did not start")
  return job
end

--- Waits for a background program to end; returns its exit status, stdout and stderr.
function M.wait(job, seconds)
  for _ = 1, (seconds or 60) * 20 do
    local code = tonumber(M.read(job.status) or "")
    if code then
      local out, err = M.read(job.out), M.read(job.err)
      for _, f in ipairs { job.out, job.err, job.status } do os.remove(f) end
      return code, out, err
    end
    os.execute("sleep 0.05")
  end
  error("the program did not end in time")
end

--- Waits until fn() is true (checked every 20 ms), at most `seconds`.
function M.until_true(fn, seconds)
  for _ = 1, (seconds or 30) * 50 do
    if fn() then return true end
    os.execute("sleep 0.02")
  end
  return false
end

function M.lines(path)
  local n = 0
  for _ in (M.read(path) or ""):gmatch("\n") do n = n + 1 end
  return n
end

return M
