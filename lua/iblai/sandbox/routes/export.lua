--- Chat-history export: POST starts a task that is ready after a few polls; the poll answers
-- 200 {"state": "task_not_ready"} until then, then the history as JSON, or CSV with to_csv=true
-- (text/csv, which the real service sends although the spec declares only JSON for this answer).
--
-- For load tests, a --script may set `model.export_size = BYTES`: each ready answer then holds
-- the user's history followed by generated messages, about that many bytes in all, produced as
-- they are sent (the sandbox holds one message of it, whatever the size).
local json = require "iblai.sandbox.json"
local respond = require "iblai.sandbox.respond"
local scope = require "iblai.sandbox.routes.scope"
local Rng = require "iblai.sandbox.rng"

local BASE = "/api/ai-mentor/orgs/{org}/users/{user_id}/"
local POLLS_BEFORE_READY = 2

local function csv_field(v)
  v = tostring(v)
  if v:find('[,"\n]') then v = '"' .. v:gsub('"', '""') .. '"' end
  return v
end

-- The answer {body, fill = {piece, times, tail}}: `text` (a whole answer), then `piece` as many
-- times as brings it to about `size` bytes, each piece `joiner .. item`, the first one without
-- the joiner when `text` holds no item.
local function padded(text, closer, item, joiner, empty, size)
  local head = text:sub(1, #text - #closer)
  local piece = joiner .. item
  if empty then head = head .. item end
  local times = math.max(0, (size - #head - #closer) // #piece)
  return head, { piece, times, closer }
end

local FILLER = { type = "human", content = "A message generated to make this export large (sandbox export_size).",
  timestamp = "2026-01-01T00:00:00Z", session_id = "00000000-0000-4000-8000-000000000000" }

return function(router, model)
  local s = model.state

  local function history(username)
    local items = {}
    for _, c in ipairs(model:conversations_of(username)) do
      items[#items + 1] = { type = "human", content = c.first_message, timestamp = c.inserted_at, session_id = c.id }
      items[#items + 1] = { type = "ai", content = ("Let's work through %s together."):format(c.topics[1].name),
        timestamp = c.inserted_at, session_id = c.id }
    end
    return items
  end

  router:add(BASE .. "export-chathistory/", {
    POST = function(_, p)
      local user, err = scope.user(model, p)
      if not user then return err end
      local id = Rng.new(model:next_id("export") * 7919 + 17):uuid() -- the same again when the journal is replayed
      s.tasks[id] = { username = user.username, polls = 0 }
      return respond.json(200, { task_id = id })
    end,
  })

  router:add(BASE .. "downloads/tasks/{task_id}/", {
    GET = function(req, p)
      local user, err = scope.user(model, p)
      if not user then return err end
      local task = s.tasks[p.task_id]
      if not task or task.username ~= user.username then return respond.not_found("Task not found") end
      local to_csv, bad = respond.bool_param(req, "to_csv", false)
      if to_csv == nil then return bad end
      task.polls = task.polls + 1
      if task.polls <= POLLS_BEFORE_READY then return respond.json(200, { state = "task_not_ready" }) end
      local items = history(task.username)
      local size = model.export_size
      if to_csv then
        local function line(it)
          return table.concat({ csv_field(it.type), csv_field(it.content), csv_field(it.timestamp),
            csv_field(it.session_id) }, ",")
        end
        local lines = { "type,content,timestamp,session_id" }
        for _, it in ipairs(items) do lines[#lines + 1] = line(it) end
        local answer = { status = 200, body = table.concat(lines, "\n") .. "\n", headers = { ["Content-Type"] = "text/csv" } }
        if size then answer.body, answer.fill = padded(answer.body, "", line(FILLER) .. "\n", "", false, size) end
        return answer
      end
      local answer = respond.json(200, items)
      if size then answer.body, answer.fill = padded(answer.body, "]", json.encode(FILLER), ",", #items == 0, size) end
      return answer
    end,
  })
end
