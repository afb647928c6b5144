-- iblai.core without a server: options, escaping, numbers, errors, lifetime.
local core = require "iblai.core"

describe("iblai.core session options", function()
  it("rejects unknown option names with a config error", function()
    local s, err = core.session { timout = 3 }
    assert.is_nil(s)
    assert.equal("config", err.kind)
    assert.matches("unknown option 'timout'", tostring(err))
  end)

  it("rejects wrong option types", function()
    for opt, bad in pairs { timeout = "3", retries = 1.5, verbose = 1, log = "f", base_url = 3 } do
      local s, err = core.session { [opt] = bad }
      assert.is_nil(s, opt)
      assert.equal("config", err.kind)
      assert.matches(opt, err.message, 1, true)
    end
  end)

  it("rejects a base_url that is not http(s), or holds credentials", function()
    for _, url in ipairs { "ftp://example.org", "example.org", "http://u:p@host/dm", "https://h/dm?x=1" } do
      local s, err = core.session { base_url = url }
      assert.is_nil(s, url)
      assert.equal("config", err.kind)
    end
  end)

  it("rejects CR and LF in the key, scheme and user agent", function()
    for _, opts in ipairs { { api_key = "a\r\nX-Evil: 1" }, { user_agent = "x\ny" }, { api_key = "k", auth_scheme = "Api Token" } } do
      local s, err = core.session(opts)
      assert.is_nil(s)
      assert.equal("config", err.kind)
      assert.not_matches("X%-Evil", tostring(err))
    end
  end)

  it("raises when the options are not a table", function()
    assert.has_error(function() core.session "x" end)
  end)

  it("never shows the key in tostring", function()
    local s = assert(core.session { api_key = "SECRET-KEY-123", base_url = "http://127.0.0.1:9/dm/" })
    assert.not_matches("SECRET", tostring(s))
    assert.matches("api key set", tostring(s))
    assert.equal("http://127.0.0.1:9/dm", s:base_url())
    assert.equal("http://127.0.0.1:9", s:origin())
  end)

  it("closes idempotently through close, __close and __gc", function()
    local s = assert(core.session {})
    s:close()
    s:close()
    assert.has_error(function() s:request { url = "/x" } end, "attempt to use a closed iblai.Session (or the client it belongs to)")
    do
      local t <close> = assert(core.session {})
      assert.truthy(t)
    end
    for _ = 1, 50 do core.session {} end
    collectgarbage()
  end)

  it("lets several sessions live side by side", function()
    local a = assert(core.session { base_url = "http://127.0.0.1:1" })
    local b = assert(core.session { base_url = "http://127.0.0.2:2" })
    assert.not_equal(a:origin(), b:origin())
    a:close()
    assert.equal("http://127.0.0.2:2", b:origin())
  end)
end)

describe("iblai.core helpers", function()
  it("percent-encodes everything but unreserved characters", function()
    assert.equal("course-v1%3Aorg%2BX%2BY", core.escape "course-v1:org+X+Y")
    assert.equal("..%2Fx", core.escape "../x")
    assert.equal("a%2Fb%20c~_.-", core.escape "a/b c~_.-")
  end)

  it("finds origins with default ports", function()
    assert.equal("https://api.iblai.app:443", core.origin "https://API.iblai.app/dm/x")
    assert.equal("http://h:80", core.origin "http://h/")
    assert.is_nil(core.origin "ftp://h/")
  end)

  it("turns whole-number floats into integers, deeply", function()
    local v = core.integralize { 1.0, { id = 2.0, ratio = 0.5 }, "3" }
    assert.equal("integer", math.type(v[1]))
    assert.equal("integer", math.type(v[2].id))
    assert.equal("float", math.type(v[2].ratio))
    assert.equal("3", v[3])
    assert.equal("integer", math.type(core.integralize(7.0)))
  end)

  it("makes Errors with a one-line message and a hint", function()
    local e = core.error { kind = "http", message = "HTTP 401 Unauthorized", status = 401, method = "GET", url = "http://h/x" }
    local s = tostring(e)
    assert.not_matches("\n", s)
    assert.matches("IBLAI_API_KEY", s)
    assert.matches("GET http://h/x", s, 1, true)
    assert.is_false(e.retryable)
    assert.equal(core.Error, getmetatable(e))
    assert.is_true(require("iblai.errors").is(e))
    assert.is_false(require("iblai.errors").is { kind = "http", message = "a plain table" })
  end)
end)
