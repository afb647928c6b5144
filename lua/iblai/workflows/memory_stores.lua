--- The per-user memory stores a reset empties: what each is, how it is read, how it is deleted
-- (operationIds of the API), kept apart from the reset's engine.
-- @module iblai.workflows.memory_stores
local M = {}

--- The stores, in the order they are reset.
M.STORES = { "chats", "prompt", "edx", "profile", "mentor" }

-- Per store: a single record (read with `get`, deleted with `delete`), or a listing (`list`, maybe
-- in pages) whose items are deleted one by one with `delete`, the item's key going in `param`.
M.STORE = {
  chats = {
    title = "all-chats memory", single = true,
    get = "ai_prompt_orgs_users_all_chats_memory_retrieve", delete = "ai_prompt_orgs_users_all_chats_memory_destroy",
  },
  prompt = {
    title = "ai-prompt memory", single = true,
    get = "ai_prompt_orgs_users_memory_retrieve", delete = "ai_prompt_orgs_users_memory_destroy",
  },
  edx = {
    title = "edX memory records", list = "ai_mentor_orgs_users_edx_memory_list", paged = true,
    delete = "ai_mentor_orgs_users_edx_memory_destroy", param = "id",
    key = function(item) return item.id end,
  },
  profile = {
    title = "profile memory tags", list = "ai_mentor_orgs_users_ai_user_profile_memory_list",
    delete = "ai_mentor_orgs_users_ai_user_profile_memory_destroy", param = "tag",
    key = function(item) return item.tag end,
  },
  mentor = {
    title = "ai-mentor memories", list = "ai_mentor_orgs_users_filtered_memories_list", paged = true,
    by_username = true, delete = "ai_mentor_orgs_users_memory_destroy", param = "memory_unique_id_or_name",
    key = function(item) return item.unique_id or item.name end,
  },
}

--- Asked of a user to tell "nothing stored" from "no such user" when only 404s came back.
M.USER_CHECK = "ai_mentor_orgs_users_ai_user_profile_memory_list"

--- Checks a list of store names.
-- @param stores list of strings (nil means all)
-- @return the list, each store once, or nil and a message naming the wrong one
function M.check(stores)
  if stores == nil then return M.STORES end
  if #stores == 0 then return nil, "no store given; choose from " .. table.concat(M.STORES, ",") end
  local list, seen = {}, {}
  for _, s in ipairs(stores) do
    if not M.STORE[s] then
      return nil, ("unknown store '%s'; choose from %s"):format(tostring(s), table.concat(M.STORES, ","))
    end
    if not seen[s] then -- a store named twice is reset once
      seen[s] = true
      list[#list + 1] = s
    end
  end
  return list
end

return M
