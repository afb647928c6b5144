-- The client against the scriptable test server: auth, retries, timeouts, bodies, errors.
local helpers = require "support.helpers"
local iblai = require "iblai"

local KEY = "TEST-KEY-do-not-leak"

describe("client:request", function()
  local server, client, sleeps, events

  setup(function()
    server = helpers.test_server()
  end)

  teardown(function()
    server.stop()
  end)

  before_each(function()
    sleeps, events = {}, {}
    client = assert(iblai.new {
      base_url = server.url, api_key = KEY, timeout = 5, retries = 3,
      sleep = function(d) sleeps[#sleeps + 1] = d end,
      log = function(e) events[#events + 1] = e end,
    })
  end)

  after_each(function()
    client:close()
  end)

  local function no_key_in(value)
    local seen = {}
    local function walk(v)
      if type(v) == "string" then
        assert.is_nil(v:find(KEY, 1, true), "key leaked: " .. v)
      elseif type(v) == "table" and not seen[v] then
        seen[v] = true
        for k, x in pairs(v) do walk(k) walk(x) end
      end
    end
    walk(value)
  end

  it("sends Authorization: Api-Token <key>, an Accept header and a user agent", function()
    local res = assert(client:request { path = "/echo" })
    assert.equal(200, res.status)
    assert.equal("Api-Token " .. KEY, res.body.headers.authorization)
    assert.equal("application/json", res.body.headers.accept)
    assert.matches("^iblai%-lua/%S+ libcurl/", res.body.headers["user-agent"])
  end)

  it("uses the configured auth scheme", function()
    local c = assert(iblai.new { base_url = server.url, api_key = "k", auth_scheme = "Token" })
    assert.equal("Token k", assert(c:request { path = "/echo" }).body.headers.authorization)
    c:close()
  end)

  it("encodes the query, JSON bodies and path characters", function()
    local res = assert(client:request {
      method = "POST", path = "/echo", query = { id = 2.0, q = "a b&c", flag = true, list = { 1, 2 } },
      json = { name = "x", n = 3 },
    })
    local echo = res.body
    assert.equal("POST", echo.method)
    assert.equal("2", echo.query.id)
    assert.equal("a b&c", echo.query.q)
    assert.equal("true", echo.query.flag)
    assert.equal("application/json", echo.headers["content-type"])
    assert.same({ name = "x", n = 3 }, require("iblai.json").decode(echo.body))
  end)

  it("decodes ids as integers so they print as 1, not 1.0", function()
    local body = assert(client:request { path = "/ids" }).body
    assert.equal("1", tostring(body.id))
    assert.equal("2", tostring(body.items[1].id))
    assert.equal("30000000000", tostring(body.items[2].id))
    assert.equal(0.5, body.ratio)
  end)

  it("refuses a Host header, which would send the key to another virtual host", function()
    local ok, err = pcall(client.request, client, { path = "/echo", headers = { host = "attacker.example" } })
    assert.is_false(ok)
    assert.matches("the Host header comes from the URL and cannot be set", err)
  end)

  it("keeps a JSON body as its text with decode = false, a bad one included", function()
    local res = assert(client:request { path = "/ids", decode = false })
    assert.equal('{"id": 1, "count": 3, "ratio": 0.5, "items": [{"id": 2}, {"id": 30000000000}]}', res.body)
    assert.equal("application/json", res.headers["content-type"])
    assert.equal('{"id": 1,', assert(client:request { path = "/badjson", decode = false }).body)
    assert.equal(1, assert(client:request { path = "/ids", decode = true }).body.id)
    local ok, err = pcall(client.request, client, { path = "/ids", decode = "no" })
    assert.is_false(ok)
    assert.matches("request field 'decode' must be a boolean", err)
  end)

  it("returns nil for 204 and text for non-JSON bodies", function()
    local res = assert(client:request { method = "DELETE", path = "/empty" })
    assert.equal(204, res.status)
    assert.is_nil(res.body)
    assert.equal("plain words", assert(client:request { path = "/text" }).body)
  end)

  it("keeps the key on the origin and drops it after a cross-origin redirect", function()
    local same = assert(client:request { path = "/redirect", query = { to = server.url .. "/echo" } })
    assert.equal("Api-Token " .. KEY, same.body.headers.authorization)
    local other = "http://localhost:" .. server.port .. "/echo"
    local res = assert(client:request { path = "/redirect", query = { to = other } })
    assert.equal(other, res.url)
    assert.is_nil(res.body.headers.authorization)
    local custom = assert(client:request {
      path = "/redirect", query = { to = other }, headers = { Authorization = "Bearer mine" } })
    assert.is_nil(custom.body.headers.authorization)
  end)

  it("turns POST into GET on 303, and stops after max_redirects", function()
    local res = assert(client:request { method = "POST", path = "/redirect", query = { to = "/echo", code = 303 }, json = {} })
    assert.equal("GET", res.body.method)
    local loop = server.url .. "/redirect?to=" .. require("iblai.core").escape(server.url .. "/redirect?to=/echo")
    local c = assert(iblai.new { base_url = server.url, max_redirects = 1 })
    local r, err = c:request { path = loop:sub(#server.url + 1) }
    assert.is_nil(r)
    assert.matches("redirects", err.message)
    c:close()
  end)

  it("retries 503 for GET and tells how many attempts it took", function()
    local res = assert(client:request { path = "/seq", query = { key = "get503", codes = "503,503,200" } })
    assert.equal(200, res.status)
    assert.equal(3, res.attempts)
    assert.equal(2, #sleeps)
    local retries = 0
    for _, e in ipairs(events) do if e.event == "retry" then retries = retries + 1 end end
    assert.equal(2, retries)
    no_key_in(events)
  end)

  it("retries 429, 502 and 504 too, but not 500", function()
    assert.equal(200, assert(client:request { path = "/seq", query = { key = "mix", codes = "429,502,504,200" } }).status)
    local r, err = client:request { path = "/seq", query = { key = "k500", codes = "500,200" } }
    assert.is_nil(r)
    assert.equal(500, err.status)
    assert.equal(1, err.attempts)
  end)

  it("gives up after the configured retries with a retryable http error", function()
    local r, err = client:request { path = "/seq", query = { key = "always", codes = "503" } }
    assert.is_nil(r)
    assert.equal("http", err.kind)
    assert.equal(503, err.status)
    assert.equal(4, err.attempts)
    assert.is_true(err.retryable)
    assert.matches("4 attempts", tostring(err))
  end)

  it("does not retry POST unless asked", function()
    local r, err = client:request { method = "POST", path = "/seq", query = { key = "post", codes = "503,200" } }
    assert.is_nil(r)
    assert.equal(1, err.attempts)
    assert.equal(1, assert(client:request { path = "/hits", query = { key = "post" } }).body.hits)
    local ok = assert(client:request { method = "POST", path = "/seq", retry_unsafe = true,
      query = { key = "post2", codes = "503,200" } })
    assert.equal(2, ok.attempts)
  end)

  it("obeys Retry-After in seconds, capped by retry_after_max", function()
    assert(client:request { path = "/seq", query = { key = "ra", codes = "429,200", retry_after = "7" } })
    assert.same({ 7 }, sleeps)
    local c = assert(iblai.new { base_url = server.url, retry_after_max = 2, sleep = function(d) sleeps[#sleeps + 1] = d end })
    assert(c:request { path = "/seq", query = { key = "ra2", codes = "503,200", retry_after = "120" } })
    assert.equal(2, sleeps[2])
    c:close()
  end)

  it("obeys Retry-After as an HTTP date", function()
    local when = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 30)
    assert(client:request { path = "/seq", query = { key = "date", codes = "503,200", retry_after = when } })
    assert.is_true(sleeps[1] >= 28 and sleeps[1] <= 30, tostring(sleeps[1]))
  end)

  it("still backs off after Retry-After: 0 or a date already past, so retries never fire back to back", function()
    for _, hint in ipairs { "0", "Thu, 01 Jan 1970 00:00:00 GMT" } do
      local delays = {}
      local c = assert(iblai.new { base_url = server.url, retries = 4, backoff_base = 0.02, backoff_max = 1,
        log = function(e) if e.event == "retry" then delays[#delays + 1] = e.delay end end })
      local started = require("iblai.core").now()
      local res = assert(c:request { path = "/seq", query = { key = "ra0" .. hint, codes = "503,429,503,503,200",
        retry_after = hint } })
      local took = require("iblai.core").now() - started
      assert.equal(5, res.attempts)
      assert.equal(4, #delays)
      for i, d in ipairs(delays) do -- the upper half of each attempt's backoff: [0.01, 0.02], [0.02, 0.04], ...
        assert.is_true(d >= 0.01 * 2 ^ (i - 1) and d <= 0.02 * 2 ^ (i - 1), ("retry %d after %s: %g s"):format(i, hint, d))
      end
      assert.is_true(took >= 0.15, ("four retries took %g s"):format(took)) -- the loop really waited
      c:close()
    end
  end)

  it("backs off exponentially with jitter when no Retry-After is given", function()
    local c = assert(iblai.new { base_url = server.url, retries = 5, backoff_base = 1, backoff_max = 4,
      sleep = function(d) sleeps[#sleeps + 1] = d end })
    assert(c:request { path = "/seq", query = { key = "jit", codes = "503,503,503,503,503,200" } })
    assert.equal(5, #sleeps)
    for i, d in ipairs(sleeps) do assert.is_true(d >= 0 and d <= math.min(4, 2 ^ (i - 1)), tostring(d)) end
    c:close()
  end)

  it("times out, and says so", function()
    local r, err = client:request { path = "/delay", query = { s = 3 }, timeout = 0.3, retries = 0 }
    assert.is_nil(r)
    assert.equal("timeout", err.kind)
    assert.matches("raise timeout", tostring(err))
  end)

  it("reports an unreachable port as a network error", function()
    local c = assert(iblai.new { base_url = "http://127.0.0.1:1", retries = 0 })
    local r, err = c:request { path = "/x" }
    assert.is_nil(r)
    assert.equal("network", err.kind)
    assert.matches("base_url", tostring(err))
    c:close()
  end)

  it("reports a name that does not resolve as a network error", function()
    local c = assert(iblai.new { base_url = "http://no-such-host.invalid", retries = 0, connect_timeout = 2 })
    local r, err = c:request { path = "/x" }
    assert.is_nil(r)
    assert.equal("network", err.kind)
    c:close()
  end)

  it("turns 401, 403, 404 and 500 HTML pages into http errors with advice", function()
    for code, advice in pairs { [401] = "IBLAI_API_KEY", [403] = "role", [404] = "ids in the path", [500] = "try again later" } do
      local r, err = client:request { path = "/status", query = { code = code }, retries = 0 }
      assert.is_nil(r)
      assert.equal("http", err.kind)
      assert.equal(code, err.status)
      assert.matches("<h1>" .. code, err.body)
      assert.matches(advice, tostring(err))
      no_key_in(err)
      no_key_in(tostring(err))
    end
  end)

  it("quotes the server's detail message", function()
    local _, err = client:request { path = "/detail", query = { code = 401, detail = "Invalid token." } }
    assert.matches("HTTP 401 Unauthorized: Invalid token.", tostring(err), 1, true)
    assert.equal("Invalid token.", err.data.detail)
  end)

  it("names every field error of a form, in name order, eight at the most", function()
    local _, err = client:request { path = "/fields", query = { n = 3 } }
    assert.matches("HTTP 400 Bad Request: f01: bad 1; f02: bad 2; f03: bad 3 (GET", tostring(err), 1, true)
    _, err = client:request { path = "/fields", query = { n = 10 } }
    assert.matches(": f01: bad 1; .*; f08: bad 8; and 2 more %(GET", tostring(err))
  end)

  it("skips a field name that holds a NUL byte", function()
    local _, err = client:request { path = "/nul" }
    assert.matches("HTTP 400 Bad Request: c: raise timeout err.body holds its start (GET", tostring(err), 1, true)
    assert.not_matches("cut short", tostring(err), 1, true)
  end)

  it("still tells what the server said of an error with decode = false", function()
    local _, err = client:request { path = "/fields", query = { n = 2 }, decode = false }
    assert.matches("HTTP 400 Bad Request: f01: bad 1; f02: bad 2 (GET", tostring(err), 1, true)
  end)

  it("reports invalid JSON as a decode error with the body's start", function()
    local r, err = client:request { path = "/badjson" }
    assert.is_nil(r)
    assert.equal("decode", err.kind)
    assert.matches('{"id": 1,', err.body, 1, true)
  end)

  it("refuses bodies over max_response_bytes", function()
    local c = assert(iblai.new { base_url = server.url, max_response_bytes = 1000 })
    assert(c:request { path = "/big", query = { n = 500 } })
    local r, err = c:request { path = "/big", query = { n = 5000 } }
    assert.is_nil(r)
    assert.equal("too_large", err.kind)
    assert.matches("max_response_bytes", tostring(err))
    c:close()
  end)

  it("retries a truncated body, then reports it", function()
    local r, err = client:request { path = "/truncate" }
    assert.is_nil(r)
    assert.equal("network", err.kind)
    assert.equal(4, err.attempts)
  end)

  it("retries a dropped connection, then reports it", function()
    local r, err = client:request { path = "/drop", retries = 1 }
    assert.is_nil(r)
    assert.equal("network", err.kind)
    assert.equal(2, err.attempts)
  end)

  it("rejects CR/LF in header values before sending", function()
    local r, err = client:request { path = "/echo", headers = { ["X-A"] = "1\r\nX-B: 2" } }
    assert.is_nil(r)
    assert.equal("config", err.kind)
  end)

  it("raises on misuse", function()
    assert.has_error(function() client:request "x" end)
    assert.has_error(function() client:request { path = "/echo", bogus = 1 } end)
    assert.has_error(function() client:request { path = "/echo", json = {}, body = "" } end)
  end)

  it("runs many requests at once, in order, one failure not cancelling the others", function()
    local reqs = {}
    for i = 1, 20 do reqs[i] = { path = "/echo", query = { i = i } } end
    reqs[7] = { path = "/status", query = { code = 404 } }
    reqs[9] = { path = "/delay", query = { s = 0.2 } }
    local results, errs = client:request_many(reqs, { concurrency = 4 })
    for i = 1, 20 do
      if i == 7 then
        assert.is_nil(results[i])
        assert.equal(404, errs[i].status)
      elseif i == 9 then
        assert.equal(0.2, results[i].body.delayed)
      else
        assert.equal(tostring(i), results[i].body.query.i)
      end
    end
  end)

  it("serves delayed answers without holding up the others", function()
    local results = client:request_many({
      { path = "/delay", query = { s = 0.5 } }, { path = "/echo" }, { path = "/echo" },
    }, { concurrency = 3 })
    assert.equal(0.5, results[1].body.delayed)
    assert.equal("GET", results[2].body.method)
  end)

  it("raises errors from hooks after releasing the transfers", function()
    local c = assert(iblai.new { base_url = server.url, log = function() error("hook broke") end })
    assert.has_error(function() c:request { path = "/echo" } end)
    c.session:close()
  end)
end)
