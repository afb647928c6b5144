--- GET /api/core/platform/users/: the org's users, in the next_page envelope.
local respond = require "iblai.sandbox.respond"

return function(router, model)
  router:add("/api/core/platform/users/", {
    GET = function(req)
      local key = req.query.platform_key or req.query.platform_org
      if key and key ~= model.state.org then return respond.page(req, {}, "next_page") end
      local needle = (req.query.query or ""):lower()
      local list = {}
      for _, u in ipairs(model.state.users) do
        if needle == "" or u.username:lower():find(needle, 1, true) or u.email:lower():find(needle, 1, true) then
          list[#list + 1] = { user_id = u.user_id, username = u.username, email = u.email, is_admin = u.is_admin,
            active = u.active, date_joined = u.date_joined }
        end
      end
      if req.query.sort == "-username" then table.sort(list, function(a, b) return a.username > b.username end) end
      return respond.page(req, list, "next_page")
    end,
  })
end
