--- Every per-user memory store the memory-reset workflow touches, plus custom instructions.
local respond = require "iblai.sandbox.respond"
local scope = require "iblai.sandbox.routes.scope"
local body = require "iblai.sandbox.body"
local dates = require "iblai.sandbox.dates"
local json = require "iblai.sandbox.json"

local PROMPT = "/api/ai-prompt/orgs/{org}/users/{user_id}/"
local MENTOR = "/api/ai-mentor/orgs/{org}/users/{user_id}/"
local DAY = 86400
local EDX_ORDERINGS = { id = true, course_id = true, date_created = true, last_modified = true, student = true,
  username = true }
local MODES = { guided = true, regular = true, all = true }

-- Sorts records by an ordering query value such as "-date_created"; nil and a 400 for others.
local function ordered(req, list, allowed, default)
  local ordering = req.query.ordering or default
  local field, desc = ordering:gsub("^%-", ""), ordering:sub(1, 1) == "-"
  if not allowed[field] then
    return nil, respond.field_error("ordering", ("Select a valid choice. %s is not one of the available choices."):format(ordering))
  end
  table.sort(list, function(a, b)
    if a[field] == b[field] then return a.id < b.id end
    if desc then return a[field] > b[field] end
    return a[field] < b[field]
  end)
  return list
end

-- An ai-mentor memory as the schema has it; records saved by older sandboxes lack some fields.
local function memory_view(m)
  local entries = {}
  for i, e in ipairs(m.entries or {}) do
    entries[i] = { key = e.key, value = e.value, unique_id = e.unique_id, category = e.category or json.null,
      inserted_at = e.inserted_at or m.inserted_at, updated_at = e.updated_at or m.updated_at or m.inserted_at,
      expires_at = e.expires_at or json.null }
  end
  return { unique_id = m.unique_id, name = m.name, mode = m.mode, category = m.category or json.null,
    is_auto_generated = m.is_auto_generated or false, username = m.username, email = m.email, platform = m.platform,
    mentor = m.mentor, session_id = m.session_id, catalog_item_type = m.catalog_item_type or json.null,
    catalog_item_id = m.catalog_item_id or json.null, entries = entries, inserted_at = m.inserted_at,
    updated_at = m.updated_at or m.inserted_at }
end

-- start_date/end_date (YYYY-MM-DD) as [first, stop) seconds; nil and a 400 when malformed.
local function date_range(req)
  local out = {}
  for _, f in ipairs { "start_date", "end_date" } do
    local raw = req.query[f]
    if raw and raw ~= "" then
      out[f] = dates.parse(raw)
      if not out[f] then
        return nil, respond.field_error(f, "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.")
      end
    end
  end
  return out.start_date or -math.huge, out.end_date and out.end_date - out.end_date % DAY + DAY or math.huge
end

return function(router, model)
  -- Wraps a handler so it runs only for a known org and user; it gets the user's stores (to
  -- change the kind `changes` names, when given).
  local function for_user(fn, changes)
    return function(req, p)
      local user, err = scope.user(model, p)
      if not user then return err end
      return fn(req, p, user, changes and model:change(user, changes) or model:stores(user))
    end
  end

  -- The all-chats record a body describes; the path's user owns it whatever the body says.
  local function chat_record(req, op, user, existing)
    local fields, err = body.read(req, op)
    if not fields then return nil, err end
    local rec = existing or { id = model:next_id("all_chats") }
    rec.username, rec.platform_key = user.username, fields.platform_key
    rec.content, rec.session_id = fields.content, fields.session_id
    return rec
  end

  -- A store with at most one record per user: GET it, DELETE it, 404 when there is none.
  local function one_per_user(kind, more)
    local handlers = {
      GET = for_user(function(_, _, _, st)
        return st[kind] and respond.json(200, st[kind]) or respond.not_found()
      end),
      DELETE = for_user(function(_, _, _, st)
        if not st[kind] then return respond.not_found() end
        st[kind] = nil
        return respond.no_content()
      end, kind),
    }
    for method, fn in pairs(more or {}) do handlers[method] = fn end
    return handlers
  end

  -- That store's record, when its id is the one in the path.
  local function by_id(kind, fn)
    return for_user(function(req, p, user, st)
      local rec = st[kind]
      if not rec or rec.id ~= scope.int_id(p.memory_id) then return respond.not_found() end
      return fn(req, user, rec, st)
    end, kind)
  end

  local function forget(kind)
    return function(_, _, _, st)
      st[kind] = nil
      return respond.no_content()
    end
  end

  router:add(PROMPT .. "all-chats-memory/", one_per_user("all_chats", {
    POST = for_user(function(req, _, user, st)
      local rec, err = chat_record(req, "ai_prompt_orgs_users_all_chats_memory_create", user)
      if not rec then return err end
      st.all_chats = rec
      return respond.json(201, rec)
    end, "all_chats"),
    PUT = for_user(function(req, _, user, st)
      if not st.all_chats then return respond.not_found() end
      local rec, err = chat_record(req, "ai_prompt_orgs_users_all_chats_memory_update", user, st.all_chats)
      if not rec then return err end
      return respond.json(200, { task_id = "task-" .. model:next_id("task"), message = "Memory update started." })
    end, "all_chats"),
  }))
  router:add(PROMPT .. "all-chats-memory/{memory_id}/", {
    PUT = by_id("all_chats", function(req, user, rec)
      local updated, err = chat_record(req, "ai_prompt_orgs_users_all_chats_memory_update_2", user, rec)
      return updated and respond.json(200, updated) or err
    end),
    DELETE = by_id("all_chats", forget("all_chats")),
  })
  router:add(PROMPT .. "memory/", one_per_user("prompt_memory"))
  router:add(PROMPT .. "memory/{memory_id}/", { DELETE = by_id("prompt_memory", forget("prompt_memory")) })

  -- The position of the user's edX record with the path's id.
  local function edx_index(st, raw)
    local id = scope.int_id(raw)
    for i, r in ipairs(st.edx) do
      if r.id == id then return i end
    end
  end
  router:add(MENTOR .. "edx-memory/", {
    GET = for_user(function(req, _, user, st)
      local student, err = respond.int_param(req, "student", nil, 0)
      if err then return err end
      local owner = req.query.username -- whose records: the path's user unless named
      if owner and owner ~= user.username then
        local named = model:user(owner)
        st = named and model:stores(named) or { edx = {} }
      end
      local list = {}
      for _, r in ipairs(st.edx) do
        if (not req.query.course_id or r.course_id == req.query.course_id) and (not student or r.student == student) then
          list[#list + 1] = r
        end
      end
      list, err = ordered(req, list, EDX_ORDERINGS, "id")
      return list and respond.page(req, list) or err
    end),
  })
  router:add(MENTOR .. "edx-memory/{id}/", {
    GET = for_user(function(_, p, _, st)
      local i = edx_index(st, p.id)
      return i and respond.json(200, st.edx[i]) or respond.not_found()
    end),
    DELETE = for_user(function(_, p, _, st)
      local i = edx_index(st, p.id)
      if not i then return respond.not_found() end
      table.remove(st.edx, i)
      return respond.no_content()
    end, "edx"),
  })

  router:add(MENTOR .. "ai-user-profile-memory/", {
    GET = for_user(function(_, _, _, st) return respond.json(200, st.tags) end),
    POST = for_user(function(req, _, _, st) -- answers {tag, detail} as the schema says (its example differs)
      local fields, err = body.read(req, "ai_mentor_orgs_users_ai_user_profile_memory_create")
      if not fields then return err end
      for _, t in ipairs(st.tags) do
        if t.tag == fields.tag then
          t.detail = fields.detail
          return respond.json(200, t)
        end
      end
      st.tags[#st.tags + 1] = { tag = fields.tag, detail = fields.detail }
      return respond.json(200, st.tags[#st.tags])
    end, "tags"),
  })
  router:add(MENTOR .. "ai-user-profile-memory/{tag}/", {
    DELETE = for_user(function(_, p, _, st)
      for i, t in ipairs(st.tags) do
        if t.tag == p.tag then
          table.remove(st.tags, i)
          return respond.no_content()
        end
      end
      return respond.not_found()
    end, "tags"),
  })

  -- The memories of username that every filter of the query lets through, or nil and a 400.
  local function memories_of(req, username)
    local mode, err = respond.choice_param(req, "mode", MODES, "all")
    if not mode then return nil, err end
    local first, stop = date_range(req)
    if not first then return nil, stop end
    local q, list, owner = req.query, {}, model:user(username)
    for _, m in ipairs(owner and model:stores(owner).memories or {}) do
      local at = dates.parse(m.inserted_at)
      if (mode == "all" or m.mode == mode) and (not q.mentor or m.mentor == q.mentor)
        and (not q.category or m.category == q.category) and (not q.platform or m.platform == q.platform)
        and (not q.session or m.session_id == q.session) and at >= first and at < stop then
        list[#list + 1] = memory_view(m)
      end
    end
    return list
  end
  local function list_memories(req, username)
    local list, err = memories_of(req, username)
    return list and respond.page(req, list) or err
  end
  router:add(MENTOR .. "memories/", {
    GET = for_user(function(req, _, user) return list_memories(req, user.username) end),
  })
  router:add(MENTOR .. "filtered-memories/", {
    GET = for_user(function(req, _, user) return list_memories(req, req.query.username or user.username) end),
  })
  local function find_memory(st, key)
    for i, m in ipairs(st.memories) do
      if m.unique_id == key or m.name == key then return m, i end
    end
  end
  router:add(MENTOR .. "memory/{memory}/", {
    GET = for_user(function(_, p, _, st)
      local m = find_memory(st, p.memory)
      return m and respond.json(200, memory_view(m)) or respond.not_found()
    end),
    DELETE = for_user(function(_, p, _, st)
      local m, i = find_memory(st, p.memory)
      if not m then return respond.not_found() end
      table.remove(st.memories, i)
      return respond.json(200, { detail = "Memory deleted." })
    end, "memories"),
  })

  local function write_instruction(op, status, must_exist)
    return for_user(function(req, _, _, st)
      local rec = st.instructions
      if must_exist and not rec then return respond.not_found() end
      local fields, err = body.read(req, op)
      if not fields then return err end
      rec = rec or { id = model:next_id("instruction") }
      for f, v in pairs(fields) do rec[f] = v end
      st.instructions = rec
      return respond.json(status, rec)
    end, "instructions")
  end
  router:add(MENTOR .. "custom-instruction/", {
    GET = for_user(function(_, _, _, st)
      return st.instructions and respond.json(200, st.instructions) or respond.not_found()
    end),
    POST = write_instruction("ai_mentor_orgs_users_custom_instruction_create", 201, false),
    PUT = write_instruction("ai_mentor_orgs_users_custom_instruction_update", 200, true),
  })
end
