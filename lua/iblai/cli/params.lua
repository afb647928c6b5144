--- What a user types after the operation or path, as request values: name=value (converted to
-- the parameter's type), name:=JSON (a typed value, as httpie writes it), name==value (always the
-- query), and --body JSON, @FILE or @- (standard input).
local json = require "iblai.json"
local jsontext = require "iblai.cli.jsontext"
local ops = require "iblai.ops"

local M = {}

--- Splits one word into name, operator ("=", ":=" or "=="), value; nil when it is none of them.
function M.split(word)
  local at = word:find("=", 2, true)
  if not at then return nil end
  if word:sub(at - 1, at - 1) == ":" and at > 2 then return word:sub(1, at - 2), ":=", word:sub(at + 1) end
  if word:sub(at + 1, at + 1) == "=" then return word:sub(1, at - 1), "==", word:sub(at + 2) end
  return word:sub(1, at - 1), "=", word:sub(at + 1)
end

--- Command-line text -> the Lua value a parameter of this type wants (validation reports the rest).
-- @param fact a parameter or body field fact (type, items), or nil
-- @param text string
function M.coerce(fact, text)
  local t = fact and fact.type
  if t == "integer" or t == "number" then return tonumber(text) or text end
  if t == "boolean" then
    if text == "true" then return true elseif text == "false" then return false end
    return text
  end
  if t == "array" then
    local items = {}
    for item in text:gmatch("[^,]+") do items[#items + 1] = M.coerce({ type = fact.items }, item) end
    return #items > 0 and items or json.empty_array
  end
  if t == "object" or t == "any" then
    local v = jsontext.decode(text)
    if v ~= nil then return v end
  end
  return text
end

-- Whether a decoded value holds a number JSON cannot carry (1e400 reads as infinity).
local function finite(v, depth)
  if type(v) == "number" then return v == v and v ~= math.huge and v ~= -math.huge end
  if type(v) ~= "table" or depth > 200 then return true end
  for _, x in pairs(v) do
    if not finite(x, depth + 1) then return false end
  end
  return true
end

--- A JSON text as a value, or nil and a message.
function M.decode(text, what)
  local v, err = jsontext.decode(text)
  if v == nil then return nil, ("%s is not valid JSON: %s"):format(what, tostring(err)) end
  if not finite(v, 0) then return nil, ("%s holds a number too large for JSON"):format(what) end
  return v
end

local KINDS = { table = "a JSON object or list", userdata = "null" }
local SCALAR = { string = true, integer = true, number = true, boolean = true }

--- The text of --body: itself, the contents of @FILE, or standard input for @-.
-- @return the text, or nil and a message
function M.read_body(spec)
  if spec:sub(1, 1) ~= "@" then return spec end
  local name = spec:sub(2)
  local text
  if name == "-" then
    local err
    text, err = io.stdin:read("a")
    if text == nil and err then return nil, ("--body @- cannot read standard input: %s"):format(err) end
    if text == nil or text:match("^%s*$") then
      return nil, "--body @- read nothing from standard input; pipe a JSON document into it "
        .. "(echo '{\"name\": \"value\"}' | iblai ... --body @-)"
    end
  else
    if name == "" then return nil, "--body @ needs a file name: --body @FILE, or @- for standard input" end
    local f, err = io.open(name, "rb")
    if not f then return nil, ("cannot read --body %s: %s"):format(spec, err) end
    text, err = f:read("a")
    f:close()
    if text == nil and err then return nil, ("cannot read --body %s: %s"):format(spec, err) end
    if text == nil or text:match("^%s*$") then return nil, ("--body %s: the file is empty"):format(spec) end
  end
  return text
end

--- Every parameter and body field of an operation by name (a parameter wins over a body field).
function M.facts(op)
  local by = {}
  for name, f in pairs(op.body and op.body.fields or {}) do
    if not f.read_only then by[name] = { fact = f, loc = "body" } end
  end
  for _, p in ipairs(op.params) do by[p.name] = { fact = p, loc = p.loc } end
  return by
end

local WHERE = { path = "path", query = "query", header = "header", cookie = "cookie", body = "body" }

-- "user_id (string, path: a username; IBLAI_USERNAME or --username)"
local function describe_missing(name, fact, loc)
  local extra = ""
  if loc == "path" and name == "user_id" then
    extra = ": a username; or set IBLAI_USERNAME or --username"
  elseif loc == "path" and name == "org" then
    extra = ": or set IBLAI_ORG or --org"
  end
  local t = fact.type or "JSON"
  if t == "array" and fact.items then t = "array of " .. fact.items end
  return ("%s (%s, %s%s)"):format(name, t, WHERE[loc] or loc, extra)
end

--- Turns the words of an operation call into its parameters, and finds every problem at once.
-- @param op the operation's facts
-- @param words list of strings (name=value, name:=JSON)
-- @param body the decoded --body, or nil
-- @param defaults { org = ..., user_id = ... } what the client fills in
-- @return params (with body = ... when a body was built), or nil and a list of one-line problems
function M.for_operation(op, words, body, defaults)
  local by, params, fields, problems = M.facts(op), {}, nil, {}
  local given = {} -- names typed, even with a bad value: not reported as missing too
  for _, word in ipairs(words) do
    local name, how, text = M.split(word)
    local known = name and by[name]
    if not name then
      problems[#problems + 1] = ("'%s' is not name=value (or name:=JSON)"):format(word)
    elseif not known then
      local names = {}
      for n in pairs(by) do names[#names + 1] = n end
      table.sort(names)
      local guess = ops.closest(name, names)
      problems[#problems + 1] = ("unknown parameter '%s'%s"):format(name,
        guess and ("; did you mean '%s'?"):format(guess) or "; iblai ops " .. op.id .. " lists them")
    elseif given[name] then
      problems[#problems + 1] = known.fact.type == "array"
        and ("'%s' is given twice; give its list once: %s=a,b,c"):format(name, name)
        or ("'%s' is given twice; it takes one value"):format(name)
    else
      given[name] = true
      local value
      if how == ":=" then
        local err
        value, err = M.decode(text, name .. ":=")
        if value == nil then
          problems[#problems + 1] = err
        elseif known.loc ~= "body" and SCALAR[known.fact.type] and KINDS[type(value)] then
          -- a path or query parameter holds one value: say so here rather than print a table's address
          problems[#problems + 1] = ("%s:= wants %s %s, not %s"):format(name,
            known.fact.type == "integer" and "an" or "a", known.fact.type, KINDS[type(value)])
          value = nil
        end
      else
        value = M.coerce(known.fact, text)
      end
      if value ~= nil then
        if known.loc == "body" then
          fields = fields or {}
          fields[name] = value
        else
          params[name] = value
        end
      end
    end
  end
  if body ~= nil and fields then
    if type(body) ~= "table" or #body > 0 then
      problems[#problems + 1] = "body fields given next to a --body that is not a JSON object"
    else
      local merged = {}
      for k, v in pairs(body) do merged[k] = v end
      for k, v in pairs(fields) do merged[k] = v end -- a field on the command line wins
      body = merged
    end
  elseif fields then
    body = fields
  end
  local missing = {}
  for place, loc in ipairs { "path", "query", "header", "cookie" } do -- in the order of the URL
    for _, p in ipairs(op.params) do
      if p.loc == loc and p.required and not given[p.name] and not (place == 1 and defaults[p.name] ~= nil) then
        missing[#missing + 1] = describe_missing(p.name, p, p.loc)
      end
    end
  end
  if op.body and op.body.fields and (body == nil or type(body) == "table") then
    local names = {}
    for name, f in pairs(op.body.fields) do
      if f.required and not f.read_only and not given[name] and (body == nil or body[name] == nil) then
        names[#names + 1] = name
      end
    end
    table.sort(names)
    for _, name in ipairs(names) do missing[#missing + 1] = describe_missing(name, op.body.fields[name], "body") end
  elseif op.body and op.body.required and body == nil then
    missing[#missing + 1] = "the body (--body JSON, @FILE or @-)"
  end
  if #missing > 0 then
    problems[#problems + 1] = ("missing %d required parameter%s: %s"):format(#missing, #missing == 1 and "" or "s",
      table.concat(missing, ", "))
  end
  if #problems > 0 then return nil, problems end
  if body ~= nil then params.body = body end
  return params
end

return M
