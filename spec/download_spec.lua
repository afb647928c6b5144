-- Downloads to a file (the request field to_file): the server's bytes as they arrive, each
-- attempt starting the file over, JSON checked on the way, memory bounded whatever the size.
local helpers = require "support.helpers"
local iblai = require "iblai"
local core = require "iblai.core"

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function tmpfile()
  local p = os.tmpname()
  os.remove(p)
  return p
end

describe("to_file", function()
  local server, raw, client, url

  setup(function()
    server = helpers.test_server()
    raw = helpers.start_server(helpers.root .. "/spec/support/download_server.lua")
    client = assert(iblai.new { base_url = server.url, api_key = "SECRET-KEY-123", sleep = function() end })
    url = raw.url
  end)

  teardown(function()
    client:close()
    server.stop()
    os.execute("curl -s " .. raw.url .. "/stop >/dev/null 2>&1")
    raw.wait()
  end)

  it("writes the body byte for byte: no number rounded, no {} turned into [], nothing added", function()
    local path = tmpfile()
    local res = assert(client:request { path = "/exact", to_file = path })
    local exact = '{"z":12345678901234567890,"a":1e400,"empty":{}}'
    assert.equal(exact, read(path))
    assert.equal(200, res.status)
    assert.equal(path, res.file)
    assert.equal(#exact, res.bytes)
    assert.equal(exact, res.body) -- short: kept as text too, never decoded
    assert.matches("json", res.headers["content-type"])
    -- call gives the response too (its body is in the file)
    local got = assert(client:call("ai_mentor_orgs_users_artifacts_retrieve", { org = "o", user_id = "u", id = 1 },
      { to_file = path }))
    assert.equal(path, got.file)
    assert.equal(got.bytes, #read(path))
    os.remove(path)
  end)

  it("holds none of a large body: max_response_bytes bounds memory, not files", function()
    local small = assert(iblai.new { base_url = server.url, max_response_bytes = 100000 })
    local path = tmpfile()
    local res = assert(small:request { path = "/big", query = { n = 300000 }, to_file = path })
    assert.equal(300002, res.bytes)
    assert.is_nil(res.body) -- too long to be kept in memory as well
    assert.equal('"' .. ("x"):rep(300000) .. '"', read(path))
    local _, err = small:request { path = "/big", query = { n = 300000 } }
    assert.equal("too_large", err.kind)
    -- an error's body is held in memory, so the limit still applies to it
    local r, eerr = small:request { url = url .. "/error?n=200000", to_file = path, retries = 0 }
    assert.is_nil(r)
    assert.equal("too_large", eerr.kind)
    small:close()
    os.remove(path)
  end)

  it("keeps an error's body in memory for the Error and leaves no file", function()
    local path = tmpfile()
    local res, err = client:request { path = "/status", query = { code = 404 }, to_file = path }
    assert.is_nil(res)
    assert.equal(404, err.status)
    assert.matches("Something went wrong", err.body)
    assert.is_nil(read(path))
  end)

  it("starts the file over on each attempt: a cut answer retried is not appended to", function()
    local path = tmpfile()
    local res = assert(client:request { url = url .. "/json?key=over&cut=1,2", to_file = path })
    assert.equal(3, res.attempts)
    local whole = read(path)
    assert.equal(res.bytes, #whole)
    assert.is_true(core.json_check(whole))
    local direct = assert(client:request { url = url .. "/json?key=direct", decode = false })
    assert.equal(direct.body, whole)
    os.remove(path)
  end)

  it("fails a body cut short every time, with what was seen, after the retries", function()
    local path = tmpfile()
    local res, err = client:request { url = url .. "/json?key=always&cut=1,2,3,4,5", to_file = path }
    assert.is_nil(res)
    assert.equal("network", err.kind)
    assert.is_true(err.retryable)
    assert.equal(5, err.attempts)
    assert.matches("partial", tostring(err))
    os.remove(path)
  end)

  it("tells a body cut where no length was given by its JSON ending early, and retries it", function()
    local path = tmpfile()
    local _, err = client:request { url = url .. "/unframed?cut=1", to_file = path, retries = 1 }
    assert.equal("network", err.kind)
    assert.equal(2, err.attempts)
    assert.matches("the JSON body ends after %d+ bytes, before it is complete", tostring(err))
    local res = assert(client:request { url = url .. "/unframed", to_file = path })
    assert.is_true(core.json_check(read(path)))
    assert.equal(res.bytes, #read(path))
    os.remove(path)
  end)

  it("fails a body that is not the JSON it says, at once, naming the byte", function()
    local path = tmpfile()
    local _, err = client:request { path = "/badjson", to_file = path }
    assert.equal("decode", err.kind)
    assert.equal(1, err.attempts)
    assert.matches("ends after 9 bytes, before the JSON is complete", tostring(err))
    assert.equal('{"id": 1,', err.body)
    -- text that does not say it is JSON is written as it is
    local res = assert(client:request { path = "/text", to_file = path })
    assert.equal("plain words", read(path))
    assert.equal(11, res.bytes)
    assert.not_matches("SECRET%-KEY", tostring(err))
    os.remove(path)
  end)

  it("makes an empty file for an answer with no body, over what was there", function()
    local path = tmpfile()
    local f = io.open(path, "wb")
    f:write("old")
    f:close()
    local res = assert(client:request { path = "/empty", to_file = path })
    assert.equal(204, res.status)
    assert.equal(0, res.bytes)
    assert.equal("", read(path))
    os.remove(path)
  end)

  it("says when the file cannot be written, and what to check", function()
    local _, err = client:request { path = "/exact", to_file = "/nonexistent-dir/x.json" }
    assert.equal("file", err.kind)
    assert.matches("cannot write /nonexistent%-dir/x.json %(open%): No such file or directory", tostring(err))
    assert.matches("can be written and has room", tostring(err))
    local target, link = tmpfile(), tmpfile()
    local f = io.open(target, "wb")
    f:write("kept")
    f:close()
    assert(os.execute(("ln -s %s %s"):format(helpers.quote(target), helpers.quote(link))))
    _, err = client:request { path = "/exact", to_file = link } -- never written through
    assert.equal("file", err.kind)
    assert.matches("it is a symbolic link", tostring(err))
    assert.equal("kept", read(target))
    os.remove(link)
    os.remove(target)
    _, err = client:request { path = "/exact", to_file = "/dev/null" }
    assert.equal("file", err.kind)
    assert.matches("not a regular file", tostring(err))
    _, err = client:request { path = "/exact", to_file = "" }
    assert.equal("config", err.kind)
    assert.has_error(function() client:request { path = "/exact", to_file = 5 } end,
      "request field 'to_file' must be a string (a file path)")
  end)

  it("bounds silence, not the whole download: timeout is the longest wait for a byte", function()
    local path = tmpfile()
    -- 12 bytes, one every 0.3 s: 3.3 s in all, longer than the timeout of 1 s
    local res = assert(client:request { url = url .. "/drip?n=12&every=0.3", to_file = path, timeout = 1, retries = 0 })
    assert.equal('"' .. ("x"):rep(10) .. '"', read(path))
    assert.equal(12, res.bytes)
    local started = core.now()
    local _, err = client:request { path = "/delay", query = { s = 4 }, to_file = path, timeout = 1, retries = 0 }
    assert.equal("timeout", err.kind)
    assert.is_true(core.now() - started < 3.5)
    -- the same pooled connections serve ordinary requests after: their timeout is the whole request's again
    for _ = 1, 3 do
      started = core.now()
      _, err = client:request { path = "/delay", query = { s = 2 }, timeout = 0.3, retries = 0 }
      assert.equal("timeout", err.kind)
      assert.is_true(core.now() - started < 1.5)
      assert(client:request { path = "/exact" }) -- bodies held in memory again
    end
    os.remove(path)
  end)
end)

describe("to_file in restricted mode", function()
  it("writes only inside the directories the script may use", function()
    local server = helpers.test_server()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. helpers.quote(dir)))
    local outside = os.tmpname()
    os.remove(outside)
    local path = os.tmpname() .. ".lua"
    local f = assert(io.open(path, "w"))
    f:write(([[
      -- client: the program's, made from the environment the script cannot read
      local res = assert(client:request { path = "/exact", to_file = %q })
      print("inside:", res.bytes)
      local _, err = client:request { path = "/exact", to_file = %q }
      print("outside:", err.kind, err.message)
    ]]):format(dir .. "/in.json", outside))
    f:close()
    finally(function()
      server.stop()
      os.remove(path)
      os.execute("rm -rf " .. helpers.quote(dir))
    end)
    local code, out, err = helpers.run({ "--restricted", "--allow-dir", dir, path },
      { IBLAI_BASE_URL = server.url, IBLAI_API_KEY = "k" })
    assert.equal(0, code, err)
    assert.matches("inside:\t47", out)
    assert.matches("outside:\tconfig\tto_file " .. outside:gsub("%p", "%%%0")
      .. ": outside the directories this script may use", out)
    assert.is_nil(read(outside))
    assert.equal('{"z":12345678901234567890,"a":1e400,"empty":{}}', read(dir .. "/in.json"))
  end)
end)

describe("core.json_check", function()
  local json = require "iblai.json"

  -- Random JSON text: values of every kind, white space between tokens, big and odd numbers.
  local function gen(depth, r)
    local k = r(depth > 3 and 5 or 7)
    if k == 1 then return ({ "true", "false", "null" })[r(3)] end
    if k == 2 then return ({ "0", "-1", "12345678901234567890", "1e400", "-2.5E-3", "3.0e+2" })[r(6)] end
    if k == 3 then return ({ '""', '"a\\u00e9\\n"', '"\\u0041"', '"tab\\t,q\\""', '"é"' })[r(5)] end
    if k == 4 or k == 5 then return ({ "[]", "{}", '{"k":[]}' })[r(3)] end
    local n, parts = r(4) - 1, {}
    for i = 1, n do parts[i] = gen(depth + 1, r) end
    if k == 6 then return "[" .. table.concat(parts, ({ ",", " , ", ",\n" })[r(3)]) .. "]" end
    for i = 1, n do parts[i] = ('"k%d" : %s'):format(i, parts[i]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end

  it("agrees with the decoder on valid texts and their mutations, in pieces of any size", function()
    local seed = 7
    local function r(n)
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n + 1
    end
    local checked = 0
    for _ = 1, 400 do
      local text = gen(0, r)
      local variants = { text, " " .. text .. "\n", text:sub(1, #text - 1), text .. "x", text .. " 1" }
      local at = r(#text)
      variants[#variants + 1] = text:sub(1, at - 1) .. string.char(r(128) - 1) .. text:sub(at + 1)
      for _, v in ipairs(variants) do
        local decoded = json.decode(v) ~= nil
        for _, piece in ipairs { #v + 1, 1, 2, 7 } do
          local ok, why = core.json_check(v, piece)
          assert(ok == decoded, ("%q in pieces of %d: %s"):format(v, piece, tostring(why)))
          checked = checked + 1
        end
      end
    end
    assert.is_true(checked >= 400 * 6 * 4)
  end)

  it("holds only the nesting, so depth is no limit a download would hit", function()
    local deep = ("["):rep(100000) .. ("]"):rep(100000)
    assert.is_true(core.json_check(deep, 4096))
    assert.is_false(core.json_check(deep:sub(2), 4096))
  end)
end)
