package.cpath = "/work/main/build/lib/lua/?.so;" .. package.cpath
local core = require "iblai.core"
local cj = require("cjson.safe").new()
local function eq(a, b)
  if type(a) == "number" and type(b) == "number" then return a == b or (math.type(a) == "integer" and a + 0.0 == b) end
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not eq(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
local bad = 0
local function check(doc, what)
  local a, ea = core.json_decode(doc)
  local b, eb = cj.decode(doc)
  if (a == nil) ~= (b == nil) or (a ~= nil and not eq(a, b)) then
    bad = bad + 1
    if bad < 10 then print("MISMATCH", what, doc:sub(1, 200), ea, eb) end
  end
end
-- 1. duplicates spanning flush boundaries: n pairs, key "a" at positions i and j
for _, n in ipairs{127, 128, 129, 130, 255, 256, 257, 300} do
  for _, i in ipairs{1, 2, 127, 128, 129, 256, 257} do
    for _, j in ipairs{2, 64, 127, 128, 129, 130, 200, 255, 256, 257, 258, 300} do
      if i < j and j <= n then
        local p = {}
        for k = 1, n do p[k] = ('"u%d":%d'):format(k, k) end
        p[i] = '"a":"first"'; p[j] = '"a":"last"'
        check("{" .. table.concat(p, ",") .. "}", "flush " .. n .. " " .. i .. " " .. j)
        -- escaped form of the second
        p[j] = '"\\u0061":"last"'
        check("{" .. table.concat(p, ",") .. "}", "flush-esc")
        -- inside an array with siblings
        p[j] = '"a":"last"'
        local o = "{" .. table.concat(p, ",") .. "}"
        check("[" .. o .. "," .. o .. ',{"a":1,"a":2}]', "arr")
      end
    end
  end
end
-- 2. arrays of every length near flushes
for n = 0, 800 do
  if n < 20 or n % 256 < 3 or n % 256 > 253 then
    local p = {}
    for k = 1, n do p[k] = tostring(k) end
    check("[" .. table.concat(p, ",") .. "]", "arr" .. n)
    check("[[" .. table.concat(p, ",") .. "]," .. "[" .. table.concat(p, ",") .. "]]", "arr2 " .. n)
  end
end
-- 3. all permutations of small key multisets including escaped/equal keys, nested in parent using same keys
local keys = {'"a"', '"\\u0061"', '"b"', '"ab"', '"a\\u0062"', '""', '"\\"', '"' .. ("k"):rep(40) .. '"', '"' .. ("k"):rep(41) .. '"', '"' .. ("k"):rep(40) .. '"'}
local cnt = 0
for x = 1, #keys do for y = 1, #keys do for z = 1, #keys do
  cnt = cnt + 1
  local o = ("{%s:1,%s:2,%s:3}"):format(keys[x], keys[y], keys[z])
  check(o, "perm")
  check(("{%s:1,\"n\":%s,%s:2}"):format(keys[x], o, keys[y]), "nest")
  check(("{%s:1,\"n\":[%s,%s],%s:2,%s:4}"):format(keys[z], o, o, keys[y], keys[x]), "nest2")
  check(("{%s:{%s:{%s:1}},%s:2}"):format(keys[x], keys[y], keys[x], keys[z]), "nest3")
end end end
-- 4. deep nesting: 1000 levels of objects with the same key, last wins at each level
local d = {}
for i = 1, 999 do d[#d+1] = '{"a":1,"b":' end
d[#d+1] = '{"a":1,"a":2}'
for i = 1, 999 do d[#d+1] = ',"a":2}' end
check(table.concat(d), "deep")
local t = core.json_decode(table.concat(d))
local lvl = 0
while type(t) == "table" do assert(t.a == 2, "deep level " .. lvl); t = t.b; lvl = lvl + 1 end
print("deep levels", lvl)
-- 5. deep nesting with many pending values per level
local d = {}
for i = 1, 1000 do d[#d+1] = "[" .. string.rep("1,", 250) end
for i = 1, 1000 do d[#d+1] = "]" end
local s = table.concat(d)
local r, e = core.json_decode(s)
print("wide deep", r ~= nil, e)
r, e = coroutine.wrap(function() return core.json_decode(s) end)()
print("wide deep in coroutine", r ~= nil, e)
-- 6. keys at the end of the input and truncated keys
for _, s in ipairs{'{"a', '{"a"', '{"a":', '{"a":1,"', '{"a":1,"a', '{"\\', '{"a\\"', '{"\\u00', '{"' .. ("k"):rep(40), '{"' .. ("k"):rep(41)} do check(s, "trunc") end
print("checked; mismatches:", bad, cnt)
