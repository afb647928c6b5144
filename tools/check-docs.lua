-- Every public function of the reference's files (config.ld) is in the reference, each of its
-- arguments with a @param. Reads what LDoc documented ("module<TAB>name<TAB>params" lines from
-- `ldoc --filter ldoc_items.list .`, see tools/check-docs.sh) and lists what is missing.
--
-- Public, in a Lua file: a function defined as `function A.b` or `function A:b` at any depth
-- (not on `self`), or a module field `M.b = function ...` or `M.b = other.name` (an alias), unless
-- the comment above it says @local. In a C header: every function declared and every type
-- defined. Documented: LDoc lists it (a --- comment above it, or one with @function elsewhere).
-- A file's module is its @module tag, or else its path (lua/iblai/calls.lua: iblai.calls).
-- Usage: lua5.4 tools/check-docs.lua ITEMS
local items_path = assert(arg[1], "usage: lua5.4 tools/check-docs.lua ITEMS")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function lines_of(text)
  local lines = {}
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  return lines
end

-- The files config.ld gives LDoc, directories expanded.
local function files()
  local config = {}
  assert(load(read("config.ld"), "=config.ld", "t", config))()
  local list = {}
  for _, f in ipairs(config.file) do
    if f:find("%.[ch]$") or f:find("%.lua$") then
      list[#list + 1] = f
    else
      local p = assert(io.popen("find '" .. f .. "' -name '*.lua' | LC_ALL=C sort"))
      for path in p:lines() do list[#list + 1] = path end
      p:close()
    end
  end
  return list
end

local documented = {}
for line in io.lines(items_path) do
  local module, name, params = line:match("^([^\t]+)\t([^\t]+)\t?([^\t]*)")
  if module then
    documented[module] = documented[module] or {}
    local set = {}
    for p in params:gmatch("[^,]+") do set[p] = true end
    documented[module][name] = set
  end
end

local function module_of(file, text)
  local tagged = text:match("\n%-%- @module ([%w_.]+)") or text:match("^%-%-%-[^\n]*\n%-%- @module ([%w_.]+)")
  if tagged then return tagged end
  if file:find("%.h$") then return file:match("[^/]+$") end
  return (file:gsub("^lua/", ""):gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", "."))
end

-- Whether the comment block just above line i says @local.
local function is_local(lines, i)
  local j = i - 1
  while j >= 1 and lines[j]:find("^%s*%-%-") do
    if lines[j]:find("@local", 1, true) then return true end
    j = j - 1
  end
  return false
end

local function lua_publics(lines)
  local found = {}
  for i, l in ipairs(lines) do
    local owner, sep, name = l:match("^%s*function%s+([%w_]+)([.:])([%w_]+)%s*%(")
    if not owner then
      owner, name = l:match("^(M)%.([%w_]+)%s*=%s*function%f[%W]")
      if not owner then owner, name = l:match("^(M)%.(%l[%w_]*)%s*=%s*[%a_][%w_]*%.[%w_.]+%s*$") end
      sep = "."
    end
    if owner and owner ~= "self" then
      if not is_local(lines, i) then
        local args = {}
        for a in (l:match("%((.-)%)") or ""):gmatch("[%w_.]+") do args[#args + 1] = a end
        found[#found + 1] = { line = i, name = owner == "M" and name or owner .. sep .. name, args = args }
      end
    end
  end
  return found
end

local function c_publics(lines)
  local found = {}
  for i, l in ipairs(lines) do
    local name = l:match("^[%w_][%w_ %*]-%f[%w_]([%a_][%w_]*)%s*%(") or l:match("^}%s*([%a_][%w_]*)%s*;")
      or l:match("^typedef [%w_ ]+%(%*([%a_][%w_]*)%)")
    if name and (name:find("^iblai_") or name:find("^luaopen_")) then
      found[#found + 1] = { line = i, name = name }
    end
  end
  return found
end

local missing, count = {}, 0
for _, file in ipairs(files()) do
  local text = read(file)
  local lines = lines_of(text)
  local module = module_of(file, text)
  local publics = file:find("%.h$") and c_publics(lines) or lua_publics(lines)
  for _, p in ipairs(publics) do
    count = count + 1
    local params = (documented[module] or {})[p.name]
    local where = ("%s:%d: %s"):format(file, p.line, p.name)
    if not params then
      missing[#missing + 1] = where .. " is not in the reference (module " .. module .. ")"
    else
      for _, a in ipairs(p.args or {}) do
        if not params[a] then missing[#missing + 1] = where .. ": no @param " .. a end
      end
    end
  end
end
if #missing > 0 then
  io.stderr:write("undocumented public functions (a --- doc comment, with @param for each argument):\n  ",
    table.concat(missing, "\n  "), "\n")
  os.exit(1)
end
print(("every one of the %d public functions is in the reference"):format(count))
