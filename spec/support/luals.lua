-- A checker of lua-language-server definition files (LuaLS is not packaged here): every line is
-- code, a comment, doc text or a well-formed annotation; each annotation's types parse; and it
-- gathers what the files define (classes, aliases, fields, functions, overloads) so a spec can
-- check that every type used is defined.
local M = {}

M.BUILTIN = {
  ["nil"] = true, any = true, boolean = true, string = true, number = true, integer = true, ["function"] = true,
  table = true, thread = true, userdata = true, lightuserdata = true, ["true"] = true, ["false"] = true,
  self = true, unknown = true,
}

-- ---- types: a recursive-descent parser over the text after a tag ----

local Parser = {}
Parser.__index = Parser

local function parser(text)
  return setmetatable({ s = text, i = 1, names = {} }, Parser)
end

function Parser:space()
  self.i = self.s:match("^%s*()", self.i)
end

function Parser:peek(pattern)
  self:space()
  return self.s:match("^" .. pattern, self.i)
end

function Parser:take(literal) -- moves past spaces only when the literal follows them
  local i = self.s:match("^%s*()", self.i)
  if self.s:sub(i, i + #literal - 1) == literal then
    self.i = i + #literal
    return true
  end
  return false
end

function Parser:expect(literal)
  if not self:take(literal) then error(("expected '%s' at column %d of: %s"):format(literal, self.i, self.s), 0) end
end

function Parser:name()
  self:space()
  local n, j = self.s:match("^([%a_][%w_%.]*)()", self.i)
  if not n then return nil end
  self.i = j
  return n
end

function Parser:type()
  self:postfix()
  while self:take("|") do self:postfix() end
end

function Parser:postfix()
  self:primary()
  while self:take("[]") or self.s:sub(self.i, self.i) == "?" do -- an array, or optional right after the type
    if self.s:sub(self.i, self.i) == "?" then self.i = self.i + 1 end
  end
end

function Parser:params()
  self:expect("(")
  if self:take(")") then return end
  repeat
    if self:take("...") then
      if self:take(":") then self:type() end
    else
      local n = self:name()
      if not n then error("a parameter needs a name: " .. self.s, 0) end
      self:take("?")
      self:expect(":")
      self:type()
    end
  until not self:take(",")
  self:expect(")")
end

function Parser:primary()
  self:space()
  local c = self.s:sub(self.i, self.i)
  if c == '"' or c == "'" then
    local j = self.s:find(c, self.i + 1, true)
    if not j then error("an unclosed string literal: " .. self.s, 0) end
    self.i = j + 1
  elseif c:match("%d") or (c == "-" and self.s:sub(self.i + 1, self.i + 1):match("%d")) then
    self.i = self.s:match("^%-?%d+()", self.i)
  elseif c == "(" then
    self.i = self.i + 1
    self:type()
    self:expect(")")
  elseif c == "{" then -- a table literal type: { name: type, [type]: type, ... }
    self.i = self.i + 1
    if not self:take("}") then
      repeat
        if self:take("[") then
          self:type()
          self:expect("]")
        elseif not self:name() then
          error("a table field needs a name: " .. self.s, 0)
        end
        self:take("?")
        self:expect(":")
        self:type()
      until not self:take(",")
      self:expect("}")
    end
  else
    local n = self:name()
    if not n then error(("expected a type at column %d of: %s"):format(self.i, self.s), 0) end
    if n == "fun" then
      self:params()
      if self:take(":") then
        repeat self:type() until not self:take(",")
      end
    else
      self.names[n] = true
      if self:take("<") then
        repeat self:type() until not self:take(",")
        self:expect(">")
      end
    end
  end
end

-- Parses a type at the start of text: the type names it uses, and the rest of the text.
function M.parse_type(text)
  local p = parser(text)
  p:type()
  return p.names, p.s:sub(p.i)
end

-- ---- lines ----

local function check_rest(rest, what)
  -- after a type only a description may follow, which starts with a word, never with a symbol
  -- that would have continued the type
  if rest:match("^%S") then error(what .. ": text runs into the type: " .. rest, 0) end
end

-- Reads the files (path -> text): returns the facts, or raises at the first bad line with its file
-- and line number.
function M.check(files)
  local facts = { classes = {}, aliases = {}, fields = {}, used = {}, functions = {}, overloads = {}, metas = {},
    docs = {}, field_files = {} }
  local function use(names, where)
    for n in pairs(names) do facts.used[n] = facts.used[n] or where end
  end
  local paths = {}
  for path in pairs(files) do paths[#paths + 1] = path end
  table.sort(paths)
  for _, path in ipairs(paths) do
    local text = files[path]
    local chunk, err = load(text, "@" .. path)
    if not chunk then error(path .. ": not Lua: " .. err, 0) end
    local class, alias, overloads = nil, nil, {}
    local n = 0
    for line in (text .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("(.-)\n") do
      n = n + 1
      local where = path .. ":" .. n
      local ok, why = pcall(function()
        if line:match("^%-%-%-@") then
          local tag, rest = line:match("^%-%-%-@(%a+)%s*(.*)$")
          if tag ~= "alias" then alias = nil end
          if tag == "meta" then
            assert(rest == "" or rest:match("^[%w_.]+$"), "a meta name is one word")
            facts.metas[path] = rest
          elseif tag == "class" then
            local name, parent = rest:match("^([%a_][%w_.]*)%s*:%s*([%a_][%w_.]*)$")
            name = name or rest:match("^([%a_][%w_.]*)$")
            assert(name, "a class is a name, with ': Parent' or nothing after it")
            if parent then use({ [parent] = true }, where) end
            if facts.classes[name] and name ~= "iblai.Client" then error("class " .. name .. " is defined twice", 0) end
            facts.classes[name] = facts.classes[name] or where
            facts.fields[name] = facts.fields[name] or {}
            facts.field_files[name] = facts.field_files[name] or path
            class = name
          elseif tag == "field" then
            assert(class, "a field outside a class")
            local fname, after = rest:match("^([%a_][%w_]*)(.*)$")
            if not fname then fname, after = rest:match('^%["(.-)"%](.*)$') end
            assert(fname, "a field needs a name or [\"key\"]")
            local optional = after:sub(1, 1) == "?"
            if optional then after = after:sub(2) end
            assert(after:match("^%s"), "a space between the field's name and its type")
            local names, tail = M.parse_type(after)
            check_rest(tail, "field " .. fname)
            use(names, where)
            facts.fields[class][fname] = { optional = optional, type = after:sub(1, #after - #tail):match("^%s*(.-)%s*$"),
              doc = tail:match("^%s*(.-)%s*$") }
          elseif tag == "alias" then
            local name, type_text = rest:match("^([%a_][%w_.]*)%s*(.*)$")
            assert(name, "an alias needs a name")
            if facts.aliases[name] or facts.classes[name] then error("alias " .. name .. " is defined twice", 0) end
            facts.aliases[name] = { where = where, values = {} }
            if type_text ~= "" then
              local names, tail = M.parse_type(type_text)
              assert(tail:match("^%s*$"), "nothing may follow an alias's type")
              use(names, where)
              alias = nil
            else
              alias = name
            end
          elseif tag == "param" then
            local pname, after = rest:match("^([%a_][%w_]*%??)(%s.*)$")
            if not pname then pname, after = rest:match("^(%.%.%.)(%s.*)$") end
            assert(pname, "a param needs a name and a type")
            local names, tail = M.parse_type(after)
            check_rest(tail, "param " .. pname)
            use(names, where)
          elseif tag == "return" then
            local names, tail = M.parse_type(rest)
            check_rest(tail, "return")
            use(names, where)
          elseif tag == "overload" then
            assert(rest:match("^fun%s*%("), "an overload is a fun(...) type")
            local names, tail = M.parse_type(rest)
            assert(tail:match("^%s*$"), "nothing may follow an overload's type")
            use(names, where)
            overloads[#overloads + 1] = rest
          else
            error("unknown tag @" .. tostring(tag), 0)
          end
        elseif line:match("^%-%-%-|") then
          assert(alias, "a ---| line outside an alias")
          local body = line:match("^%-%-%-|%s*(.-)%s*$")
          local type_text = body:match("^(.-)%s*#") or body
          local names, tail = M.parse_type(type_text)
          assert(tail:match("^%s*$"), "only a comment (#) may follow a ---| value")
          use(names, where)
          table.insert(facts.aliases[alias].values, type_text)
        elseif line:match("^%-%-") or line:match("^%s*$") then
          alias = nil -- a comment or doc text; an empty line ends a class
          if line:match("^%-%-%-[^%-]") then
            facts.docs[path] = facts.docs[path] or {}
            table.insert(facts.docs[path], line:sub(4))
          end
          if line:match("^%s*$") then class = nil end
        else
          alias, class = nil, nil
          local fname = line:match("^function ([%w_.:]+)%s*%(")
          if fname then
            facts.functions[fname] = where
            facts.overloads[fname] = overloads
            overloads = {}
          end
        end
      end)
      if not ok then error(where .. ": " .. tostring(why), 0) end
    end
  end
  return facts
end

-- The type names used and never defined, with where each was first used.
function M.undefined(facts)
  local out = {}
  for name, where in pairs(facts.used) do
    if not (M.BUILTIN[name] or facts.classes[name] or facts.aliases[name]) then out[#out + 1] = name .. " (" .. where .. ")" end
  end
  table.sort(out)
  return out
end

return M
