-- The core's JSON decoder: RFC 8259, integers kept as integers, and the same values as
-- lua-cjson (with its floats made whole) on random documents.
local core = require "iblai.core"
local cjson = require("cjson.safe").new()
local json = require "iblai.json"

cjson.decode_max_depth(2000)

local decode = core.json_decode

-- Same value, with whole floats from lua-cjson equal to our integers.
local function same(a, b, path)
  path = path or "$"
  if type(a) == "table" and type(b) == "table" then
    for k, v in pairs(a) do
      if not same(v, b[k], path .. "." .. tostring(k)) then return false end
    end
    for k in pairs(b) do
      if a[k] == nil then return false, path .. "." .. tostring(k) end
    end
    return true
  end
  return a == b, path
end

describe("core.json_decode", function()
  it("keeps whole numbers as integers and the rest as floats", function()
    local v = assert(decode('[1, -0, 0, 30000000000, 9007199254740993, 1.0, 0.5, 1e2, -12.5e-1, 123456789012345678901]'))
    assert.equal("integer", math.type(v[1]))
    assert.equal(0, v[2])
    assert.equal(30000000000, v[4])
    assert.equal(9007199254740993, v[5]) -- beyond 2^53 and still exact
    assert.equal("float", math.type(v[6]))
    assert.equal(0.5, v[7])
    assert.equal(100.0, v[8])
    assert.equal(-1.25, v[9])
    assert.equal("float", math.type(v[10])) -- too big for 64 bits
  end)

  it("reads strings with every escape, surrogate pairs included", function()
    assert.equal('a"b\\c/\b\f\n\r\t', decode([["a\"b\\c\/\b\f\n\r\t"]]))
    assert.equal("é€😀", decode([["\u00e9\u20ac\ud83d\ude00"]]))
    assert.equal("plain ünïcode", decode('"plain ünïcode"'))
  end)

  it("gives null as iblai.null, and true and false as booleans", function()
    local v = assert(decode('{"a": null, "b": true, "c": false}'))
    assert.equal(json.null, v.a)
    assert.is_true(v.b)
    assert.is_false(v.c)
    assert.equal(json.null, decode("null"))
    assert.is_false(decode("false"))
  end)

  it("lets the last of repeated keys win, as lua-cjson does", function()
    assert.equal(2, decode('{"a": 1, "a": 2}').a)
    -- between the two: a key sharing its cache slot, a nested object using the same key, an
    -- escaped key, a key too long to cache; and the same again in every object of a list
    local middles = { '"axcye": 0', '"o": {"abcde": 9}', '"o": {"x": {"abcde": 9}}', '"e\\u0073c": 0',
      '"' .. ("k"):rep(50) .. '": 0', '"abcde": 2' }
    for _, middle in ipairs(middles) do
      local text = '{"abcde": 1, ' .. middle .. ', "abcde": 3}'
      assert.equal(3, decode(text).abcde, text)
      local list = assert(decode("[" .. (text .. ","):rep(3) .. text .. "]"))
      for i = 1, 4 do assert.equal(3, list[i].abcde, text) end
    end
    assert.same({ ['a"b'] = 2, a = 3 }, decode('{"a\\"b": 1, "a": 3, "a\\"b": 2}'))
    local v = decode('{"abcde": 1, "o": {"abcde": 2, "abcde": 4}, "abcde": 3}')
    assert.same({ 3, 4 }, { v.abcde, v.o.abcde })
  end)

  it("still lets the last of repeated keys win when a finalizer decodes in the middle of a decode", function()
    -- the finalizers run when the decoder allocates, and their decodes take the same key slots
    local mode = collectgarbage("generational")
    local ran = 0
    local function doomed()
      setmetatable({}, { __gc = function()
        ran = ran + 1
        decode('{"a": 0, "b": {"a": 0}}')
      end })
    end
    -- keys in slots of their own (src/json.c's hash), so that only the finalizers' decodes can
    -- make the decoder lose track of the first "a"
    local function slot(k)
      local n = #k
      local h = n * 131 + k:byte(1) * 31 + k:byte((n >> 1) + 1) * 7 + k:byte(n)
      return (h ~ (h >> 8)) & 255
    end
    local taken, parts = { [slot("a")] = true }, { '{"a": 1' }
    for i = 1, 1000 do
      local k = "key" .. i
      if not taken[slot(k)] and #parts <= 40 then
        taken[slot(k)] = true
        parts[#parts + 1] = (',"%s": "%s"'):format(k, ("x"):rep(50000))
      end
    end
    parts[#parts + 1] = ', "a": 2}'
    local text = table.concat(parts)
    for _ = 1, 30 do
      for _ = 1, 200 do doomed() end
      assert.equal(2, decode(text).a)
    end
    collectgarbage(mode)
    assert.is_true(ran > 0)
  end)

  it("reads lists longer than what it gathers at once, in order", function()
    for _, n in ipairs { 0, 1, 255, 256, 257, 1000, 100000 } do
      local parts = {}
      for i = 1, n do parts[i] = tostring(i) end
      local v = assert(decode("[" .. table.concat(parts, ",") .. "]"))
      assert.equal(n, #v)
      for i = 1, n do assert.equal(i, v[i]) end
      local obj = {}
      for i = 1, n do obj[i] = ('"k%d": %d'):format(i, i) end
      local o = assert(decode("{" .. table.concat(obj, ",") .. "}"))
      local count = 0
      for k, x in pairs(o) do
        count = count + 1
        assert.equal("k" .. x, k)
      end
      assert.equal(n, count)
    end
  end)

  it("refuses what is not JSON, saying where", function()
    local bad = { "", " ", "[1,]", "[1 2]", "{\"a\" 1}", "{a: 1}", "{\"a\": 1,}", "01", "1.", ".5", "-", "1e",
      "+1", "tru", "nul", "\"open", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"tab\there\"",
      "[1] 2", "{\"a\":1}}", "NaN", "Infinity", "'single'", "[\"a\",]", "{\"a\tb\": 1}", "{\"open", "{\"a\\", "{\"a\\\"" }
    for _, text in ipairs(bad) do
      local v, err = decode(text)
      assert.is_nil(v, text)
      assert.matches("^invalid JSON at byte %d+: ", err)
    end
  end)

  it("refuses documents nested deeper than 1000 levels, and reads 1000", function()
    assert.is_table(decode(("["):rep(1000) .. ("]"):rep(1000)))
    local v, err = decode(("["):rep(1001) .. ("]"):rep(1001))
    assert.is_nil(v)
    assert.matches("1000 levels", err)
    assert.is_nil(decode(("["):rep(100000)))
  end)

  it("agrees with lua-cjson on random documents", function()
    local seed = os.time()
    math.randomseed(seed)
    local function random_string()
      local pieces = { "a", "Z", "0", " ", "é", "\\\"", "\\\\", "\\n", "\\u00e9", "\\ud83d\\ude00", "-", "_" }
      local out = {}
      for i = 1, math.random(0, 12) do out[i] = pieces[math.random(#pieces)] end
      return '"' .. table.concat(out) .. '"'
    end
    local function random_value(depth)
      local r = math.random(depth > 4 and 5 or 7)
      if r == 1 then return tostring(math.random(-1000000, 1000000)) end
      if r == 2 then return ("%.6g"):format((math.random() - 0.5) * 10 ^ math.random(-5, 15)) end
      if r == 3 then return random_string() end
      if r == 4 then return ({ "true", "false", "null" })[math.random(3)] end
      if r == 5 then return tostring(math.random(0, 2 ^ 40)) end
      local n, items = math.random(0, 6), {}
      if r == 6 then
        for i = 1, n do items[i] = random_value(depth + 1) end
        return "[ " .. table.concat(items, " , ") .. " ]"
      end
      -- keys from a small pool, so objects repeat keys, share them with the objects inside
      -- them and collide in the decoder's key cache; some escaped, some too long to cache
      local keys = { '"k1"', '"k2"', '"abcde"', '"axcye"', '"k\\u0031"', '"' .. ("x"):rep(41) .. '"', '""' }
      if math.random(20) == 1 then n = math.random(100, 300) end
      for i = 1, n do items[i] = ("%s :%s"):format(keys[math.random(#keys)], random_value(depth + 1)) end
      return "{" .. table.concat(items, ",\n") .. "}"
    end
    for i = 1, 2000 do
      local text = random_value(0)
      local ours, err = decode(text)
      local theirs = cjson.decode(text)
      assert.is_nil(err, ("seed %d, document %d: %s"):format(seed, i, text))
      local ok, where = same(ours, core.integralize(theirs))
      assert.is_true(ok, ("seed %d, document %d differs at %s: %s"):format(seed, i, tostring(where), text))
    end
  end)
end)
