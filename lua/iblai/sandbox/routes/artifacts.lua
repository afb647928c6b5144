--- Artifacts: list with filters, search and ordering; retrieve, update, delete.
local respond = require "iblai.sandbox.respond"
local scope = require "iblai.sandbox.routes.scope"
local body = require "iblai.sandbox.body"
local dates = require "iblai.sandbox.dates"
local json = require "iblai.sandbox.json"

local BASE = "/api/ai-mentor/orgs/{org}/users/{user_id}/artifacts/"
local LIST_FIELDS = { "id", "title", "file_extension", "llm_name", "llm_provider", "date_created", "date_updated",
  "username", "session_id", "content_length" }
local DETAIL_FIELDS = { "chat_message", "content", "metadata", table.unpack(LIST_FIELDS) }
local ORDERINGS = { date_created = true, date_updated = true, title = true, id = true }
-- Query parameter -> the record field it must equal (chat_message_id is typed uuid in the spec
-- while chat_message is an integer: the value is compared as text, so a uuid matches nothing).
local FILTERS = { session_id = "session_id", file_extension = "file_extension", llm_name = "llm_name",
  llm_provider = "llm_provider", mentor_id = "mentor", chat_message_id = "chat_message" }

local function view(a, fields)
  local out = {}
  for _, f in ipairs(fields) do out[f] = a[f] end
  if out.metadata == nil and fields == DETAIL_FIELDS then out.metadata = json.object() end
  return out
end

local function list_view(a)
  return view(a, LIST_FIELDS)
end

return function(router, model)
  local function find(st, raw)
    local id = scope.int_id(raw)
    for i, a in ipairs(st.artifacts) do
      if a.id == id then return a, i end
    end
  end

  router:add(BASE, {
    GET = function(req, p)
      local user, err = scope.user(model, p)
      if not user then return err end
      local ordering = req.query.ordering or "-date_created"
      local field, desc = ordering:gsub("^%-", ""), ordering:sub(1, 1) == "-"
      if not ORDERINGS[field] then
        return respond.field_error("ordering", ("Select a valid choice. %s is not one of the available choices."):format(ordering))
      end
      local owner = model:user(req.query.username or user.username) -- the path's user unless named
      local search = (req.query.search or ""):lower()
      local wanted = {} -- the filters this query sets: record field -> text it must equal
      for param, f in pairs(FILTERS) do
        if req.query[param] then wanted[f] = req.query[param] end
      end
      local list = {}
      for _, a in ipairs(owner and model:stores(owner).artifacts or {}) do
        local keep = true
        for f, value in pairs(wanted) do
          if tostring(a[f]) ~= value then
            keep = false
            break
          end
        end
        if keep and search ~= "" then
          keep = a.title:lower():find(search, 1, true) or a.content:lower():find(search, 1, true)
        end
        if keep then list[#list + 1] = a end
      end
      table.sort(list, function(a, b)
        if a[field] == b[field] then return a.id < b.id end
        if desc then return a[field] > b[field] end
        return a[field] < b[field]
      end)
      return respond.page(req, list, nil, nil, list_view)
    end,
  })

  local function update(op)
    return function(req, p)
      local user, err = scope.user(model, p)
      if not user then return err end
      local a = find(model:change(user, "artifacts"), p.id)
      if not a then return respond.not_found() end
      local fields
      fields, err = body.read(req, op)
      if not fields then return err end
      for f, v in pairs(fields) do
        a[f] = f == "metadata" and type(v) == "table" and json.object(v) or v
      end
      a.content_length = #a.content
      a.date_updated = dates.iso(model.state.today + 43200)
      return respond.json(200, view(a, DETAIL_FIELDS))
    end
  end

  router:add(BASE .. "{id}/", {
    GET = function(_, p)
      local user, err = scope.user(model, p)
      if not user then return err end
      local a = find(model:stores(user), p.id)
      return a and respond.json(200, view(a, DETAIL_FIELDS)) or respond.not_found()
    end,
    PUT = update("ai_mentor_orgs_users_artifacts_update"),
    PATCH = update("ai_mentor_orgs_users_artifacts_partial_update"),
    DELETE = function(_, p)
      local user, err = scope.user(model, p)
      if not user then return err end
      local st = model:change(user, "artifacts")
      local a, i = find(st, p.id)
      if not a then return respond.not_found() end
      table.remove(st.artifacts, i)
      return respond.no_content()
    end,
  })
end
