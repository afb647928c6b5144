-- Reset the memory of a few users: first look at what would go, then delete it, then check.
-- iblai examples/memory_reset.lua [USERNAME ...]   (IBLAI_BASE_URL, IBLAI_API_KEY, IBLAI_ORG)
-- Without usernames it takes the first three users of the org. Try it on `iblai sandbox`.
local reset = require "iblai.workflows.memory_reset"
local client <close> = assert(iblai.from_env())

-- Usernames from the command line, or the first three of the org's users listing.
local users = { ... }
if #users == 0 then
  for user in client:each("core_platform_users_retrieve", { platform_key = client.org }) do
    users[#users + 1] = user.username
    if #users == 3 then break end -- break stops the pages still being fetched
  end
end

-- The API keeps five kinds of memory per user (reset.STORES): the all-chats memory and the
-- ai-prompt memory are one record each; edX records, profile tags and ai-mentor memories are
-- lists. A dry run reads them all and deletes nothing.
local plan = assert(reset.run(client, { users = users, dry_run = true }))
print("would delete:")
for _, item in ipairs(plan.plan) do
  if #item.ids > 0 then print(("  %-24s %-8s %d"):format(item.user, item.store, #item.ids)) end
end

-- The real run. A journal file makes it resumable: each finished (user, store) is appended, and
-- running again with the same file skips those. on_progress sees every step.
local journal = os.tmpname()
local result, err = reset.run(client, {
  users = users, journal = journal, concurrency = 8,
  on_progress = function(event)
    if event.type == "user" then io.stderr:write(("  %s done (%d/%d)\n"):format(event.user, event.done, event.total)) end
  end,
})
os.remove(journal)
if not result then error(err, 0) end -- the run could not start: err says why
for _, store in ipairs(reset.STORES) do print(("deleted %-8s %d"):format(store, result.deleted[store])) end
for _, f in ipairs(result.failed) do print(("failed  %s %s: %s"):format(f.user, f.store, f.error)) end

-- Read the stores again: every one is empty now (the all-chats memory answers 404).
for _, user in ipairs(users) do
  local edx = assert(client:collect("ai_mentor_orgs_users_edx_memory_list", { user_id = user }))
  local tags = assert(client:call("ai_mentor_orgs_users_ai_user_profile_memory_list", { user_id = user }))
  local _, gone = client:call("ai_prompt_orgs_users_all_chats_memory_retrieve", { user_id = user })
  print(("%-24s edX records %d, profile tags %d, all-chats memory %s"):format(user, #edx, #tags,
    gone and gone.status == 404 and "gone" or "still there"))
end
