--- The sandbox's org: users, mentors, conversations, artifacts and every per-user memory store,
-- generated from a seed so the same seed (and day) always gives the same data.
local Rng = require "iblai.sandbox.rng"
local dates = require "iblai.sandbox.dates"
local json = require "iblai.sandbox.json"

local M = {}
M.__index = M

local FIRST = { "ada", "grace", "alan", "katherine", "linus", "margaret", "dennis", "barbara", "ken", "radia",
  "edsger", "frances", "john", "hedy", "tim", "shafi", "donald", "leslie", "niklaus", "sophie" }
local LAST = { "lovelace", "hopper", "turing", "johnson", "torvalds", "hamilton", "ritchie", "liskov", "thompson",
  "perlman", "dijkstra", "allen", "backus", "lamarr", "berners", "goldwasser", "knuth", "lamport", "wirth", "wilson" }
M.TOPICS = { "Algebra", "Essay writing", "Biology", "Career advice", "Python", "Statistics", "History",
  "Chemistry", "Study skills", "Physics" }
M.SENTIMENTS = { "positive", "neutral", "negative" }
local MODELS = { { "gpt-4o", "openai" }, { "claude-sonnet", "anthropic" }, { "gemini-pro", "google" } }
local COURSES = { "course-v1:ibl+MATH101+2025", "course-v1:ibl+BIO201+2025", "course-v1:ibl+CS50+2025" }
local CATEGORIES = { "preferences", "goals", "background" }
M.POLICIES = { "Platform Admin", "Analytics Viewer", "Learner" }
local DAY = 86400

local function new_state(org, today)
  return {
    org = org, today = today, ids = {},
    users = {}, mentors = {}, conversations = {}, artifacts = {}, edx = {},
    tags = {}, all_chats = {}, prompt_memory = {}, memories = {}, instructions = {}, tasks = {},
  }
end

function M:next_id(kind)
  self.state.ids[kind] = (self.state.ids[kind] or 0) + 1
  return self.state.ids[kind]
end

local function reindex(self)
  self.by_name = {}
  for _, u in ipairs(self.state.users) do self.by_name[u.username] = u end
end

--- Generates an org: opts.seed, opts.users (count), opts.org, opts.today (seconds, start of day).
function M.generate(opts)
  local rng = Rng.new(opts.seed or 1)
  local today = opts.today
  local self = setmetatable({ state = new_state(opts.org or "main", today) }, M)
  local s = self.state
  for i = 1, 5 do
    s.mentors[i] = { unique_id = rng:uuid(), name = ("%s mentor"):format(M.TOPICS[i]) }
  end
  for i = 1, opts.users or 50 do
    local first, last = rng:pick(FIRST), rng:pick(LAST)
    local joined = today - rng:int(1, 365) * DAY + rng:int(0, DAY - 1)
    local u = {
      user_id = 100 + i, username = ("%s.%s%d"):format(first, last, i),
      email = ("%s.%s%d@example.edu"):format(first, last, i), is_admin = i == 1, active = rng:float() > 0.1,
      date_joined = dates.iso(joined), joined = joined,
    }
    s.users[i] = u
    local name = u.username
    for _ = 1, rng:int(0, 12) do
      local m = rng:pick(MODELS)
      local at = joined + rng:int(0, math.max(1, today - joined))
      s.conversations[#s.conversations + 1] = {
        id = rng:uuid(), user_id = name, mentor = rng:pick(s.mentors).unique_id,
        topics = { { name = rng:pick(M.TOPICS) } }, user_sentiment = rng:pick(M.SENTIMENTS),
        message_count = rng:int(2, 30), model = m[1], inserted_at = dates.iso(at), at = at,
        first_message = "Can you help me with " .. rng:pick(M.TOPICS):lower() .. "?",
      }
    end
    for _ = 1, rng:int(0, 6) do
      local m = rng:pick(MODELS)
      local created = joined + rng:int(0, math.max(1, today - joined))
      local content = ("# Notes\n\n%s summary %d."):format(rng:pick(M.TOPICS), rng:int(1, 999))
      local id = self:next_id("artifact")
      s.artifacts[#s.artifacts + 1] = {
        id = id, title = ("%s notes %d"):format(rng:pick(M.TOPICS), id), content = content,
        file_extension = rng:pick { "md", "txt", "py" }, llm_name = m[1], llm_provider = m[2],
        date_created = dates.iso(created), date_updated = dates.iso(created + rng:int(0, DAY)),
        username = name, session_id = rng:uuid(), chat_message = rng:int(1, 100000),
        content_length = #content, metadata = json.object(),
      }
    end
    if rng:float() < 0.7 then
      s.all_chats[name] = { id = self:next_id("all_chats"), username = name, platform_key = s.org,
        content = "Prefers short answers; studying " .. rng:pick(M.TOPICS) .. ".", session_id = rng:uuid() }
    end
    if rng:float() < 0.6 then
      s.prompt_memory[name] = { id = self:next_id("prompt_memory"), student = name, platform = s.org,
        catalog_item = rng:uuid(), lessons = { "Lesson " .. rng:int(1, 9) }, next_steps = { "Review quiz" } }
    end
    for _ = 1, rng:int(0, 4) do
      local at = dates.iso(joined + rng:int(0, math.max(1, today - joined)))
      s.edx[#s.edx + 1] = { id = self:next_id("edx"), username = name, student = u.user_id,
        course_id = rng:pick(COURSES), data = { progress = rng:int(0, 100) }, date_created = at, last_modified = at }
    end
    local tags = {}
    for t = 1, rng:int(0, 3) do
      tags[#tags + 1] = { tag = ({ "favorite-topic", "learning-style", "goal" })[t], detail = rng:pick(M.TOPICS) }
    end
    s.tags[name] = tags
    for _ = 1, rng:int(0, 4) do
      local mentor = rng:pick(s.mentors)
      s.memories[#s.memories + 1] = {
        unique_id = rng:uuid(), name = "memory-" .. self:next_id("memory"), mode = rng:pick { "guided", "regular" },
        username = name, email = u.email, platform = s.org, mentor = mentor.unique_id, session_id = rng:uuid(),
        catalog_item_type = json.null, catalog_item_id = json.null,
        entries = { { key = "note", value = "Likes " .. rng:pick(M.TOPICS) } },
        inserted_at = dates.iso(joined + rng:int(0, math.max(1, today - joined))),
      }
    end
    if rng:float() < 0.5 then
      s.instructions[name] = { id = self:next_id("instruction"), about_user = "A learner in " .. s.org,
        mentor_tone = rng:pick { "friendly", "concise", "formal" }, profession = "student",
        desired_mentor_traits = "patient,clear" }
    end
  end
  table.sort(s.conversations, function(a, b) return a.at < b.at end)
  M.enrich(s, Rng.new((opts.seed or 1) * 7919 + 101))
  reindex(self)
  return self
end

--- Fields added after the first release, drawn from their own generator so that every value
-- above stays what the same seed always gave.
function M.enrich(s, rng)
  for _, a in ipairs(s.artifacts) do a.mentor = rng:pick(s.mentors).unique_id end
  for _, c in ipairs(s.conversations) do
    if rng:float() < 0.6 then c.rating = rng:int(1, 5) end
  end
  for _, m in ipairs(s.memories) do
    local at = dates.parse(m.inserted_at)
    m.category = rng:float() < 0.8 and rng:pick(CATEGORIES) or json.null
    m.is_auto_generated = rng:float() < 0.5
    m.updated_at = dates.iso(math.min(at + rng:int(0, 30) * DAY, s.today))
    for _, e in ipairs(m.entries) do
      e.unique_id, e.category = rng:uuid(), m.category
      e.inserted_at, e.updated_at, e.expires_at = m.inserted_at, m.updated_at, json.null
    end
  end
end

function M:user(name)
  return self.by_name[name]
end

--- A model over a state read back from a --data file.
function M.from_state(state)
  local self = setmetatable({ state = state }, M)
  for _, a in ipairs(state.artifacts) do
    if type(a.metadata) == "table" then json.object(a.metadata) end -- an empty one must stay {}
  end
  for _, r in ipairs(state.edx) do
    if type(r.data) == "table" then json.object(r.data) end
  end
  reindex(self)
  return self
end

return M
