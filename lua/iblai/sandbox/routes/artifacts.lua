--- Artifacts: list with filters, search and ordering; retrieve, update, delete.
local respond = require "iblai.sandbox.respond"
local scope = require "iblai.sandbox.routes.scope"
local dates = require "iblai.sandbox.dates"

local BASE = "/api/ai-mentor/orgs/{org}/users/{user_id}/artifacts/"
local LIST_FIELDS = { "id", "title", "file_extension", "llm_name", "llm_provider", "date_created", "date_updated",
  "username", "session_id", "content_length" }
local ORDERINGS = { date_created = true, date_updated = true, title = true }
local FILTERS = { "session_id", "file_extension", "llm_name", "llm_provider", "username" }

return function(router, model)
  local function find(user, raw)
    local id = scope.int_id(raw)
    for i, a in ipairs(model.state.artifacts) do
      if a.id == id and a.username == user.username then return a, i end
    end
  end

  router:add(BASE, {
    GET = function(req, p)
      local user, err = scope.user(model, p)
      if not user then return err end
      local ordering = req.query.ordering or "-date_created"
      if not ORDERINGS[ordering:gsub("^%-", "")] then
        return respond.invalid { ordering = { ("Select a valid choice. %s is not one of the available choices."):format(ordering) } }
      end
      local search = (req.query.search or ""):lower()
      local list = {}
      for _, a in ipairs(model.state.artifacts) do
        local keep = a.username == user.username
        for _, f in ipairs(FILTERS) do
          if keep and req.query[f] and tostring(a[f]) ~= req.query[f] then keep = false end
        end
        if keep and search ~= "" then
          keep = a.title:lower():find(search, 1, true) or a.content:lower():find(search, 1, true)
        end
        if keep then
          local row = {}
          for _, f in ipairs(LIST_FIELDS) do row[f] = a[f] end
          list[#list + 1] = row
        end
      end
      local field, desc = ordering:gsub("^%-", ""), ordering:sub(1, 1) == "-"
      table.sort(list, function(a, b)
        if a[field] == b[field] then return a.id < b.id end
        if desc then return a[field] > b[field] end
        return a[field] < b[field]
      end)
      return respond.page(req, list)
    end,
  })

  local function update(partial)
    return function(req, p)
      local user, err = scope.user(model, p)
      if not user then return err end
      local a = find(user, p.id)
      if not a then return respond.not_found() end
      local body
      body, err = scope.body(req)
      if not body then return err end
      if not partial then
        for _, f in ipairs { "title", "content" } do
          if type(body[f]) ~= "string" then return respond.invalid { [f] = { "This field is required." } } end
        end
      end
      if body.title ~= nil and (type(body.title) ~= "string" or #body.title > 255) then
        return respond.invalid { title = { "Ensure this field has no more than 255 characters." } }
      end
      for _, f in ipairs { "title", "content", "file_extension", "metadata" } do
        if body[f] ~= nil then a[f] = body[f] end
      end
      a.content_length = #a.content
      a.date_updated = dates.iso(model.state.today + 43200)
      return respond.json(200, a)
    end
  end

  router:add(BASE .. "{id}/", {
    GET = function(_, p)
      local user, err = scope.user(model, p)
      if not user then return err end
      local a = find(user, p.id)
      return a and respond.json(200, a) or respond.not_found()
    end,
    PUT = update(false),
    PATCH = update(true),
    DELETE = function(_, p)
      local user, err = scope.user(model, p)
      if not user then return err end
      local a, i = find(user, p.id)
      if not a then return respond.not_found() end
      table.remove(model.state.artifacts, i)
      return respond.no_content()
    end,
  })
end
