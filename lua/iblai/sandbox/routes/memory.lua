--- Every per-user memory store the memory-reset workflow touches, plus custom instructions.
local respond = require "iblai.sandbox.respond"
local scope = require "iblai.sandbox.routes.scope"

local PROMPT = "/api/ai-prompt/orgs/{org}/users/{user_id}/"
local MENTOR = "/api/ai-mentor/orgs/{org}/users/{user_id}/"

return function(router, model)
  local s = model.state

  -- Wraps a handler so it runs only for a known org and user.
  local function for_user(fn)
    return function(req, p)
      local user, err = scope.user(model, p)
      if not user then return err end
      return fn(req, p, user)
    end
  end

  local function chat_record(req, user, existing)
    local body, err = scope.body(req)
    if not body then return nil, err end
    for _, f in ipairs { "username", "platform_key" } do
      if type(body[f]) ~= "string" or body[f] == "" then return nil, respond.invalid { [f] = { "This field is required." } } end
      if #body[f] > 500 then return nil, respond.invalid { [f] = { "Ensure this field has no more than 500 characters." } } end
    end
    local rec = existing or { id = model:next_id("all_chats") }
    rec.username, rec.platform_key = user.username, body.platform_key
    rec.content, rec.session_id = body.content, body.session_id
    return rec
  end

  -- A store with at most one record per user: GET it, DELETE it, 404 when there is none.
  local function one_per_user(store, more)
    local handlers = {
      GET = for_user(function(_, _, user)
        local rec = store[user.username]
        return rec and respond.json(200, rec) or respond.not_found()
      end),
      DELETE = for_user(function(_, _, user)
        if not store[user.username] then return respond.not_found() end
        store[user.username] = nil
        return respond.no_content()
      end),
    }
    for method, fn in pairs(more or {}) do handlers[method] = fn end
    return handlers
  end

  -- That store's record, when its id is the one in the path.
  local function by_id(store, fn)
    return for_user(function(req, p, user)
      local rec = store[user.username]
      if not rec or rec.id ~= scope.int_id(p.memory_id) then return respond.not_found() end
      return fn(req, user, rec)
    end)
  end

  local function forget(store)
    return function(_, user)
      store[user.username] = nil
      return respond.no_content()
    end
  end

  router:add(PROMPT .. "all-chats-memory/", one_per_user(s.all_chats, {
    POST = for_user(function(req, _, user)
      local rec, err = chat_record(req, user)
      if not rec then return err end
      s.all_chats[user.username] = rec
      return respond.json(201, rec)
    end),
    PUT = for_user(function(req, _, user)
      if not s.all_chats[user.username] then return respond.not_found() end
      local rec, err = chat_record(req, user, s.all_chats[user.username])
      if not rec then return err end
      return respond.json(200, { task_id = "task-" .. model:next_id("task"), message = "Memory update started." })
    end),
  }))
  router:add(PROMPT .. "all-chats-memory/{memory_id}/", {
    PUT = by_id(s.all_chats, function(req, user, rec)
      local updated, err = chat_record(req, user, rec)
      return updated and respond.json(200, updated) or err
    end),
    DELETE = by_id(s.all_chats, forget(s.all_chats)),
  })
  router:add(PROMPT .. "memory/", one_per_user(s.prompt_memory))
  router:add(PROMPT .. "memory/{memory_id}/", { DELETE = by_id(s.prompt_memory, forget(s.prompt_memory)) })

  local function edx_index(user, raw)
    local id = scope.int_id(raw)
    for i, r in ipairs(s.edx) do
      if r.id == id and r.username == user.username then return i end
    end
  end
  router:add(MENTOR .. "edx-memory/", {
    GET = for_user(function(req, _, user)
      local list = {}
      for _, r in ipairs(s.edx) do
        if r.username == user.username and (not req.query.course_id or r.course_id == req.query.course_id)
          and (not req.query.student or tostring(r.student) == req.query.student) then
          list[#list + 1] = r
        end
      end
      return respond.page(req, list)
    end),
  })
  router:add(MENTOR .. "edx-memory/{id}/", {
    GET = for_user(function(_, p, user)
      local i = edx_index(user, p.id)
      return i and respond.json(200, s.edx[i]) or respond.not_found()
    end),
    DELETE = for_user(function(_, p, user)
      local i = edx_index(user, p.id)
      if not i then return respond.not_found() end
      table.remove(s.edx, i)
      return respond.no_content()
    end),
  })

  router:add(MENTOR .. "ai-user-profile-memory/", {
    GET = for_user(function(_, _, user) return respond.json(200, s.tags[user.username] or {}) end),
    POST = for_user(function(req, _, user)
      local body, err = scope.body(req)
      if not body then return err end
      for _, f in ipairs { "tag", "detail" } do
        if type(body[f]) ~= "string" or body[f] == "" then return respond.invalid { [f] = { "This field is required." } } end
      end
      local tags = s.tags[user.username] or {}
      s.tags[user.username] = tags
      for _, t in ipairs(tags) do
        if t.tag == body.tag then
          t.detail = body.detail
          return respond.json(200, t)
        end
      end
      tags[#tags + 1] = { tag = body.tag, detail = body.detail }
      return respond.json(200, tags[#tags])
    end),
  })
  router:add(MENTOR .. "ai-user-profile-memory/{tag}/", {
    DELETE = for_user(function(_, p, user)
      local tags = s.tags[user.username] or {}
      for i, t in ipairs(tags) do
        if t.tag == p.tag then
          table.remove(tags, i)
          return respond.no_content()
        end
      end
      return respond.not_found()
    end),
  })

  local function memories_of(req, username)
    local list = {}
    for _, m in ipairs(s.memories) do
      if m.username == username and (not req.query.mentor or m.mentor == req.query.mentor)
        and (not req.query.mode or req.query.mode == "all" or m.mode == req.query.mode) then
        list[#list + 1] = m
      end
    end
    return list
  end
  router:add(MENTOR .. "memories/", {
    GET = for_user(function(req, _, user)
      if req.query.mode and not ({ guided = 1, regular = 1, all = 1 })[req.query.mode] then
        return respond.invalid { mode = { ('"%s" is not a valid choice.'):format(req.query.mode) } }
      end
      return respond.page(req, memories_of(req, user.username))
    end),
  })
  router:add(MENTOR .. "filtered-memories/", {
    GET = for_user(function(req, _, user)
      return respond.page(req, memories_of(req, req.query.username or user.username))
    end),
  })
  local function find_memory(user, key)
    for i, m in ipairs(s.memories) do
      if m.username == user.username and (m.unique_id == key or m.name == key) then return m, i end
    end
  end
  router:add(MENTOR .. "memory/{memory}/", {
    GET = for_user(function(_, p, user)
      local m = find_memory(user, p.memory)
      return m and respond.json(200, m) or respond.not_found()
    end),
    DELETE = for_user(function(_, p, user)
      local m, i = find_memory(user, p.memory)
      if not m then return respond.not_found() end
      table.remove(s.memories, i)
      return respond.json(200, { detail = "Memory deleted." })
    end),
  })

  local INSTRUCTION = { "about_user", "mentor_tone", "profession", "desired_mentor_traits" }
  local function write_instruction(status, must_exist)
    return for_user(function(req, _, user)
      local rec = s.instructions[user.username]
      if must_exist and not rec then return respond.not_found() end
      local body, err = scope.body(req)
      if not body then return err end
      if body.profession and #tostring(body.profession) > 100 then
        return respond.invalid { profession = { "Ensure this field has no more than 100 characters." } }
      end
      rec = rec or { id = model:next_id("instruction") }
      for _, f in ipairs(INSTRUCTION) do
        if body[f] ~= nil then rec[f] = body[f] end
      end
      s.instructions[user.username] = rec
      return respond.json(status, rec)
    end)
  end
  router:add(MENTOR .. "custom-instruction/", {
    GET = for_user(function(_, _, user)
      local rec = s.instructions[user.username]
      return rec and respond.json(200, rec) or respond.not_found()
    end),
    POST = write_instruction(201, false),
    PUT = write_instruction(200, true),
  })
end
