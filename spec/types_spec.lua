-- The lua-language-server definitions in types/: well formed line by line, every type they use
-- defined, every operation present with the parameters the client checks, the client's methods
-- and options as the module has them, and the generated files as the generator makes them.
local luals = require "support.luals"
local helpers = require "support.helpers"
local iblai = require "iblai"
local ops = require "iblai.ops"
require "iblai.tasks"

local root = helpers.root
local SPEC = root .. "/../shared/openapi/ibl-data-manager-4.90.4.yml"

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function lua_files(dir)
  local p = assert(io.popen("cd " .. helpers.quote(dir) .. " && find . -name '*.lua' | LC_ALL=C sort"))
  local files = {}
  for rel in p:lines() do files[rel:sub(3)] = slurp(dir .. "/" .. rel:sub(3)) end
  p:close()
  return files
end

local files = lua_files(root .. "/types")
local facts = luals.check(files)

local function has_spec()
  local f = io.open(SPEC)
  if f then f:close() end
  return f ~= nil and pcall(require, "lyaml")
end

describe("the editor definitions (types/)", function()
  it("are well-formed annotations line by line, and use no type they do not define", function()
    assert.is_true(next(files) ~= nil)
    assert.same({}, luals.undefined(facts))
    assert.equal("iblai", facts.metas["iblai.lua"])
    for path, name in pairs(facts.metas) do
      if path ~= "iblai.lua" then assert.equal("_", name, path) end
    end
  end)

  it("has a checker that refuses what LuaLS would not read", function()
    local bad = {
      "---@field x", "---@field x string|", "---@field x fun(a): string", "---@class a b",
      "---@alias A string and more", "---@overload string", "---@param string", "---@fild x string",
      "---@field x table<string", '---@field x "open', "---@return (a|b", "---| stray",
    }
    for _, line in ipairs(bad) do
      local ok = pcall(luals.check, { ["x.lua"] = "---@meta _\n---@class T\n" .. line .. "\n" })
      assert.is_false(ok, line)
    end
    assert.same({ "Missing (x.lua:2)" }, luals.undefined(luals.check { ["x.lua"] = "---@class T\n---@field a Missing[]\n" }))
  end)

  it("have every operation: its parameters class, an overload of call, and of each for a listing", function()
    local ids = ops.ids()
    assert.equal(1176, #ids)
    local alias = facts.aliases["iblai.OperationId"].values
    assert.equal(#ids, #alias)
    local calls, eaches = {}, {}
    for _, o in ipairs(facts.overloads["Client:call"]) do calls[o:match('op: "([^"]+)"')] = o end
    for _, o in ipairs(facts.overloads["Client:each"]) do eaches[o:match('op: "([^"]+)"')] = o end
    local listings = 0
    for i, id in ipairs(ids) do
      assert.equal('"' .. id .. '"', alias[i])
      local fields = facts.fields["iblai.params." .. id]
      assert.is_table(fields, id)
      local op = ops.get(id)
      for _, p in ipairs(op.params) do
        local f = fields[p.name]
        assert.is_table(f, id .. " " .. p.name)
        local filled = p.loc == "path" and (p.name == "org" or p.name == "user_id")
        assert.equal(not p.required or filled, f.optional, id .. " " .. p.name)
        if p.enum then assert.matches('^"', f.type, id .. " " .. p.name) end
      end
      assert.truthy(calls[id], id)
      assert.matches("params%??: iblai%.params%." .. id:gsub("%p", "%%%0") .. ",", calls[id])
      if op.envelope then
        listings = listings + 1
        assert.truthy(eaches[id], id)
      else
        assert.is_nil(eaches[id], id)
      end
    end
    assert.equal(133, listings)
  end)

  it("write enums as literal unions, optional parameters with ?, and results where the spec has a schema", function()
    local p = facts.fields["iblai.params.ai_mentor_orgs_users_artifacts_list"]
    assert.same({ optional = true, type = "integer", doc = "query" }, p.page_size)
    assert.same({ optional = true, type = "string", doc = "path; the client's org" }, p.org)
    local each = facts.overloads["Client:each"]
    local found
    for _, o in ipairs(each) do
      if o:find('"ai_mentor_orgs_users_artifacts_list"', 1, true) then found = o end
    end
    assert.matches("%): fun%(%): iblai%.result%.ai_mentor_orgs_users_artifacts_list%.results$", found)
    local item = facts.fields["iblai.result.ai_mentor_orgs_users_artifacts_list.results"]
    assert.same({ optional = false, type = "integer", doc = "" }, item.id)
    -- an enum of the spec, and a required body field
    local cfg = facts.fields["iblai.params.ai_mentor_orgs_users_call_configurations_update"]
    assert.equal('"openai"|"google"', cfg.llm_provider.type)
    assert.is_false(cfg.mentor.optional)
    assert.is_nil(cfg.id.type:find("Null"))
    assert.equal("iblai.body.ai_mentor_orgs_users_call_configurations_update", cfg.body.type)
  end)

  it("declare every method of the client and every option of iblai.new, and nothing else", function()
    local declared = {}
    for name in pairs(facts.functions) do
      local m = name:match("^Client:(.+)$")
      if m then declared[m] = true end
    end
    local actual = {}
    for k, v in pairs(iblai.Client) do
      if type(v) == "function" and not k:match("^__") then actual[k] = true end
    end
    assert.same(actual, declared)
    assert.truthy(facts.functions["iblai.new"] and facts.functions["iblai.from_env"])
    local options = {}
    for line in slurp(root .. "/src/session.c"):gmatch('\n  {"([%w_]+)", OPT_') do options[line] = true end
    options.org, options.username = true, true
    local fields = {}
    for k in pairs(facts.fields["iblai.Options"]) do fields[k] = true end
    assert.same(options, fields)
  end)

  it("describe with facts only: where a value goes, its format, limits and default", function()
    local PARTS = {
      "^query$", "^path$", "^body$", "^field$", "^the client's org$", "^the client's username$", "^[%a][%w-]*$",
      "^items [%a][%w-]*$", "^%-?[%d.e+-]+ to %-?[%d.e+-]+$", "^at least %-?[%d.e+-]+$", "^at most %-?[%d.e+-]+$",
      "^at most %d+ characters$", "^at least %d+ characters$", "^a list goes comma%-joined$",
      "^may be iblai%.null$", "^default .+$", "^the whole body %([%w/.+-]+%)$", "^the whole body %([%w/.+-]+%), instead of its fields$",
    }
    local function fact(part)
      for _, p in ipairs(PARTS) do
        if part:match(p) then return true end
      end
      return false
    end
    local described = 0
    for class, fields in pairs(facts.fields) do
      if facts.field_files[class] ~= "iblai.lua" then
        for name, f in pairs(fields) do
          if f.doc ~= "" then
            described = described + 1
            for part in (f.doc .. "; "):gmatch("(.-); ") do assert.is_true(fact(part), class .. "." .. name .. ": " .. f.doc) end
            assert.is_true(#f.doc <= 120, f.doc)
          end
        end
      end
    end
    assert.is_true(described > 10000)
    for path, lines in pairs(facts.docs) do
      if path ~= "iblai.lua" then
        for _, line in ipairs(lines) do
          local ok = line:match("^[A-Z]+ /%S* %(a listing: [%w_]+%)$") or line:match("^[A-Z]+ /%S*$")
            or line == "Calls an operation by its operationId: the decoded body (true when there is none), or nil and an Error."
            or line == "Iterates over the items of every page of a listing; raises the Error of a page."
          assert.truthy(ok, path .. ": " .. line)
        end
      end
    end
  end)

  it("say facts, never the spec's prose", function()
    if not has_spec() or os.getenv("IBLAI_SLOW") then
      pending("the spec is in ../shared/openapi; checked outside valgrind (IBLAI_SLOW)")
      return
    end
    local lyaml = require "lyaml"
    local spec = lyaml.load(slurp(SPEC))
    local all = {}
    for _, text in pairs(files) do all[#all + 1] = text end
    all = table.concat(all, "\n"):lower()
    local checked = 0
    local function look(v)
      if type(v) ~= "table" then return end
      for k, x in pairs(v) do
        if (k == "description" or k == "summary") and type(x) == "string" and #x >= 24 then
          checked = checked + 1
          assert.is_nil(all:find(x:lower(), 1, true), x)
        else
          look(x)
        end
      end
    end
    look(spec.paths)
    assert.is_true(checked > 1000)
  end)

  it("are what make regen writes from the spec", function()
    if not has_spec() or os.getenv("IBLAI_SLOW") then
      pending("the spec is in ../shared/openapi; checked outside valgrind (IBLAI_SLOW)")
      return
    end
    local out = os.tmpname()
    os.remove(out)
    assert.is_true(os.execute(("cd %s && lua5.4 tools/gen_types.lua %s %s 2>/dev/null"):format(
      helpers.quote(root), helpers.quote(SPEC), helpers.quote(out))))
    local fresh = lua_files(out)
    for path, text in pairs(fresh) do assert.equal(text, files[path], path) end
    for path in pairs(files) do
      if path ~= "iblai.lua" then assert.truthy(fresh[path], path .. " is not generated any more") end
    end
    os.execute("rm -rf " .. helpers.quote(out))
  end)
end)
