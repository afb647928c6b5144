--- GET /api/core/platform/users/: the org's users, in the next_page envelope.
local respond = require "iblai.sandbox.respond"
local json = require "iblai.sandbox.json"
local Model = require "iblai.sandbox.model"

local SORTS = { username = true, email = true, date_joined = true, user_id = true }

-- "ada.lovelace1" -> "Ada Lovelace"
local function full_name(username)
  local first, last = username:match("^(%a+)%.(%a+)")
  if not first then return username end
  return first:sub(1, 1):upper() .. first:sub(2) .. " " .. last:sub(1, 1):upper() .. last:sub(2)
end

local function row(u, org)
  return { user_id = u.user_id, username = u.username, name = full_name(u.username), email = u.email,
    is_admin = u.is_admin, is_staff = false, active = u.active, date_joined = u.date_joined, added_on = u.date_joined,
    expired_on = json.null, platform_key = org, platform_org = org }
end

return function(router, model)
  router:add("/api/core/platform/users/", {
    GET = function(req)
      local org = model.state.org
      local policies, err = respond.bool_param(req, "return_policies", false)
      if policies == nil then return err end
      local sort = req.query.sort or "user_id"
      if not SORTS[(sort:gsub("^%-", ""))] then
        return respond.field_error("sort", ('"%s" is not a valid choice: sort by username, email, date_joined or '
          .. 'user_id, with a leading - for descending.'):format(sort))
      end
      for _, name in ipairs { "platform_key", "platform_org", "query" } do
        if req.query[name] == "" then return respond.field_error(name, "This field may not be blank.") end
      end
      local list = {}
      local key, org_name = req.query.platform_key, req.query.platform_org
      if (not key or key == org) and (not org_name or org_name:lower() == org:lower()) then
        list = model:users_by(sort)
        local needle = (req.query.query or ""):lower()
        if needle ~= "" then -- a text search reads every user; the listing alone does not
          local found = {}
          for _, u in ipairs(list) do
            if u.username:lower():find(needle, 1, true) or u.email:lower():find(needle, 1, true) then
              found[#found + 1] = u
            end
          end
          list = found
        end
      end
      -- The schema puts allowed_policies and data beside results (its example nests them inside
      -- results, which the schema types as a list): the schema wins.
      return respond.page(req, list, "next_page", policies and function(results)
        local data = {}
        for i, u in ipairs(results) do
          data[i] = { username = u.username, user_id = u.user_id, policies = { u.is_admin and "Platform Admin" or "Learner" } }
        end
        return { allowed_policies = Model.POLICIES, data = data }
      end, function(u) return row(u, org) end)
    end,
  })
end
