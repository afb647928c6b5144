-- Export the chat history of a few users to files, then poll one export by hand.
-- iblai examples/export_chats.lua [DIR]   (IBLAI_BASE_URL, IBLAI_API_KEY, IBLAI_ORG)
-- Try it on `iblai sandbox`; the files go to DIR (default: exports).
local export = require "iblai.workflows.chat_export"
local client <close> = assert(iblai.from_env())
local out = arg[1] or "exports"

local users = {}
for user in client:each("core_platform_users_retrieve", { platform_key = client.org }) do
  users[#users + 1] = user.username
  if #users == 4 then break end
end

-- The workflow starts one export task per user, polls each until the history is ready and
-- writes DIR/<username>.json whole (a temporary file renamed into place). A user whose file is
-- already there is skipped, so running this twice exports nothing the second time.
local result, err = export.run(client, { users = users, out = out, format = "json", poll_initial = 0.2 })
if not result then error(err, 0) end
print(("exported %d, skipped %d, timed out %d, failed %d; files in %s"):format(result.exported, result.skipped,
  #result.timed_out, #result.failed, out))

-- The same by hand: an export task answers 200 with {"state": "task_not_ready"} until it is
-- done, and 200 with the history after; client:wait_task polls with growing intervals (here
-- 0.2 s, then x1.5, at most 2 s apart) until the answer has no `state`, or the deadline passes.
local task = assert(client:call("ai_mentor_orgs_users_export_chathistory_create", { user_id = users[1] }))
local history, werr = client:wait_task("ai_mentor_orgs_users_downloads_tasks_retrieve",
  { user_id = users[1], task_id = task.task_id },
  { interval = 0.2, max_interval = 2, deadline = 60,
    on_poll = function(body, _, polls) print(("  poll %d: %s"):format(polls, body and body.state or "ready")) end })
if not history then error(werr, 0) end
print(("%s: %d messages, the first: %s"):format(users[1], #history, history[1] and history[1].content or "-"))
