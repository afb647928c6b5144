--- The sandbox's org: users, mentors, conversations, artifacts and every per-user memory store,
-- generated from a seed so the same seed (and day) always gives the same data.
--
-- Users, mentors and conversations are made at start. A user's stores (artifacts, edX records,
-- memories, profile tags, all-chats and ai-prompt memory, custom instructions) are made when a
-- request first needs them, from where that user began in the generator's stream (saved at
-- start), so an org of 20,000 users starts in a few seconds and holds only what is used.
-- A user's stores are kept in a bounded cache and made again, identically, when needed; the kinds
-- a request changed (a user's edX records, say) are kept for good, laid over what the seed makes,
-- and saved by --data.
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

--- The per-user stores: lists, and those holding one record or none.
M.LISTS = { "artifacts", "edx", "memories", "tags" }
M.SINGLES = { "all_chats", "prompt_memory", "instructions" }
-- id counters a user's stores draw from, in the order their starts are saved
local COUNTERS = { "artifact", "all_chats", "prompt_memory", "edx", "memory", "instruction" }
M.KINDS = { "artifacts", "edx", "memories", "tags", "all_chats", "prompt_memory", "instructions" }
M.CACHE = 2048 -- users' stores kept between requests: between this and twice this many

-- A conversation's topics never change: one shared list per topic saves two tables each.
local TOPIC_LISTS = {}
for _, t in ipairs(M.TOPICS) do TOPIC_LISTS[t] = { { name = t } } end

local function new_state(org, today)
  return { org = org, today = today, ids = {}, users = {}, mentors = {}, conversations = {}, tasks = {} }
end

local function empty_stores()
  return { artifacts = {}, edx = {}, memories = {}, tags = {} }
end

function M:next_id(kind)
  self.state.ids[kind] = (self.state.ids[kind] or 0) + 1
  return self.state.ids[kind]
end

local function skip_uuid(rng)
  rng:skip(Rng.UUID_DRAWS)
  return ""
end

local function skip_iso()
  return ""
end

-- One user: the same draws in the same order whatever `keep` says. With keep the user's stores
-- are made and returned; without it only their draws are taken (no text is formatted).
local function generate_user(rng, ids, i, s, keep)
  local uuid = keep and rng.uuid or skip_uuid
  local iso = keep and dates.iso or skip_iso
  local function next_id(kind)
    ids[kind] = (ids[kind] or 0) + 1
    return ids[kind]
  end
  local today = s.today
  local first, last = rng:pick(FIRST), rng:pick(LAST)
  local joined = today - rng:int(1, 365) * DAY + rng:int(0, DAY - 1)
  local u = {
    user_id = 100 + i, username = ("%s.%s%d"):format(first, last, i),
    email = ("%s.%s%d@example.edu"):format(first, last, i), is_admin = i == 1, active = rng:float() > 0.1,
    date_joined = dates.iso(joined), joined = joined,
  }
  local name, convs = u.username, {}
  for _ = 1, rng:int(0, 12) do
    local m = rng:pick(MODELS)
    local at = joined + rng:int(0, math.max(1, today - joined))
    convs[#convs + 1] = {
      id = rng:uuid(), user_id = name, mentor = rng:pick(s.mentors).unique_id,
      topics = TOPIC_LISTS[rng:pick(M.TOPICS)], user_sentiment = rng:pick(M.SENTIMENTS),
      message_count = rng:int(2, 30), model = m[1], inserted_at = dates.iso(at), at = at,
      first_message = "Can you help me with " .. rng:pick(M.TOPICS):lower() .. "?",
    }
  end
  local st = keep and empty_stores() or nil
  for _ = 1, rng:int(0, 6) do
    local m = rng:pick(MODELS)
    local created = joined + rng:int(0, math.max(1, today - joined))
    local topic, number = rng:pick(M.TOPICS), rng:int(1, 999)
    local id = next_id("artifact")
    local title, extension = rng:pick(M.TOPICS), rng:pick { "md", "txt", "py" }
    local updated, session, chat_message = created + rng:int(0, DAY), uuid(rng), rng:int(1, 100000)
    if st then
      local content = ("# Notes\n\n%s summary %d."):format(topic, number)
      st.artifacts[#st.artifacts + 1] = {
        id = id, title = ("%s notes %d"):format(title, id), content = content,
        file_extension = extension, llm_name = m[1], llm_provider = m[2],
        date_created = iso(created), date_updated = iso(updated),
        username = name, session_id = session, chat_message = chat_message,
        content_length = #content, metadata = json.object(),
      }
    end
  end
  if rng:float() < 0.7 then
    local id, topic, session = next_id("all_chats"), rng:pick(M.TOPICS), uuid(rng)
    if st then
      st.all_chats = { id = id, username = name, platform_key = s.org,
        content = "Prefers short answers; studying " .. topic .. ".", session_id = session }
    end
  end
  if rng:float() < 0.6 then
    local id, item, lesson = next_id("prompt_memory"), uuid(rng), rng:int(1, 9)
    if st then
      st.prompt_memory = { id = id, student = name, platform = s.org,
        catalog_item = item, lessons = { "Lesson " .. lesson }, next_steps = { "Review quiz" } }
    end
  end
  for _ = 1, rng:int(0, 4) do
    local at = iso(joined + rng:int(0, math.max(1, today - joined)))
    local id, course, progress = next_id("edx"), rng:pick(COURSES), rng:int(0, 100)
    if st then
      st.edx[#st.edx + 1] = { id = id, username = name, student = u.user_id,
        course_id = course, data = { progress = progress }, date_created = at, last_modified = at }
    end
  end
  for t = 1, rng:int(0, 3) do
    local detail = rng:pick(M.TOPICS)
    if st then st.tags[t] = { tag = ({ "favorite-topic", "learning-style", "goal" })[t], detail = detail } end
  end
  local memories = 0
  for _ = 1, rng:int(0, 4) do
    local mentor = rng:pick(s.mentors)
    local unique_id, id, mode, session = uuid(rng), next_id("memory"), rng:pick { "guided", "regular" }, uuid(rng)
    local likes, at = rng:pick(M.TOPICS), joined + rng:int(0, math.max(1, today - joined))
    memories = memories + 1
    if st then
      st.memories[memories] = {
        unique_id = unique_id, name = "memory-" .. id, mode = mode,
        username = name, email = u.email, platform = s.org, mentor = mentor.unique_id, session_id = session,
        catalog_item_type = json.null, catalog_item_id = json.null,
        entries = { { key = "note", value = "Likes " .. likes } },
        inserted_at = iso(at), at = at,
      }
    end
  end
  if rng:float() < 0.5 then
    local id, tone = next_id("instruction"), rng:pick { "friendly", "concise", "formal" }
    if st then
      st.instructions = { id = id, about_user = "A learner in " .. s.org, mentor_tone = tone,
        profession = "student", desired_mentor_traits = "patient,clear" }
    end
  end
  return u, convs, st, memories
end

-- Fields added after the first release come from their own generator (so that every value above
-- stays what the same seed always gave), in this order: every artifact's mentor, every
-- conversation's rating, then every memory's category, flag and update time.
local function enrich_artifacts(rng, artifacts, mentors)
  for _, a in ipairs(artifacts) do a.mentor = rng:pick(mentors).unique_id end
end

local function enrich_memories(rng, memories, today, count)
  for k = 1, count do
    local m = memories and memories[k]
    local category = rng:float() < 0.8 and rng:pick(CATEGORIES) or json.null
    local auto = rng:float() < 0.5
    local days = rng:int(0, 30)
    if m then
      local at = m.at
      m.at = nil
      m.category, m.is_auto_generated = category, auto
      m.updated_at = dates.iso(math.min(at + days * DAY, today))
      for _, e in ipairs(m.entries) do
        e.unique_id, e.category = rng:uuid(), m.category
        e.inserted_at, e.updated_at, e.expires_at = m.inserted_at, m.updated_at, json.null
      end
    else
      rng:skip(Rng.UUID_DRAWS) -- the one entry's unique_id
    end
  end
end

local function enrich_conversations(rng, conversations)
  for _, c in ipairs(conversations) do
    if rng:float() < 0.6 then c.rating = rng:int(1, 5) end
  end
end

local function index_users(self)
  self.by_name = {}
  for _, u in ipairs(self.state.users) do self.by_name[u.username] = u end
end

local function new_model(state)
  return setmetatable({ state = state, changed = {}, young = {}, old = {}, young_count = 0, sorted = {} }, M)
end

--- Generates an org: opts.seed, opts.users (count), opts.org, opts.today (seconds, start of day).
function M.generate(opts)
  local seed = opts.seed or 1
  local rng = Rng.new(seed)
  local self = new_model(new_state(opts.org or "main", opts.today))
  local s = self.state
  for i = 1, 5 do
    s.mentors[i] = { unique_id = rng:uuid(), name = ("%s mentor"):format(M.TOPICS[i]) }
  end
  -- where each user starts: in the main stream, in the id counters and in the enrich stream
  local starts = { rng = {}, artifacts_before = {}, memories = {} }
  for _, c in ipairs(COUNTERS) do starts[c] = {} end
  local artifacts = 0
  for i = 1, opts.users or 50 do
    starts.rng[i] = rng.state
    for _, c in ipairs(COUNTERS) do starts[c][i] = s.ids[c] or 0 end
    starts.artifacts_before[i] = artifacts
    local u, convs, _, memories = generate_user(rng, s.ids, i, s, false)
    s.users[i] = u
    table.move(convs, 1, #convs, #s.conversations + 1, s.conversations)
    artifacts = artifacts + (s.ids.artifact or 0) - starts.artifact[i]
    starts.memories[i] = memories
  end
  table.sort(s.conversations, function(a, b) return a.at < b.at end)
  local enrich = Rng.new(seed * 7919 + 101)
  starts.enrich = enrich.state
  enrich:skip(artifacts)
  enrich_conversations(enrich, s.conversations)
  for i, count in ipairs(starts.memories) do
    starts.memories[i] = enrich.state
    enrich_memories(enrich, nil, s.today, count)
  end
  self.starts = starts
  s.generated = { seed = seed, users = opts.users or 50 }
  index_users(self)
  return self
end

-- User u's stores as the seed made them (empty for an org read back whole from an old file).
function M:made(u)
  local starts, i = self.starts, u.user_id - 100
  if not starts or self.state.users[i] ~= u then return empty_stores() end
  local ids = {}
  for _, c in ipairs(COUNTERS) do ids[c] = starts[c][i] end
  local rng = Rng.new(0)
  rng.state = starts.rng[i]
  local _, _, st = generate_user(rng, ids, i, self.state, true)
  local enrich = Rng.new(0)
  enrich.state = starts.enrich
  enrich:skip(starts.artifacts_before[i])
  enrich_artifacts(enrich, st.artifacts, self.state.mentors)
  enrich.state = starts.memories[i]
  enrich_memories(enrich, st.memories, self.state.today, #st.memories)
  return st
end

-- The kinds a user's requests changed: { kinds = {kind = true}, stores = the cached stores, or
-- values = {kind = value or false} while they are out of the cache }.
local function changes_of(self, name)
  local ch = self.changed[name]
  if not ch then
    ch = { kinds = {} }
    self.changed[name] = ch
  end
  return ch
end

-- The changed kinds' values, taken out of stores that leave the cache.
local function detach(ch)
  local values = {}
  for kind in pairs(ch.kinds) do values[kind] = ch.stores[kind] or false end
  ch.values, ch.stores = values, nil
end

--- The user's stores, to read: { artifacts = {...}, edx = {...}, memories = {...}, tags = {...},
-- all_chats = record or nil, prompt_memory = record or nil, instructions = record or nil }.
function M:stores(u)
  local name = u.username
  local st = self.young[name]
  if st then return st end
  if self.young_count >= M.CACHE then -- the older half goes; what it held is made again when asked
    for gone, old in pairs(self.old) do
      local ch = self.changed[gone]
      if ch and ch.stores == old and self.young[gone] ~= old then detach(ch) end
    end
    self.old, self.young, self.young_count = self.young, {}, 0
  end
  st = self.old[name]
  if not st then
    st = self:made(u)
    local ch = self.changed[name]
    if ch then
      for kind, v in pairs(ch.values or {}) do st[kind] = v or nil end
      ch.stores, ch.values = st, nil
    end
  end
  self.young[name], self.young_count = st, self.young_count + 1
  return st
end

--- The user's stores, to change `kind` (every kind when nil): that kind is kept from now on,
-- and saved by --data.
function M:change(u, kind)
  local st = self:stores(u)
  local ch = changes_of(self, u.username)
  ch.stores = st
  for _, k in ipairs(kind and { kind } or M.KINDS) do ch.kinds[k] = true end
  return st
end

-- A changed user's changed kinds and their values ({kind = value or false}).
local function changed_values(ch)
  if not ch.stores then return ch.values end
  local values = {}
  for kind in pairs(ch.kinds) do values[kind] = ch.stores[kind] or false end
  return values
end

function M:user(name)
  return self.by_name[name]
end

-- The first index of a list sorted by `field` whose value is at or after t (#list + 1 when none).
local function first_from(list, field, t)
  local lo, hi = 1, #list + 1
  while lo < hi do
    local mid = (lo + hi) // 2
    local v = list[mid]
    if (field and v[field] or v) < t then lo = mid + 1 else hi = mid end
  end
  return lo
end

-- Users and conversations do not change while the sandbox serves: their indexes are made once,
-- on first use, and made again only when their count changed (a script that adds some).
local function conversations_by_time(self)
  local list = self.state.conversations
  if self.timed ~= #list then
    for i = 2, #list do
      if list[i].at < list[i - 1].at then
        table.sort(list, function(a, b) return a.at < b.at end)
        break
      end
    end
    self.timed, self.by_user_convs = #list, nil
  end
  return list
end

--- The conversations from time `first` (included) to `stop` (excluded), in time order: the
-- indexes i to j of state.conversations (j < i when there are none), found by bisection.
-- @return i, j
function M:conversations_between(first, stop)
  local list = conversations_by_time(self)
  return first_from(list, "at", first), first_from(list, "at", stop) - 1
end

--- A user's conversations, in time order (a list made once for every user).
function M:conversations_of(username)
  local list = conversations_by_time(self)
  if not self.by_user_convs then
    local by = {}
    for _, c in ipairs(list) do
      local mine = by[c.user_id]
      if not mine then
        mine = {}
        by[c.user_id] = mine
      end
      mine[#mine + 1] = c
    end
    self.by_user_convs = by
  end
  return self.by_user_convs[username] or {}
end

--- The users who joined from time `first` (included) to `stop` (excluded), by bisection: the
-- list of users by join time, and the indexes i to j of them in it.
-- @return list, i, j
function M:joined_between(first, stop)
  local list = self:users_by("joined")
  return list, first_from(list, "joined", first), first_from(list, "joined", stop) - 1
end

--- The org's users sorted by a field ("-field" for descending), then by user_id; computed once.
function M:users_by(ordering)
  local list = self.sorted[ordering]
  if list and #list == #self.state.users then return list end
  local field, desc = ordering:gsub("^%-", ""), ordering:sub(1, 1) == "-"
  list = table.move(self.state.users, 1, #self.state.users, 1, {})
  table.sort(list, function(a, b)
    if a[field] == b[field] then return a.user_id < b.user_id end
    if desc then return a[field] > b[field] end
    return a[field] < b[field]
  end)
  self.sorted[ordering] = list
  return list
end

-- Tables read back from JSON that must stay objects when empty.
local function mark_objects(st)
  for _, a in ipairs(st.artifacts or {}) do
    if type(a.metadata) == "table" then json.object(a.metadata) end
  end
  for _, r in ipairs(st.edx or {}) do
    if type(r.data) == "table" then json.object(r.data) end
  end
end

--- What --data saves: the changed stores, plus what the seed cannot make again.
function M:saved_state()
  local s = self.state
  local stores = {}
  for name, ch in pairs(self.changed) do stores[name] = changed_values(ch) end
  local out = { format = 2, org = s.org, today = s.today, ids = s.ids, tasks = s.tasks, stores = stores }
  if s.generated then
    out.generated = s.generated
  else
    out.users, out.mentors, out.conversations = s.users, s.mentors, s.conversations
  end
  return out
end

-- Groups a first-format file's flat lists (every record of the org) by user.
local function stores_from_lists(state)
  local stores = {}
  local function of(name)
    stores[name] = stores[name] or empty_stores()
    return stores[name]
  end
  for _, u in ipairs(state.users) do of(u.username) end
  for _, kind in ipairs { "artifacts", "edx", "memories" } do
    for _, r in ipairs(state[kind] or {}) do
      local list = of(r.username)[kind]
      list[#list + 1] = r
    end
    state[kind] = nil
  end
  for name, tags in pairs(state.tags or {}) do of(name).tags = tags end
  for _, kind in ipairs(M.SINGLES) do
    for _, st in pairs(stores) do st[kind] = false end -- none, unless the file has one
    for name, rec in pairs(state[kind] or {}) do of(name)[kind] = rec end
    state[kind] = nil
  end
  state.tags = nil
  return stores
end

--- A model over a state read back from a --data file (either format); nil and a message when
-- the file's generation settings cannot be used.
function M.from_state(state)
  local self
  if state.generated then
    local g = state.generated
    if math.type(g.seed) ~= "integer" or math.type(g.users) ~= "integer" or g.users < 1 or g.users > 20000
      or math.type(state.today) ~= "integer" then
      return nil, "its generation settings are damaged"
    end
    self = M.generate { seed = g.seed, users = g.users, org = state.org, today = state.today }
    self.state.ids, self.state.tasks = state.ids or {}, state.tasks or {}
  else
    local stores = state.format == 2 and state.stores or stores_from_lists(state)
    state.format, state.stores = nil, nil
    state.ids, state.tasks, state.mentors, state.conversations = state.ids or {}, state.tasks or {},
      state.mentors or {}, state.conversations or {}
    self = new_model(state)
    index_users(self)
    return self:adopt_stores(stores)
  end
  return self:adopt_stores(state.stores or {})
end

-- Takes the changed kinds read from a file ({kind = value, or false for a record deleted}), for
-- users the org has.
function M:adopt_stores(stores)
  local known = {}
  for _, kind in ipairs(M.KINDS) do known[kind] = true end
  for _, kind in ipairs(M.LISTS) do known[kind] = "list" end
  for name, values in pairs(stores) do
    if type(values) == "table" and self.by_name[name] then
      local ch = { kinds = {}, values = {} }
      for kind, v in pairs(values) do
        if known[kind] == "list" and type(v) ~= "table" then v = {} end
        if known[kind] and (v == false or type(v) == "table") then ch.kinds[kind], ch.values[kind] = true, v end
      end
      mark_objects(ch.values)
      self.changed[name] = ch
    end
  end
  return self
end

return M
